"""Planned photo points follow ArduPilot's distance-trigger rule exactly."""

from __future__ import annotations

import itertools
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from missions.path import END_MARGIN_M, fit_trigger, photo_positions


def simulate_ardupilot(points: np.ndarray, trigger_m: float, step_m: float = 0.02) -> np.ndarray:
    """AP_Camera: a photo when switched on, then whenever the vehicle is trigger_m from the last."""
    shots = [points[0]]
    for a, b in itertools.pairwise(points):
        n = max(1, math.ceil(math.dist(a, b) / step_m))
        for t in np.linspace(0, 1, n + 1)[1:]:
            here = a + t * (b - a)
            if math.dist(here, shots[-1]) >= trigger_m:
                shots.append(here)
    return np.asarray(shots)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-150, 150), st.floats(-150, 150)), min_size=2, max_size=4),
    st.floats(3, 40),
)
def test_photo_positions_match_the_autopilot_rule(vertices, trigger) -> None:
    step = 0.02
    points = np.asarray(vertices, dtype=float)
    planned = photo_positions(points, trigger)
    flown = simulate_ardupilot(points, trigger, step_m=step)
    # the simulation fires up to one step late, and later photos inherit the lag
    k = min(len(planned), len(flown))
    for i in range(k):
        assert math.dist(planned[i], flown[i]) <= step * (i + 1) + 1e-6
    assert abs(len(planned) - len(flown)) <= 1
    if len(planned) != len(flown):  # a photo right at the end, where the lag decides
        extra = planned[-1] if len(planned) > len(flown) else flown[-1]
        assert math.dist(extra, points[-1]) <= step * (k + 1) + 1e-6


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
