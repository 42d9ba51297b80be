"""Stack orbit: rings around a chimney with the camera held on it (ROI).

The radius is the smallest at which the whole stack, base to top, fits in the
camera's vertical field of view (with a margin) when the camera looks at the
stack's mid-height from the ring's altitude, and never less than a safety
clearance from the stack (plume, downwash, guy wires).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from missions.camera import Camera
from missions.errors import InvalidProfileError
from missions.path import END_MARGIN_M, Leg

FILL = 0.8  # fraction of the vertical FOV the stack may fill


def orbit_radius_m(
    stack_height_m: float, altitude_m: float, *, camera: Camera, min_radius_m: float = 25.0
) -> float:
    """Smallest ring radius that frames the whole stack from ``altitude_m``.

    The stack spans the angle ``atan(A / r) - atan((A - H) / r)`` seen from a
    ring of radius ``r`` at altitude ``A``. Above the top that angle peaks at
    ``r = sqrt(A (A - H))`` and shrinks beyond; below the top it only shrinks.
    If even the peak fits the field of view any radius does (the clearance
    decides); otherwise the bound on the shrinking side is found by bisection.
    """
    if stack_height_m <= 0 or altitude_m <= 0:
        raise InvalidProfileError("stack height and orbit altitude must be positive")
    limit = math.radians(camera.vfov_deg) * FILL

    def angle(r: float) -> float:
        return math.atan2(altitude_m, r) - math.atan2(altitude_m - stack_height_m, r)

    peak = math.sqrt(max(altitude_m * (altitude_m - stack_height_m), 0.0))
    if peak > 0 and angle(peak) <= limit:
        return round(min_radius_m, 1)
    lo, hi = max(min_radius_m, peak), max(min_radius_m, peak, 10 * (stack_height_m + altitude_m))
    if angle(lo) <= limit:
        return round(math.ceil(lo * 10) / 10, 1)
    for _ in range(60):
        mid = (lo + hi) / 2
        if angle(mid) <= limit:
            hi = mid
        else:
            lo = mid
    return round(math.ceil(hi * 10) / 10, 1)


def plan_orbit(
    center: tuple[float, float],
    *,
    stack_height_m: float,
    camera: Camera,
    altitudes_m: Sequence[float],
    start_bearing_deg: float = 0.0,
    photos_per_ring: int = 24,
    min_radius_m: float = 25.0,
) -> list[Leg]:
    """One ring per altitude around ``center`` (local metres), ROI on the stack.

    A ring has a vertex every ``360 / photos_per_ring`` degrees and a trigger
    distance a hair shorter than the chord between vertices, so a photo is
    taken near each vertex. The camera leg stops a few metres past the last
    photo (ArduCopter runs the trigger-off item when it counts the end
    waypoint reached, a little early) rather than closing the circle, whose
    last photo would repeat the first.
    """
    if photos_per_ring < 6:
        raise InvalidProfileError("photos_per_ring must be at least 6")
    legs = []
    cx, cy = center
    step = 360 / photos_per_ring
    for altitude in altitudes_m:
        radius = orbit_radius_m(stack_height_m, altitude, camera=camera, min_radius_m=min_radius_m)
        chord = 2 * radius * math.sin(math.radians(step) / 2)
        trigger = math.floor(chord * 0.995 * 100) / 100
        overrun_deg = min(math.degrees((END_MARGIN_M + 1.0) / radius), 0.6 * step)
        degrees = np.append(
            start_bearing_deg + np.arange(photos_per_ring) * step,
            start_bearing_deg + (photos_per_ring - 1) * step + overrun_deg,
        )
        bearings = np.radians(degrees)
        ring = np.column_stack([cx + radius * np.sin(bearings), cy + radius * np.cos(bearings)])
        legs.append(
            Leg(
                points=ring,
                altitude_m=altitude,
                trigger_m=trigger,
                roi=(cx, cy, stack_height_m / 2),
            )
        )
    return legs
