"""Corridor lines for a river's width; orbit radius that frames the whole stack."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st
from shapely.geometry import LineString

from missions.camera import CAMERAS
from missions.corridor import corridor_line_count, plan_corridor
from missions.orbit import FILL, orbit_radius_m, plan_orbit

CAM = CAMERAS["wide-20mp"]
ACROSS, ALONG = CAM.footprint_m(60)
SPACING = CAM.lane_spacing_m(60, 0.7)
TRIGGER = CAM.trigger_distance_m(60, 0.8)


def test_wide_river_gets_enough_parallel_lines_to_cover_it() -> None:
    centerline = LineString([(0, 0), (300, 40), (600, 0), (900, 60)])
    legs = plan_corridor(
        centerline,
        width_m=200,
        footprint_m=ACROSS,
        spacing_m=SPACING,
        trigger_m=TRIGGER,
        altitude_m=60,
    )
    assert len(legs) == corridor_line_count(200, footprint_m=ACROSS, spacing_m=SPACING) == 6
    # alternate directions, offsets centred on the centreline
    starts = [leg.points[0] for leg in legs]
    assert all(np.hypot(*(a - b)) > 500 for a, b in itertools.pairwise(starts))
    offsets = sorted(
        centerline.distance(shapely.Point(leg.points[len(leg.points) // 2])) for leg in legs
    )
    assert offsets[-1] == pytest.approx(2.5 * SPACING, abs=1.0)
    rects = []
    for leg in legs:
        for p, q in zip(leg.photo_positions(), leg.photo_positions()[1:], strict=False):
            u = (q - p) / max(np.hypot(*(q - p)), 1e-9)
            v = np.array([u[1], -u[0]])
            c = p
            rects.append(
                shapely.Polygon(
                    [
                        c + u * ALONG / 2 + v * ACROSS / 2,
                        c + u * ALONG / 2 - v * ACROSS / 2,
                        c - u * ALONG / 2 - v * ACROSS / 2,
                        c - u * ALONG / 2 + v * ACROSS / 2,
                    ]
                )
            )
    water = centerline.buffer(100, cap_style="flat")
    assert shapely.union_all(rects).intersection(water).area / water.area >= 0.99


def test_narrow_river_is_one_line_down_the_middle() -> None:
    line = LineString([(0, 0), (500, 0)])
    (leg,) = plan_corridor(
        line, width_m=30, footprint_m=ACROSS, spacing_m=SPACING, trigger_m=TRIGGER, altitude_m=60
    )
    assert np.allclose(leg.points[[0, -1]], [[0, 0], [500, 0]])
    assert leg.lead_in == pytest.approx((-10, 0)) and leg.lead_out == pytest.approx((510, 0))


@given(st.floats(10, 110), st.floats(-30, 40))
def test_orbit_radius_frames_the_whole_stack(height, offset) -> None:
    altitude = max(height + offset, 15.0)
    radius = orbit_radius_m(height, altitude, camera=CAM)
    angle = math.atan2(altitude, radius) - math.atan2(altitude - height, radius)
    assert radius >= 25.0
    assert angle <= math.radians(CAM.vfov_deg) * FILL + 1e-3
    if radius > 25.0:  # not clamped: a metre closer and the stack would not fit
        closer = radius - 1.0
        angle_closer = math.atan2(altitude, closer) - math.atan2(altitude - height, closer)
        assert angle_closer > math.radians(CAM.vfov_deg) * FILL - 1e-3


def test_orbit_rings_look_at_the_stack_at_each_height() -> None:
    legs = plan_orbit((100.0, 200.0), stack_height_m=60, camera=CAM, altitudes_m=[70, 40])
    assert [leg.altitude_m for leg in legs] == [70, 40]
    for leg in legs:
        assert leg.roi == (100.0, 200.0, 30.0)
        radii = np.hypot(leg.points[:, 0] - 100, leg.points[:, 1] - 200)
        assert np.allclose(radii, radii[0])
        assert len(leg.photo_positions()) == 24
