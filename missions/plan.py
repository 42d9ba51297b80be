"""Plan a whole patrol: from a zone's sites to one ArduPilot mission per sortie.

This is the planner's front door (:func:`plan_patrol`). It projects the zone
into a local metric frame, lays out each requested pattern (survey, stack
orbit, corridor, perimeter) around the no-fly areas, orders the tasks into
sorties with OR-Tools, builds the mission items with geofence and rally
points, and checks every sortie again before returning it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import shapely
from shapely.geometry import LineString, Point, Polygon

from missions.airspace import Airspace, Zone
from missions.camera import Aircraft, Camera, get_camera
from missions.corridor import plan_corridor
from missions.errors import (
    AltitudeLimitError,
    CapacityError,
    InfeasibleError,
    InvalidProfileError,
    InvalidSiteError,
    NoFlyViolationError,
    RangeError,
)
from missions.geo import LocalFrame
from missions.geofence import fence_items, rally_items
from missions.items import Mission
from missions.orbit import plan_orbit
from missions.path import Leg, Task, fit_trigger, polyline_length
from missions.perimeter import plan_perimeter
from missions.routing import DockSpec, RoutingProblem, SortiePlan, fit_tasks
from missions.safety import DEFAULT_MAX_AGL_M, check_capacity, check_path
from missions.sites import Dock, Enterprise, River, Sites, Stack
from missions.sortie import BuiltSortie, PhotoPoint, build_sortie
from missions.survey import plan_survey
from missions.terrain import Terrain

logger = logging.getLogger(__name__)

PATTERNS = ("survey", "orbit", "corridor", "perimeter")
DEFAULT_PATTERNS = ("survey", "orbit", "corridor")
DEFAULT_ALTITUDE_M = 60.0
FENCE_MARGIN_M = 100.0
MIN_ORBIT_AGL_M = 15.0
DOCK_DEM_TOLERANCE_M = 5.0


@dataclass(frozen=True, slots=True)
class PlannedObstacle:
    """An obstacle as the plan kept clear of it (outline in lon/lat, altitudes AMSL).

    ``roof_amsl_m`` is the lowest altitude allowed within ``horizontal_m`` of
    the outline; ``overflown`` is False for an obstacle too tall to climb over
    under the ceiling, which every route goes around (and the fence excludes).
    """

    id: str
    kind: str  # "stack" | "obstacle" | "no_fly" (a no-fly area with a ceiling)
    label: str
    outline: Polygon
    height_m: float
    base_amsl_m: float
    top_amsl_m: float
    roof_amsl_m: float
    horizontal_m: float
    overflown: bool


@dataclass(frozen=True, slots=True)
class Clearance:
    """A sortie's tightest approach to any obstacle: the 3-D distance to its solid."""

    distance_m: float
    obstacle_id: str
    lat: float
    lon: float
    alt_amsl_m: float


@dataclass(frozen=True)
class Sortie:
    """One flight from a dock and back, ready to export or upload."""

    number: int
    dock: Dock
    drone: int
    mission: Mission
    photo_points: tuple[PhotoPoint, ...]
    length_m: float
    duration_s: float
    targets: tuple[str, ...]
    tasks: tuple[str, ...]
    route: np.ndarray  # (N, 3) lon, lat, altitude in the mission's frame, as flown
    camera_legs: tuple[tuple[str, str, np.ndarray], ...]  # (target, pattern, (K, 2) lon/lat)
    clearance: Clearance | None = None  # None: no obstacle in the zone

    @property
    def home(self) -> tuple[float, float, float]:
        """(lat, lon, ground altitude AMSL) of the dock the sortie starts from."""
        return self.dock.lat, self.dock.lon, self.dock.ground_alt_m

    @property
    def photo_count(self) -> int:
        return len(self.photo_points)


@dataclass(frozen=True)
class Patrol:
    """Every sortie of a patrol, with the settings it was planned with."""

    sorties: tuple[Sortie, ...]
    camera: Camera
    aircraft: Aircraft
    altitude_m: float
    gsd_cm: float
    footprint_m: tuple[float, float]
    lane_spacing_m: float
    trigger_distance_m: float
    fence_inclusion: tuple[tuple[float, float], ...]  # (lat, lon) ring
    fence_exclusions: tuple[tuple[str, tuple[tuple[float, float], ...]], ...]
    refused: dict[str, str] = field(default_factory=dict)
    terrain_following: bool = False
    routed_length_m: float = 0.0
    baseline_length_m: float | None = None
    obstacles: tuple[PlannedObstacle, ...] = ()
    left_out: dict[str, str] = field(default_factory=dict)  # part of a target -> why

    @property
    def length_m(self) -> float:
        return sum(s.length_m for s in self.sorties)

    @property
    def duration_s(self) -> float:
        return sum(s.duration_s for s in self.sorties)

    @property
    def photo_count(self) -> int:
        return sum(s.photo_count for s in self.sorties)

    @property
    def makespan_s(self) -> float:
        """Flight time of the busiest drone: the patrol's duration when drones fly in parallel."""
        busy: dict[tuple[str, int], float] = {}
        for s in self.sorties:
            busy[(s.dock.id, s.drone)] = busy.get((s.dock.id, s.drone), 0.0) + s.duration_s
        return max(busy.values(), default=0.0)


def plan_patrol(
    sites: Sites,
    *,
    targets: Sequence[str] | None = None,
    camera: Camera | str = "wide-20mp",
    aircraft: Aircraft | None = None,
    altitude_m: float | None = None,
    gsd_cm: float | None = None,
    front_overlap: float = 0.8,
    side_overlap: float = 0.7,
    angle_deg: float | None = None,
    turnaround_m: float = 10.0,
    patterns: Collection[str] = DEFAULT_PATTERNS,
    orbit_offsets_m: Sequence[float] = (10.0,),
    dem: Terrain | str | Path | None = None,
    max_agl_m: float = DEFAULT_MAX_AGL_M,
    no_fly_margin_m: float = 15.0,
    time_limit_s: float = 1.0,
    compare_baseline: bool = False,
    end: Literal["rtl", "land"] = "rtl",
) -> Patrol:
    """Plan sorties covering ``targets`` (default: every enterprise and river).

    Parameters
    ----------
    sites : Sites
        The zone, from :func:`missions.sites.load_sites`.
    targets : sequence of str, optional
        Enterprise and river ids. Given explicitly, any target that cannot be
        flown safely is an error; by default such targets are skipped and
        listed in ``Patrol.refused`` with the reason.
    camera : Camera or preset name
    altitude_m, gsd_cm : float, optional
        Survey height above ground, or the ground sample distance to reach
        (not both); default 60 m.
    front_overlap, side_overlap : float, 0..1
    angle_deg : float, optional
        Survey lane direction from north; None picks the fewest-turn angle per site.
    patterns : collection of str
        Among ``survey``, ``orbit``, ``corridor`` (rivers) and ``perimeter``.
    orbit_offsets_m : sequence of float
        One orbit ring per entry, at the stack's top plus this (negative: a
        ring below the top, looking at the stack's side); each ring at least
        ``MIN_ORBIT_AGL_M`` above ground.
    dem : Terrain or path, optional
        A DEM GeoTIFF; with it altitudes are AMSL and follow the terrain.
    max_agl_m : float
        Ceiling above ground no waypoint may exceed (120 m by default).
    time_limit_s : float
        Time the routing solver may spend improving the sorties.
    compare_baseline : bool
        Also order the tasks greedily (nearest neighbour) and report that
        length in ``Patrol.baseline_length_m``, beside ``routed_length_m``
        from the same routing model.
    end : "rtl" or "land"
        Finish each sortie above its dock with RETURN_TO_LAUNCH (which also
        honours rally points) or with NAV_LAND on the dock.
    """
    cam = get_camera(camera) if isinstance(camera, str) else camera
    craft = aircraft or Aircraft()
    unknown = set(patterns) - set(PATTERNS)
    if unknown:
        raise InvalidProfileError(
            f"unknown pattern(s) {', '.join(sorted(unknown))} (known: {', '.join(PATTERNS)})"
        )
    altitude = _altitude(cam, altitude_m, gsd_cm, max_agl_m)
    if not sites.docks:
        raise InvalidSiteError("the sites have no dock to fly from")
    terrain = Terrain(dem) if isinstance(dem, str | Path) else dem
    explicit = targets is not None
    ids = list(targets) if targets is not None else list(sites.targets)
    chosen = [sites.target(t) for t in ids]
    if not chosen:
        raise InvalidSiteError("no targets to plan")

    frame = _frame(sites)
    airspace = Airspace(
        [Zone(z.id, z.reason, frame.to_local(z.area)) for z in sites.no_fly],
        margin_m=no_fly_margin_m,
    )
    docks = [DockSpec(d.id, frame.xy(d.lon, d.lat), d.drones) for d in sites.docks]
    for dock in docks:
        if not airspace.keep_out.is_empty and airspace.keep_out.covers(Point(dock.xy)):
            zone = airspace.zone_at(dock.xy)
            where = f"no-fly area {zone.id!r}" if zone else "a no-fly margin"
            raise NoFlyViolationError(f"dock {dock.id!r} lies in {where}")

    if terrain is not None:
        ground = terrain.elevation(
            np.array([d.lon for d in sites.docks]), np.array([d.lat for d in sites.docks])
        )
        for site_dock, dem_alt in zip(sites.docks, ground, strict=True):
            if abs(site_dock.ground_alt_m - dem_alt) > DOCK_DEM_TOLERANCE_M:
                logger.warning(
                    "dock %s: ground_alt_m %.1f m differs from the DEM's %.1f m; waypoint "
                    "altitudes follow the DEM",
                    site_dock.id,
                    site_dock.ground_alt_m,
                    dem_alt,
                )

    footprint = cam.footprint_m(altitude)
    spacing = cam.lane_spacing_m(altitude, side_overlap)
    trigger = cam.trigger_distance_m(altitude, front_overlap)
    speed = _survey_speed(cam, craft, trigger)

    tasks: list[Task] = []
    refused: dict[str, str] = {}
    for target in chosen:
        try:
            if isinstance(target, Enterprise):
                tasks.extend(
                    _enterprise_tasks(
                        target,
                        frame=frame,
                        airspace=airspace,
                        camera=cam,
                        altitude_m=altitude,
                        spacing_m=spacing,
                        trigger_m=trigger,
                        speed_m_s=speed,
                        angle_deg=angle_deg,
                        turnaround_m=turnaround_m,
                        patterns=patterns,
                        orbit_offsets_m=orbit_offsets_m,
                        max_agl_m=max_agl_m,
                        craft=craft,
                        refused=None if explicit else refused,
                    )
                )
            elif "corridor" in patterns:
                tasks.extend(
                    _river_tasks(
                        target,
                        frame=frame,
                        airspace=airspace,
                        footprint_m=footprint[0],
                        spacing_m=spacing,
                        trigger_m=trigger,
                        altitude_m=altitude,
                        speed_m_s=speed,
                        turnaround_m=turnaround_m,
                    )
                )
        except InfeasibleError as exc:
            if explicit:
                raise
            refused[target.id] = str(exc)
            logger.warning("skipping %s: %s", target.id, exc)
    tasks = fit_tasks(
        tasks,
        docks,
        airspace=airspace,
        aircraft=craft,
        altitude_m=altitude,
        refused=None if explicit else refused,
    )
    if not tasks:
        reasons = "; ".join(refused.values()) or "nothing to fly"
        raise InfeasibleError(f"no target can be planned ({reasons})")
    problem = RoutingProblem(tasks, docks, airspace=airspace, aircraft=craft, altitude_m=altitude)
    unfit = problem.unfit()
    if unfit and not explicit:
        for k, reason in unfit.items():
            refused[tasks[k].label or tasks[k].target_id] = reason
            logger.warning("leaving out %s", reason)
        tasks = [t for k, t in enumerate(tasks) if k not in unfit]
        if not tasks:
            raise InfeasibleError("no target can be planned (" + "; ".join(unfit.values()) + ")")
        problem = RoutingProblem(
            tasks, docks, airspace=airspace, aircraft=craft, altitude_m=altitude
        )
    # the routing model estimates; the built missions are the truth: tighten and re-route
    capacity, margin = craft.mission_capacity, 1.0
    for _ in range(5):
        routes = problem.solve(
            time_limit_s=time_limit_s, item_capacity=capacity, time_margin=margin
        )
        built = [
            build_sortie(
                list(plan.tasks),
                home_xy=docks[plan.dock].xy,
                home_alt_m=sites.docks[plan.dock].ground_alt_m,
                frame=frame,
                airspace=airspace,
                aircraft=craft,
                terrain=terrain,
                name=f"sortie-{k + 1}",
                end=end,
            )
            for k, plan in enumerate(routes.sorties)
        ]
        worst = max(len(b.mission.items) for b in built)
        longest = max(b.duration_s for b in built)
        if worst <= craft.mission_capacity and longest <= craft.usable_endurance_s:
            break
        if worst > craft.mission_capacity:
            capacity -= worst - craft.mission_capacity + 10
            logger.info("a sortie needs %d items; re-routing with capacity %d", worst, capacity)
        if longest > craft.usable_endurance_s:
            margin *= 0.98 * craft.usable_endurance_s / longest
            logger.info(
                "a sortie lasts %.0f s; re-routing with %.0f%% of the budget", longest, 100 * margin
            )
    else:
        if worst > craft.mission_capacity:
            raise CapacityError("cannot split the patrol into sorties within the item capacity")
        raise RangeError(
            f"cannot split the patrol into sorties within the usable endurance "
            f"({craft.usable_endurance_s / 60:.0f} min)"
        )

    baseline = None
    if compare_baseline:
        baseline = problem.nearest_neighbour().length_m
    inclusion_local = _operating_area(sites, frame, [b.path for b in built])
    inclusion = _ring(frame.to_geo(inclusion_local))
    exclusions = tuple(
        (z.id, _ring(z.area.simplify(1e-6, preserve_topology=True))) for z in sites.no_fly
    )
    fence = fence_items([(True, inclusion), *((False, ring) for _, ring in exclusions)])
    rally = rally_items([(d.lat, d.lon, altitude) for d in sites.docks])

    sorties = []
    drones = _assign_drones(routes.sorties, built, sites.docks)
    for k, (plan, b) in enumerate(zip(routes.sorties, built, strict=True)):
        name = f"sortie-{k + 1}"
        mission = replace(b.mission, fence=fence, rally=rally, name=name)
        check_capacity(mission, craft.mission_capacity, name=name)
        check_path(
            b.path, airspace=airspace, max_agl_m=max_agl_m, inclusion=inclusion_local, name=name
        )
        site_dock = sites.docks[plan.dock]
        lonlat = frame.lonlat(b.path[:, :2])
        alts = b.path[:, 2].copy()
        if terrain is not None:
            alts += terrain.elevation(lonlat[:, 0], lonlat[:, 1])
        route = np.column_stack([lonlat, alts])
        legs = tuple((t, p, frame.lonlat(pts)) for t, p, pts in b.legs)
        sorties.append(
            Sortie(
                number=k + 1,
                dock=site_dock,
                drone=drones[k],
                mission=mission,
                photo_points=b.photo_points,
                length_m=b.length_m,
                duration_s=b.duration_s,
                targets=tuple(dict.fromkeys(t.target_id for t in plan.tasks)),
                tasks=tuple(t.label or f"{t.pattern} {t.target_id}" for t in plan.tasks),
                route=route,
                camera_legs=legs,
            )
        )
        logger.info(
            "%s from %s: %.0f m, %.0f s, %d photos, %d items",
            name,
            site_dock.id,
            b.length_m,
            b.duration_s,
            len(b.photo_points),
            len(mission.items),
        )
    return Patrol(
        sorties=tuple(sorties),
        camera=cam,
        aircraft=craft,
        altitude_m=altitude,
        gsd_cm=cam.gsd_cm(altitude),
        footprint_m=footprint,
        lane_spacing_m=spacing,
        trigger_distance_m=trigger,
        fence_inclusion=inclusion,
        fence_exclusions=exclusions,
        refused=refused,
        terrain_following=terrain is not None,
        routed_length_m=routes.length_m,
        baseline_length_m=baseline,
    )


def _assign_drones(
    plans: Sequence[SortiePlan], built: Sequence[BuiltSortie], docks: Sequence[Dock]
) -> list[int]:
    """Drone number (1-based, per dock) for each sortie, longest first to the least busy.

    The LPT rule keeps the busiest drone's total flight time within 4/3 of
    the best possible split.
    """
    drone = [1] * len(plans)
    busy = {d: [0.0] * docks[d].drones for d in range(len(docks))}
    for k in sorted(range(len(plans)), key=lambda k: -built[k].duration_s):
        loads = busy[plans[k].dock]
        pick = loads.index(min(loads))
        loads[pick] += built[k].duration_s
        drone[k] = pick + 1
    return drone


def _altitude(
    cam: Camera, altitude_m: float | None, gsd_cm: float | None, max_agl_m: float
) -> float:
    if altitude_m is not None and gsd_cm is not None:
        raise InvalidProfileError("give either altitude_m or gsd_cm, not both")
    if gsd_cm is not None:
        altitude = cam.altitude_for_gsd(gsd_cm)
    else:
        altitude = DEFAULT_ALTITUDE_M if altitude_m is None else altitude_m
    if not math.isfinite(altitude) or altitude < 5:
        raise InvalidProfileError(f"survey altitude {altitude:.1f} m is below 5 m above ground")
    if altitude > max_agl_m:
        raise AltitudeLimitError(
            f"survey altitude {altitude:.1f} m is above the {max_agl_m:.0f} m ceiling"
            + (f" (needed for {gsd_cm} cm/px with {cam.name})" if gsd_cm is not None else "")
        )
    return round(altitude, 2)


def _survey_speed(cam: Camera, craft: Aircraft, trigger_m: float) -> float:
    """Fastest survey speed at which the camera can keep up with the trigger distance."""
    limit = trigger_m / cam.min_trigger_interval_s if cam.min_trigger_interval_s > 0 else math.inf
    return max(1.0, math.floor(min(craft.max_survey_speed_m_s, limit) * 10) / 10)


def _frame(sites: Sites) -> LocalFrame:
    geoms = [e.boundary for e in sites.enterprises] + [r.centerline for r in sites.rivers]
    geoms += [Point(d.lon, d.lat) for d in sites.docks]
    c = shapely.GeometryCollection(geoms).envelope.centroid
    return LocalFrame(c.x, c.y)


def _enterprise_tasks(
    site: Enterprise,
    *,
    frame: LocalFrame,
    airspace: Airspace,
    camera: Camera,
    altitude_m: float,
    spacing_m: float,
    trigger_m: float,
    speed_m_s: float,
    angle_deg: float | None,
    turnaround_m: float,
    patterns: Collection[str],
    orbit_offsets_m: Sequence[float],
    max_agl_m: float,
    craft: Aircraft,
    refused: dict[str, str] | None,
) -> list[Task]:
    """Survey, perimeter and stack orbits of one enterprise.

    A stack orbit that cannot be flown is raised when ``refused`` is None (the
    caller asked for this target) and otherwise recorded there and skipped.
    """
    boundary = frame.to_local(site.boundary)
    area = boundary.difference(airspace.keep_out) if not airspace.keep_out.is_empty else boundary
    tasks: list[Task] = []
    if area.area < 1e-3 * boundary.area:
        zone = airspace.zone_at((boundary.centroid.x, boundary.centroid.y))
        where = f"no-fly area {zone.id!r} ({zone.reason})" if zone else "no-fly areas"
        raise NoFlyViolationError(f"{site.id} lies inside {where}")
    if area.area < boundary.area * 0.999:
        logger.warning(
            "%s: %.0f%% of the site is in a no-fly margin and is not surveyed",
            site.id,
            100 * (1 - area.area / boundary.area),
        )
    if "survey" in patterns:
        legs = plan_survey(
            area,
            spacing_m=spacing_m,
            trigger_m=trigger_m,
            altitude_m=altitude_m,
            angle_deg=angle_deg,
            turnaround_m=turnaround_m,
            footprint_m=camera.footprint_m(altitude_m),
        )
        legs = [_trim_leads(leg, airspace) for leg in legs]
        tasks.append(Task(site.id, "survey", tuple(legs), speed_m_s, f"survey {site.id}"))
    if "perimeter" in patterns:
        legs = [
            piece
            for leg in plan_perimeter(boundary, trigger_m=trigger_m, altitude_m=altitude_m)
            for piece in _clip_leg(leg, airspace, trigger_m)
        ]
        if legs:
            tasks.append(Task(site.id, "perimeter", tuple(legs), speed_m_s, f"perimeter {site.id}"))
    if "orbit" in patterns:
        for stack in site.stacks:
            try:
                legs = _stack_orbit(
                    site,
                    stack,
                    frame=frame,
                    airspace=airspace,
                    camera=camera,
                    altitudes_m=[stack.height_m + offset for offset in orbit_offsets_m],
                    max_agl_m=max_agl_m,
                )
            except InfeasibleError as exc:
                if refused is None:
                    raise
                refused[stack.id] = str(exc)
                logger.warning("skipping the orbit of %s: %s", stack.id, exc)
                continue
            ring_trigger = legs[0].trigger_m or 1.0
            orbit_speed = min(
                craft.max_survey_speed_m_s, ring_trigger / max(camera.min_trigger_interval_s, 0.1)
            )
            tasks.append(
                Task(
                    site.id,
                    "orbit",
                    tuple(legs),
                    max(1.0, math.floor(orbit_speed * 10) / 10),
                    f"orbit {stack.id}",
                    reversible=False,
                )
            )
    return tasks


def _stack_orbit(
    site: Enterprise,
    stack: Stack,
    *,
    frame: LocalFrame,
    airspace: Airspace,
    camera: Camera,
    altitudes_m: Sequence[float],
    max_agl_m: float,
) -> list[Leg]:
    """The orbit rings of one stack, refused if too high, too low or too near a no-fly area."""
    for altitude_m in altitudes_m:
        if altitude_m > max_agl_m:
            raise AltitudeLimitError(
                f"{site.id}: orbit of stack {stack.id} ({stack.height_m:.0f} m) needs "
                f"{altitude_m:.0f} m, above the {max_agl_m:.0f} m ceiling"
            )
        if altitude_m < MIN_ORBIT_AGL_M:
            raise AltitudeLimitError(
                f"{site.id}: orbit of stack {stack.id} at {altitude_m:.0f} m is below the "
                f"{MIN_ORBIT_AGL_M:.0f} m floor over buildings"
            )
    center = frame.xy(stack.lon, stack.lat)
    # start on the side facing the site's middle, where its survey is flown
    middle = frame.to_local(site.boundary).centroid
    dx, dy = middle.x - center[0], middle.y - center[1]
    bearing = math.degrees(math.atan2(dx, dy)) if math.hypot(dx, dy) > 1 else 0.0
    legs = plan_orbit(
        center,
        stack_height_m=stack.height_m,
        camera=camera,
        altitudes_m=altitudes_m,
        start_bearing_deg=round(bearing, 1),
    )
    for leg in legs:
        ring = LineString(leg.points)
        if not airspace.keep_out.is_empty and ring.intersects(airspace.keep_out):
            zone = next(
                (z for z in airspace.zones if ring.distance(z.area) < airspace.margin_m), None
            )
            where = f"no-fly area {zone.id!r} ({zone.reason})" if zone else "a no-fly area"
            raise NoFlyViolationError(
                f"{site.id}: the orbit of stack {stack.id} would come within "
                f"{airspace.margin_m:.0f} m of {where}"
            )
    return legs


def _river_tasks(
    river: River,
    *,
    frame: LocalFrame,
    airspace: Airspace,
    footprint_m: float,
    spacing_m: float,
    trigger_m: float,
    altitude_m: float,
    speed_m_s: float,
    turnaround_m: float,
) -> list[Task]:
    line = frame.to_local(river.centerline)
    legs = plan_corridor(
        line,
        width_m=river.width_m,
        footprint_m=footprint_m,
        spacing_m=spacing_m,
        trigger_m=trigger_m,
        altitude_m=altitude_m,
        turnaround_m=turnaround_m,
    )
    pieces = [piece for leg in legs for piece in _clip_leg(leg, airspace, trigger_m)]
    if not pieces:
        zone = airspace.zone_at((line.centroid.x, line.centroid.y))
        where = f"no-fly area {zone.id!r} ({zone.reason})" if zone else "no-fly areas"
        raise NoFlyViolationError(f"{river.id} lies inside {where}")
    return [Task(river.id, "corridor", tuple(pieces), speed_m_s, f"corridor {river.id}")]


def _clip_leg(leg: Leg, airspace: Airspace, trigger_m: float) -> list[Leg]:
    """The parts of a camera leg outside the keep-out areas, in flying order."""
    if airspace.keep_out.is_empty:
        return [leg]
    line = LineString(leg.points)
    if not line.intersects(airspace.keep_out):
        return [_trim_leads(leg, airspace)]
    rest = line.difference(airspace.keep_out)
    parts = [p for p in shapely.get_parts(rest) if isinstance(p, LineString) and p.length > 1.0]
    parts.sort(key=lambda p: line.project(Point(p.coords[0])))
    out = []
    for k, part in enumerate(parts):
        pts = np.asarray(part.coords)[:, :2]
        piece = replace(
            leg,
            points=pts,
            trigger_m=fit_trigger(polyline_length(pts), trigger_m),
            lead_in=leg.lead_in if k == 0 else None,
            lead_out=leg.lead_out if k == len(parts) - 1 else None,
        )
        out.append(_trim_leads(piece, airspace))
    return out


def _trim_leads(leg: Leg, airspace: Airspace) -> Leg:
    """Drop turnarounds that would cut into a no-fly margin."""
    first = (float(leg.points[0, 0]), float(leg.points[0, 1]))
    last = (float(leg.points[-1, 0]), float(leg.points[-1, 1]))
    lead_in, lead_out = leg.lead_in, leg.lead_out
    if lead_in is not None and airspace.blocked(lead_in, first):
        lead_in = None
    if lead_out is not None and airspace.blocked(last, lead_out):
        lead_out = None
    if (lead_in, lead_out) == (leg.lead_in, leg.lead_out):
        return leg
    return replace(leg, lead_in=lead_in, lead_out=lead_out)


def _operating_area(sites: Sites, frame: LocalFrame, paths: list[np.ndarray]) -> Polygon:
    """The geofence inclusion: hull of the zone, the docks and every route, plus a margin."""
    geoms: list[shapely.Geometry] = [frame.to_local(e.boundary) for e in sites.enterprises]
    geoms += [frame.to_local(r.centerline) for r in sites.rivers]
    geoms += [Point(frame.xy(d.lon, d.lat)) for d in sites.docks]
    geoms += [shapely.multipoints(p[:, :2]) for p in paths if len(p)]
    hull = shapely.GeometryCollection(geoms).convex_hull
    grown = hull.buffer(FENCE_MARGIN_M, quad_segs=2).simplify(5.0)
    assert isinstance(grown, Polygon)
    return grown


def _ring(poly: Polygon) -> tuple[tuple[float, float], ...]:
    """A polygon's exterior as (lat, lon) vertices, not closed."""
    coords = np.asarray(poly.exterior.coords)[:-1]
    return tuple((round(float(lat), 7), round(float(lon), 7)) for lon, lat in coords[:, :2])
