"""The web UI in Debian's chromium (Playwright, headless): sign in, plan the sample zone,
see the routes on the map, review the demo patrol's objects from the queue by keyboard (one
decision for every capture that saw a thing, a capture split off when the grouping was wrong),
export.

Screenshots go to ``test-artifacts/browser/``; with ``ECOPATROL_UPDATE_SCREENSHOTS=1`` the
live flight is also copied to ``docs/screenshots/`` for the README (opt-in, so a test run
leaves the work tree alone); the map and the review queue come from the demo's patrol
(``tests/e2e/test_demo_review.py``).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine
from sqlmodel import Session

from imagery.synthetic import Anomaly, SurveyLine, make_basemap, render_captures
from server.accounts import add_user
from server.main import create_app
from server.planning import items_to_json
from server.settings import Settings
from sitl.instance import find_binary
from store.db import make_engine, migrate
from store.models import Mission, Role
from zone.sites import load_sites

from .conftest import PASSWORD, SITES
from .test_flights_sitl import HOME, _short_mission

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"
DOCS_SHOTS = REPO / "docs" / "screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    """A real uvicorn on loopback over SQLite, the sample zone and a processed synthetic patrol."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium")
    tmp = tmp_path_factory.mktemp("browser")
    with served_zone(tmp, sitl_speedup=10) as served:
        base, auth = served.base, served.auth
        count, shots, flight_id = _fly_synthetic_patrol(base, auth, tmp)
        # the operator's hand-flown pass: photos of its own (findings are keyed by the photo's
        # content, so the patrol's own files uploaded again would be the patrol's findings)
        hand = _yard_frames(tmp / "hand", count=2, alt_rel_m=110)
        _store_short_sortie(served.engine)
        seed = {"token": served.token, "findings": count, "shots": shots, "hand": hand}
        yield base, {**seed, "flight_id": flight_id}


@dataclass(frozen=True)
class Served:
    """A served test store: its base URL, the first user's token and headers, its engine and
    settings."""

    base: str
    token: str
    auth: dict[str, str]
    engine: Engine
    settings: Settings


@contextmanager
def served_zone(
    tmp: Path, *, roles: Sequence[Role] = tuple(Role), **settings: Any
) -> Iterator[Served]:
    """A real uvicorn on loopback over SQLite in ``tmp``, a user per role of ``roles`` (named
    after it, password PASSWORD), the sample zone stored by the first of them."""
    config = Settings(
        data_dir=tmp / "data",
        database_url=f"sqlite:///{tmp / 'db.sqlite'}",
        secret_key="browser-test-secret-0123456789abcdef",
        **settings,
    )
    engine = make_engine(config.db_url)
    migrate(engine)
    for role in roles:
        add_user(engine, role.value, PASSWORD, role=role, full_name=f"{role.value.title()} Li")
    try:
        with serving(config) as base:
            token = httpx.post(
                f"{base}/api/v1/login/access-token",
                data={"username": roles[0].value, "password": PASSWORD},
            ).json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            httpx.put(
                f"{base}/api/v1/sites", json=json.loads(SITES.read_text()), headers=auth
            ).raise_for_status()
            yield Served(base, token, auth, engine, config)
    finally:
        engine.dispose()


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The app on a real uvicorn on loopback, in a thread; yields its base URL."""
    port = _free_port()
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _yard_frames(out_dir: Path, *, count: int, alt_rel_m: float, east_m: float = 0.0) -> list[Path]:
    """Thermal frames 15 m apart on an eastward pass over a yard with two hot spots, the pass
    starting ``east_m`` metres east of the first (other image bytes, the same hot spots)."""
    zone = load_sites(SITES)
    stack = zone.stacks[0]
    bounds = (stack.lon - 0.002, stack.lat - 0.0015, stack.lon + 0.002, stack.lat + 0.0015)
    basemap = make_basemap(zone, bounds_lonlat=bounds, gsd_m=0.3)
    # a metre east is 1 / (111_320 * cos(latitude)) degrees of longitude
    start_lon = stack.lon - 0.0003 + east_m / (111_320 * math.cos(math.radians(stack.lat)))
    line = SurveyLine(start_lon, stack.lat, 90.0, 15.0, count, alt_rel_m=alt_rel_m)
    hot = [
        Anomaly("hotspot", stack.lon - 0.0002, stack.lat + 0.0001, radius_m=3.0),
        Anomaly("hotspot", stack.lon + 0.0001, stack.lat - 0.0001, radius_m=2.0, rise_c=25.0),
    ]
    return render_captures(
        line.poses(), basemap=basemap, anomalies=hot, kind="thermal", out_dir=out_dir
    )


def _fly_synthetic_patrol(
    base: str, auth: dict[str, str], tmp: Path
) -> tuple[int, list[Path], str]:
    """Thermal frames over a yard with two hot spots, uploaded and processed through the API;
    processing ends with the flight's objects (``imagery.persist.finish_flight``)."""
    shots = _yard_frames(tmp / "shots", count=3, alt_rel_m=100)
    flight_id = _upload_and_process(base, auth, "yard survey", shots)
    count = int(httpx.get(f"{base}/api/v1/findings", headers=auth).json()["count"])
    assert count >= 3, f"the synthetic patrol gave only {count} findings"
    objects = httpx.get(
        f"{base}/api/v1/objects", params={"flight_id": flight_id}, headers=auth
    ).json()["data"]
    # each hot spot is in every frame (3 frames 15 m apart at 100 m): grouped, not one per frame
    assert max(o["finding_count"] for o in objects) >= 3, objects
    return count, shots, flight_id


def _upload_and_process(
    base: str, auth: dict[str, str], name: str, shots: list[Path], media_type: str = "image/tiff"
) -> str:
    """A flight recorded without a plan (a patrol of its own), its photos uploaded and
    processed; returns its id."""
    flight = httpx.post(f"{base}/api/v1/flight-records", json={"name": name}, headers=auth)
    flight_id: str = flight.json()["id"]
    for path in shots:
        httpx.post(
            f"{base}/api/v1/flights/{flight_id}/uploads",
            files={"file": (path.name, path.read_bytes(), media_type)},
            headers=auth,
        ).raise_for_status()
    httpx.post(f"{base}/api/v1/flights/{flight_id}/process", headers=auth).raise_for_status()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = httpx.get(f"{base}/api/v1/flights/{flight_id}/processing", headers=auth).json()
        if state["finished"] == state["total"]:
            break
        time.sleep(0.3)
    assert state["done"] == state["total"] == len(shots), state
    return flight_id


def _store_short_sortie(engine) -> None:
    """A four-waypoint sortie from the south dock, short enough to fly in SITL in a test."""
    mission = _short_mission()
    route = [[i.lon, i.lat] for i in mission.items[1:4]]
    with Session(engine) as session:
        session.add(
            Mission(
                name="short hop",
                patrol_name="short hop",
                sortie_index=1,
                length_m=400,
                plan={
                    "dock": {"id": "dock", "lat": HOME[0], "lon": HOME[1], "ground_alt_m": HOME[2]},
                    "route": {"type": "LineString", "coordinates": route},
                    "mission": items_to_json(mission),
                },
            )
        )
        session.commit()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield b
        b.close()


def _shot(page, name: str, *, docs: bool = False) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.wait_for_timeout(800)  # let Leaflet's zoom and pan animations settle
    page.screenshot(path=str(path))
    if docs and os.environ.get("ECOPATROL_UPDATE_SCREENSHOTS") == "1":
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS_SHOTS / f"{name}.png")


def _sign_in(page, base: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/")
    page.wait_for_url("**/login?next=/")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-submit")
    page.wait_for_url(f"{base}/")
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)


def test_operator_plans_and_sees_routes(live_server, browser) -> None:
    base, _seed = live_server
    context = browser.new_context(viewport={"width": 1400, "height": 860})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base}/login")
    page.fill("#username", "operator")
    page.fill("#password", "wrong password")
    page.click("#login-submit")
    page.wait_for_selector("#login-error:has-text('wrong username or password')")
    _sign_in(page, base, "operator")

    page.goto(f"{base}/plan")
    page.wait_for_selector("body[data-ready='1']")
    page.fill("#patrol-name", "browser-patrol")
    page.check("#targets input[value='ent-01']")
    page.check("#targets input[value='ent-02']")
    page.click("#plan-submit")
    page.wait_for_selector("#sorties .card", timeout=60_000)
    assert "sorties" in page.inner_text("#plan-status")
    _shot(page, "plan")

    page.fill("#upload-name", "hand-flown yard pass")
    page.set_input_files("#upload-files", [str(p) for p in _seed["hand"]])
    page.click("#btn-upload")
    page.wait_for_selector("#upload-status:has-text('2 file(s) uploaded')", timeout=30_000)
    page.click("#btn-process")
    page.wait_for_selector("#live:has-text('processing done')", timeout=90_000)
    assert "processed 2 / 2" in page.inner_text("#live")

    mast = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [113.5300, 34.8060]},
        "properties": {"id": "mast-1", "kind": "obstacle", "radius_m": 4, "height_m": 47},
    }
    auth = {"Authorization": f"Bearer {_seed['token']}"}
    httpx.post(f"{base}/api/v1/sites", json=mast, headers=auth).raise_for_status()
    page.goto(f"{base}/")
    page.wait_for_selector("body[data-ready='1']")
    assert page.input_value("#patrol-select") == "browser-patrol"
    # obstacles: every stack of the zone and the mast, each labelled with its height
    stacks = [
        s
        for f in json.loads(SITES.read_text())["features"]
        for s in f["properties"].get("stacks", [])
    ]
    assert page.locator("path.obstacle-marker").count() == len(stacks) + 1
    labels = page.locator(".obstacle-label").all_inner_texts()
    assert "47 m" in labels and f"{stacks[0]['height_m']} m" in labels
    # routes are dashed polylines in Leaflet's SVG overlay pane
    page.wait_for_selector("path.leaflet-interactive[stroke-dasharray]")
    assert page.locator("path.leaflet-interactive[stroke-dasharray]").count() >= 1
    # the map lists the objects in view (tests/e2e/test_demo_review.py checks which)
    page.wait_for_selector("#objects-list li")
    listed = page.locator("#objects-list li").count()
    assert page.inner_text("#objects-count").startswith(f"{listed} in view")
    _shot(page, "map-routes")
    with context.expect_page() as report_page:
        page.click("#patrol-summary a")
    report = report_page.value
    report.wait_for_load_state()
    assert "Patrol report: browser-patrol" in report.inner_text("h1")
    assert report.locator("svg path").count() > 2
    _shot(report, "patrol-report")
    report.close()
    assert errors == []
    context.close()


def _get(base: str, token: str, path: str, **params: str | int) -> dict[str, Any]:
    r = httpx.get(
        f"{base}/api/v1{path}", params=params, headers={"Authorization": f"Bearer {token}"}
    )
    r.raise_for_status()
    body: dict[str, Any] = r.json()
    return body


def _shown(page, object_id: str) -> None:
    """Wait until the page shows that object, its capture drawn."""
    page.wait_for_selector(f"#object-card[data-id='{object_id}']")
    page.wait_for_selector("#capture-view:not([hidden]) rect.outline")


def _confirm_with_comment(page, comment: str) -> None:
    """Type a comment (/ to focus it, Escape to leave it) and confirm the object shown (C)."""
    page.keyboard.press("/")
    page.keyboard.type(comment)
    page.keyboard.press("Escape")
    page.keyboard.press("c")


def test_inspector_reviews_objects_by_keyboard(live_server, browser) -> None:
    from playwright.sync_api import expect

    base, seed = live_server
    token = seed["token"]
    queue = _get(base, token, "/objects", status="pending", limit=1000)
    pending_findings = _get(base, token, "/findings", status="pending", limit=1)["count"]
    n = queue["count"]
    assert n < pending_findings  # overlapping frames: fewer decisions than findings
    assert n >= 2  # at least the patrol's two hot spots (and a split): 3 decisions below
    context = browser.new_context(viewport={"width": 1400, "height": 860}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _sign_in(page, base, "inspector")
    assert page.locator("nav a[data-page='plan']").count() == 0

    page.goto(f"{base}/review")
    page.wait_for_selector("body[data-ready='1']")
    _shown(page, queue["data"][0]["id"])  # the API's order: severity, then site
    assert page.inner_text("#queue-pos") == f"1 / {n}"
    assert page.locator("#queue-list li").count() == n

    # to the object most captures saw, by keyboard: its captures in the strip, each outlined
    big = max(range(n), key=lambda i: (queue["data"][i]["finding_count"], -i))
    target = queue["data"][big]
    for _ in range(big):
        page.keyboard.press("j")
    _shown(page, target["id"])
    captures = target["finding_count"]
    expect(page.locator("#strip .strip-item svg rect.outline")).to_have_count(captures)
    assert f"{captures} captures" in page.inner_text("#o-details")
    _shot(page, "review-yard")

    # split the last capture off: S, then Enter in the confirmation; the new object is shown
    last = _get(base, token, f"/objects/{target['id']}")["findings"][-1]["id"]
    page.click(f"#strip .strip-item[data-finding='{last}'] figcaption")
    page.keyboard.press("s")
    page.wait_for_selector("#split-dialog[open]")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#queue-pos:text-is('{big + 2} / {n + 1}')")
    new_id = page.get_attribute("#queue-list li.selected", "data-id")
    assert new_id and new_id != target["id"]
    _shown(page, new_id)
    split_off = _get(base, token, f"/objects/{new_id}")
    assert split_off["split_from"] == target["id"] and split_off["status"] == "pending"
    assert [f["id"] for f in split_off["findings"]] == [last]
    kept = _get(base, token, f"/objects/{target['id']}")["findings"]
    assert len(kept) == captures - 1 and last not in {f["id"] for f in kept}

    # back to it (K), a comment, confirm (C): every remaining capture's finding is confirmed
    page.keyboard.press("k")
    _shown(page, target["id"])
    _confirm_with_comment(page, "two hot spots at the stack base")
    page.wait_for_selector(f"#queue-pos:text-is('{big + 1} / {n}')")
    findings = _get(base, token, "/findings", flight_id=seed["flight_id"], limit=1000)["data"]
    status = {f["id"]: f["status"] for f in findings}
    assert {status[f["id"]] for f in kept} == {"confirmed"}
    assert status[last] == "pending"
    trail = _get(base, token, f"/objects/{target['id']}")["reviews"]
    assert [(t["username"], t["decision"], t["comment"]) for t in trail] == [
        ("inspector", "confirm", "two hot spots at the stack base")
    ]

    # the split-off capture is shown next: reject it with the second reason (R, 2, Enter)
    _shown(page, new_id)
    reasons = httpx.get(
        f"{base}/api/v1/objects/reject-reasons", headers={"Authorization": f"Bearer {token}"}
    ).json()
    page.keyboard.press("r")
    page.wait_for_selector("#reject-dialog[open]")
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#queue-pos:text-is('{min(big + 1, n - 1)} / {n - 1}')")
    rows = _get(base, token, "/reviews", limit=1000)["data"]
    with_reason = [r for r in rows if r["reason"] == reasons[1]]
    assert [(r["object_id"], r["decision"]) for r in with_reason] == [(new_id, "reject")]
    assert _get(base, token, f"/findings/{last}")["status"] == "rejected"

    # the next one repeats the object just rejected: D marks it a duplicate of that one
    shown = page.get_attribute("#queue-list li.selected", "data-id")
    _shown(page, shown)
    page.keyboard.press("d")
    left = f"{min(big + 1, n - 2)} / {n - 2}" if n > 2 else "empty"
    page.wait_for_selector(f"#queue-pos:text-is('{left}')")
    trail = _get(base, token, f"/objects/{shown}")["reviews"]
    assert [(t["decision"], t["duplicate_of_object"]) for t in trail] == [("duplicate", new_id)]
    _shot(page, "review-after")

    # a link to a finding opens its object
    page.goto(f"{base}/review?finding={last}")
    page.wait_for_selector("body[data-ready='1']")
    _shown(page, new_id)
    assert page.inner_text("#o-status") == "rejected"

    page.goto(f"{base}/review")
    page.wait_for_selector("body[data-ready='1']")
    page.uncheck("#only-pending")
    page.wait_for_selector("#queue-list .chip.confirmed")
    with page.expect_download() as download:  # confirmed by default
        page.click("#exports a[href$='.geojson']")
    exported = json.loads(Path(download.value.path()).read_text())
    # one feature for the confirmed object, however many captures saw it
    assert [(f["id"], f["properties"]["finding_count"]) for f in exported["features"]] == [
        (target["id"], captures - 1)
    ]
    assert errors == []
    context.close()


def test_history_shows_the_previous_patrols_decision(live_server, browser) -> None:
    """The yard flown twice more: the second pass's objects are recurring, and the queue
    shows what an inspector decided on the first pass's object."""
    base, seed = live_server
    token = seed["token"]
    auth = {"Authorization": f"Bearer {token}"}
    tmp = Path(seed["shots"][0]).parent.parent
    first = _upload_and_process(
        base, auth, "history pass 1", _yard_frames(tmp / "h1", count=2, alt_rel_m=100, east_m=4)
    )
    for obj in _get(base, token, "/objects", flight_id=first)["data"]:
        httpx.post(
            f"{base}/api/v1/objects/{obj['id']}/reviews",
            json={"decision": "reject", "reason": "sun-heated surface", "comment": "tar roof"},
            headers=auth,
        ).raise_for_status()
    second = _upload_and_process(
        base, auth, "history pass 2", _yard_frames(tmp / "h2", count=2, alt_rel_m=100, east_m=6)
    )
    again = [
        _get(base, token, f"/objects/{o['id']}")
        for o in _get(base, token, "/objects", flight_id=second)["data"]
    ]
    recurring = [o for o in again if o["previous"]]
    assert recurring and all(o["change"] == "recurring" for o in recurring), again
    obj = recurring[0]
    assert obj["previous"]["object"]["flight_id"] == first  # the pass just before

    context = browser.new_context(viewport={"width": 1400, "height": 860})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _sign_in(page, base, "inspector")
    page.goto(f"{base}/review?object={obj['id']}")
    page.wait_for_selector("body[data-ready='1']")
    _shown(page, obj["id"])
    history = page.inner_text("#history")
    assert "Recurring" in history and "history pass 1" in history and "rejected" in history
    assert "sun-heated surface" in history and "tar roof" in history
    assert page.inner_text("#o-change") == "recurring"
    _shot(page, "review-history")
    assert errors == []
    context.close()


def test_docs_page_works_offline(live_server, browser) -> None:
    base, _seed = live_server
    context = browser.new_context()
    page = context.new_page()
    outside: list[str] = []
    page.on(
        "request",
        lambda r: outside.append(r.url) if not r.url.startswith((base, "data:", "blob:")) else None,
    )
    page.goto(f"{base}/login")
    page.fill("#username", "admin")
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"{base}/")
    page.goto(f"{base}/docs")
    page.wait_for_selector(".opblock-summary-path[data-path='/api/v1/findings']", timeout=20_000)
    _shot(page, "api-docs")
    assert outside == []
    context.close()


@pytest.mark.sitl
@pytest.mark.timeout(300)
def test_operator_flies_in_sitl_and_watches_live(live_server, browser) -> None:
    try:
        find_binary()
    except Exception as exc:
        pytest.skip(str(exc))
    base, _seed = live_server
    context = browser.new_context(viewport={"width": 1400, "height": 860})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _sign_in(page, base, "operator")
    page.goto(f"{base}/plan")
    page.wait_for_selector("body[data-ready='1']")
    page.select_option("#patrol-select", "short hop")
    page.wait_for_selector("#sorties .card .fly")
    page.check("input[name='target'][value='sitl']")
    page.click("#sorties .card .fly")
    page.wait_for_selector("#live:has-text('flying')", timeout=120_000)
    track = page.locator('path.leaflet-interactive[stroke="#00c2ff"]')
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # the page's CSP forbids eval, so poll from here
        # Leaflet drops collinear vertices: three segments mean the drone has turned twice
        if track.count() and len((track.first.get_attribute("d") or "").split("L")) > 3:
            break
        time.sleep(0.5)
    else:
        _shot(page, "live-flight-failed")
        raise AssertionError(f"the live track did not grow: {page.inner_text('#live')}")
    page.wait_for_selector(".drone-icon")
    _shot(page, "live-flight", docs=True)
    if not page.is_disabled("#btn-abort"):
        page.click("#btn-abort")
    # the flight's status (bold), not an event message: "landed" is also said on touch-down,
    # before the flight's own status is final and the process button is enabled
    page.wait_for_selector("#live b:text-matches('^(aborted|landed)$')", timeout=180_000)
    assert not page.is_disabled("#btn-process")
    assert errors == []
    context.close()
