"""The map's gas layer in Debian's chromium (Playwright, headless): a patrol's flights' gas
tracks as coloured markers with a legend, thinned to the page's budget, and the source of a
flight flown for an alert drawn at the stack it found; every request on this host.

The readings are ``tests/server/test_flight_gas.py``'s hand-written plume from ``ent-02-s1``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from missions.gas import GAS_NAME
from store.models import Role

from .test_browser import CHROMIUM, _shot, _sign_in, browser, served_zone
from .test_flight_gas import START, WIND_FROM_DEG, alert_flight, transect, write_gas

__all__ = ["browser"]  # the fixture this module uses from test_browser
pytestmark = [pytest.mark.browser, pytest.mark.slow]

ALERT_PATROL = "alert sortie"  # flown for an alert: its station's wind locates the source
HAND_PATROL = "hand gas pass"  # two flights recorded without a plan, no wind: no source
LONG_FLIGHT = 26  # the transect flown this many times over in one flight: thinned on the map


@pytest.fixture(scope="module")
def gas_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Any]]]:
    """A uvicorn on loopback over SQLite with the sample zone and three flights with gas."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium")
    tmp = tmp_path_factory.mktemp("gas")
    readings = transect().readings
    long_flight = [
        replace(r, time_utc=(START + timedelta(minutes=5 * k, milliseconds=250 * i)).isoformat())
        for k in range(LONG_FLIGHT)
        for i, r in enumerate(readings)
    ]
    with served_zone(tmp, roles=(Role.ADMIN, Role.INSPECTOR)) as served:
        base, auth, engine, settings = served.base, served.auth, served.engine, served.settings
        for gas in (readings, long_flight):
            _upload_flight(base, auth, HAND_PATROL, write_gas(tmp / f"{len(gas)}" / GAS_NAME, gas))
        winds = [(START, 900.0, WIND_FROM_DEG)]
        alert_flight(engine, settings, ALERT_PATROL, START - timedelta(hours=1), winds, readings)
        yield base, {"token": served.token, "readings": len(readings)}


def _upload_flight(base: str, auth: dict[str, str], name: str, gas: Path) -> None:
    flight = httpx.post(f"{base}/api/v1/flight-records", json={"name": name}, headers=auth)
    httpx.post(
        f"{base}/api/v1/flights/{flight.json()['id']}/uploads",
        files={"file": (GAS_NAME, gas.read_bytes(), "application/jsonl")},
        headers=auth,
    ).raise_for_status()


def _get(base: str, token: str, path: str, **params: Any) -> Any:
    r = httpx.get(
        f"{base}/api/v1{path}", params=params, headers={"Authorization": f"Bearer {token}"}
    )
    r.raise_for_status()
    return r.json()


def test_the_map_draws_gas_tracks_their_legend_and_the_source(gas_server, browser) -> None:
    base, seed = gas_server
    context = browser.new_context(viewport={"width": 1400, "height": 860})
    page = context.new_page()
    requested: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _sign_in(page, base, "inspector")
    # the planned patrol comes first, and is shown
    assert page.input_value("#patrol-select") == ALERT_PATROL
    page.wait_for_selector("path.gas-source")
    n = seed["readings"]
    assert page.locator("path.gas-marker").count() == n
    (track,) = _get(base, seed["token"], "/flights", patrol=ALERT_PATROL)["data"]
    gas = _get(base, seed["token"], f"/flights/{track['id']}/gas")
    (tvoc,) = gas["ranges"]
    legend = page.locator(".gas-legend")
    assert legend.is_visible()
    assert legend.locator(".gas-scale").count() == 1
    assert "TVOC (µg/m³)" in legend.inner_text()
    assert legend.locator(".gas-min").inner_text() == f"{tvoc['min']:.2f}"
    assert legend.locator(".gas-max").inner_text() == f"{tvoc['max']:.2f}"
    # the source: at the stack, named, inside its uncertainty circle
    assert page.locator(".gas-source-label").inner_text() == "ent-02-s1"
    assert page.locator("path.gas-source-circle").count() == 1
    assert "source at stack ent-02-s1 (ent-02)" in legend.inner_text()
    # the highest reading: the top of the scale (viridis' yellow), and its popup
    k, peak = max(enumerate(gas["features"]), key=lambda kf: kf[1]["properties"]["value"])
    marker = page.locator("path.gas-marker").nth(k)  # drawn in the track's order
    assert marker.get_attribute("fill") == "rgb(253,231,37)"
    marker.dispatch_event("click")
    popup = page.locator(".leaflet-popup-content").inner_text()
    p = peak["properties"]
    assert f"{p['value']:.2f} µg/m³" in popup and p["time_utc"] in popup
    assert f"{p['height_agl_m']:.1f} m above ground" in popup
    assert f"{p['alt_amsl_m']:.1f} m AMSL" in popup
    _shot(page, "map-gas")

    # the hand-flown pass: two flights, the long one thinned, no wind to place a source
    page.select_option("#patrol-select", HAND_PATROL)
    page.wait_for_selector(".gas-note:has-text('give the wind')")
    flights = _get(base, seed["token"], "/flights", patrol=HAND_PATROL)["data"]
    assert len(flights) == 2
    shown = sum(
        _get(base, seed["token"], f"/flights/{f['id']}/gas", max_points=1000)["shown"]
        for f in flights
    )
    assert page.locator("path.gas-marker").count() == shown <= 2000
    assert shown < n * (LONG_FLIGHT + 1)  # thinned: the long flight alone has 26 transects
    assert page.locator("path.gas-source").count() == 0

    # every request went to this server
    hosts = {urlparse(u).hostname for u in requested if not u.startswith(("data:", "blob:"))}
    assert hosts == {"127.0.0.1"}, sorted(u for u in requested if "127.0.0.1" not in u)
    assert errors == []
    context.close()
