"""Checks every sortie must pass before it is written or flown.

The planner is built to satisfy these; checking the finished mission items
again (not the planner's intentions) catches a fault anywhere in between.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray
from shapely.geometry import LineString, Polygon

from missions.airspace import Airspace
from missions.errors import (
    AltitudeLimitError,
    CapacityError,
    ClearanceError,
    NoFlyViolationError,
)
from missions.items import Mission
from zone.obstacles import Obstacles, samples

DEFAULT_MAX_AGL_M = 120.0
#: Spacing of the points along a path from which a failsafe return is checked.
FAILSAFE_STEP_M = 25.0

#: Ground altitude AMSL at local (x, y) points, ``(N, 2) -> (N,)``.
GroundAt = Callable[[NDArray[np.float64]], NDArray[np.float64]]


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


def check_clearance(
    path_xyz: NDArray[np.float64], obstacles: Obstacles, *, name: str = "sortie"
) -> None:
    """Raise if any straight segment of ``path_xyz`` ``(N, 3)`` (x, y, AMSL) breaks the rule."""
    for k, (a, b) in enumerate(itertools.pairwise(path_xyz)):
        bad = obstacles.violations(tuple(a), tuple(b))
        if bad:
            volume, short = max(bad, key=lambda vs: vs[1])
            raise ClearanceError(
                f"{name}: segment {k} passes {short:.1f} m too low within "
                f"{volume.horizontal_m:.0f} m of {volume.label}"
            )


def check_failsafe(
    path_xyz: NDArray[np.float64],
    *,
    rally_xy: Sequence[tuple[float, float]],
    rtl_amsl_m: float,
    airspace: Airspace,
    obstacles: Obstacles,
    ground_at: GroundAt,
    lowest_ground_m: float,
    max_agl_m: float,
    name: str = "sortie",
) -> None:
    """Raise if the autopilot's own return from anywhere on the path is unsafe.

    Models ArduCopter's RTL as its source does it: climb straight up to
    ``rtl_amsl_m`` if lower, fly at that height (or the current one, if
    higher) to the nearest rally point or home, going round the fence's
    exclusions (the OA Dijkstra planner; here the same visibility-graph route
    the planner uses), then descend. Checked from every path point and every
    ``FAILSAFE_STEP_M`` between them. A return never flies below
    ``rtl_amsl_m``, so only obstacles whose roof is higher can be met, and the
    ground under it is sampled only where even ``lowest_ground_m`` would put
    it over the ceiling.
    """
    above = Obstacles([v for v in obstacles.volumes if v.roof_amsl_m > rtl_amsl_m])
    starts = samples(path_xyz, FAILSAFE_STEP_M)
    nearest = [min(rally_xy, key=lambda r: math.dist(r, (p[0], p[1]))) for p in starts]
    for home in dict.fromkeys(nearest):
        mine = starts[[k for k, r in enumerate(nearest) if r == home]]
        routes = airspace.paths_to([(float(p[0]), float(p[1])) for p in mine], home)
        for p, route in zip(mine, routes, strict=True):
            where = f"{name}: the failsafe return from ({p[0]:.0f}, {p[1]:.0f})"
            _check_return(
                np.asarray(route, dtype=float),
                max(float(p[2]), rtl_amsl_m),
                airspace=airspace,
                obstacles=above,
                ground_at=ground_at,
                high=max(float(p[2]), rtl_amsl_m) - lowest_ground_m > max_agl_m,
                max_agl_m=max_agl_m,
                where=where,
            )


def _check_return(
    route: NDArray[np.float64],
    z: float,
    *,
    airspace: Airspace,
    obstacles: Obstacles,
    ground_at: GroundAt,
    high: bool,
    max_agl_m: float,
    where: str,
) -> None:
    """One failsafe return, flown level at ``z`` (AMSL) along ``route``."""
    for a, b in itertools.pairwise(route):
        zones = airspace.crossed_zones((a[0], a[1]), (b[0], b[1]))
        if zones:
            raise NoFlyViolationError(f"{where} enters {zones[0].id!r} ({zones[0].reason})")
    flown = np.column_stack([route, np.full(len(route), z)])
    check_clearance(flown, obstacles, name=where)
    if not high:
        return
    agl = z - ground_at(samples(flown, FAILSAFE_STEP_M)[:, :2])
    if float(np.max(agl)) > max_agl_m + 1e-6:
        raise AltitudeLimitError(
            f"{where} flies {float(np.max(agl)):.0f} m above ground, "
            f"over the {max_agl_m:.0f} m ceiling"
        )


def min_clearance(
    path_xyz: NDArray[np.float64], obstacles: Obstacles, *, step_m: float = 1.0
) -> tuple[float, str, NDArray[np.float64]]:
    """The path's smallest 3-D distance to any obstacle solid, the obstacle, and where."""
    return obstacles.closest(path_xyz, step_m=step_m)


def check_capacity(mission: Mission, capacity: int, *, name: str = "sortie") -> None:
    """Raise if the mission has more items (home included) than the autopilot stores."""
    if len(mission.items) > capacity:
        raise CapacityError(
            f"{name}: {len(mission.items)} mission items, more than the {capacity} "
            "the autopilot can store"
        )
