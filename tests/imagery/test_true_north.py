"""Ground points, footprints and GeoTIFFs land where true north says, away from the
central meridian.

The reference answers share nothing with the georeferencing code: the ray's
true azimuth and depression are worked out by hand from the camera's angles
and the pixel, and the ground point is walked out along the ellipsoid with
pyproj.Geod.fwd over the horizontal distance h / tan(depression). Zhengzhou
(34.8N, 113.6E) is 2.6 degrees east of zone 49's central meridian (111E): the
grid convergence there is 2.6 * sin(34.8) = 1.48 degrees, so taking grid north
for true north would put a point 567 m out (pitch -10 from 100 m) 14.7 m aside.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
from pyproj import Geod, Transformer

from imagery.camera import Camera
from imagery.georef import Georef
from imagery.geotiff import write_geotiff
from imagery.pose import Pose

GEOD = Geod(ellps="WGS84")
LAT, LON = 34.8, 113.6
GROUND_M, HEIGHT_M = 110.0, 100.0
CAMERA = Camera.ideal(400, 300, hfov_deg=60)  # f = 200 / tan(30) = 346.41 px


def _pose(yaw_deg: float, pitch_deg: float) -> Pose:
    return Pose(LAT, LON, GROUND_M + HEIGHT_M, yaw_deg, pitch_deg, 0.0, alt_rel_m=HEIGHT_M)


def _expected_lonlat(u: float, v: float, yaw_deg: float, pitch_deg: float) -> tuple[float, float]:
    """Ground point of pixel (u, v) by hand: the camera's right is east-of-yaw, its image
    down is (0, sin p, -cos p) and its optical axis (0, cos p, sin p) in (right-of-yaw,
    along-yaw, up); the ray (x, y, 1) with x = (u - cx) / f, y = (v - cy) / f is then
    (x, y sin p + cos p, -y cos p + sin p). Its true azimuth is yaw + atan2 of the first
    two, and it meets the ground h * horizontal / -up away."""
    x = (u - CAMERA.cx) / CAMERA.fx
    y = (v - CAMERA.cy) / CAMERA.fy
    p = math.radians(pitch_deg)
    right, along, up = x, y * math.sin(p) + math.cos(p), -y * math.cos(p) + math.sin(p)
    azimuth = yaw_deg + math.degrees(math.atan2(right, along))
    distance = HEIGHT_M * math.hypot(right, along) / -up
    lon, lat, _ = GEOD.fwd(LON, LAT, azimuth, distance)
    return lon, lat


def _miss_m(georef: Georef, xy: np.ndarray, expected: tuple[float, float]) -> float:
    lon, lat = georef.to_lonlat(np.array([xy[0]]), np.array([xy[1]]))
    return float(GEOD.inv(lon[0], lat[0], *expected)[2])


@pytest.mark.parametrize("yaw_deg", [0.0, 60.0])
@pytest.mark.parametrize("pitch_deg", [-10.0, -45.0])
def test_centre_ray_lands_on_the_true_north_answer(yaw_deg: float, pitch_deg: float) -> None:
    g = Georef.build(CAMERA, _pose(yaw_deg, pitch_deg))
    ground = g.pixel_to_ground(np.array([[CAMERA.cx, CAMERA.cy]]))[0]
    # Centre pixel: azimuth = yaw, distance = 100 / tan(10) = 567.13 m or 100 / tan(45) = 100 m.
    expected = GEOD.fwd(LON, LAT, yaw_deg, HEIGHT_M / math.tan(math.radians(-pitch_deg)))[:2]
    assert expected == pytest.approx(_expected_lonlat(CAMERA.cx, CAMERA.cy, yaw_deg, pitch_deg))
    miss = _miss_m(g, ground, expected)
    print(f"yaw {yaw_deg} pitch {pitch_deg}: {miss * 100:.1f} cm from the true-north answer")
    assert miss < 0.2
    assert ground[2] == pytest.approx(GROUND_M)
    # The check can fail: the same distance along grid north (the old frame) misses by
    # distance * sin(1.48 deg): 14.7 m at pitch -10, 2.6 m at pitch -45.
    d = HEIGHT_M / math.tan(math.radians(-pitch_deg))
    b = math.radians(yaw_deg)
    grid_north = g.origin[:2] + d * np.array([math.sin(b), math.cos(b)])
    assert _miss_m(g, grid_north, expected) > d * math.sin(math.radians(1.4))


@pytest.mark.parametrize(
    ("pitch_deg", "vertex", "pixel"),
    [
        (-45.0, 0, (0.0, 0.0)),  # footprint vertices start at pixel (0, 0) ...
        (-45.0, 8, (399.0, 0.0)),  # ... then (w - 1, 0) after 8 per edge
        (-45.0, 16, (399.0, 299.0)),
        (-10.0, 16, (399.0, 299.0)),  # the top corners of pitch -10 are above the horizon
        (-10.0, 24, (0.0, 299.0)),
    ],
)
def test_footprint_corner_is_true_north(
    pitch_deg: float, vertex: int, pixel: tuple[float, float]
) -> None:
    g = Georef.build(CAMERA, _pose(0.0, pitch_deg))
    corner = np.asarray(g.footprint().exterior.coords)[vertex]
    miss = _miss_m(g, corner, _expected_lonlat(*pixel, 0.0, pitch_deg))
    print(f"pitch {pitch_deg} corner {pixel}: {miss * 100:.1f} cm")
    assert miss < 0.2


def test_geotiff_corner_is_true_north(tmp_path: Path) -> None:
    """Two GeoTIFFs of the frame whose values are the pixel column and row; where they
    read (0, 0) is the ground of pixel (0, 0), read back through the file's own CRS and
    transform. Cells within 10 m of the answer and a pixel in from the border (bilinear
    sampling blends the border with nodata) give x and y as quadratics in (u, v),
    evaluated at (0, 0)."""
    g = Georef.build(CAMERA, _pose(0.0, -45.0))
    rows, cols = np.mgrid[0 : CAMERA.height, 0 : CAMERA.width].astype(np.float32)
    grids = []
    for name, image in (("u", cols), ("v", rows)):
        path = write_geotiff(image, g, tmp_path / f"{name}.tif", gsd_m=0.25)
        with rasterio.open(path) as src:
            grids.append(src.read(1))
            t, crs = src.transform, src.crs
    u, v = grids
    expected = _expected_lonlat(0.0, 0.0, 0.0, -45.0)
    ex, ey = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(*expected)
    r, c = np.mgrid[0 : u.shape[0], 0 : u.shape[1]] + 0.5  # cell centres
    x, y = t.c + t.a * c + t.b * r, t.f + t.d * c + t.e * r
    near = (np.hypot(x - ex, y - ey) < 10.0) & (u >= 1) & (v >= 1)
    assert near.sum() > 100
    uu, vv = u[near], v[near]
    design = np.column_stack([np.ones_like(uu), uu, vv, uu * uu, uu * vv, vv * vv])
    coef, *_ = np.linalg.lstsq(design, np.column_stack([x[near], y[near]]), rcond=None)
    corner = coef[0]  # the quadratics at u = v = 0
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(*corner)
    miss = GEOD.inv(lon, lat, *expected)[2]
    print(f"GeoTIFF corner: {miss * 100:.1f} cm from the true-north answer")
    assert miss < 0.2
