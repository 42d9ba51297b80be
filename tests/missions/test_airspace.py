"""No-fly avoidance: random layouts are never crossed, and detours stay short."""

from __future__ import annotations

import math

import pytest
import shapely
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, box

from missions.airspace import Airspace, Zone
from missions.errors import NoFlyViolationError

MARGIN = 15.0


@st.composite
def layouts(draw: st.DrawFn) -> tuple[list[Zone], tuple[float, float], tuple[float, float]]:
    n = draw(st.integers(1, 6))
    zones = []
    for k in range(n):
        x, y = draw(st.floats(100, 1900)), draw(st.floats(-800, 800))
        w, h = draw(st.floats(20, 400)), draw(st.floats(20, 600))
        rot = draw(st.floats(0, 90))
        poly = shapely.affinity.rotate(box(x - w / 2, y - h / 2, x + w / 2, y + h / 2), rot)
        zones.append(Zone(f"z{k}", "test", poly))
    a = (0.0, draw(st.floats(-500, 500)))
    b = (2000.0, draw(st.floats(-500, 500)))
    return zones, a, b


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layouts())
def test_random_no_fly_layouts_are_never_crossed(layout) -> None:
    zones, a, b = layout
    airspace = Airspace(zones, margin_m=MARGIN)
    assume(not airspace.keep_out.buffer(1).covers(shapely.Point(a)))
    assume(not airspace.keep_out.buffer(1).covers(shapely.Point(b)))
    route = airspace.path(a, b)
    assert route[0] == a and route[-1] == b
    line = LineString(route)
    for zone in zones:
        assert line.distance(zone.area) >= MARGIN - 1.0
    # never absurdly long: shorter than going around the whole layout's bounding box
    minx, miny, maxx, maxy = shapely.union_all([z.area for z in zones]).bounds
    detour_bound = math.dist(a, b) + 2 * (maxx - minx + maxy - miny) + 8 * MARGIN
    assert line.length <= detour_bound


def test_straight_hop_is_kept_when_clear() -> None:
    airspace = Airspace([Zone("z", "test", box(400, 100, 600, 300))], margin_m=MARGIN)
    assert airspace.path((0, 0), (1000, 0)) == [(0, 0), (1000, 0)]


def test_detour_is_near_the_geometric_optimum() -> None:
    # a wall 400 m high across the straight line: the best detour passes one end
    airspace = Airspace([Zone("wall", "test", box(490, -200, 510, 200))], margin_m=MARGIN)
    route = airspace.path((0, 0), (1000, 0))
    optimum = 2 * math.hypot(500, 200 + MARGIN)
    assert LineString(route).length == pytest.approx(optimum, rel=0.02)


def test_point_inside_no_fly_is_refused_with_its_reason() -> None:
    airspace = Airspace([Zone("hosp", "hospital helipad", box(0, 0, 100, 100))], margin_m=MARGIN)
    with pytest.raises(NoFlyViolationError, match=r"hosp.*hospital helipad"):
        airspace.route_matrix([(50, 50), (500, 500)])
