"""The alerts page in Debian's chromium: the sample day's readings raise real alerts; the duty
officer sees them listed, picks the NO2 one, sees its likely sources drawn as the candidates
API ranks them (footprints, stacks, the wind arrow pointing where the wind blows TO), and an
operator plans a patrol over the top three in one click and opens it on the plan page; what
its flight found is listed with the alert and marked on the map. An inspector gets no patrol
button. Every request the browser makes goes to the loopback server.
"""

from __future__ import annotations

import csv
import math
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from store.models import Capture, Finding, FindingStatus, Flight, FlightStatus

from .conftest import SITES
from .test_browser import CHROMIUM, _shot, _sign_in, browser, served_zone  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
READINGS = SITES.parent / "readings.csv"
API = "/api/v1"
# over the NO2 hourly limit (200 ug/m3), no station reporting wind that hour
WINDLESS_SPIKE = {
    "station": "stn-mic-01",
    "pollutant": "NO2",
    "value": 260.0,
    "unit": "µg/m³",
    "time": "2026-06-20T10:00:00+08:00",
}


@pytest.fixture(scope="module")
def alerts_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, str, Engine]]:
    """A real uvicorn on loopback over SQLite with the sample zone and its sample day of
    readings (which opens and closes two alerts at stn-mic-03), and a windless NO2 spike at
    stn-mic-01 five days later (an open alert that cannot be ranked); yields the base URL, an
    admin's token and the store's engine."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium")
    tmp = tmp_path_factory.mktemp("alerts")
    with served_zone(tmp) as served:
        base, auth = served.base, served.auth
        with READINGS.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        r = httpx.post(f"{base}{API}/readings", json=rows, headers=auth, timeout=60)
        r.raise_for_status()
        assert len(r.json()["alerts_opened"]) == 2, r.text
        r = httpx.post(f"{base}{API}/readings", json=WINDLESS_SPIKE, headers=auth)
        assert len(r.json()["alerts_opened"]) == 1, r.text
        yield base, served.token, served.engine


def _get(base: str, token: str, path: str) -> httpx.Response:
    return httpx.get(f"{base}{API}{path}", headers={"Authorization": f"Bearer {token}"})


def _no2_alert(base: str, token: str) -> dict[str, Any]:
    alerts = _get(base, token, "/alerts?limit=100").json()["data"]
    alert: dict[str, Any] = next(
        a for a in alerts if (a["station"], a["pollutant"]) == ("stn-mic-03", "NO2")
    )
    return alert


def _open_page(browser, base: str, username: str):  # noqa: F811
    """A signed-in page, the host of every request it makes and its errors."""
    context = browser.new_context(viewport={"width": 1500, "height": 900})
    page = context.new_page()
    hosts: list[str] = []
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda req: hosts.append(urlsplit(req.url).hostname or req.url))
    _sign_in(page, base, username)
    return page, hosts, errors


def _arrow_bearing_deg(page) -> float:
    """Where the drawn wind arrow points on screen, degrees clockwise from screen up (true
    north on this unrotated Web Mercator map): along its shaft, as the browser lays it out,
    towards the end nearer its head."""
    ends = page.evaluate(
        """() => {
          const svg = document.querySelector('.wind-arrow svg');
          const line = svg.querySelector('line');
          const m = line.getScreenCTM();
          const at = (x, y) => {
            const q = new DOMPoint(+x, +y).matrixTransform(m);
            return [q.x, q.y];
          };
          const a = at(line.getAttribute('x1'), line.getAttribute('y1'));
          const b = at(line.getAttribute('x2'), line.getAttribute('y2'));
          const r = svg.querySelector('path').getBoundingClientRect();
          const head = [r.left + r.width / 2, r.top + r.height / 2];
          const d = (u, v) => Math.hypot(u[0] - v[0], u[1] - v[1]);
          return d(a, head) < d(b, head) ? { tail: b, tip: a } : { tail: a, tip: b };
        }"""
    )
    dx = ends["tip"][0] - ends["tail"][0]
    dy = ends["tip"][1] - ends["tail"][1]  # screen y grows downwards
    return math.degrees(math.atan2(dx, -dy)) % 360


def test_inspector_sees_alerts_and_the_ranked_sources_but_no_patrol_button(
    alerts_server,
    browser,  # noqa: F811
) -> None:
    base, token, _engine = alerts_server
    page, hosts, errors = _open_page(browser, base, "inspector")
    page.goto(f"{base}/alerts")
    page.wait_for_selector("body[data-ready='1']")
    open_ = _get(base, token, "/alerts?open=true").json()["data"]
    closed = _get(base, token, "/alerts?open=false").json()["data"]
    assert (len(open_), len(closed)) == (1, 2)
    items = page.locator("#alert-list li")
    assert [items.nth(i).get_attribute("data-id") for i in range(items.count())] == [
        a["id"] for a in open_ + closed
    ]
    for i, alert in enumerate(open_ + closed):
        text = items.nth(i).inner_text()
        assert items.nth(i).locator(".chip").inner_text() == ("open" if alert["open"] else "closed")
        assert alert["pollutant"] in text
        assert f"{alert['peak_value']:.1f}" in text and f"{alert['threshold']:.1f}" in text
        name = "Songshan Coatings south-west" if alert["open"] else "school south gate"
        assert name in text  # the station's name, from the sites
    assert not page.is_visible("#btn-patrol")

    # the open alert is shown first; it cannot be ranked, and the page says why
    page.wait_for_selector("#candidates-status[data-state='refused']")
    refusal = _get(base, token, f"/alerts/{open_[0]['id']}/candidates")
    assert refusal.status_code == 422
    assert refusal.json()["detail"].startswith("no wind reported")
    assert refusal.json()["detail"] in page.inner_text("#candidates-status")
    assert page.locator("path.candidate-footprint").count() == 0

    no2 = _no2_alert(base, token)
    page.click(f"#alert-list li[data-id='{no2['id']}']")
    page.wait_for_selector(f"#alert-list li.selected[data-id='{no2['id']}']")
    page.wait_for_selector("#candidates-status[data-state='ranked']", timeout=30_000)
    detail = _get(base, token, f"/alerts/{no2['id']}").json()
    assert page.locator("#readings tbody tr").count() == len(detail["readings"]) == 4
    assert page.locator("#sparkline circle").count() == 4
    assert page.locator("path.alert-station").count() == 1
    answer = _get(base, token, f"/alerts/{no2['id']}/candidates?top=5")
    assert answer.status_code == 200, answer.text
    fc = answer.json()
    _check_candidates(page, fc)
    assert not page.is_visible("#btn-patrol")
    assert set(hosts) == {"127.0.0.1"}, set(hosts)
    assert errors == []
    page.context.close()


def _check_candidates(page, fc: dict[str, Any]) -> None:
    """The page draws what the candidates API ranked: a footprint per candidate that has one,
    a marker per stack, the list in rank order with its scores, the wind arrow downwind."""
    footprints = [f for f in fc["features"] if f["geometry"] is not None]
    assert footprints, "the ranking drew no footprint"
    assert page.locator("path.candidate-footprint").count() == len(footprints)
    stacks = sum(len(f["properties"]["stacks"]) for f in fc["features"])
    assert page.locator("path.candidate-stack").count() == stacks
    ranked = page.locator("#candidates li")
    assert ranked.count() == len(fc["features"])
    first = next(f["properties"] for f in fc["features"] if f["properties"]["rank"] == 1)
    assert ranked.first.get_attribute("data-site") == first["site_id"]
    assert ranked.first.locator(".name").inner_text() == first["name"]
    assert ranked.first.locator(".score").inner_text() == f"{round(100 * first['score'])}%"
    # the arrow points downwind (e.g. a wind FROM 300 deg, west-north-west, blows TO 120 deg)
    wind_to_deg = (fc["wind"]["from_deg"] + 180) % 360
    off = (_arrow_bearing_deg(page) - wind_to_deg + 180) % 360 - 180
    assert abs(off) < 3, (fc["wind"], off)
    assert "blows to" in (page.get_attribute(".wind-arrow", "title") or "")


def test_operator_plans_a_patrol_over_the_top_three_and_opens_it(
    alerts_server,
    browser,  # noqa: F811
) -> None:
    base, token, engine = alerts_server
    no2 = _no2_alert(base, token)
    page, hosts, errors = _open_page(browser, base, "operator")
    page.goto(f"{base}/alerts?alert={no2['id']}")
    page.wait_for_selector("#candidates-status[data-state='ranked']", timeout=30_000)
    page.click("#btn-patrol")
    page.wait_for_selector("#patrol-link, #patrol-result.error-text", timeout=120_000)
    assert page.locator("#patrol-link").count() == 1, page.inner_text("#patrol-result")
    patrols = _get(base, token, f"/alerts/{no2['id']}").json()["patrols"]
    assert len(patrols) == 1 and patrols[0]["mission_ids"], patrols
    name = patrols[0]["name"]
    assert name in page.inner_text("#patrol-result")
    page.wait_for_selector(f"#alert-patrols li[data-patrol='{name}']")
    _shot(page, "alerts", docs=True)
    missions = _get(base, token, f"/missions?patrol_name={quote(name)}&limit=100").json()
    assert {m["id"] for m in missions["data"]} == set(patrols[0]["mission_ids"])

    page.click("#patrol-link")
    page.wait_for_url(f"{base}/plan?patrol={quote(name)}")
    page.wait_for_selector("body[data-ready='1']")
    assert page.input_value("#patrol-select") == name
    assert page.locator("#sorties .card").count() == len(patrols[0]["mission_ids"])

    # a flight of its first sortie found two things: the alert lists them, each on the map
    _fly_and_find(engine, patrols[0]["mission_ids"][0])
    page.goto(f"{base}/alerts?alert={no2['id']}")
    page.wait_for_selector("#alert-findings li[data-id]")
    findings = _get(base, token, f"/alerts/{no2['id']}").json()["findings"]
    assert [f["kind"] for f in findings] == ["smoke_plume", "thermal_hotspot"]
    shown = page.locator("#alert-findings li[data-id]")
    assert [shown.nth(i).get_attribute("data-id") for i in range(2)] == [f["id"] for f in findings]
    assert "smoke_plume at ent-12" in shown.first.inner_text()
    assert page.locator("path.alert-finding").count() == 2
    assert set(hosts) == {"127.0.0.1"}, set(hosts)
    assert errors == []
    page.context.close()


def _fly_and_find(engine: Engine, mission_id: str) -> None:
    """A landed flight of the mission with a smoke plume, then a hot spot, by Yuhua Chemical
    (ent-12), stored directly (processing has its own tests)."""
    with Session(engine) as session:
        flight = Flight(
            name="alert check", status=FlightStatus.LANDED, mission_id=uuid.UUID(mission_id)
        )
        session.add(flight)
        session.flush()
        for i, kind in enumerate(("smoke_plume", "thermal_hotspot")):
            lon, lat = 113.5350, 34.8120 + 0.0002 * i
            capture = Capture(
                flight_id=flight.id,
                path=f"IMG_{i + 1:04d}.JPG",
                lat=lat,
                lon=lon,
                taken_at=datetime(2026, 6, 15, 7, 10 + i, tzinfo=UTC),
            )
            session.add(capture)
            session.flush()
            session.add(
                Finding(
                    dedupe_key=f"alert-check-{i}",
                    capture_id=capture.id,
                    flight_id=flight.id,
                    site_id="ent-12",
                    kind=kind,
                    detector="test",
                    detector_version="1",
                    score=0.9,
                    lat=lat,
                    lon=lon,
                    area_m2=12.0,
                    pixel_box=[10, 20, 60, 80],
                    measurements={},
                    status=FindingStatus.PENDING,
                )
            )
        session.commit()


def test_the_page_needs_a_session(alerts_server) -> None:
    base, _token, _engine = alerts_server
    r = httpx.get(f"{base}/alerts", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/alerts"
