"""Planned photo points follow ArduPilot's distance-trigger rule exactly."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from missions.path import END_MARGIN_M, Leg, fit_trigger, photo_positions

#: distances within this of the trigger distance count as equal (floating-point ties)
TIE_M = 1e-9


def simulate_ardupilot(points: np.ndarray, trigger_m: float, step_m: float = 0.05) -> np.ndarray:
    """AP_Camera switched on at points[0]: a photo whenever the vehicle is trigger_m from the last.

    ``AP_Camera_Backend::update`` first remembers where it is switched on (no photo), then
    returns while ``get_distance(last) < trigg_dist``, so a distance equal to the trigger
    distance fires; each photo is remembered. The vehicle moves in small steps; a crossing
    inside a step is located by bisection, so the simulation does not lag behind (a lag would
    build up from photo to photo). Bisection ends on the far side of the crossing, a few 1e-14 m
    late; ``TIE_M`` keeps that rounding from turning an exact tie into a miss: with photos every
    3 m from (0, 72), the vertex (0, 75) is exactly 3 m on and fires, and after a turn sharper
    than 90 degrees a missed vertex is not a small error, since the vehicle flies back inside
    the circle and the next photo comes metres on.
    """
    last = points[0]
    shots: list[np.ndarray] = []
    prev = points[0]
    for a, b in itertools.pairwise(points):
        n = max(1, math.ceil(math.dist(a, b) / step_m))
        for t in np.linspace(0, 1, n + 1)[1:]:
            here = a + t * (b - a)
            while math.dist(here, last) >= trigger_m - TIE_M:
                lo, hi = prev, here
                for _ in range(40):
                    mid = (lo + hi) / 2
                    if math.dist(mid, last) >= trigger_m:
                        hi = mid
                    else:
                        lo = mid
                shots.append(hi)
                last = prev = hi
            prev = here
    return np.asarray(shots).reshape(-1, 2)


def _turns_back(points: np.ndarray) -> bool:
    """True where the path folds back on itself (a turn sharper than 150 degrees).

    Camera legs never do (survey and corridor lines are straight or follow a
    river, orbits turn a little at each vertex); on a fold a photo that falls
    exactly on the vertex is a floating-point tie that may go either way, and
    the vehicle then flies back over the photos just taken.
    """
    for a, b, c in zip(points, points[1:], points[2:], strict=False):
        u, v = b - a, c - b
        nu, nv = np.hypot(*u), np.hypot(*v)
        if nu and nv and float(u @ v) / (nu * nv) < math.cos(math.radians(150)):
            return True
    return False


@settings(max_examples=25, deadline=None)
@example(np.array([[0.0, 0.0], [0.0, 75.0], [43.0, 1.0]]), 3.0)  # a photo exactly on a 150° turn
@given(
    st.lists(st.tuples(st.floats(-150, 150), st.floats(-150, 150)), min_size=2, max_size=4)
    .map(lambda v: np.asarray(v, dtype=float))
    .filter(lambda p: not _turns_back(p)),
    st.floats(3, 40),
)
def test_photo_positions_match_the_autopilot_rule(points, trigger) -> None:
    planned = photo_positions(points, trigger)
    flown = simulate_ardupilot(points, trigger)
    k = min(len(planned), len(flown))
    assert np.allclose(planned[:k], flown[:k], atol=1e-3)
    if len(planned) != len(flown):
        # only a photo exactly one trigger distance from the last, at the very end,
        # may fall either side of ">=" in floating point
        longer = planned if len(planned) > len(flown) else flown
        assert len(longer) == k + 1
        before = longer[-2] if len(longer) > 1 else points[0]
        assert math.dist(longer[-1], before) == pytest.approx(trigger, abs=1e-6)
        assert math.dist(longer[-1], points[-1]) < 1e-6


def test_a_leg_switches_the_camera_on_one_trigger_distance_before_its_first_photo() -> None:
    # a lane from (0, 0) heading 3-4-5 (unit (0.6, 0.8)), photos every 10 m, a 10 m
    # turnaround: switched on at (0, 0) - 10 * (0.6, 0.8) = (-6, -8), run-in
    # RUN_UP_STRAIGHT_M = 5 m before that, 15 m before the lane, at (-9, -12); photos at
    # 0, 10, 20, 30 m along: (0, 0), (6, 8), (12, 16), (18, 24); the lane is 32 m long,
    # so no photo at 40 m
    leg = Leg(
        points=np.array([[0.0, 0.0], [19.2, 25.6]]),
        altitude_m=50.0,
        trigger_m=10.0,
        lead_in=(-6.0, -8.0),
    )
    assert leg.camera_on == pytest.approx((-6.0, -8.0))
    assert leg.run_in == pytest.approx((-9.0, -12.0))
    expected = [(0.0, 0.0), (6.0, 8.0), (12.0, 16.0), (18.0, 24.0)]
    assert leg.photo_positions() == pytest.approx(np.array(expected))
    # the same photos as ArduPilot switched on at camera_on
    flown = simulate_ardupilot(np.vstack([(-6.0, -8.0), leg.points]), 10.0)
    assert flown == pytest.approx(np.array(expected), abs=1e-6)
    # without the run-up (no room for it) switched on at (0, 0): photos at 10, 20, 30 m
    assert leg.photo_positions(run_up=False) == pytest.approx(np.array(expected[1:]))


def test_an_orbit_leg_has_no_run_up() -> None:
    # a ring looks at its stack: its camera is switched on at its first vertex with a
    # photo there; square ring of side 10 m, trigger 10 m: a photo at each vertex
    ring = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]])
    leg = Leg(points=ring, altitude_m=40.0, trigger_m=10.0, roi=(5.0, 5.0, 30.0))
    assert leg.camera_on is None and leg.run_in is None
    assert leg.photo_positions() == pytest.approx(ring)


@given(st.floats(5, 3000), st.floats(2, 60))
def test_fitted_trigger_spans_the_leg_and_stops_before_its_end(length, trigger) -> None:
    fitted = fit_trigger(length, trigger)
    assert 0 < fitted <= trigger
    leg = Leg(points=np.array([[0.0, 0.0], [length, 0.0]]), altitude_m=50.0, trigger_m=fitted)
    photos = leg.photo_positions()
    assert photos[0] == pytest.approx([0.0, 0.0], abs=1e-6)
    margin = min(END_MARGIN_M, trigger / 2, 0.4 * length)
    # the last photo lands just before the end margin (ArduCopter's early "reached"
    # cannot swallow it) and no photo falls inside the margin
    assert length - photos[-1, 0] >= margin - 0.01 - 1e-6
    assert length - photos[-1, 0] <= margin + 0.01 * len(photos) + 1e-6
