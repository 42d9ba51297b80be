"""Corridor scan: parallel offset lines along a centreline (a river section).

As QGroundControl's Corridor Scan: as many lines as the corridor width needs
for the side overlap, flown alternately in opposite directions, each with a
camera-off turnaround beyond its ends.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry import LineString

from missions.errors import InvalidProfileError
from missions.path import Leg, fit_trigger, polyline_length


def corridor_line_count(width_m: float, *, footprint_m: float, spacing_m: float) -> int:
    """Lines needed so the footprints span ``width_m``."""
    if width_m <= footprint_m:
        return 1
    return 1 + math.ceil((width_m - footprint_m) / spacing_m - 1e-9)


def plan_corridor(
    centerline: LineString,
    *,
    width_m: float,
    footprint_m: float,
    spacing_m: float,
    trigger_m: float,
    altitude_m: float,
    turnaround_m: float = 10.0,
) -> list[Leg]:
    """Ordered camera legs along ``centerline`` (local metres) covering ``width_m``.

    ``footprint_m`` is the footprint across track and ``spacing_m`` the lane
    spacing from the side overlap; line offsets are centred on the centreline.
    """
    if width_m <= 0 or spacing_m <= 0 or trigger_m <= 0:
        raise InvalidProfileError("corridor width, spacing and trigger must be positive")
    n = corridor_line_count(width_m, footprint_m=footprint_m, spacing_m=spacing_m)
    offsets = (np.arange(n) - (n - 1) / 2) * spacing_m
    legs: list[Leg] = []
    for k, offset in enumerate(offsets):
        if offset == 0:
            line = centerline
        else:
            line = centerline.offset_curve(float(offset), join_style="round", quad_segs=4)
        points = _longest(line)
        # offset_curve keeps the original direction; alternate for back-and-forth
        if k % 2 == 1:
            points = points[::-1]
        if len(points) < 2:
            continue
        u0 = _unit(points[1] - points[0])
        u1 = _unit(points[-1] - points[-2])
        length = polyline_length(points)
        legs.append(
            Leg(
                points=points,
                altitude_m=altitude_m,
                trigger_m=fit_trigger(length, trigger_m),
                lead_in=_pt(points[0] - u0 * turnaround_m) if turnaround_m > 0 else None,
                lead_out=_pt(points[-1] + u1 * turnaround_m) if turnaround_m > 0 else None,
            )
        )
    return legs


def _longest(line: shapely.Geometry) -> np.ndarray:
    parts = [p for p in shapely.get_parts(line) if isinstance(p, LineString) and p.length > 0]
    if not parts:
        return np.empty((0, 2))
    best = max(parts, key=lambda p: p.length)
    return np.asarray(best.coords)[:, :2]


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.hypot(*v))
    return v / norm if norm > 0 else np.array([1.0, 0.0])


def _pt(p: np.ndarray) -> tuple[float, float]:
    return float(p[0]), float(p[1])
