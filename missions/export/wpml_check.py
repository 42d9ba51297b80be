"""Check a WPML route (one drawn in FlightHub 2, say) against the zone before a Dock flies it.

The route is checked as DJI's aircraft fly it, from the take-off dock and
back: straight up to the safe take-off height (or the first waypoint's
height, whichever is higher; ``flyToWaylineMode`` safely), level to over the
first waypoint and down or up to it, straight 3-D lines between waypoints,
then the finish action (``goHome``: straight up to the return height, level
to over the dock, down; ``autoLand``: down where it is). The same rules as
the planner's own sorties hold (:mod:`missions.safety`): no point higher above
the ground under it than the ceiling, no segment into a no-fly area, every
segment clear of every obstacle at the clearance rule, and the whole flight
within the aircraft's endurance less its reserve. Heights: the route's
are above take-off, the dock's ``ground_alt_m`` makes them AMSL, the zone's
ground (surveyed altitudes or a DEM, AMSL) makes them above ground.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from missions.camera import Aircraft
from missions.errors import InvalidProfileError, RangeError
from missions.export.wpml import Wayline
from missions.export.wpml_heights import Geoid, find_egm96_grid
from missions.export.wpml_read import first_position, wayline_from_kmz
from missions.geo import distance_m
from missions.plan import zone_air
from missions.safety import DEFAULT_MAX_AGL_M, check_clearance, check_path
from missions.terrain import Terrain
from zone.obstacles import ClearanceRule
from zone.sites import Dock, Sites

#: Spacing of the points the ceiling is checked at along each segment.
CEILING_STEP_M = 5.0


@dataclass(frozen=True)
class RouteReport:
    """A route that passed: where it starts and how close it came to the limits."""

    dock_id: str
    max_agl_m: float  # highest point above the ground under it
    length_m: float
    waypoints: int


def take_off_dock(sites: Sites, lat: float, lon: float, dock_id: str | None = None) -> Dock:
    """The dock ``dock_id``, or else the zone's dock nearest (lat, lon), the first waypoint."""
    if dock_id is not None:
        for dock in sites.docks:
            if dock.id == dock_id:
                return dock
        known = ", ".join(d.id for d in sites.docks) or "none"
        raise InvalidProfileError(f"unknown dock {dock_id!r} (docks: {known})")
    if not sites.docks:
        raise InvalidProfileError("the zone has no dock to take off from")
    return min(sites.docks, key=lambda d: distance_m(d.lat, d.lon, lat, lon))


def flown_path(
    line: Wayline, dock: Dock, *, landing_amsl_m: float | None = None
) -> NDArray[np.float64]:
    """``(N, 3)`` lon, lat, AMSL of the path DJI flies, take-off to touch-down.

    ``landing_amsl_m`` is the ground under the last waypoint, where ``autoLand``
    touches down (without it the path ends at the last waypoint).
    """
    base = dock.ground_alt_m
    first = line.waypoints[0]
    climb = max(line.takeoff_height_m, first.height_m)
    points = [
        (dock.lon, dock.lat, base),
        (dock.lon, dock.lat, base + climb),
        (first.lon, first.lat, base + climb),
    ]
    points += [(p.lon, p.lat, base + p.height_m) for p in line.waypoints]
    last = line.waypoints[-1]
    if line.finish == "goHome":
        back = base + max(line.rth_height_m, last.height_m)
        points += [
            (last.lon, last.lat, back),
            (dock.lon, dock.lat, back),
            (dock.lon, dock.lat, base),
        ]
    elif line.finish == "autoLand" and landing_amsl_m is not None:
        points.append((last.lon, last.lat, landing_amsl_m))
    elif line.finish == "gotoFirstWaypoint":
        points.append((first.lon, first.lat, base + first.height_m))
    return np.array(points, dtype=float)


def flight_time_s(line: Wayline, path: NDArray[np.float64], aircraft: Aircraft) -> float:
    """Seconds to fly :func:`flown_path` ``path`` (not densified): horizontal legs at the
    waypoints' speeds (the transit speed to the first and back home), climbs and descents
    at the aircraft's rates."""
    total = 0.0
    legs = range(3, 3 + len(line.waypoints) - 1)  # segment k starts at waypoint k - 3
    for k, (a, b) in enumerate(itertools.pairwise(path)):
        speed = line.waypoints[k - 3].speed_m_s if k in legs else line.transit_speed_m_s
        total += distance_m(a[1], a[0], b[1], b[0]) / speed
        rise = float(b[2] - a[2])
        total += abs(rise) / (aircraft.climb_rate_m_s if rise > 0 else aircraft.descent_rate_m_s)
    return total


def check_wayline(
    line: Wayline,
    sites: Sites,
    *,
    dock_id: str | None = None,
    max_agl_m: float = DEFAULT_MAX_AGL_M,
    clearance: ClearanceRule | None = None,
    dem: Terrain | str | Path | None = None,
    no_fly_margin_m: float = 15.0,
    aircraft: Aircraft | None = None,
) -> RouteReport:
    """Raise the planner's own errors if ``line`` is unsafe in the zone; else a short report.

    Raises
    ------
    RangeError
        The flight from the dock and back outlasts the aircraft's endurance
        less its reserve (a route far from every dock, say).
    AltitudeLimitError, NoFlyViolationError, ClearanceError
        The first rule the route breaks, with where.
    """
    dock = take_off_dock(sites, line.waypoints[0].lat, line.waypoints[0].lon, dock_id)
    terrain = Terrain(dem) if isinstance(dem, str | Path) else dem
    air = zone_air(
        sites,
        dem=terrain,
        rule=clearance or ClearanceRule(),
        max_agl_m=max_agl_m,
        no_fly_margin_m=no_fly_margin_m,
    )
    last = line.waypoints[-1]
    landing = float(air.ground.elevation(np.array([last.lon]), np.array([last.lat]))[0])
    corners = flown_path(line, dock, landing_amsl_m=landing)
    _check_time(line, corners, aircraft or Aircraft(), dock)
    path = _dense(corners)
    ground = air.ground.elevation(path[:, 0], path[:, 1])
    xy = np.array([air.frame.xy(lon, lat) for lon, lat in path[:, :2]])
    agl = path[:, 2] - ground
    # take-off and touch-down are on the ground: a dock's surveyed altitude a few
    # centimetres under the DEM's is not a height below ground
    local = np.column_stack([xy, np.maximum(agl, 0.0)])
    check_path(local, airspace=air.airspace, max_agl_m=max_agl_m, name="the WPML route")
    xyz = np.column_stack([xy, path[:, 2]])
    check_clearance(xyz, air.truth, name="the WPML route")
    length = float(np.sum(np.linalg.norm(np.diff(xyz, axis=0), axis=1)))
    return RouteReport(dock.id, float(np.max(agl)), length, len(line.waypoints))


def check_kmz(
    source: str | Path | bytes,
    sites: Sites,
    *,
    dock_id: str | None = None,
    geoid_grid: Path | None = None,
    **options: Any,
) -> tuple[Wayline, RouteReport]:
    """Read a WPML KMZ and :func:`check_wayline` it from its dock (``dock_id``, else the
    one nearest its first waypoint); ``options`` are :func:`check_wayline`'s.

    Its heights are above that dock's ``ground_alt_m``; a route in WGS84 ellipsoid
    heights goes through ``geoid_grid``, else an EGM96 grid PROJ has
    (:func:`find_egm96_grid`).
    """
    dock = take_off_dock(sites, *first_position(source), dock_id)
    grid = geoid_grid or find_egm96_grid()
    line = wayline_from_kmz(
        source, takeoff_amsl_m=dock.ground_alt_m, geoid=Geoid(grid) if grid else None
    )
    return line, check_wayline(line, sites, dock_id=dock.id, **options)


def _check_time(line: Wayline, path: NDArray[np.float64], aircraft: Aircraft, dock: Dock) -> None:
    allowed = aircraft.usable_endurance_s
    needed = flight_time_s(line, path, aircraft)
    if needed > allowed:
        raise RangeError(
            f"the WPML route takes {needed / 60:.0f} min from dock {dock.id} and back, over the "
            f"{allowed / 60:.0f} min the aircraft may fly (endurance less reserve)"
        )


def _dense(path: NDArray[np.float64]) -> NDArray[np.float64]:
    """The path with points at most ``CEILING_STEP_M`` apart along the ground (lon, lat, AMSL)."""
    out = [path[0]]
    for a, b in itertools.pairwise(path):
        n = max(1, math.ceil(distance_m(a[1], a[0], b[1], b[0]) / CEILING_STEP_M))
        out += [a + (b - a) * (k / n) for k in range(1, n + 1)]
    return np.array(out)
