"""Plumes in the air above their stacks, seen from an orbit ring, found where they are.

The frames are rendered by tests/scenes (numpy only, its own camera, rotation and
ray casting; nothing from imagery or missions): a 1200x900 camera of 73.7 degrees
HFOV on a 130 m ring round ent-07-s1, 100 m above the ground (110 m AMSL), aimed
at the stack's axis 55 m up. Stacks: ent-07-s1 and ent-07-s2 (80 m, 80 m apart)
and a 30 m boiler stack 45 m south of s1, in front of it from the south.
Before, the pipeline cast the plume's outline to the ground: from the south the
rays through the mouth (80 m up, 130 m away, 20 m below the camera) meet the
ground 130 * 100 / 20 = 650 m beyond the camera, about 520 m past the stack.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from imagery.detect.base import select
from imagery.grouping import least_squares_point
from imagery.persist import finish_flight, write_results
from imagery.pipeline import CaptureResult, FindingResult, process_capture
from imagery.sites import Axis, ray_axis_distance
from store.db import make_engine, migrate, session_scope
from store.findings import flight_findings, get_or_create_flight
from tests.imagery.told import told
from tests.scenes.render import LocalFrame
from tests.scenes.stacks import (
    CAMERA,
    GROUND_M,
    LAT0,
    LON0,
    View,
    mouth_lonlat_alt,
    ring_view,
    write_capture,
    write_sites,
)
from zone.sites import load_sites


def _process(tmp_path: Path, bearing_deg: float, *, smoking: str = "ent-07-s1") -> CaptureResult:
    view = ring_view(bearing_deg, around=smoking)
    image = write_capture(tmp_path / f"ring-{bearing_deg:.0f}-{smoking}.jpg", view, smoking=smoking)
    pose, camera = told(view)
    sites = load_sites(write_sites(tmp_path / "sites.geojson"))
    result = process_capture(
        image, pose=pose, camera=camera, sites=sites, detectors=select(["plume"])
    )
    assert result.ok, result.failure_reason
    return result


def _from_mouth_m(lon: float, lat: float, alt: float, stack_id: str) -> float:
    """3-D distance from a stack's mouth, in the scene's own frame (not the pipeline's)."""
    frame = LocalFrame(LON0, LAT0)
    m_lon, m_lat, m_alt = mouth_lonlat_alt(stack_id)
    e0, n0 = frame.metres(m_lon, m_lat)
    e, n = frame.metres(lon, lat)
    return math.sqrt((e - e0) ** 2 + (n - n0) ** 2 + (alt - m_alt) ** 2)


def _plume(result: CaptureResult) -> FindingResult:
    plumes = [f for f in result.findings if f.kind == "plume"]
    assert len(plumes) == 1, result.findings
    return plumes[0]


@pytest.mark.parametrize(
    ("bearing", "smoking"), [(180.0, "ent-07-s1"), (250.0, "ent-07-s1"), (230.0, "ent-07-s2")]
)
def test_a_plume_above_its_stack_is_placed_at_the_mouth(
    tmp_path: Path, bearing: float, smoking: str
) -> None:
    plume = _plume(_process(tmp_path, bearing, smoking=smoking))
    assert plume.source_id == smoking and plume.site_id == "ent-07"
    assert plume.alt_amsl_m is not None and plume.height_agl_m is not None
    gap = _from_mouth_m(plume.lon, plume.lat, plume.alt_amsl_m, smoking)
    print(
        f"bearing {bearing}: {smoking} plume {gap:.1f} m from the mouth, "
        f"{plume.height_agl_m} m above ground, runner-up "
        f"{plume.measurements.get('source_runner_up')}"
    )
    assert gap <= 10.0
    assert abs(plume.height_agl_m - 80.0) <= 10.0  # the mouth is 80 m up
    assert plume.source_distance_m is not None and plume.source_distance_m <= 10.0
    assert plume.ground_polygon is None  # in the air: no outline on the ground
    assert abs(plume.alt_amsl_m - plume.height_agl_m - GROUND_M) < 0.01


def test_two_captures_from_the_ring_fix_the_plume_by_least_squares(tmp_path: Path) -> None:
    results = [_process(tmp_path, b) for b in (180.0, 250.0)]
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate(engine)
    with session_scope(engine) as session:
        flight = get_or_create_flight(session, directory=str(tmp_path))
        write_results(session, results, flight_id=flight.id)
        finish_flight(session, flight)
        plumes = [f for f in flight_findings(session, flight.id) if f.kind == "plume"]
        assert len(plumes) == 2 and len({f.group_id for f in plumes}) == 1
        for f in plumes:
            assert f.source_id == "ent-07-s1"
            assert f.measurements is not None and f.measurements["group_fix"]["rays"] == 2
            assert f.alt_amsl_m is not None
            gap = _from_mouth_m(f.lon, f.lat, f.alt_amsl_m, "ent-07-s1")
            print(
                f"least squares over two rays: {gap:.1f} m from the mouth, "
                f"rms {f.measurements['group_fix']['rms_m']} m"
            )
            assert gap <= 10.0


def test_least_squares_point_of_two_skew_rays() -> None:
    # The x axis (y = 0, z = 0) and the line x = 0, z = 5 along y: their closest points are
    # (0, 0, 0) and (0, 0, 5), so the point nearest both is halfway, 2.5 m from each.
    point, rms = least_squares_point(
        np.array([[-10.0, 0.0, 0.0], [0.0, 10.0, 5.0]]), np.array([[1.0, 0.0, 0.0], [0, -2, 0]])
    )
    assert np.allclose(point, [0.0, 0.0, 2.5]) and rms == pytest.approx(2.5)
    with pytest.raises(ValueError, match="parallel"):
        least_squares_point(np.array([[0.0, 0, 0], [0, 1, 0]]), np.array([[1.0, 0, 0], [1, 0, 0]]))


def test_ray_axis_distance_by_hand() -> None:
    # A stack 80 m tall at the origin (radius 3). A horizontal ray from (-100, 10, 50) heading
    # east passes 10 m north of the axis at 50 m up; a ray from (-100, 0, 120) heading east
    # passes 40 m over the mouth, but within the segment when 60 m of rise are added (height
    # 120 m of 140); a ray pointing away never comes nearer than its start, 100 m off.
    axis = Axis("s", "e", "stack", np.zeros(3), 80.0, 3.0)
    origins = np.array([-100.0, 10.0, 50.0])
    east = np.array([[1.0, 0.0, 0.0]])
    d, z = ray_axis_distance(origins, east, axis)
    assert d[0] == pytest.approx(10.0) and z[0] == pytest.approx(50.0)
    d, z = ray_axis_distance(np.array([-100.0, 0.0, 120.0]), east, axis)
    assert d[0] == pytest.approx(40.0) and z[0] == pytest.approx(80.0)
    d, z = ray_axis_distance(np.array([-100.0, 0.0, 120.0]), east, axis, rise_m=60.0)
    assert d[0] == pytest.approx(0.0) and z[0] == pytest.approx(120.0)
    d, _ = ray_axis_distance(np.array([-100.0, 0.0, 50.0]), -east, axis)
    assert d[0] == pytest.approx(100.0)


def _search(tmp_path: Path, view: View) -> np.ndarray:
    from imagery.detect.base import Frame
    from imagery.detect.plume import stack_mask
    from imagery.georef import Georef

    pose, camera = told(view)
    frame = Frame(
        "rgb",
        rgb=np.zeros((CAMERA.height, CAMERA.width, 3), dtype=np.float32),
        georef=Georef.build(camera, pose),
        sites=load_sites(write_sites(tmp_path / "sites.geojson")),
    )
    mask = stack_mask(frame, reach_m=60.0, rise_m=80.0)
    assert mask is not None
    return mask


def test_the_detector_searches_each_stack_column(tmp_path: Path) -> None:
    """From the ring, the search covers s1 from its base to 40 m over its mouth and the air
    55 m west of it; straight down from 120 m, 200 m east of s2, it covers nothing: the
    frame's edge (73.7 degrees wide, so 90 m either side) is still 110 m from s2's axis.
    """
    from tests.scenes.render import camera_axes

    view = ring_view(180.0)
    mask = _search(tmp_path, view)
    axes = camera_axes(view.yaw_deg, view.pitch_deg, 0.0)

    def seen(east: float, north: float, up_m: float) -> bool:
        col, row = CAMERA.project(*axes, view.origin, np.array([east, north, GROUND_M + up_m]))
        assert 0 <= col < CAMERA.width and 0 <= row < CAMERA.height
        return bool(mask[round(row), round(col)])

    assert seen(0.0, -3.5, 2.0) and seen(0.0, 0.0, 80.0) and seen(0.0, 0.0, 120.0)
    assert seen(-55.0, 0.0, 100.0)
    lon, lat = LocalFrame(LON0, LAT0).lonlat(280.0, 0.0)
    down = View(lon, lat, GROUND_M + 120, 120.0, 0.0, -90.0, np.array([280.0, 0.0, 230.0]))
    assert not _search(tmp_path, down).any()
