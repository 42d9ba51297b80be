"""Base layers from local files and captures laid on their footprints, against cases worked
out by hand from the web-mercator formulas (XYZ tiles: 2**z a side, x from 180° W, y from
the north edge; X = (lon + 180) / 360 * 2**z * 256, Y = (1 - ln(tan φ + sec φ) / π) / 2 * 2**z * 256
in world pixels)."""

from __future__ import annotations

import io
import math
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import ValidationError
from rasterio.transform import from_origin
from sqlalchemy import Engine
from sqlmodel import Session

from server.basemap import basemaps
from server.capture_overlay import OVERLAY_PX, footprint_points
from server.settings import Settings
from store.models import Capture, Flight, FlightStatus, Mission

RED, BLUE, GREY = (220, 30, 30), (30, 30, 220), (100, 100, 100)


def _png(colour: tuple[int, int, int], *, right: tuple[int, int, int] | None = None) -> bytes:
    """A 256 px tile of one colour, or ``colour`` on its left half and ``right`` on its right."""
    tile = Image.new("RGB", (256, 256), colour)
    if right:
        tile.paste(right, (128, 0, 256, 256))
    out = io.BytesIO()
    tile.save(out, format="PNG")
    return out.getvalue()


def _world_px(lon: float, lat: float, z: int) -> tuple[float, float]:
    """World pixel (X east, Y south) of lon/lat at zoom z, from the formulas above."""
    phi = math.radians(lat)
    size = 2**z * 256
    x = (lon + 180) / 360 * size
    y = (1 - math.log(math.tan(phi) + 1 / math.cos(phi)) / math.pi) / 2 * size
    return x, y


def write_mbtiles(path: Path, tiles: dict[tuple[int, int, int], bytes], **meta: str) -> Path:
    """An MBTiles file holding ``tiles`` by XYZ (z, x, y), stored at TMS rows as the spec says."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
    db.execute(
        "CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, "
        "tile_data BLOB)"
    )
    db.executemany("INSERT INTO metadata VALUES (?, ?)", list(meta.items()))
    db.executemany(
        "INSERT INTO tiles VALUES (?, ?, ?, ?)",
        [(z, x, 2**z - 1 - y, data) for (z, x, y), data in tiles.items()],
    )
    db.commit()
    db.close()
    return path


# GeoTIFF in lon/lat (EPSG:4326): 400 x 400 pixels of 0.0001° from 113.50° E, 34.82° N, grey
# with a red block of 5 x 5 pixels at columns 200..204 and rows 200..204, whose centre is
# lon 113.50 + 202.5 * 0.0001 = 113.52025, lat 34.82 - 202.5 * 0.0001 = 34.79975.
TIF_WEST, TIF_NORTH, TIF_RES, TIF_PX = 113.50, 34.82, 0.0001, 400
RED_LON, RED_LAT = 113.52025, 34.79975


def write_geotiff(path: Path) -> Path:
    data = np.empty((3, TIF_PX, TIF_PX), dtype=np.uint8)
    for band, value in enumerate(GREY):
        data[band] = value
    for band, value in enumerate(RED):
        data[band, 200:205, 200:205] = value
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=TIF_PX,
        height=TIF_PX,
        count=3,
        dtype="uint8",
        crs="EPSG:4326",
        transform=from_origin(TIF_WEST, TIF_NORTH, TIF_RES, TIF_RES),
    ) as dst:
        dst.write(data)
    return path


@pytest.fixture
def layer_files(tmp_path: Path) -> dict[str, Path]:
    """MBTiles with tiles 3/5/2 (red | blue) and 1/0/0, an XYZ folder with 4/3/6, a GeoTIFF."""
    mbtiles = write_mbtiles(
        tmp_path / "paper.mbtiles",
        {(3, 5, 2): _png(RED, right=BLUE), (1, 0, 0): _png(GREY)},
        name="Paper map",
        format="png",
        minzoom="1",
        maxzoom="5",
        attribution="test tiles",
    )
    xyz = tmp_path / "xyz"
    (xyz / "4" / "3").mkdir(parents=True)
    (xyz / "4" / "3" / "6.png").write_bytes(_png(BLUE))
    return {"mbtiles": mbtiles, "xyz": xyz, "geotiff": write_geotiff(tmp_path / "ortho.tif")}


@pytest.fixture
def settings(db_url: str, tmp_path: Path, layer_files: dict[str, Path]) -> Settings:
    """The server tests' settings (conftest) with the three base layers configured."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        secret_key="test-secret-key-0123456789abcdef",
        basemap=[layer_files["mbtiles"], layer_files["xyz"], layer_files["geotiff"]],
    )


def _px(image: Image.Image, x: int, y: int) -> tuple[int, ...]:
    """The pixel at column ``x``, row ``y`` (row 0 at the top), one int per band."""
    pixel = image.getpixel((x, y))
    assert isinstance(pixel, tuple)
    return tuple(int(v) for v in pixel)


def _near(pixel: tuple[int, ...], colour: tuple[int, int, int], tol: int = 30) -> bool:
    """Within ``tol`` of ``colour`` in each channel (captures pass through a JPEG preview)."""
    return all(abs(p - c) <= tol for p, c in zip(pixel, colour, strict=False))


def _get(client: TestClient, url: str, headers: dict[str, str]) -> bytes:
    r = client.get(url, headers=headers)
    assert r.status_code == 200, r.text
    return r.content


def test_layers_are_listed_with_their_bounds_and_zooms(client, headers) -> None:
    r = client.get("/api/v1/basemap", headers=headers["inspector"])
    assert r.status_code == 200
    layers = {layer["id"]: layer for layer in r.json()}
    assert list(layers) == ["paper", "xyz", "ortho"]
    paper, xyz, ortho = layers["paper"], layers["xyz"], layers["ortho"]
    assert (paper["name"], paper["kind"], paper["minzoom"], paper["maxzoom"]) == (
        "Paper map",
        "mbtiles",
        1,
        5,
    )
    assert paper["tiles"] == "/api/v1/basemap/paper/{z}/{x}/{y}.png"
    # XYZ 4/3/6: west 3/16 * 360 - 180 = -112.5, east 4/16 * 360 - 180 = -90;
    # north atan(sinh(π (1 - 2 * 6/16))) = atan(sinh(π/4)) = 40.9799°,
    # south atan(sinh(π (1 - 2 * 7/16))) = atan(sinh(π/8)) = 21.9430°
    assert xyz["bounds"] == pytest.approx([-112.5, 21.9430, -90.0, 40.9799], abs=1e-4)
    assert (xyz["kind"], xyz["minzoom"], xyz["maxzoom"]) == ("xyz", 4, 4)
    # the GeoTIFF's 0.0001° pixels are R * 0.0001 * π/180 = 11.13 mercator metres wide; zoom z
    # tiles have 2π R / 256 / 2**z = 156543 / 2**z m: z = ceil(log2(156543 / 11.13)) = 14
    assert ortho["bounds"] == pytest.approx([113.50, 34.78, 113.54, 34.82])
    assert (ortho["kind"], ortho["format"], ortho["minzoom"], ortho["maxzoom"]) == (
        "geotiff",
        "png",
        14 - 7,
        14,
    )


def test_mbtiles_rows_are_flipped_from_tms(client, headers) -> None:
    h = headers["inspector"]
    # XYZ 3/5/2 is stored at TMS row 2**3 - 1 - 2 = 5
    tile = Image.open(io.BytesIO(_get(client, "/api/v1/basemap/paper/3/5/2.png", h)))
    assert _px(tile, 64, 128) == RED and _px(tile, 192, 128) == BLUE
    r = client.get("/api/v1/basemap/paper/3/5/2.png", headers=h)
    assert r.headers["cache-control"] == "private, max-age=86400"
    again = client.get(
        "/api/v1/basemap/paper/3/5/2.png", headers={**h, "If-None-Match": r.headers["etag"]}
    )
    assert again.status_code == 304
    # XYZ row 5 would be TMS row 2, where nothing is stored
    assert client.get("/api/v1/basemap/paper/3/5/5.png", headers=h).status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/basemap/paper/6/0/0.png",  # past maxzoom 5
        "/api/v1/basemap/paper/0/0/0.png",  # below minzoom 1
        "/api/v1/basemap/paper/3/8/0.png",  # x = 8 >= 2**3
        "/api/v1/basemap/paper/3/5/2.jpg",  # the layer serves png
        "/api/v1/basemap/nowhere/3/5/2.png",  # no such layer
        "/api/v1/basemap/xyz/4/4/6.png",  # east of the folder's only tile
        "/api/v1/basemap/ortho/14/0/0.png",  # far from the orthophoto
        "/api/v1/basemap/ortho/14/13358/6502.png",  # south of it (34.78° N is in row 6501)
        "/api/v1/basemap/ortho/15/26716/13001.png",  # over it, but past its maxzoom 14
    ],
)
def test_out_of_range_tiles_are_404(client, headers, url: str) -> None:
    assert client.get(url, headers=headers["inspector"]).status_code == 404


def test_xyz_folder_tile(client, headers) -> None:
    tile = Image.open(io.BytesIO(_get(client, "/api/v1/basemap/xyz/4/3/6.png", headers["admin"])))
    assert _px(tile, 10, 10) == BLUE


def test_tiles_need_sign_in(client) -> None:
    assert client.get("/api/v1/basemap/xyz/4/3/6.png").status_code == 401


def test_geotiff_pixel_lands_where_mercator_puts_it(client, headers) -> None:
    # the red block's centre (113.52025 E, 34.79975 N) at zoom 14 (2**14 * 256 world pixels):
    # X = 293.52025 / 360 * 4194304 = 3419758.8 -> tile x 13358, pixel 110.8;
    # Y = (1 - ln(tan φ + sec φ) / π) / 2 * 4194304 = 1664199.4 -> tile y 6500, pixel 199.4
    x_world, y_world = _world_px(RED_LON, RED_LAT, 14)
    (tx, px), (ty, py) = divmod(int(x_world), 256), divmod(int(y_world), 256)
    assert (tx, ty, px, py) == (13358, 6500, 110, 199)
    url = f"/api/v1/basemap/ortho/14/{tx}/{ty}.png"
    tile = Image.open(io.BytesIO(_get(client, url, headers["inspector"])))
    assert tile.mode == "RGBA"
    assert _near(_px(tile, px, py), RED, tol=10) and _px(tile, px, py)[3] == 255
    # 20 tile pixels (190 mercator m) west and north of it the image is grey
    assert _near(_px(tile, px - 20, py), GREY, tol=2)
    assert _near(_px(tile, px, py - 20), GREY, tol=2)


def test_geotiff_is_transparent_off_the_image(client, headers) -> None:
    # the image's north-west corner (113.50 E, 34.82 N) at zoom 14: X = 3419522.8, Y = 1663912.1,
    # so tile 13357/6499 at pixel (130.8, 168.1)
    x_world, y_world = _world_px(TIF_WEST, TIF_NORTH, 14)
    tx, ty = int(x_world // 256), int(y_world // 256)
    cx, cy = x_world % 256, y_world % 256
    assert (tx, ty) == (13357, 6499)
    tile = Image.open(
        io.BytesIO(_get(client, f"/api/v1/basemap/ortho/14/{tx}/{ty}.png", headers["admin"]))
    )
    inside = (int(cx) + 3, int(cy) + 3)  # south-east of the corner
    outside = (int(cx) - 3, int(cy) - 3)  # north-west of it
    assert _px(tile, *inside) == (*GREY, 255)
    assert _px(tile, *outside)[3] == 0


def test_extract_crops_the_mosaic_to_the_box(layer_files: dict[str, Path]) -> None:
    layers = basemaps([layer_files["mbtiles"]])
    # tile 3/5/2 spans lon 5/8 * 360 - 180 = 45 .. 90 and lat 40.9799 .. 66.5133
    # (atan(sinh(π/4)), atan(sinh(π/2))); its left half is red, its right half blue.
    south, north = 40.97989807, 66.51326044
    whole = layers.extract(45.0, south, 90.0, north, 256, 256)
    assert whole is not None and whole.size == (256, 256)
    assert _px(whole, 60, 128) == (*RED, 255) and _px(whole, 196, 128) == (*BLUE, 255)
    # the east half of the tile (67.5 .. 90, 128 px at the same scale) is all blue
    east = layers.extract(67.5, south, 90.0, north, 128, 256)
    assert east is not None
    assert {_px(east, x, y) for x in (4, 64, 123) for y in (4, 128, 251)} == {(*BLUE, 255)}
    # nowhere near the folder's one tile
    assert basemaps([layer_files["xyz"]]).extract(0.0, 0.0, 1.0, 1.0, 100, 100) is None


def test_settings_refuse_a_corrupt_or_missing_layer(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mbtiles"
    bad.write_bytes(b"this is not an SQLite database\n" * 200)
    (tmp_path / "notes.txt").write_text("hello")
    for path, reason in [
        (bad, "not a readable MBTiles file"),
        (tmp_path / "missing.mbtiles", "no such file or folder"),
        (tmp_path / "notes.txt", "not a base layer"),
    ]:
        with pytest.raises(ValidationError, match=reason):
            Settings(data_dir=tmp_path / "data", secret_key="x" * 40, basemap=[path])


def test_settings_read_a_comma_separated_list(tmp_path: Path, monkeypatch) -> None:
    xyz = tmp_path / "xyz" / "4" / "3"
    xyz.mkdir(parents=True)
    (xyz / "6.png").write_bytes(_png(BLUE))
    tif = write_geotiff(tmp_path / "o.tif")
    monkeypatch.setenv("ECOPATROL_BASEMAP", f"{tmp_path / 'xyz'}, {tif}")
    settings = Settings(data_dir=tmp_path / "data", secret_key="x" * 40)
    assert settings.basemap == [tmp_path / "xyz", tif]


# --- captures on their footprints ---------------------------------------------------------

# A 40 x 30 px capture: its top-left 20 x 15 px red, the rest blue.
W, S, E, N = 113.5000, 34.8000, 113.5010, 34.8008


def _capture_image(path: Path) -> Path:
    image = Image.new("RGB", (40, 30), BLUE)
    image.paste(RED, (0, 0, 20, 15))
    image.save(path, format="PNG")
    return path


def _store_capture(engine: Engine, image: Path, ring: list[list[float]]) -> str:
    """A flight of planned patrol "p1" with one colour capture whose footprint is ``ring``."""
    with Session(engine) as session:
        mission = Mission(name="p1 sortie 1", patrol_name="p1", sortie_index=1)
        session.add(mission)
        session.flush()
        flight = Flight(name="p1 flight", mission_id=mission.id, status=FlightStatus.LANDED)
        session.add(flight)
        session.flush()
        capture = Capture(
            flight_id=flight.id,
            path=str(image),
            kind="rgb",
            width=40,
            height=30,
            footprint={"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
        )
        session.add(capture)
        session.commit()
        return str(capture.id)


def _overlay(client: TestClient, headers: dict[str, str]) -> tuple[dict[str, Any], Image.Image]:
    r = client.get("/api/v1/patrols/p1/capture-layer?kind=rgb", headers=headers)
    assert r.status_code == 200, r.text
    (layer,) = r.json()
    image = Image.open(io.BytesIO(_get(client, layer["url"], headers)))
    return layer, image


def test_capture_lies_on_its_footprint(client, headers, engine, tmp_path: Path) -> None:
    # heading north: the image's top edge runs west to east along the footprint's north side,
    # so its top-left pixel is at the north-west corner, the footprint's first point
    ring = [[W, N], [E, N], [E, S], [W, S]]
    capture_id = _store_capture(engine, _capture_image(tmp_path / "c.png"), ring)
    layer, image = _overlay(client, headers["inspector"])
    assert layer["capture_id"] == capture_id and layer["kind"] == "rgb"
    assert layer["bounds"] == [[S, W], [N, E]]
    assert image.mode == "RGBA" and max(image.size) == OVERLAY_PX
    # the box is 0.001° of lon (R * 0.001 * π/180 = 111.32 mercator m) by 0.0008° of lat
    # (R * (ln tan(π/4 + φn/2) - ln tan(π/4 + φs/2)) = 108.45 mercator m):
    # 512 x round(512 * 108.45 / 111.32) = 512 x 499
    assert image.size == (512, 499)
    w, h = image.size
    assert _near(_px(image, 2, 2), RED) and _px(image, 2, 2)[3] == 255  # north-west
    assert _near(_px(image, w - 3, 2), BLUE)  # north-east: the image's top-right
    assert _near(_px(image, w - 3, h - 3), BLUE)
    assert (
        client.get(
            "/api/v1/patrols/p1/capture-layer?kind=thermal", headers=headers["inspector"]
        ).json()
        == []
    )


def test_turned_capture_is_turned_on_the_map(client, headers, engine, tmp_path: Path) -> None:
    # heading east: the image's top edge runs north to south along the east side, so its
    # top-left (red) is at the north-east corner and its bottom-left at the north-west
    ring = [[E, N], [E, S], [W, S], [W, N]]
    _store_capture(engine, _capture_image(tmp_path / "c.png"), ring)
    layer, image = _overlay(client, headers["inspector"])
    assert layer["bounds"] == [[S, W], [N, E]]
    w, h = image.size
    assert _near(_px(image, w - 3, 2), RED) and _px(image, w - 3, 2)[3] == 255
    assert _near(_px(image, 2, 2), BLUE)
    assert _near(_px(image, 2, h - 3), BLUE)


def test_capture_layer_of_an_unknown_patrol_is_empty(client, headers) -> None:
    r = client.get("/api/v1/patrols/nobody/capture-layer", headers=headers["inspector"])
    assert r.status_code == 200 and r.json() == []
    r = client.get("/api/v1/patrols/p1/capture-layer?kind=infrared", headers=headers["inspector"])
    assert r.status_code == 422


def test_footprint_points_follow_the_image_edges() -> None:
    # two points per edge: corners and mid-edges, clockwise in the image from its top-left
    ring = [[float(i), 0.0] for i in range(8)]
    _lonlat, image = footprint_points({"type": "Polygon", "coordinates": [ring]})
    expected = [(0, 0), (0.5, 0), (1, 0), (1, 0.5), (1, 1), (0.5, 1), (0, 1), (0, 0.5)]
    assert [tuple(p) for p in image] == expected


def test_demo_ground_is_written_where_its_pixels_lie(tmp_path: Path) -> None:
    from ecopatrol.demo import write_ground_geotiff
    from imagery.synthetic import Basemap

    # 3 rows x 4 columns of 0.5 m on UTM zone 49N (EPSG:32649), pixel (0, 0)'s corner at
    # E 500000, N 3850000; the pixel at row 2, column 3 is pure red, the rest black
    rgb = np.zeros((3, 4, 3), dtype=np.float32)
    rgb[2, 3] = (1.0, 0.0, 0.0)
    ground = Basemap(
        rgb=rgb,
        temp_c=np.zeros((3, 4), dtype=np.float32),
        west=500000.0,
        north=3850000.0,
        gsd_m=0.5,
        epsg=32649,
        ground_alt_m=100.0,
    )
    path = write_ground_geotiff(ground, tmp_path / "g" / "ground.tif")
    with rasterio.open(path) as ds:
        assert ds.crs.to_epsg() == 32649 and ds.count == 3 and ds.dtypes[0] == "uint8"
        # row 2, column 3's centre: E 500000 + 3.5 * 0.5 = 500001.75, N 3850000 - 2.5 * 0.5
        row, col = ds.index(500001.75, 3849998.75)
        assert (row, col) == (2, 3)
        assert ds.read()[:, row, col].tolist() == [255, 0, 0]
        assert ds.read()[:, 0, 0].tolist() == [0, 0, 0]
