"""DEM ray casting: a bounded march that finds the first crossing, on a window centred on
the capture. The DEMs are written here from closed-form surfaces (a plane, which
bilinear interpolation holds exactly, and a hill), so the answers are known."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rasterio
from pyproj import Geod
from rasterio.transform import from_origin

from imagery.camera import Camera
from imagery.dem import dem_around, load_dem
from imagery.errors import GeoreferenceError
from imagery.georef import MAX_RANGE_M, Georef, march_samples
from imagery.pose import Pose
from zone.frames import GridFrame

GEOD = Geod(ellps="WGS84")
LAT, LON = 34.8, 113.6
FRAME = GridFrame.utm(LON, LAT)
X0, Y0 = (float(v) for v in FRAME.to_grid(LON, LAT))
CAMERA = Camera.ideal(400, 300, hfov_deg=60)
CELL_M = 5.0
Surface = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _write_dem(path: Path, surface: Surface, *, half_m: float = 4000.0) -> Path:
    """A UTM (zone 49) DEM of CELL_M cells around the camera, heights surface(x, y)."""
    n = int(2 * half_m / CELL_M)
    west, north = X0 - half_m, Y0 + half_m
    cx = west + (np.arange(n) + 0.5) * CELL_M
    cy = north - (np.arange(n) + 0.5) * CELL_M
    heights = surface(*np.meshgrid(cx, cy)).astype(np.float32)
    profile = {"driver": "GTiff", "width": n, "height": n, "count": 1, "dtype": "float32"}
    with rasterio.open(
        path,
        "w",
        crs=f"EPSG:{FRAME.epsg}",
        transform=from_origin(west, north, CELL_M, CELL_M),
        **profile,
    ) as dst:
        dst.write(heights, 1)
    return path


def _plane(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return 100.0 + 0.05 * (x - X0) + 0.02 * (y - Y0)


def _centre(g: Georef) -> np.ndarray:
    return g.pixel_to_ground(np.array([[CAMERA.cx, CAMERA.cy]]))[0]


def test_near_vertical_ray_over_a_5m_dem_takes_two_samples(tmp_path: Path) -> None:
    dem = dem_around(_write_dem(tmp_path / "plane.tif", _plane), LON, LAT, radius_m=MAX_RANGE_M)
    # The window spans the plane over +-3750 m: 100 +- 0.07 * 3750, a 525 m band; the
    # unbounded march stepped it all (and to the range limit) at 2.5 m.
    low, high = dem.height_range
    assert high - low > 500
    g = Georef.build(CAMERA, Pose(LAT, LON, 400.0, 30.0, -89.9, 0.0), dem=dem)
    ray = g.rays(np.array([[CAMERA.cx, CAMERA.cy]]))
    _, t = march_samples(400.0, ray, band_m=(low, high), step_m=CELL_M / 2, max_range_m=1e9)
    # Across the band the ray moves 525 * tan(0.1 deg) = 0.9 m sideways: under one step.
    assert len(t) == 2
    hit = _centre(g)
    assert hit[2] == pytest.approx(_plane(hit[0], hit[1]), abs=1e-3)
    # On the true ray: 30 deg from true north, dropping 89.9 deg.
    lon, lat = FRAME.to_lonlat(hit[0], hit[1])
    azimuth, _, distance = GEOD.inv(LON, LAT, float(lon), float(lat))
    assert distance == pytest.approx((400.0 - hit[2]) / math.tan(math.radians(89.9)), abs=2e-3)
    assert azimuth == pytest.approx(30.0, abs=0.5)


def test_samples_per_ray_are_bounded_by_band_and_range(tmp_path: Path) -> None:
    dem = dem_around(_write_dem(tmp_path / "plane.tif", _plane), LON, LAT, radius_m=MAX_RANGE_M)
    g = Georef.build(CAMERA, Pose(LAT, LON, 400.0, 200.0, -20.0, 0.0), dem=dem)
    uv = np.stack(np.meshgrid(np.linspace(0, 399, 9), np.linspace(0, 299, 7)), -1).reshape(-1, 2)
    rays = g.rays(uv)
    ray, _ = march_samples(
        400.0, rays, band_m=dem.height_range, step_m=CELL_M / 2, max_range_m=MAX_RANGE_M
    )
    per_ray = np.bincount(ray, minlength=len(rays))
    # No ray samples more than its range in half-cells (3000 / 2.5 + 2 = 1202) ...
    assert per_ray.max() <= MAX_RANGE_M / (CELL_M / 2) + 2
    # ... nor more than its stretch of the band: horizontally (band / tan(dip)) in half-cells.
    dip = np.arcsin(-rays[:, 2])
    band = np.subtract(*dem.height_range[::-1])
    down = dip > 0
    stretch = np.minimum(band / np.tan(dip[down]), MAX_RANGE_M)
    assert (per_ray[down] <= stretch / (CELL_M / 2) + 2).all()
    assert (per_ray[~down] == 0).all()  # the camera is above the band: rays going up miss
    ground = g.pixel_to_ground(uv)
    ok = np.isfinite(ground[:, 0])
    # The top row looks 3.4 deg above the horizon (vfov half 23.4 deg) and the plane
    # falls away south-west: at least the four rows from the centre down meet it.
    assert ok.sum() >= 4 * 9
    assert ground[ok, 2] == pytest.approx(_plane(ground[ok, 0], ground[ok, 1]), abs=1e-3)


def test_the_first_crossing_is_the_hill_in_front(tmp_path: Path) -> None:
    """A hill 80 m high 400 m true north of the camera stands in the way of a ray that
    would meet the plain 150 / tan(15) = 560 m out: at 400 m the ray is still 250 -
    400 tan(15) = 142.8 m AMSL, below the 180 m top."""
    hill_x, hill_y = (float(v) for v in FRAME.to_grid(*GEOD.fwd(LON, LAT, 0.0, 400.0)[:2]))

    def hill(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return 100.0 + 80.0 * np.exp(-((x - hill_x) ** 2 + (y - hill_y) ** 2) / (2 * 60.0**2))

    dem = dem_around(_write_dem(tmp_path / "hill.tif", hill), LON, LAT, radius_m=MAX_RANGE_M)
    g = Georef.build(CAMERA, Pose(LAT, LON, 250.0, 0.0, -15.0, 0.0), dem=dem)
    hit = _centre(g)
    hit_lon, hit_lat = FRAME.to_lonlat(hit[0], hit[1])
    distance = GEOD.inv(LON, LAT, float(hit_lon), float(hit_lat))[2]
    assert 250 < distance < 400
    assert hit[2] == pytest.approx(dem.sample(hit[:1], hit[1:2], epsg=FRAME.epsg)[0], abs=0.01)
    assert (250.0 - hit[2]) / distance == pytest.approx(math.tan(math.radians(15.0)), abs=1e-4)
    # Nothing nearer: every 10 cm of the ray before the hit is above the ground.
    t = np.arange(0.0, np.linalg.norm(hit - g.origin), 0.1)
    along = g.origin + t[:, None] * (hit - g.origin) / np.linalg.norm(hit - g.origin)
    assert (along[:, 2] > dem.sample(along[:, 0], along[:, 1], epsg=FRAME.epsg)).all()


def test_window_centred_on_a_capture_at_a_tile_corner_covers_its_footprint(
    tmp_path: Path,
) -> None:
    """The pipeline cut 0.1-degree tiles around round(lon * 10) / 10: a capture at
    113.5501E 34.7501N got the window 113.55..113.75E, 34.75..34.95N, 9 m of ground west
    and south of it. Looking south-west, its footprint reaches 3 km out."""
    path = tmp_path / "geo.tif"
    lon0, lat0, cell = 113.3, 35.1, 0.0005  # EPSG:4326, 1200 x 1200 cells of ~50 m
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=1200,
        height=1200,
        count=1,
        dtype="float32",
        crs="EPSG:4326",
        transform=from_origin(lon0, lat0, cell, cell),
    ) as dst:
        dst.write(np.full((1, 1200, 1200), 110.0, dtype=np.float32))
    lon, lat = 113.5501, 34.7501
    pose = Pose(lat, lon, 210.0, 225.0, -5.0, 0.0, alt_rel_m=100.0)
    dem = dem_around(path, lon, lat, radius_m=MAX_RANGE_M)
    g = Georef.build(CAMERA, pose, dem=dem)
    corners = np.asarray(g.footprint().exterior.coords)
    reach = np.hypot(*(corners[:, :2] - g.origin[:2]).T).max()
    assert reach == pytest.approx(MAX_RANGE_M, rel=1e-3)  # the sky rays are cut at range
    assert np.isfinite(dem.sample(corners[:, 0], corners[:, 1], epsg=g.epsg)).all()
    around = GEOD.fwd([lon] * 8, [lat] * 8, np.arange(0, 360, 45), [MAX_RANGE_M] * 8)
    assert np.isfinite(dem.sample(around[0], around[1], epsg=4326)).all()
    old = load_dem(path, bounds_lonlat=(113.55, 34.75, 113.75, 34.95))
    assert np.isnan(old.sample(corners[:, 0], corners[:, 1], epsg=g.epsg)).any()
    # Captures near each other share the window (one read per stretch of flight).
    assert dem_around(path, *GEOD.fwd(lon, lat, 45.0, 20.0)[:2], radius_m=MAX_RANGE_M) is dem


def test_a_dem_without_a_crs_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "nocrs.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=4, height=4, count=1, dtype="float32"
    ) as dst:
        dst.write(np.zeros((1, 4, 4), dtype=np.float32))
    with pytest.raises(GeoreferenceError, match="no coordinate reference system"):
        dem_around(path, LON, LAT, radius_m=MAX_RANGE_M)
