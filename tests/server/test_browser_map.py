"""The map page in Debian's chromium (Playwright, headless): the base layers (an MBTiles file
and a GeoTIFF orthophoto) and a patrol's visible and thermal captures draw from this server's
own files, no request leaves the host, and an object's marker opens it in the review queue.

The server is ``test_browser``'s ``live_server`` (the sample zone and a processed thermal
pass over a yard, flight "yard survey"), started with ``ECOPATROL_BASEMAP`` naming the layers
written here, and given a colour pass of the same yard. The screenshot goes to
``test-artifacts/browser/map-yard.png`` (the README's map is the demo's patrol).
"""

from __future__ import annotations

import io
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import morecantile
import pytest
from PIL import Image, ImageDraw
from shapely.geometry import shape
from shapely.ops import unary_union

from ecopatrol.demo import write_ground_geotiff
from imagery.pose import Pose
from imagery.synthetic import SurveyLine, make_basemap, render_captures, synthetic_camera
from zone.sites import load_sites

from .conftest import SITES
from .test_browser import _shot, _sign_in, _upload_and_process, browser, live_server

__all__ = ["browser", "live_server"]  # fixtures this module uses from test_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]
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


def _yard() -> tuple[tuple[float, float, float, float], list[Pose]]:
    """The yard live_server flies over (its bounds) and its three nadir poses."""
    stack = load_sites(SITES).stacks[0]
    bounds = (stack.lon - 0.002, stack.lat - 0.0015, stack.lon + 0.002, stack.lat + 0.0015)
    poses = SurveyLine(stack.lon - 0.0003, stack.lat, 90.0, 15.0, 3, alt_rel_m=100).poses()
    return bounds, poses


@pytest.fixture(scope="module")
def mapped_server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[tuple[str, dict[str, object]]]:
    """live_server with a paper map and the yard's ground as base layers, and a colour pass."""
    tmp = tmp_path_factory.mktemp("map-layers")
    features = json.loads(SITES.read_text())["features"]
    zone_bounds = unary_union([shape(f["geometry"]) for f in features]).buffer(0.01).bounds
    yard_bounds, poses = _yard()
    ground = make_basemap(load_sites(SITES), bounds_lonlat=yard_bounds, gsd_m=0.3)
    layers = [
        write_paper_mbtiles(tmp / "paper.mbtiles", zone_bounds),
        write_ground_geotiff(ground, tmp / "yard-ground.tif"),
    ]
    with pytest.MonkeyPatch.context() as env:
        env.setenv("ECOPATROL_BASEMAP", ",".join(str(p) for p in layers))
        base, seed = request.getfixturevalue("live_server")
        auth = {"Authorization": f"Bearer {seed['token']}"}
        shots = render_captures(
            poses,
            basemap=ground,
            camera=synthetic_camera("rgb", width=800),
            kind="rgb",
            out_dir=tmp / "rgb",
        )
        _upload_and_process(base, auth, "yard survey", shots, "image/jpeg")
        yield base, {**seed, "auth": auth, "rgb": len(shots)}


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


def test_map_draws_local_layers_and_opens_an_object(mapped_server, browser) -> None:
    base, seed = mapped_server
    context = browser.new_context(viewport={"width": 1400, "height": 860})
    page = context.new_page()
    requested: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _sign_in(page, base, "inspector")

    page.select_option("#patrol-select", "yard survey")
    page.wait_for_selector(f"#patrol-summary:has-text('{seed['rgb']} visible and')")
    control = page.locator(".leaflet-control-layers")
    control.get_by_label("Paper map").check()
    control.get_by_label("Visible captures").check()
    control.get_by_label("Thermal captures").check()
    assert control.get_by_label("yard-ground").is_checked()  # orthophotos are on at first
    yard, _poses = _yard()
    lon, lat = (yard[0] + yard[2]) / 2, (yard[1] + yard[3]) / 2
    page.evaluate(f"map.setView([{lat}, {lon}], 18, {{ animate: false }})")

    tiles = _loaded(page, ".basemap-mbtiles img.leaflet-tile-loaded", 1)
    assert set(tiles) == {(256, 256)}
    ortho = _loaded(page, ".basemap-geotiff img.leaflet-tile-loaded", 4)
    assert set(ortho) == {(256, 256)}
    overlays = _loaded(page, "img.capture-rgb", seed["rgb"])
    overlays += _loaded(page, "img.capture-thermal", len(seed["shots"]))
    assert {max(size) for size in overlays} == {512}  # each is 512 px on its long side

    objects = httpx.get(f"{base}/api/v1/objects", headers=seed["auth"]).json()["data"]
    assert objects, "the yard's hot spots gave no objects"
    page.wait_for_selector("path.object-marker")
    _shot(page, "map-yard")
    page.locator("path.object-marker").first.click()
    page.wait_for_selector(".leaflet-popup a.open-object")
    page.wait_for_selector(".leaflet-popup img")  # the object's best view
    assert errors == []
    page.click(".leaflet-popup a.open-object")
    page.wait_for_url("**/review?object=*")
    opened = parse_qs(urlparse(page.url).query)["object"][0]
    assert opened in {o["id"] for o in objects}

    # every request went to this server (tiles, overlays, thumbnails, scripts)
    hosts = {urlparse(u).hostname for u in requested if not u.startswith(("data:", "blob:"))}
    assert hosts == {"127.0.0.1"}, sorted(u for u in requested if "127.0.0.1" not in u)
    assert any("/api/v1/basemap/paper/" in u for u in requested)
    assert any("/api/v1/basemap/yard-ground/" in u for u in requested)
    assert any("/overlay.png" in u for u in requested)
    context.close()
