"""Checks every sortie must pass before it is written or flown.

The planner is built to satisfy these; checking the finished mission items
again (not the planner's intentions) catches a fault anywhere in between.
"""

from __future__ import annotations

import numpy as np
from shapely.geometry import LineString, Polygon

from missions.airspace import Airspace
from missions.errors import AltitudeLimitError, CapacityError, NoFlyViolationError
from missions.items import Mission

DEFAULT_MAX_AGL_M = 120.0


def check_path(
    path: np.ndarray,
    *,
    airspace: Airspace,
    max_agl_m: float,
    inclusion: Polygon | None = None,
    name: str = "sortie",
) -> None:
    """Raise if a flown path ``(N, 3)`` (local x, y, height above ground) is unsafe."""
    if len(path) and float(np.max(path[:, 2])) > max_agl_m + 1e-6:
        k = int(np.argmax(path[:, 2]))
        raise AltitudeLimitError(
            f"{name}: point {k} is {path[k, 2]:.1f} m above ground, "
            f"over the {max_agl_m:.0f} m ceiling"
        )
    for a, b in zip(path[:-1, :2], path[1:, :2], strict=True):
        zones = airspace.crossed_zones((float(a[0]), float(a[1])), (float(b[0]), float(b[1])))
        if zones:
            z = zones[0]
            raise NoFlyViolationError(f"{name}: a segment enters no-fly area {z.id!r} ({z.reason})")
    if inclusion is not None and len(path) > 1:
        line = LineString(path[:, :2])
        if not inclusion.buffer(0.5).covers(line):
            raise NoFlyViolationError(f"{name}: the route leaves the geofence")


def check_capacity(mission: Mission, capacity: int, *, name: str = "sortie") -> None:
    """Raise if the mission has more items (home included) than the autopilot stores."""
    if len(mission.items) > capacity:
        raise CapacityError(
            f"{name}: {len(mission.items)} mission items, more than the {capacity} "
            "the autopilot can store"
        )
