"""Area survey: random concave polygons (with holes) are covered, and no leg leaves them."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Polygon, box

from missions.camera import CAMERAS
from missions.path import Leg
from missions.survey import best_angle, plan_survey

CAM = CAMERAS["wide-20mp"]
ALT = 60.0
SPACING = CAM.lane_spacing_m(ALT, 0.7)
TRIGGER = CAM.trigger_distance_m(ALT, 0.8)
FOOTPRINT = CAM.footprint_m(ALT)


def footprints(legs: list[Leg]) -> shapely.Geometry:
    """Union of every photo's ground rectangle, oriented along its leg."""
    across, along = FOOTPRINT
    rects = []
    for leg in legs:
        photos = leg.photo_positions()
        d = leg.points[-1] - leg.points[0]
        u = d / max(float(np.hypot(*d)), 1e-9)
        v = np.array([u[1], -u[0]])
        for p in photos:
            rects.append(
                Polygon(
                    [
                        p + u * along / 2 + v * across / 2,
                        p + u * along / 2 - v * across / 2,
                        p - u * along / 2 - v * across / 2,
                        p - u * along / 2 + v * across / 2,
                    ]
                )
            )
    return shapely.union_all(rects)


@st.composite
def concave_polygons(draw: st.DrawFn) -> Polygon:
    """Star-shaped (so simple) polygons with deep notches, sometimes with a hole."""
    n = draw(st.integers(5, 14))
    radii = draw(st.lists(st.floats(40, 400), min_size=n, max_size=n))
    jitter = draw(st.lists(st.floats(-0.3, 0.3), min_size=n, max_size=n))
    angles = [2 * math.pi * (k + j) / n for k, j in enumerate(jitter)]
    ring = [(r * math.cos(a), r * math.sin(a)) for r, a in zip(radii, angles, strict=True)]
    poly = Polygon(ring)
    if draw(st.booleans()):
        hole = shapely.Point(0, 0).buffer(draw(st.floats(5, 35)), quad_segs=3)
        if poly.buffer(-5).contains(hole):
            poly = Polygon(ring, [hole.exterior.coords])
    return poly


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(concave_polygons(), st.one_of(st.none(), st.floats(0, 179)))
def test_random_concave_polygon_is_covered_without_leaving_it(poly: Polygon, angle) -> None:
    legs = plan_survey(
        poly,
        spacing_m=SPACING,
        trigger_m=TRIGGER,
        altitude_m=ALT,
        angle_deg=angle,
        footprint_m=FOOTPRINT,
    )
    assert legs
    inside = poly.buffer(1e-6)
    for leg in legs:
        assert inside.covers(shapely.LineString(leg.points)), "a survey leg leaves the area"
    covered = footprints(legs).intersection(poly).area / poly.area
    assert covered >= 0.99


def test_hole_is_not_flown_with_the_camera_on() -> None:
    outer = box(0, 0, 300, 300)
    hole = box(100, 100, 200, 200)
    area = outer.difference(hole)
    legs = plan_survey(area, spacing_m=SPACING, trigger_m=TRIGGER, altitude_m=ALT, angle_deg=0)
    for leg in legs:
        line = shapely.LineString(leg.points)
        assert line.intersection(hole.buffer(-0.01)).length == 0


def test_turnarounds_are_camera_off_extensions() -> None:
    legs = plan_survey(
        box(0, 0, 200, 100), spacing_m=SPACING, trigger_m=TRIGGER, altitude_m=ALT, turnaround_m=15
    )
    for leg in legs:
        assert leg.lead_in is not None and leg.lead_out is not None
        assert math.dist(leg.lead_in, leg.points[0]) == pytest.approx(15)
        assert math.dist(leg.lead_out, leg.points[-1]) == pytest.approx(15)
        # photos only along the leg, first at its start, last 3 m (plus rounding) before its end
        photos = leg.photo_positions()
        assert np.allclose(photos[0], leg.points[0])
        assert 3.0 <= math.dist(photos[-1], leg.points[-1]) < 3.0 + 0.01 * len(photos)


def test_best_angle_follows_a_long_thin_site() -> None:
    # 1000 m east-west by 100 m: lanes should run east-west (90 deg from north)
    assert best_angle(box(0, 0, 1000, 100), spacing_m=SPACING) == pytest.approx(90)
    legs = plan_survey(box(0, 0, 1000, 100), spacing_m=SPACING, trigger_m=TRIGGER, altitude_m=ALT)
    assert len(legs) == math.ceil(100 / SPACING)


def test_legs_alternate_direction_within_a_cell() -> None:
    legs = plan_survey(
        box(0, 0, 300, 300), spacing_m=SPACING, trigger_m=TRIGGER, altitude_m=ALT, angle_deg=0
    )
    dirs = [np.sign(leg.points[-1, 1] - leg.points[0, 1]) for leg in legs]
    assert all(a == -b for a, b in itertools.pairwise(dirs))


def test_thin_spikes_between_lanes_get_their_own_legs() -> None:
    # a comb: spikes 8 m thick running along the lanes, most falling between two lanes
    comb = shapely.union_all(
        [box(0, 0, 60, 300)] + [box(59, y, 400, y + 8) for y in (20, 75, 131, 190, 246)]
    )
    plain = plan_survey(comb, spacing_m=SPACING, trigger_m=TRIGGER, altitude_m=ALT, angle_deg=90)
    filled = plan_survey(
        comb,
        spacing_m=SPACING,
        trigger_m=TRIGGER,
        altitude_m=ALT,
        angle_deg=90,
        footprint_m=FOOTPRINT,
    )
    assert footprints(plain).intersection(comb).area / comb.area < 0.99  # the gap is real
    assert footprints(filled).intersection(comb).area / comb.area >= 0.99
    for leg in filled:
        assert comb.buffer(1e-6).covers(shapely.LineString(leg.points))
