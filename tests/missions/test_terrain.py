"""Terrain following: with a DEM every waypoint keeps its height above the ground."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.errors import TerrainError
from missions.geo import LocalFrame
from missions.plan import plan_patrol
from missions.terrain import Terrain


def write_dem(path: Path, *, centre: tuple[float, float], half_m: float) -> Path:
    """A UTM DEM: a tilted plane with a 40 m hill in the middle, 10 m cells."""
    frame = LocalFrame(*centre)
    cx, cy = frame.xy(*centre)
    n = int(2 * half_m / 10)
    xs = cx - half_m + 10 * (np.arange(n) + 0.5)
    ys = cy + half_m - 10 * (np.arange(n) + 0.5)
    gx, gy = np.meshgrid(xs - cx, ys - cy)
    z = 100 + 0.03 * gx + 40 * np.exp(-(gx**2 + gy**2) / (2 * 200.0**2))
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=n,
        height=n,
        count=1,
        dtype="float32",
        crs=frame.crs,
        transform=Affine(10, 0, cx - half_m, 0, -10, cy + half_m),
        nodata=-9999,
    ) as dst:
        dst.write(z.astype("float32"), 1)
    return path


@pytest.fixture(scope="module")
def dem(tmp_path_factory, zone) -> Path:
    dock = zone.docks[0]
    return write_dem(
        tmp_path_factory.mktemp("dem") / "dem.tif", centre=(dock.lon, dock.lat), half_m=2500
    )


def test_waypoints_keep_their_height_above_ground(zone, dem) -> None:
    # the synthetic DEM's relief is steep: an orbit 90 m over the 80 m stacks' base, flown
    # home over the lowest ground, needs more than 120 m of ceiling (the planner refuses
    # that, see test_plan), so this terrain-following check allows 150 m
    patrol = plan_patrol(
        zone, targets=["ent-02", "ent-07"], dem=dem, time_limit_s=0.3, max_agl_m=150
    )
    terrain = Terrain(dem)
    assert patrol.terrain_following
    checked = 0
    for sortie in patrol.sorties:
        wps = [i for i in sortie.mission.items[1:] if i.command == mavlink.MAV_CMD_NAV_WAYPOINT]
        assert all(w.frame == mavlink.MAV_FRAME_GLOBAL_INT for w in wps)
        lat = np.array([w.lat for w in wps])
        lon = np.array([w.lon for w in wps])
        agl = np.array([w.z for w in wps]) - terrain.elevation(lon, lat)
        # survey legs at 60 m above the DEM, stepping up over the 80 m stacks of ent-07
        # (their roof: 20 m over a working stack's mouth); orbit rings level in AMSL,
        # 10 m over the stack's top measured from its base, so their AGL follows the slope
        assert np.min(agl) >= 38.0 - 12.0 and np.max(agl) <= 150.0
        assert np.any(np.isclose(agl, 60.0, atol=0.1))
        # between waypoints the straight line stays within a few metres of the wanted height
        for a, b in itertools.pairwise(wps):
            t = np.linspace(0, 1, 20)
            la, lo = a.lat + t * (b.lat - a.lat), a.lon + t * (b.lon - a.lon)
            line = a.z + t * (b.z - a.z)
            ground = terrain.elevation(lo, la)
            wanted_lo = min(
                a.z - terrain.elevation(np.array([a.lon]), np.array([a.lat]))[0],
                b.z - terrain.elevation(np.array([b.lon]), np.array([b.lat]))[0],
            )
            assert np.all(line - ground >= wanted_lo - 3.5)
            checked += 1
        for photo in (p for p in sortie.photo_points if p.pattern != "orbit"):
            ground = terrain.elevation(np.array([photo.lon]), np.array([photo.lat]))[0]
            assert photo.alt_m - ground == pytest.approx(photo.agl_m, abs=0.02)
    assert checked > 50


def test_points_outside_the_dem_are_refused(zone, tmp_path: Path) -> None:
    dock = zone.docks[0]
    small = write_dem(tmp_path / "small.tif", centre=(dock.lon, dock.lat), half_m=100)
    with pytest.raises(TerrainError, match="outside the DEM"):
        plan_patrol(zone, targets=["ent-01"], dem=small, time_limit_s=0.2)
    with pytest.raises(TerrainError, match="cannot read DEM"):
        Terrain(tmp_path / "missing.tif")
