"""An inspector reviews the demo's patrol in Debian's chromium (Playwright, headless).

The data is what ``ecopatrol demo`` leaves (``conftest.demo``: sortie 1 flown in SITL where
a binary exists, some 650 captures processed into objects), served the way the demo serves
it (its database, its data directory, its synthetic ground as the map's orthophoto, its
own inspector login), with a paper tile map (MBTiles) over the zone as a user's own. The
queue holds objects; one keyboard decision covers every capture of one; a capture is split
off; the map draws the base layers and the captures from this host alone; the site's case
file downloads and reads back with its pages, images and the SHA-256 of the original
images, hashed here from the files on disk.

With ``ECOPATROL_UPDATE_SCREENSHOTS=1`` the map and the review queue are copied to
``docs/screenshots/`` for the README.
"""

from __future__ import annotations

import hashlib
import io
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlparse

import httpx
import morecantile
import pytest
import rasterio
from PIL import Image, ImageDraw
from pypdf import PdfReader
from rasterio.warp import transform_bounds
from sqlmodel import Session, col, select

from ecopatrol.demo import DemoSummary
from server.settings import Settings
from store.db import make_engine
from store.models import Capture
from tests.server.test_browser import (
    ARTIFACTS,
    CHROMIUM,
    _confirm_with_comment,
    _shot,
    _shown,
    _sign_in,
    browser,
    serving,
)

__all__ = ["browser"]  # the fixture this module uses from test_browser
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.demo]


PAPER = (238, 233, 222)


def _paper_tile() -> bytes:
    """A plain paper-map tile: a pale ground with a 64 px grid."""
    tile = Image.new("RGB", (256, 256), PAPER)
    draw = ImageDraw.Draw(tile)
    for at in range(0, 256, 64):
        draw.line([(at, 0), (at, 255)], fill=(214, 208, 196))
        draw.line([(0, at), (255, at)], fill=(214, 208, 196))
    out = io.BytesIO()
    tile.save(out, format="PNG")
    return out.getvalue()


def write_paper_mbtiles(path: Path, bounds: tuple[float, float, float, float]) -> Path:
    """An MBTiles of paper tiles over ``bounds`` at zooms 10 to 16 (TMS rows, as the spec says)."""
    tms = morecantile.tms.get("WebMercatorQuad")
    data = _paper_tile()
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
    db.execute(
        "CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, "
        "tile_data BLOB)"
    )
    meta = {
        "name": "Paper map",
        "format": "png",
        "minzoom": "10",
        "maxzoom": "16",
        "bounds": ",".join(f"{v:.6f}" for v in bounds),
        "attribution": "test paper tiles",
    }
    db.executemany("INSERT INTO metadata VALUES (?, ?)", list(meta.items()))
    db.executemany(
        "INSERT INTO tiles VALUES (?, ?, ?, ?)",
        [(t.z, t.x, 2**t.z - 1 - t.y, data) for t in tms.tiles(*bounds, list(range(10, 17)))],
    )
    db.commit()
    db.close()
    return path


def _loaded(page, selector: str, minimum: int, timeout_s: float = 30) -> list[tuple[int, int]]:
    """(naturalWidth, naturalHeight) of every image ``selector`` matches, once ``minimum`` of
    them have loaded (0 while loading)."""
    deadline = time.monotonic() + timeout_s
    sizes: list[tuple[int, int]] = []
    while time.monotonic() < deadline:
        sizes = [
            (w, h)
            for w, h in page.locator(selector).evaluate_all(
                "els => els.map(e => (e.complete ? [e.naturalWidth, e.naturalHeight] : [0, 0]))"
            )
        ]
        if sum(w > 0 for w, _h in sizes) >= minimum:
            return sizes
        time.sleep(0.3)
    raise AssertionError(f"{selector}: {sum(w > 0 for w, _h in sizes)} of {minimum} loaded")


class Demo:
    """The demo's server, its inspector, and the API as that inspector sees it."""

    def __init__(self, base: str, summary: DemoSummary) -> None:
        self.base = base
        self.password = summary.logins["inspector"]
        self.db_url = summary.db_url
        token = httpx.post(
            f"{base}/api/v1/login/access-token",
            data={"username": "inspector", "password": self.password},
        ).json()["access_token"]
        self.auth = {"Authorization": f"Bearer {token}"}

    def get(self, path: str, **params: str | int) -> Any:
        r = httpx.get(f"{self.base}/api/v1{path}", params=params, headers=self.auth, timeout=60)
        r.raise_for_status()
        return r.json()

    def until(self, path: str, done: Any, timeout_s: float = 15) -> Any:
        """``GET path`` until ``done(body)`` holds (a decision the page sent has landed)."""
        deadline = time.monotonic() + timeout_s
        while not done(body := self.get(path)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert done(body), body
        return body


@pytest.fixture(scope="module")
def served(demo: tuple[DemoSummary, Path]) -> Iterator[Demo]:
    """The demo's data served as ``ecopatrol demo`` serves it (``ecopatrol.cli.demo``)."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium")
    summary, data_dir = demo
    ground = Path(summary.basemap_path)
    with rasterio.open(ground) as tif:
        bounds = transform_bounds(tif.crs, "EPSG:4326", *tif.bounds)
    paper = write_paper_mbtiles(data_dir / "paper.mbtiles", bounds)
    settings = Settings(
        data_dir=data_dir,
        database_url=summary.db_url,
        basemap=[paper, ground],  # a tile map the user has, and the demo's orthophoto
        secret_key="demo-review-secret-0123456789abcdef",
    )
    with serving(settings) as base:
        yield Demo(base, summary)


@dataclass
class Tab:
    """A signed-in inspector's page, with the script errors it raised and what it asked for."""

    page: Any
    errors: list[str] = field(default_factory=list)
    requested: list[str] = field(default_factory=list)

    def close(self) -> None:
        assert self.errors == []
        self.page.context.close()


def _open(chromium: Any, served: Demo, path: str, **context: Any) -> Tab:
    page = chromium.new_context(viewport={"width": 1400, "height": 860}, **context).new_page()
    tab = Tab(page)
    page.on("pageerror", lambda exc: tab.errors.append(str(exc)))
    page.on("request", lambda r: tab.requested.append(r.url))
    _sign_in(page, served.base, "inspector", served.password)
    page.goto(f"{served.base}{path}")
    page.wait_for_selector("body[data-ready='1']")
    return tab


def test_the_queue_holds_objects_and_one_decision_covers_every_capture(browser, served) -> None:
    from playwright.sync_api import expect

    queue = served.get("/objects", status="pending", limit=1000)
    pending_findings = served.get("/findings", status="pending", limit=1)["count"]
    n = queue["count"]
    # the demo's anomalies were each seen from several overlapping photos
    assert 5 <= n < pending_findings / 3, (n, pending_findings)
    tab = _open(browser, served, "/review")
    page = tab.page
    _shown(page, queue["data"][0]["id"])  # the API's order: severity, then site
    assert page.inner_text("#queue-pos") == f"1 / {n}"
    assert page.locator("#queue-list li").count() == n

    # to the object most captures saw, by keyboard: every capture in the strip, outlined
    big = max(range(n), key=lambda i: (queue["data"][i]["finding_count"], -i))
    target = queue["data"][big]
    captures = target["finding_count"]
    assert captures >= 5, target
    for _ in range(big):
        page.keyboard.press("j")
    _shown(page, target["id"])
    expect(page.locator("#strip .strip-item svg rect.outline")).to_have_count(captures)
    # a capture may hold two findings of one object (a plume seen as two boxes)
    assert f"{target['summary']['captures']} captures" in page.inner_text("#o-details")
    _shot(page, "review-queue", docs=True)

    # the grouping took one capture too many: split the last one off (S, Enter)
    last = served.get(f"/objects/{target['id']}")["findings"][-1]["id"]
    page.click(f"#strip .strip-item[data-finding='{last}'] figcaption")
    page.keyboard.press("s")
    page.wait_for_selector("#split-dialog[open]")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#queue-pos:text-is('{big + 2} / {n + 1}')")
    new_id = page.get_attribute("#queue-list li.selected", "data-id")
    split_off = served.get(f"/objects/{new_id}")
    assert split_off["split_from"] == target["id"] and split_off["status"] == "pending"
    assert [f["id"] for f in split_off["findings"]] == [last]

    # back to it (K), with a comment, confirmed (C): one decision for every capture left
    page.keyboard.press("k")
    _shown(page, target["id"])
    _confirm_with_comment(page, "seen from the demo sortie")
    page.wait_for_selector(f"#queue-pos:text-is('{big + 1} / {n}')")
    detail = served.until(f"/objects/{target['id']}", lambda o: o["status"] == "confirmed")
    assert len(detail["findings"]) == captures - 1
    assert {f["status"] for f in detail["findings"]} == {"confirmed"}
    assert [(r["username"], r["decision"], r["comment"]) for r in detail["reviews"]] == [
        ("inspector", "confirm", "seen from the demo sortie")
    ]
    assert served.get(f"/findings/{last}")["status"] == "pending"
    tab.close()


def _every_one_loaded(page: Any, selector: str) -> list[tuple[int, int]]:
    """The sizes of the images ``selector`` matches, once each has loaded: at least three
    captures lie in a close view of an object, and fewer than the map's limit."""
    page.wait_for_selector(selector, state="attached")
    laid = page.locator(selector).count()
    assert 3 <= laid <= 60, laid
    return _loaded(page, selector, laid)


def test_the_map_draws_the_demo_ground_and_captures_from_this_host(browser, served) -> None:
    tab = _open(browser, served, "/")
    page = tab.page
    # the demo's patrol (its alerts' patrols are planned, not flown), once the first shown
    # has loaded (so its layers cannot land over the demo's)
    page.wait_for_function("document.getElementById('patrol-summary').textContent.length > 0")
    options = page.locator("#patrol-select option").evaluate_all("os => os.map(o => o.value)")
    (patrol,) = [name for name in options if name.startswith("demo ")]
    page.select_option("#patrol-select", patrol)
    control = page.locator(".leaflet-control-layers")
    assert control.get_by_label("demo-ground").is_checked()  # orthophotos are on at first
    control.get_by_label("Paper map").check()
    control.get_by_label("Visible captures").check()
    control.get_by_label("Thermal captures").check()
    # the whole patrol in view: a few of its hundreds of captures are laid, and the page
    # says how many are left out (overlapping ones thinned, or all of a kind till zoomed in)
    page.wait_for_selector("#captures-hint:has-text('captures in view')")
    for kind in ("rgb", "thermal"):
        laid = page.locator(f"img.capture-{kind}").count()
        layer = served.get(f"/patrols/{quote(patrol)}/capture-layer", kind=kind)
        assert laid <= 60 and laid < len(layer) / 4, (kind, laid, len(layer))

    # zoomed to the object seen most: its captures, the ground under them, its marker
    objects = served.get("/objects", patrol=patrol, limit=1000)["data"]
    seen_most = max(objects, key=lambda o: o["finding_count"])
    page.evaluate(f"map.setView([{seen_most['lat']}, {seen_most['lon']}], 19, {{animate: false}})")
    tiles = _loaded(page, ".basemap-mbtiles img.leaflet-tile-loaded", 1)
    ortho = _loaded(page, ".basemap-geotiff img.leaflet-tile-loaded", 4)
    assert set(tiles) == set(ortho) == {(256, 256)}
    rgb = _every_one_loaded(page, "img.capture-rgb")
    thermal = _every_one_loaded(page, "img.capture-thermal")
    assert {max(size) for size in rgb + thermal} == {512}  # each 512 px on its long side
    assert "overlaps thinned" in page.inner_text("#captures-hint")
    page.wait_for_selector("path.object-marker")
    control.get_by_label("Thermal captures").uncheck()  # the README's map: what the eye saw
    _shot(page, "map", docs=True)
    page.locator("path.object-marker").last.click()  # drawn last, so on top of the others
    page.wait_for_selector(".leaflet-popup img")  # the object's best view
    page.click(".leaflet-popup a.open-object")
    page.wait_for_url("**/review?object=*")
    opened = parse_qs(urlparse(page.url).query)["object"][0]
    assert opened in {o["id"] for o in objects}

    # every request went to this server (tiles, overlays, thumbnails, scripts)
    hosts = {urlparse(u).hostname for u in tab.requested if not u.startswith(("data:", "blob:"))}
    assert hosts == {"127.0.0.1"}, sorted(u for u in tab.requested if "127.0.0.1" not in u)
    assert any("/api/v1/basemap/paper/" in u for u in tab.requested)
    assert any("/api/v1/basemap/demo-ground/" in u for u in tab.requested)
    assert any("/overlay.png" in u for u in tab.requested)
    tab.close()


def _confirm_the_rest(served: Demo, patrol: str, site: str) -> list[dict[str, Any]]:
    """Every object of the patrol at ``site`` confirmed (one was by keyboard, above): the
    objects' details, as the case file should show them."""
    for obj in served.get("/objects", patrol=patrol, site_id=site, status="pending", limit=1000)[
        "data"
    ]:
        httpx.post(
            f"{served.base}/api/v1/objects/{obj['id']}/reviews",
            json={"decision": "confirm", "comment": "for the enforcement notice"},
            headers=served.auth,
        ).raise_for_status()
    confirmed = served.get("/objects", patrol=patrol, site_id=site, status="confirmed")["data"]
    return [served.get(f"/objects/{o['id']}") for o in confirmed]


def _original_paths(db_url: str, capture_ids: set[uuid.UUID]) -> list[Path]:
    """Where the store says the captures' original images are (the demo rendered them)."""
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            rows = session.exec(select(Capture.path).where(col(Capture.id).in_(capture_ids)))
            paths = [Path(p) for p in rows.all()]
    finally:
        engine.dispose()
    assert len(paths) == len(capture_ids)
    return paths


def test_the_case_file_reads_back_with_its_evidence(browser, served) -> None:
    confirmed = served.get("/objects", status="confirmed", limit=1)["data"]
    assert confirmed, "the queue test confirmed an object first"
    patrol, site = confirmed[0]["patrol_name"], confirmed[0]["site_id"]
    details = _confirm_the_rest(served, patrol, site)
    tab = _open(browser, served, f"/sites/{site}", accept_downloads=True)
    page = tab.page
    row = page.locator(f"#patrols tr[data-patrol='{patrol}']")
    assert row.locator("td[data-status='confirmed']").inner_text() == str(len(details))
    with page.expect_download() as download:
        row.locator("a.case-file").click()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    download.value.save_as(ARTIFACTS / "demo-case-file.pdf")
    pdf = PdfReader(ARTIFACTS / "demo-case-file.pdf")
    text = "\n".join(p.extract_text() for p in pdf.pages)

    # cover, map extract, at least a page per confirmed object, the appendix
    assert len(pdf.pages) >= 2 + len(details) + 1
    assert len(pdf.pages[1].images) >= 1  # the map extract on the demo's ground
    for d in details:
        assert d["id"] in text
    # a crop per capture (at most six an object) and the best capture's overlay
    assert sum(len(p.images) for p in pdf.pages[2:]) >= sum(
        min(len(d["findings"]), 6) for d in details
    )
    # each original image's SHA-256, against the file on disk hashed here
    used = {uuid.UUID(f["capture_id"]) for d in details for f in d["findings"]}
    for path in _original_paths(served.db_url, used):
        assert hashlib.sha256(path.read_bytes()).hexdigest() in text, path
    tab.close()
