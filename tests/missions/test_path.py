"""Planned photo points follow ArduPilot's distance-trigger rule exactly."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from missions.path import END_MARGIN_M, fit_trigger, photo_positions

#: distances within this of the trigger distance count as equal (floating-point ties)
TIE_M = 1e-9


def simulate_ardupilot(points: np.ndarray, trigger_m: float, step_m: float = 0.05) -> np.ndarray:
    """AP_Camera: a photo when switched on, then whenever the vehicle is trigger_m from the last.

    ``AP_Camera_Backend::update`` returns while ``get_distance(last) < trigg_dist``,
    so a distance equal to the trigger distance fires. The vehicle moves in small
    steps; a crossing inside a step is located by bisection, so the simulation
    does not lag behind (a lag would build up from photo to photo). Bisection
    ends on the far side of the crossing, a few 1e-14 m late; ``TIE_M`` keeps
    that rounding from turning an exact tie into a miss: with photos every 3 m
    from (0, 72), the vertex (0, 75) is exactly 3 m on and fires, and after a
    turn sharper than 90 degrees a missed vertex is not a small error, since
    the vehicle flies back inside the circle and the next photo comes metres on.
    """
    shots = [points[0]]
    prev = points[0]
    for a, b in itertools.pairwise(points):
        n = max(1, math.ceil(math.dist(a, b) / step_m))
        for t in np.linspace(0, 1, n + 1)[1:]:
            here = a + t * (b - a)
            while math.dist(here, shots[-1]) >= trigger_m - TIE_M:
                lo, hi = prev, here
                for _ in range(40):
                    mid = (lo + hi) / 2
                    if math.dist(mid, shots[-1]) >= trigger_m:
                        hi = mid
                    else:
                        lo = mid
                shots.append(hi)
                prev = hi
            prev = here
    return np.asarray(shots)


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
        assert math.dist(longer[-1], longer[-2]) == pytest.approx(trigger, abs=1e-6)
        assert math.dist(longer[-1], points[-1]) < 1e-6


@given(st.floats(5, 3000), st.floats(2, 60))
def test_fitted_trigger_spans_the_leg_and_stops_before_its_end(length, trigger) -> None:
    fitted = fit_trigger(length, trigger)
    assert 0 < fitted <= trigger
    photos = photo_positions(np.array([[0.0, 0.0], [length, 0.0]]), fitted)
    margin = min(END_MARGIN_M, trigger / 2, 0.4 * length)
    # the last photo lands just before the end margin (ArduCopter's early "reached"
    # cannot swallow it) and no photo falls inside the margin
    assert length - photos[-1, 0] >= margin - 0.01 - 1e-6
    assert length - photos[-1, 0] <= margin + 0.01 * len(photos) + 1e-6
