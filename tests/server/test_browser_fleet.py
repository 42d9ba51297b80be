"""The fleet page in Debian's chromium with two drones flying at once (issue 17's must-show).

A patrol of the sample zone, one orbit sortie from each dock (ent-07 by the south dock,
ent-12 by the north one), is planned and launched together through the API with
``sitl: true``: the service starts one ArduCopter SITL per dock, each its own instance
(its own ports) answering as its sortie's MAVLink system id. The page shows both markers
moving; Pause on one stops its marker (its screen position still over 4 s, the map not
panning meanwhile) while the other's keeps moving; Resume sends it on. Every request the
page makes goes to 127.0.0.1.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from sitl.instance import find_binary
from store.models import Role

from .test_browser import CHROMIUM, _shot, _sign_in, browser, served_zone  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.sitl, pytest.mark.slow]
PATROL = "two docks"
TRANSLATE = re.compile(r"translate3d\((-?[\d.]+)px, (-?[\d.]+)px")


@pytest.fixture
def fleet_server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A real uvicorn over SQLite with the sample zone and the two-dock patrol planned."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium")
    try:
        find_binary()
    except Exception as exc:
        pytest.skip(str(exc))
    # two SITLs on two cores
    with served_zone(tmp_path, roles=(Role.OPERATOR,), sitl_speedup=5) as served:
        base, auth = served.base, served.auth
        plan = {"patrol_name": PATROL, "targets": ["ent-07", "ent-12"], "patterns": ["orbit"]}
        planned = httpx.post(f"{base}/api/v1/plans", json=plan, headers=auth, timeout=60)
        planned.raise_for_status()
        assert len(planned.json()["sorties"]) == 2
        yield base, auth


def _marker_xy(page, flight_id: str) -> tuple[float, float]:
    """The flight's marker on screen: Leaflet's translate3d of it in the map pane (px)."""
    style = page.get_attribute(f".drone-icon[data-flight='{flight_id}']", "style") or ""
    found = TRANSLATE.search(style)
    assert found, style
    return float(found.group(1)), float(found.group(2))


def _moved_px(page, flight_id: str, seconds: float) -> float:
    before = _marker_xy(page, flight_id)
    page.wait_for_timeout(seconds * 1000)
    after = _marker_xy(page, flight_id)
    return float(((after[0] - before[0]) ** 2 + (after[1] - before[1]) ** 2) ** 0.5)


def _until(what: str, check, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"not {what} within {timeout_s:g} s")


@pytest.mark.timeout(420)
def test_two_drones_fly_at_once_and_pausing_one_leaves_the_other_moving(
    fleet_server,
    browser,  # noqa: F811
) -> None:
    base, auth = fleet_server
    launched = httpx.post(
        f"{base}/api/v1/patrols/{PATROL}/launch", json={"sitl": True}, headers=auth, timeout=30
    )
    assert launched.status_code == 202, launched.text
    sorties = launched.json()["sorties"]
    assert [s["delay_s"] for s in sorties] == [0.0, 0.0]  # 1.1 km apart: no wait
    assert sorted(s["dock"] for s in sorties) == ["dock-north", "dock-south"]
    first, second = (s["flight_id"] for s in sorties)

    context = browser.new_context(viewport={"width": 1400, "height": 860})
    page = context.new_page()
    errors: list[str] = []
    hosts: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda req: hosts.append(urlsplit(req.url).hostname or req.url))
    _sign_in(page, base, "operator")
    page.goto(f"{base}/fleet")
    page.wait_for_selector("body[data-ready='1']")
    for flight_id in (first, second):
        page.wait_for_selector(
            f".fleet-flight[data-flight='{flight_id}'] .state b:text-is('flying')",
            timeout=180_000,
        )
    live = {
        f["id"]: f["live"] for f in httpx.get(f"{base}/api/v1/flights", headers=auth).json()["data"]
    }
    assert {live[first]["system_id"], live[second]["system_id"]} == {1, 2}
    _until(
        "both markers moving",
        lambda: _moved_px(page, first, 2) > 5 and _moved_px(page, second, 2) > 5,
        90,
    )

    card = f".fleet-flight[data-flight='{first}']"
    page.click(f"{card} button[data-verb='pause']")
    page.wait_for_selector(f"{card} .state:has-text('GUIDED')", timeout=30_000)
    page.wait_for_timeout(2500)  # braking to its hold: a few simulated seconds
    held = _marker_xy(page, first)
    flying_px = _moved_px(page, second, 4)
    assert flying_px > 10, f"the other drone moved {flying_px:.1f} px in 4 s"
    still = _marker_xy(page, first)
    assert abs(still[0] - held[0]) <= 2 and abs(still[1] - held[1]) <= 2, (held, still)
    _shot(page, "fleet-one-paused")

    page.click(f"{card} button[data-verb='resume']")
    page.wait_for_selector(f"{card} .state:has-text('AUTO')", timeout=30_000)
    _until("the resumed drone moving", lambda: _moved_px(page, first, 2) > 5, 30)
    assert page.locator(".drone-icon").count() == 2
    assert errors == []
    assert set(hosts) == {"127.0.0.1"}, sorted(set(hosts))
    context.close()
