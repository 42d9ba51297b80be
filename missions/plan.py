"""Plan a whole patrol: from a zone's sites to one ArduPilot mission per sortie.

This is the planner's front door (:func:`plan_patrol`). It projects the zone
into a local metric frame, lays out each requested pattern (survey, stack
orbit, corridor, perimeter) and any gas transects around the no-fly areas,
orders the tasks into sorties with OR-Tools, builds the mission items with geofence and rally
points, and checks every sortie again before returning it.
"""

from __future__ import annotations

import itertools
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
    ClearanceError,
    InfeasibleError,
    InvalidProfileError,
    NoFlyViolationError,
    RangeError,
)
from missions.geo import LocalFrame
from missions.geofence import fence_items, rally_items
from missions.items import Mission
from missions.orbit import plan_orbit
from missions.path import Leg, Task, fit_trigger, polyline_length
from missions.perimeter import plan_perimeter
from missions.routing import DockSpec, RoutingProblem, RoutingResult, SortiePlan, fit_tasks
from missions.safety import (
    DEFAULT_MAX_AGL_M,
    check_capacity,
    check_clearance,
    check_failsafe,
    check_path,
    min_clearance,
)
from missions.sortie import BuiltSortie, PhotoPoint, build_sortie
from missions.survey import plan_survey
from missions.terrain import Terrain
from zone.errors import InvalidSiteError
from zone.ground import Ground, SurveyedGround
from zone.obstacles import ClearanceRule, Obstacles, Volume, outline_volume, stack_volume
from zone.sites import Dock, Enterprise, River, Sites, Stack

logger = logging.getLogger(__name__)

PATTERNS = ("survey", "orbit", "corridor", "perimeter")
DEFAULT_PATTERNS = ("survey", "orbit", "corridor")
DEFAULT_ALTITUDE_M = 60.0
FENCE_MARGIN_M = 100.0
MIN_ORBIT_AGL_M = 15.0
DOCK_DEM_TOLERANCE_M = 5.0
#: A fence ring: (lat, lon) vertices, not closed.
Ring = tuple[tuple[float, float], ...]
#: Extra room every planned path keeps beyond the clearance rule (metres, both
#: ways), for the autopilot's rounded corners and float32 positions.
PLAN_PAD_M = 1.0
#: How far an orbit ring may widen to keep clear of a neighbouring obstacle.
ORBIT_MAX_WIDEN = 2.0
#: The lowest failsafe return altitude above home.
MIN_RTL_ALT_M = 30.0
#: The fence's ceiling above the highest point the plan or its return flies.
FENCE_ALT_MARGIN_M = 10.0
#: ArduPilot AC_Fence FENCE_TYPE bits and AP_OAPathPlanner's OA_TYPE.
FENCE_TYPE_ALT_MAX = 1
FENCE_TYPE_POLYGON = 4
OA_TYPE_DIJKSTRA = 2
#: OA_MARGIN_MAX: how far ArduPilot's Dijkstra keeps from the fence's exclusions
#: (measured in SITL: 2 m let a GUIDED detour pass 0.1 m from a no-fly edge, 10 m
#: kept 6.5 m); routes round obstacles keep this much (and a metre) more, so a
#: failsafe return never starts inside the margin.
OA_MARGIN_M = 10.0
#: OA_OPTIONS: bit 0 reset the planner on a new destination, bit 2 "fast
#: waypoints" (without it the vehicle brakes at every waypoint for the 1 Hz OA
#: thread: +50 % flight time on sortie 1 in SITL).
OA_OPTIONS = 5
#: GUID_OPTIONS bit 6: GUIDED goes round fence exclusions with the OA planner
#: (without it, it flies straight in, and the breach RTL then holds inside).
GUID_OPTIONS_WP_NAV_OA = 64
#: FS_GCS_TIMEOUT by default: a cellular link's drop-outs (handovers, dead spots) of
#: up to two minutes are flown through on the checked mission; after that the
#: ground station's loss is a failsafe and the vehicle returns (FS_GCS_ENABLE 1:
#: RTL, whose path the plan checks). ``plan_patrol(gcs_loss_return_s=)`` sets it
#: within ArduCopter's range for the parameter (Parameters.cpp: 2 to 120 s).
GCS_LOSS_RETURN_S = 120.0
GCS_LOSS_RETURN_RANGE_S = (2.0, 120.0)
#: A gas transect's speed: the SITL gas test's (readings every 2 m at 4 Hz), at most
#: the aircraft's survey speed.
TRANSECT_SPEED_M_S = 8.0


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


@dataclass(frozen=True, slots=True)
class Transect:
    """A straight line flown across a plume with the camera off, for a gas sensor.

    ``line`` is in WGS 84 lon/lat (the planner projects it with its own frame);
    ``height_m`` is above the ground under each point; ``source_id`` names the
    stack (or enterprise) whose plume it crosses, ``target_id`` the enterprise
    it belongs to; ``downwind_m`` is its distance downwind of that source.
    Flown either way along the line, with a lead-in and a lead-out on its
    extension so the vehicle is straight and at speed over the whole line.
    """

    id: str
    line: LineString
    height_m: float
    source_id: str
    target_id: str
    downwind_m: float

    @property
    def label(self) -> str:
        return f"transect {self.source_id} {self.downwind_m:.0f} m"


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
    # (target, pattern, (K, 2) lon/lat); gas transects too (pattern "transect", camera off)
    camera_legs: tuple[tuple[str, str, np.ndarray], ...]
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


@dataclass(frozen=True)
class ZoneAir:
    """The zone's physical world in the planner's local frame.

    ``obstacles`` are padded by ``PLAN_PAD_M`` for building routes; ``truth``
    holds the same volumes at the rule itself, for checks and reports.
    """

    frame: LocalFrame
    ground: Ground
    amsl_frame: bool
    airspace: Airspace
    obstacles: Obstacles
    truth: Obstacles
    tall: tuple[Volume, ...]  # too tall to overfly: kept out of in 2-D and fenced off
    planned: tuple[PlannedObstacle, ...]
    lowest_ground_m: float
    highest_amsl_m: float  # the highest any path may fly (ceiling over the lowest ground)

    def ground_xy(self, xy: np.ndarray) -> np.ndarray:
        lonlat = self.frame.lonlat(xy)
        return self.ground.elevation(lonlat[:, 0], lonlat[:, 1])


@dataclass(frozen=True)
class _Layout:
    """How the patterns are laid out over each target."""

    angle_deg: float | None
    turnaround_m: float
    patterns: Collection[str]
    orbit_offsets_m: Sequence[float]
    max_agl_m: float


@dataclass(frozen=True)
class _Settings:
    camera: Camera
    aircraft: Aircraft
    altitude_m: float
    spacing_m: float
    trigger_m: float
    speed_m_s: float


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
    clearance: ClearanceRule | None = None,
    time_limit_s: float = 10.0,
    compare_baseline: bool = False,
    end: Literal["rtl", "land"] = "rtl",
    gcs_loss_return_s: float = GCS_LOSS_RETURN_S,
    transects: Sequence[Transect] = (),
    fly_from: Collection[str] | None = None,
    skip_unflyable: bool | None = None,
) -> Patrol:
    """Plan sorties covering ``targets`` (default: every enterprise and river).

    Parameters
    ----------
    sites : Sites
        The zone, from :func:`zone.sites.load_sites`.
    targets : sequence of str, optional
        Enterprise and river ids. Given explicitly, any target that cannot be
        flown safely is an error; by default such targets are skipped and
        listed in ``Patrol.refused`` with the reason.
    camera : Camera or preset name
    altitude_m, gsd_cm : float, optional
        Survey height above the ground under the aircraft, or the ground
        sample distance to reach (not both); default 60 m.
    front_overlap, side_overlap : float, 0..1
    angle_deg : float, optional
        Survey lane direction from grid north (the local UTM frame's y axis);
        None picks the fewest-turn angle per site.
    patterns : collection of str
        Among ``survey``, ``orbit``, ``corridor`` (rivers) and ``perimeter``.
    orbit_offsets_m : sequence of float
        One orbit ring per entry, at the stack's top plus this (negative: a
        ring below the top, looking at the stack's side), measured from the
        stack's base; each ring at least ``MIN_ORBIT_AGL_M`` above ground.
    dem : Terrain or path, optional
        A DEM GeoTIFF; with it altitudes are AMSL. Without it the ground is
        the zone's own surveyed altitudes (docks, ``ground_alt_m``).
    max_agl_m : float
        Ceiling above the ground under the aircraft (120 m by default).
    clearance : ClearanceRule, optional
        How far every path, the failsafe return included, keeps from every
        obstacle (default: 15 m from its edge, or 10 m over its top, 20 m over
        a working stack's mouth).
    time_limit_s : float
        The most time the routing solver may spend improving the sorties: it stops
        sooner, after ``missions.routing.SOLUTION_LIMIT`` solutions, so a zone plans
        the same on any machine unless it is too large to get there in time.
    compare_baseline : bool
        Also order the tasks greedily (nearest neighbour) and report that
        length in ``Patrol.baseline_length_m``, beside ``routed_length_m``
        from the same routing model.
    end : "rtl" or "land"
        Finish each sortie above its dock with RETURN_TO_LAUNCH (which also
        honours rally points) or with NAV_LAND on the dock.
    gcs_loss_return_s : float
        How long the vehicle flies its mission on without hearing the ground
        station before it returns (FS_GCS_TIMEOUT, 2 to 120 s): long enough
        for a cellular link's dead spots, short enough to come home soon when
        the link is gone for good.
    transects : sequence of Transect
        Gas transects to fly besides the patterns (task ``"transect"``, camera
        off), clipped to the airspace and lifted over obstacles like any leg.
    fly_from : collection of str, optional
        The ids of the docks sorties may take off from (default: every dock).
        The other docks stay in the zone: their surveyed ground altitudes
        are part of the ground, and they stay rally points.
    skip_unflyable : bool, optional
        Leave out (and list in ``Patrol.refused``) what cannot be flown safely
        instead of raising; by default only when ``targets`` is not given.
    """
    low, high = GCS_LOSS_RETURN_RANGE_S
    if not low <= gcs_loss_return_s <= high:
        raise InvalidProfileError(
            f"the ground station loss time before returning must be {low:g} to {high:g} s "
            f"(ArduCopter's FS_GCS_TIMEOUT), got {gcs_loss_return_s:g}"
        )
    settings = _settings(
        camera, aircraft, altitude_m, gsd_cm, max_agl_m, front_overlap, side_overlap, patterns
    )
    if not sites.docks:
        raise InvalidSiteError("the sites have no dock to fly from")
    explicit = targets is not None
    lenient = not explicit if skip_unflyable is None else skip_unflyable
    chosen = [sites.target(t) for t in (list(targets) if targets is not None else sites.targets)]
    if not chosen:
        raise InvalidSiteError("no targets to plan")
    fleet = _fleet(sites, fly_from)
    air = zone_air(
        sites,
        dem=Terrain(dem) if isinstance(dem, str | Path) else dem,
        rule=clearance or ClearanceRule(),
        max_agl_m=max_agl_m,
        no_fly_margin_m=no_fly_margin_m,
    )
    flying = {d.id for d in fleet.docks}
    docks = [d for d in _docks(sites, air) if d.id in flying]
    refused: dict[str, str] = {}
    skip = refused if lenient else None  # what cannot be flown is recorded here, or raised
    left_out = _left_out(chosen, air)
    layout = _Layout(angle_deg, turnaround_m, patterns, orbit_offsets_m, max_agl_m)
    tasks = _tasks(chosen, air, settings, layout, refused=skip)
    tasks += _transect_tasks(transects, air, settings.aircraft, layout, refused=skip)
    tasks = [_with_climbs(t, air, settings.aircraft) for t in tasks]
    tasks = fit_tasks(
        tasks,
        docks,
        airspace=air.airspace,
        aircraft=settings.aircraft,
        altitude_m=settings.altitude_m,
        refused=skip,
    )
    if not tasks:
        reasons = "; ".join(refused.values()) or "nothing to fly"
        raise InfeasibleError(f"no target can be planned ({reasons})")
    problem = _routing_problem(tasks, docks, air, settings, refused=skip)
    routes, built = _route_and_build(
        problem,
        fleet,
        air,
        settings,
        time_limit_s=time_limit_s,
        end=end,
        refused=skip,
    )
    inclusion_local = _operating_area(sites, air.frame, built)
    inclusion = _ring(air.frame.to_geo(inclusion_local))
    exclusions = _exclusions(air)
    sorties = _sorties(
        sites,
        air,
        routes.sorties,
        built,
        fence=(inclusion_local, inclusion, exclusions),
        fleet=fleet.docks,
        max_agl_m=max_agl_m,
        capacity=settings.aircraft.mission_capacity,
        gcs_loss_return_s=gcs_loss_return_s,
    )
    return Patrol(
        sorties=tuple(sorties),
        camera=settings.camera,
        aircraft=settings.aircraft,
        altitude_m=settings.altitude_m,
        gsd_cm=settings.camera.gsd_cm(settings.altitude_m),
        footprint_m=settings.camera.footprint_m(settings.altitude_m),
        lane_spacing_m=settings.spacing_m,
        trigger_distance_m=settings.trigger_m,
        fence_inclusion=inclusion,
        fence_exclusions=tuple(exclusions),
        refused=refused,
        terrain_following=air.amsl_frame,
        routed_length_m=routes.length_m,
        baseline_length_m=problem.nearest_neighbour().length_m if compare_baseline else None,
        obstacles=air.planned,
        left_out={  # parts of targets that are flown; a refused target is reported whole
            part: why
            for part, why in left_out.items()
            if not any(part.startswith(f"{t} near ") for t in refused)
        },
    )


def _settings(
    camera: Camera | str,
    aircraft: Aircraft | None,
    altitude_m: float | None,
    gsd_cm: float | None,
    max_agl_m: float,
    front_overlap: float,
    side_overlap: float,
    patterns: Collection[str],
) -> _Settings:
    """The camera, aircraft and survey geometry the whole patrol flies with."""
    cam = get_camera(camera) if isinstance(camera, str) else camera
    craft = aircraft or Aircraft()
    unknown = set(patterns) - set(PATTERNS)
    if unknown:
        raise InvalidProfileError(
            f"unknown pattern(s) {', '.join(sorted(unknown))} (known: {', '.join(PATTERNS)})"
        )
    altitude = _altitude(cam, altitude_m, gsd_cm, max_agl_m)
    trigger = cam.trigger_distance_m(altitude, front_overlap)
    return _Settings(
        cam,
        craft,
        altitude,
        cam.lane_spacing_m(altitude, side_overlap),
        trigger,
        _survey_speed(cam, craft, trigger),
    )


def zone_air(
    sites: Sites,
    *,
    dem: Terrain | None,
    rule: ClearanceRule,
    max_agl_m: float,
    no_fly_margin_m: float,
) -> ZoneAir:
    """Project the zone, model its ground and its obstacles, and split them.

    An obstacle whose roof (top plus vertical clearance, plus the planning
    pad) stays under the ceiling is overflown where a path crosses it;
    a taller one, and every no-fly area without a ceiling, is kept out of in
    two dimensions (routes go around, and the fence excludes it).
    """
    frame = _frame(sites)
    ground: Ground = dem if dem is not None else surveyed_ground(sites)
    if dem is not None:
        _warn_dock_ground(sites, dem)
    truth = _volumes(sites, frame, ground, rule, no_fly_margin_m)
    pad = [v.grown(PLAN_PAD_M) for v in truth]
    # overflown only under the ceiling over the zone's lowest ground, so neither a step
    # nor the failsafe return at the highest roof breaks the ceiling anywhere
    lowest = _lowest_ground(sites, frame, ground)
    highest = lowest + max_agl_m - 1.0
    overflown = frozenset(v.id for v in pad if v.roof_amsl_m <= highest)
    zones = [
        Zone(z.id, z.reason, frame.to_local(z.area)) for z in sites.no_fly if z.ceiling_m is None
    ]
    zones += [
        Zone(
            v.id,
            f"{v.label}: too tall to overfly under the {max_agl_m:.0f} m ceiling",
            v.footprint,
            margin_m=v.horizontal_m + OA_MARGIN_M + 1.0,
        )
        for v in pad
        if v.id not in overflown
    ]
    planned = tuple(
        _planned(v, frame, kind, overflown=v.id in overflown) for v, kind in _kinds(sites, truth)
    )
    return ZoneAir(
        frame=frame,
        ground=ground,
        amsl_frame=dem is not None,
        airspace=Airspace(zones, margin_m=no_fly_margin_m),
        obstacles=Obstacles([v for v in pad if v.id in overflown]),
        truth=Obstacles(truth),
        tall=tuple(v for v in pad if v.id not in overflown),
        planned=planned,
        lowest_ground_m=lowest,
        highest_amsl_m=highest,
    )


def surveyed_ground(sites: Sites) -> SurveyedGround:
    """The zone's ground from its own surveyed altitudes (docks and ``ground_alt_m``)."""
    points = [(d.lon, d.lat, d.ground_alt_m) for d in sites.docks]
    points += [
        (s.lon, s.lat, s.ground_alt_m)
        for e in sites.enterprises
        for s in e.stacks
        if s.ground_alt_m is not None
    ]
    areas: list[tuple[Polygon, float]] = [
        (e.boundary, e.ground_alt_m) for e in sites.enterprises if e.ground_alt_m is not None
    ]
    areas += [(z.area, z.ground_alt_m) for z in sites.no_fly if z.ground_alt_m is not None]
    for o in sites.obstacles:
        if o.ground_alt_m is None:
            continue
        if isinstance(o.footprint, Point):
            points.append((o.footprint.x, o.footprint.y, o.ground_alt_m))
        else:
            areas.append((o.footprint, o.ground_alt_m))
    return SurveyedGround(points, areas)


def _volumes(
    sites: Sites, frame: LocalFrame, ground: Ground, rule: ClearanceRule, no_fly_margin_m: float
) -> list[Volume]:
    """Every stack, obstacle and height-limited no-fly area as a keep-out volume."""

    def base(lon: float, lat: float, *known: float | None) -> float:
        for value in known:
            if value is not None:
                return value
        return float(ground.elevation(np.array([lon]), np.array([lat]))[0])

    volumes = [
        stack_volume(
            s.id,
            frame.xy(s.lon, s.lat),
            radius_m=s.radius_m,
            base_amsl_m=base(s.lon, s.lat, s.ground_alt_m, e.ground_alt_m),
            height_m=s.height_m,
            emitting=s.emitting,
            rule=rule,
            label=f"stack {s.id} ({s.height_m:.0f} m)",
        )
        for e in sites.enterprises
        for s in e.stacks
    ]
    for o in sites.obstacles:
        c = o.footprint.centroid
        outline = frame.to_local(o.footprint)
        if isinstance(outline, Point):
            outline = outline.buffer(o.radius_m, quad_segs=16)
        volumes.append(
            outline_volume(
                o.id,
                outline,
                base_amsl_m=base(c.x, c.y, o.ground_alt_m),
                height_m=o.height_m,
                rule=rule,
                label=f"obstacle {o.name} ({o.height_m:.0f} m)",
            )
        )
    for z in sites.no_fly:
        if z.ceiling_m is not None:
            c = z.area.centroid
            volumes.append(
                outline_volume(
                    z.id,
                    frame.to_local(z.area),
                    base_amsl_m=base(c.x, c.y, z.ground_alt_m),
                    height_m=z.ceiling_m,
                    rule=ClearanceRule(no_fly_margin_m, rule.vertical_m, rule.over_emitting_m),
                    label=f"no-fly area {z.id} ({z.reason}, up to {z.ceiling_m:.0f} m)",
                )
            )
    return volumes


def _kinds(sites: Sites, volumes: Sequence[Volume]) -> list[tuple[Volume, str]]:
    stacks = {s.id for e in sites.enterprises for s in e.stacks}
    obstacles = {o.id for o in sites.obstacles}
    return [
        (v, "stack" if v.id in stacks else "obstacle" if v.id in obstacles else "no_fly")
        for v in volumes
    ]


def _planned(v: Volume, frame: LocalFrame, kind: str, *, overflown: bool) -> PlannedObstacle:
    return PlannedObstacle(
        id=v.id,
        kind=kind,
        label=v.label,
        outline=frame.to_geo(v.footprint),
        height_m=round(v.top_amsl_m - v.base_amsl_m, 2),
        base_amsl_m=round(v.base_amsl_m, 2),
        top_amsl_m=round(v.top_amsl_m, 2),
        roof_amsl_m=round(v.roof_amsl_m, 2),
        horizontal_m=v.horizontal_m,
        overflown=overflown,
    )


def _lowest_ground(sites: Sites, frame: LocalFrame, ground: Ground) -> float:
    """The lowest ground in the zone and its fence margin: a 50 x 50 grid and the docks."""
    x0, y0, x1, y1 = _site_hull(sites, frame).buffer(FENCE_MARGIN_M).bounds
    gx, gy = np.meshgrid(np.linspace(x0, x1, 50), np.linspace(y0, y1, 50))
    lonlat = frame.lonlat(np.column_stack([gx.ravel(), gy.ravel()]))
    lonlat = np.vstack([lonlat, [(d.lon, d.lat) for d in sites.docks]])
    return float(np.min(ground.elevation(lonlat[:, 0], lonlat[:, 1])))


def _warn_dock_ground(sites: Sites, terrain: Terrain) -> None:
    heights = terrain.elevation(
        np.array([d.lon for d in sites.docks]), np.array([d.lat for d in sites.docks])
    )
    for dock, dem_alt in zip(sites.docks, heights, strict=True):
        if abs(dock.ground_alt_m - dem_alt) > DOCK_DEM_TOLERANCE_M:
            logger.warning(
                "dock %s: ground_alt_m %.1f m differs from the DEM's %.1f m; waypoint "
                "altitudes follow the DEM",
                dock.id,
                dock.ground_alt_m,
                dem_alt,
            )


def _fleet(sites: Sites, fly_from: Collection[str] | None) -> Sites:
    """The zone holding only the docks sorties may take off from (``fly_from``; None: all)."""
    if fly_from is None:
        return sites
    wanted = {fly_from} if isinstance(fly_from, str) else set(fly_from)
    known = [d.id for d in sites.docks]
    unknown = sorted(wanted - set(known))
    if unknown:
        raise InvalidSiteError(
            f"unknown dock(s) {', '.join(unknown)} (known docks: {', '.join(known)})"
        )
    if not wanted:
        raise InvalidSiteError("no dock to fly from")
    return replace(sites, docks=tuple(d for d in sites.docks if d.id in wanted))


def _docks(sites: Sites, air: ZoneAir) -> list[DockSpec]:
    """The docks for routing; a dock must be outside every keep-out (it climbs straight up)."""
    docks = [DockSpec(d.id, air.frame.xy(d.lon, d.lat), d.drones) for d in sites.docks]
    keep_out = air.airspace.keep_out
    for dock in docks:
        if not keep_out.is_empty and keep_out.covers(Point(dock.xy)):
            zone = air.airspace.zone_at(dock.xy)
            where = f"no-fly area {zone.id!r}" if zone else "a no-fly margin"
            near = [z for z in air.airspace.zones if z.margin_m is not None]
            if zone is None and near:
                zone = min(near, key=lambda z: z.area.distance(Point(dock.xy)))
                where = zone.reason
            raise NoFlyViolationError(f"dock {dock.id!r} lies in {where}")
        _, volume = air.truth.roof_at(*dock.xy)
        if volume is not None:
            raise ClearanceError(
                f"dock {dock.id!r} is within {volume.horizontal_m:.0f} m of {volume.label}: "
                "the take-off climb and the landing would pass it"
            )
    return docks


def _left_out(chosen: Sequence[Enterprise | River], air: ZoneAir) -> dict[str, str]:
    """The parts of the targets under obstacles too tall to overfly, and why."""
    tall = [z for z in air.airspace.zones if z.margin_m is not None]
    out: dict[str, str] = {}
    for target in chosen:
        shape_ = air.frame.to_local(
            target.boundary
            if isinstance(target, Enterprise)
            else target.centerline.buffer(target.width_m / 2 / 111_000)
        )
        for z in tall:
            lost = shape_.intersection(z.area.buffer(z.margin_m or 0.0)).area
            if lost > 1.0:
                out[f"{target.id} near {z.id}"] = (
                    f"{lost:.0f} m² of {target.id} within {z.margin_m:.0f} m of {z.reason}; "
                    "not flown"
                )
    return out


def _tasks(
    chosen: Sequence[Enterprise | River],
    air: ZoneAir,
    settings: _Settings,
    layout: _Layout,
    *,
    refused: dict[str, str] | None,
) -> list[Task]:
    """Lay out every requested pattern over every target, refusing what cannot be flown."""
    tasks: list[Task] = []
    for target in chosen:
        try:
            if isinstance(target, Enterprise):
                tasks.extend(_enterprise_tasks(target, air, settings, layout, refused=refused))
            elif "corridor" in layout.patterns:
                tasks.extend(
                    _river_tasks(
                        target, air=air, settings=settings, turnaround_m=layout.turnaround_m
                    )
                )
        except InfeasibleError as exc:
            if refused is None:
                raise
            refused[target.id] = str(exc)
            logger.warning("skipping %s: %s", target.id, exc)
    return tasks


def _with_climbs(task: Task, air: ZoneAir, craft: Aircraft) -> Task:
    """The task with the time its steps over obstacles will add (climb, then descent).

    Estimated from its waypoints at each leg's height over the obstacle's base,
    so the routing budgets sorties the builder will not find too long.
    """
    extra = 0.0
    for leg in task.legs:
        pts = [p for p in (leg.lead_in, *map(tuple, leg.points), leg.lead_out) if p is not None]
        for a, b in itertools.pairwise(pts):
            for c in air.obstacles.conflicts(a, b):
                base = c.volume.base_amsl_m if leg.base_amsl_m is None else leg.base_amsl_m
                rise = c.volume.roof_amsl_m - base - leg.altitude_m
                if rise > 0:
                    extra += rise / craft.climb_rate_m_s + rise / craft.descent_rate_m_s
    return replace(task, climb_s=round(extra, 1)) if extra else task


def _routing_problem(
    tasks: list[Task],
    docks: list[DockSpec],
    air: ZoneAir,
    settings: _Settings,
    *,
    refused: dict[str, str] | None,
) -> RoutingProblem:
    """The routing model, without the tasks no sortie can fly (recorded in ``refused``)."""

    def problem_of(chosen: list[Task]) -> RoutingProblem:
        return RoutingProblem(
            chosen,
            docks,
            airspace=air.airspace,
            aircraft=settings.aircraft,
            altitude_m=settings.altitude_m,
        )

    problem = problem_of(tasks)
    unfit = problem.unfit()
    if not unfit or refused is None:
        return problem
    for k, reason in unfit.items():
        refused[tasks[k].label or tasks[k].target_id] = reason
        logger.warning("leaving out %s", reason)
    kept = [t for k, t in enumerate(tasks) if k not in unfit]
    if not kept:
        raise InfeasibleError("no target can be planned (" + "; ".join(unfit.values()) + ")")
    return problem_of(kept)


def _route_and_build(
    problem: RoutingProblem,
    fleet: Sites,
    air: ZoneAir,
    settings: _Settings,
    *,
    time_limit_s: float,
    end: Literal["rtl", "land"],
    refused: dict[str, str] | None,
) -> tuple[RoutingResult, list[BuiltSortie]]:
    """Solve the routing and build each sortie; tighten and re-route until the builds fit.

    The routing model estimates; the built missions are the truth (climbs over
    obstacles, routes around them). A task that no longer fits once the budget
    is tightened is left out and recorded in ``refused`` (an error when the
    caller named the targets). ``fleet`` holds the docks the problem flies from.
    """
    craft = settings.aircraft
    capacity, margin = craft.mission_capacity, 1.0
    for _ in range(5):
        routes = problem.solve(
            time_limit_s=time_limit_s,
            item_capacity=capacity,
            time_margin=margin,
            allow_missing=refused is not None and margin < 1.0,
        )
        for k in routes.missing:
            assert refused is not None
            task = problem.tasks[k]
            refused[task.label or task.target_id] = (
                f"{task.label or task.target_id}: does not fit a sortie within the usable "
                f"{craft.usable_endurance_s / 60:.1f} min once its climbs over obstacles are flown"
            )
        built = [
            build_sortie(
                list(plan.tasks),
                home_xy=problem.docks[plan.dock].xy,
                home_alt_m=fleet.docks[plan.dock].ground_alt_m,
                frame=air.frame,
                airspace=air.airspace,
                aircraft=craft,
                ground=air.ground,
                obstacles=air.obstacles,
                amsl_frame=air.amsl_frame,
                name=f"sortie-{k + 1}",
                end=end,
            )
            for k, plan in enumerate(routes.sorties)
        ]
        worst = max(len(b.mission.items) for b in built)
        longest = max(b.duration_s for b in built)
        if worst <= craft.mission_capacity and longest <= craft.usable_endurance_s:
            return routes, built
        if worst > craft.mission_capacity:
            capacity -= worst - craft.mission_capacity + 10
            logger.info("a sortie needs %d items; re-routing with capacity %d", worst, capacity)
        if longest > craft.usable_endurance_s:
            margin *= 0.98 * craft.usable_endurance_s / longest
            logger.info(
                "a sortie lasts %.0f s; re-routing with %.0f%% of the budget", longest, 100 * margin
            )
    if worst > craft.mission_capacity:
        raise CapacityError("cannot split the patrol into sorties within the item capacity")
    keep = [k for k, b in enumerate(built) if b.duration_s <= craft.usable_endurance_s]
    if refused is not None and keep:
        for k in (k for k in range(len(built)) if k not in keep):
            for task in routes.sorties[k].tasks:
                refused[task.target_id] = (
                    f"{task.label or task.target_id}: its sortie lasts "
                    f"{built[k].duration_s / 60:.1f} min with its climbs over obstacles, more "
                    f"than the usable {craft.usable_endurance_s / 60:.1f} min"
                )
        kept = tuple(routes.sorties[k] for k in keep)
        length = sum(p.estimated_length_m for p in kept)
        return RoutingResult(kept, length), [built[k] for k in keep]
    raise RangeError(
        f"cannot split the patrol into sorties within the usable endurance "
        f"({craft.usable_endurance_s / 60:.0f} min)"
    )


def _exclusions(air: ZoneAir) -> list[tuple[str, tuple[tuple[float, float], ...]]]:
    """The fence's exclusion rings (lat, lon): no-fly areas and obstacles too tall to overfly.

    An obstacle's exclusion is its keep-out zone (with the planning pad);
    routes keep the OA margin and a metre more from it.
    """
    areas = [(z.id, z.area) for z in air.airspace.zones if z.margin_m is None]
    areas += [(v.id, v.footprint.buffer(v.horizontal_m, quad_segs=4)) for v in air.tall]
    return [
        (name, _ring(air.frame.to_geo(area.simplify(0.5, preserve_topology=True))))
        for name, area in areas
    ]


def _vehicle_params(
    air: ZoneAir, built: BuiltSortie, home_alt_m: float, rtl_amsl_m: float, gcs_loss_s: float
) -> dict[str, float]:
    """What the vehicle must enforce for this sortie (ArduPilot parameter units).

    The fence on (its polygons and its ceiling, not ArduPilot's circle round
    home), breaching it returns home; the failsafe return (a breach, a lost
    ground station) flies at ``rtl_amsl_m``, over every obstacle it can
    overfly, without the cone that would lower it near the dock, to the
    nearest of home and the rally points, round the fence's exclusions with
    the OA planner, which GUIDED flights use too. The ground station may be
    silent for ``gcs_loss_s`` before that return (FS_OPTIONS, which could keep
    a mission flying through any loss, is the vehicle's own and is cleared of
    that bit at flight time: ``missions.flight.vehicle.with_failsafe_options``).
    Values and their meaning are
    read from ArduPilot's source (AC_Fence, mode_rtl, AP_OAPathPlanner,
    mode_guided, events).
    """
    highest = max(float(np.max(built.alt_amsl)), rtl_amsl_m) - home_alt_m
    return {
        "FENCE_ENABLE": 1,
        "FENCE_TYPE": FENCE_TYPE_ALT_MAX | FENCE_TYPE_POLYGON,
        "FENCE_ALT_MAX": float(math.ceil(highest + FENCE_ALT_MARGIN_M)),
        "FENCE_ACTION": 1,
        "RTL_ALT": float(math.ceil(rtl_amsl_m - home_alt_m) * 100),
        "RTL_CONE_SLOPE": 0,
        "RALLY_INCL_HOME": 1,
        "FS_GCS_ENABLE": 1,
        "FS_GCS_TIMEOUT": gcs_loss_s,
        "OA_TYPE": OA_TYPE_DIJKSTRA,
        "OA_MARGIN_MAX": OA_MARGIN_M,
        "OA_OPTIONS": OA_OPTIONS,
        "GUID_OPTIONS": GUID_OPTIONS_WP_NAV_OA,
    }


def _rtl_amsl(air: ZoneAir, home_alt_m: float) -> float:
    """The failsafe return's altitude: over the roof of every obstacle it can overfly."""
    roofs = [v.roof_amsl_m for v in air.obstacles.volumes]
    return float(math.ceil(max([home_alt_m + MIN_RTL_ALT_M, *roofs])))


def _sorties(
    sites: Sites,
    air: ZoneAir,
    plans: Sequence[SortiePlan],
    built: Sequence[BuiltSortie],
    *,
    fence: tuple[Polygon, Ring, list[tuple[str, Ring]]],
    fleet: Sequence[Dock],
    max_agl_m: float,
    capacity: int,
    gcs_loss_return_s: float,
) -> list[Sortie]:
    """Check every built sortie, its failsafe return included, and dress it for export.

    ``fence`` is the inclusion area (local metres and its lat/lon ring) and the
    exclusion rings by id; ``fleet`` the docks the sorties fly from (every dock
    of the zone is a rally point).
    """
    inclusion_local, inclusion, exclusions = fence
    fence_list = fence_items([(True, inclusion), *((False, ring) for _, ring in exclusions)])
    rally_xy = [air.frame.xy(d.lon, d.lat) for d in sites.docks]
    drones = _assign_drones(plans, built, fleet)
    sorties = []
    for k, (plan, b) in enumerate(zip(plans, built, strict=True)):
        name = f"sortie-{k + 1}"
        dock = fleet[plan.dock]
        rtl = _rtl_amsl(air, dock.ground_alt_m)
        xyz = np.column_stack([b.path[:, :2], b.alt_amsl])
        check_capacity(b.mission, capacity, name=name)
        check_path(
            b.path, airspace=air.airspace, max_agl_m=max_agl_m, inclusion=inclusion_local, name=name
        )
        check_clearance(xyz, air.truth, name=name)
        check_failsafe(
            xyz,
            rally_xy=rally_xy,
            rtl_amsl_m=rtl,
            airspace=air.airspace,
            obstacles=air.truth,
            ground_at=air.ground_xy,
            lowest_ground_m=air.lowest_ground_m,
            max_agl_m=max_agl_m,
            name=name,
        )
        rally = rally_items([(d.lat, d.lon, rtl - dock.ground_alt_m) for d in sites.docks])
        mission = replace(
            b.mission,
            fence=fence_list,
            rally=rally,
            name=name,
            params=_vehicle_params(air, b, dock.ground_alt_m, rtl, gcs_loss_return_s),
        )
        sorties.append(_sortie(k + 1, dock, drones[k], mission, plan, b, air))
    return sorties


def _sortie(
    number: int,
    dock: Dock,
    drone: int,
    mission: Mission,
    plan: SortiePlan,
    b: BuiltSortie,
    air: ZoneAir,
) -> Sortie:
    lonlat = air.frame.lonlat(b.path[:, :2])
    alts = b.alt_amsl if air.amsl_frame else b.alt_amsl - dock.ground_alt_m
    clearance = None
    if len(air.truth):
        xyz = np.column_stack([b.path[:, :2], b.alt_amsl])
        distance, nearest, where = min_clearance(xyz, air.truth)
        lon, lat = air.frame.lonlat(where[None, :2])[0]
        clearance = Clearance(round(distance, 2), nearest, float(lat), float(lon), float(where[2]))
    logger.info(
        "sortie-%d from %s: %.0f m, %.0f s, %d photos, %d items, clearance %s",
        number,
        dock.id,
        b.length_m,
        b.duration_s,
        len(b.photo_points),
        len(mission.items),
        f"{clearance.distance_m:.1f} m to {clearance.obstacle_id}" if clearance else "-",
    )
    return Sortie(
        number=number,
        dock=dock,
        drone=drone,
        mission=mission,
        photo_points=b.photo_points,
        length_m=b.length_m,
        duration_s=b.duration_s,
        targets=tuple(dict.fromkeys(t.target_id for t in plan.tasks)),
        tasks=tuple(t.label or f"{t.pattern} {t.target_id}" for t in plan.tasks),
        route=np.column_stack([lonlat, alts]),
        camera_legs=tuple((t, p, air.frame.lonlat(pts)) for t, p, pts in b.legs),
        clearance=clearance,
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
    air: ZoneAir,
    settings: _Settings,
    layout: _Layout,
    *,
    refused: dict[str, str] | None,
) -> list[Task]:
    """Survey, perimeter and stack orbits of one enterprise.

    A stack orbit that cannot be flown is raised when ``refused`` is None (the
    caller asked for this target) and otherwise recorded there and skipped.
    """
    airspace = air.airspace
    boundary = air.frame.to_local(site.boundary)
    area = boundary.difference(airspace.keep_out) if not airspace.keep_out.is_empty else boundary
    if area.area < 1e-3 * boundary.area:
        raise NoFlyViolationError(f"{site.id} lies inside {_zones_over(boundary, airspace)}")
    if area.area < boundary.area * 0.999:
        logger.warning(
            "%s: %.0f%% of the site is in a keep-out margin and is not surveyed",
            site.id,
            100 * (1 - area.area / boundary.area),
        )
    cam, altitude, patterns = settings.camera, settings.altitude_m, layout.patterns
    tasks: list[Task] = []
    if "survey" in patterns:
        legs = plan_survey(
            area,
            spacing_m=settings.spacing_m,
            trigger_m=settings.trigger_m,
            altitude_m=altitude,
            angle_deg=layout.angle_deg,
            turnaround_m=layout.turnaround_m,
            footprint_m=cam.footprint_m(altitude),
        )
        legs = [_trim_leads(leg, airspace) for leg in legs]
        tasks.append(Task(site.id, "survey", tuple(legs), settings.speed_m_s, f"survey {site.id}"))
    if "perimeter" in patterns:
        legs = [
            piece
            for leg in plan_perimeter(boundary, trigger_m=settings.trigger_m, altitude_m=altitude)
            for piece in _clip_leg(leg, airspace, settings.trigger_m)
        ]
        if legs:
            tasks.append(
                Task(site.id, "perimeter", tuple(legs), settings.speed_m_s, f"perimeter {site.id}")
            )
    if "orbit" in patterns:
        for stack in site.stacks:
            try:
                legs = _stack_orbit(
                    site,
                    stack,
                    air=air,
                    camera=cam,
                    offsets_m=layout.orbit_offsets_m,
                    max_agl_m=layout.max_agl_m,
                )
            except InfeasibleError as exc:
                if refused is None:
                    raise
                refused[stack.id] = str(exc)
                logger.warning("skipping the orbit of %s: %s", stack.id, exc)
                continue
            tasks.append(_orbit_task(site, stack, legs, cam, settings.aircraft))
    return tasks


def _zones_over(shape_: shapely.Geometry, airspace: Airspace) -> str:
    """The keep-out areas that cover ``shape_``, named for an operator."""
    names = [
        f"no-fly area {z.id!r} ({z.reason})"
        if z.margin_m is None
        else f"the keep-out of {z.reason}"
        for z in airspace.zones
        if shape_.intersects(z.area.buffer(airspace.margin_m if z.margin_m is None else z.margin_m))
    ]
    return ", ".join(names) if names else "no-fly areas"


def _orbit_task(
    site: Enterprise, stack: Stack, legs: list[Leg], cam: Camera, craft: Aircraft
) -> Task:
    ring_trigger = legs[0].trigger_m or 1.0
    speed = min(craft.max_survey_speed_m_s, ring_trigger / max(cam.min_trigger_interval_s, 0.1))
    return Task(
        site.id,
        "orbit",
        tuple(legs),
        max(1.0, math.floor(speed * 10) / 10),
        f"orbit {stack.id}",
        reversible=False,
    )


def _stack_orbit(
    site: Enterprise,
    stack: Stack,
    *,
    air: ZoneAir,
    camera: Camera,
    offsets_m: Sequence[float],
    max_agl_m: float,
) -> list[Leg]:
    """The orbit rings of one stack, spaced clear of its neighbours.

    Ring heights are the stack's height plus each offset, above the stack's
    base (AMSL). A ring starts at the smallest radius that frames the stack
    and keeps the clearance from it; where it would pass a neighbouring
    obstacle below that one's roof it widens (up to ``ORBIT_MAX_WIDEN``
    times), and failing that it rises over the neighbour's roof if the
    ceiling allows. Otherwise the orbit is refused with the reason.
    """
    own = next(v for v in air.truth.volumes if v.id == stack.id)
    base = own.base_amsl_m
    center = air.frame.xy(stack.lon, stack.lat)
    # start on the side facing the site's middle, where its survey is flown
    middle = air.frame.to_local(site.boundary).centroid
    dx, dy = middle.x - center[0], middle.y - center[1]
    bearing = round(math.degrees(math.atan2(dx, dy)) if math.hypot(dx, dy) > 1 else 0.0, 1)
    legs = []
    for offset in offsets_m:
        height = stack.height_m + offset
        if base + height > air.highest_amsl_m:
            raise AltitudeLimitError(
                f"{site.id}: orbit of stack {stack.id} ({stack.height_m:.0f} m) needs "
                f"{base + height - air.lowest_ground_m:.0f} m above the zone's lowest ground, "
                f"above the {max_agl_m:.0f} m ceiling"
            )
        if height < MIN_ORBIT_AGL_M:
            raise AltitudeLimitError(
                f"{site.id}: orbit of stack {stack.id} at {height:.0f} m is below the "
                f"{MIN_ORBIT_AGL_M:.0f} m floor over buildings"
            )
        legs.append(
            _spaced_ring(
                site,
                stack,
                center,
                base,
                height,
                stack.radius_m + own.horizontal_m + PLAN_PAD_M,
                bearing,
                air=air,
                camera=camera,
            )
        )
    return legs


def _spaced_ring(
    site: Enterprise,
    stack: Stack,
    center: tuple[float, float],
    base: float,
    height: float,
    min_radius: float,
    bearing: float,
    *,
    air: ZoneAir,
    camera: Camera,
) -> Leg:
    """One orbit ring clear of every other obstacle, widened or raised as needed."""
    others = Obstacles([v for v in air.obstacles.volumes if v.id != stack.id])
    first: Leg | None = None
    blocker = ""
    for widen in np.linspace(1.0, ORBIT_MAX_WIDEN, 9):
        (leg,) = plan_orbit(
            center,
            stack_height_m=stack.height_m,
            camera=camera,
            altitudes_m=[height],
            start_bearing_deg=bearing,
            min_radius_m=max(25.0, min_radius) * float(widen),
        )
        leg = replace(leg, base_amsl_m=base)
        first = first or leg
        blocker = _ring_blocker(leg, air.airspace, others)
        if not blocker:
            return leg
    assert first is not None
    roof = max(
        (
            v.roof_amsl_m
            for v in others.volumes
            if _ring_blocker(first, air.airspace, Obstacles([v]))
        ),
        default=base + height,
    )
    raised = replace(first, altitude_m=math.ceil(max(height, roof - base) * 100) / 100)
    if not _ring_blocker(raised, air.airspace, others) and roof <= air.highest_amsl_m:
        return raised
    raise ClearanceError(
        f"{site.id}: no orbit ring of stack {stack.id} up to {ORBIT_MAX_WIDEN:g} times its "
        f"radius keeps clear of {blocker}"
    )


def _ring_blocker(leg: Leg, airspace: Airspace, obstacles: Obstacles) -> str:
    """What an orbit ring would come too near (empty when it is clear)."""
    assert leg.base_amsl_m is not None
    z = leg.base_amsl_m + leg.altitude_m
    for a, b in itertools.pairwise(leg.points):
        if airspace.blocked((a[0], a[1]), (b[0], b[1])):
            return "a no-fly area or an obstacle too tall to overfly"
        hits = obstacles.violations((a[0], a[1], z), (b[0], b[1], z))
        if hits:
            return hits[0][0].label
    return ""


def _river_tasks(
    river: River, *, air: ZoneAir, settings: _Settings, turnaround_m: float
) -> list[Task]:
    line = air.frame.to_local(river.centerline)
    legs = plan_corridor(
        line,
        width_m=river.width_m,
        footprint_m=settings.camera.footprint_m(settings.altitude_m)[0],
        spacing_m=settings.spacing_m,
        trigger_m=settings.trigger_m,
        altitude_m=settings.altitude_m,
        turnaround_m=turnaround_m,
    )
    pieces = [p for leg in legs for p in _clip_leg(leg, air.airspace, settings.trigger_m)]
    if not pieces:
        raise NoFlyViolationError(f"{river.id} lies inside {_zones_over(line, air.airspace)}")
    return [Task(river.id, "corridor", tuple(pieces), settings.speed_m_s, f"corridor {river.id}")]


def _transect_tasks(
    transects: Sequence[Transect],
    air: ZoneAir,
    craft: Aircraft,
    layout: _Layout,
    *,
    refused: dict[str, str] | None,
) -> list[Task]:
    """One task per gas transect, refusing (or, given ``refused``, skipping) what cannot be flown.

    The lines arrive in lon/lat and are projected with the planner's own frame
    (UTM, on grid north): drawn in whatever frame their maker needed (a plume's is
    on true north), they keep their place on the ground.
    """
    speed = min(TRANSECT_SPEED_M_S, craft.max_survey_speed_m_s)
    tasks = []
    for transect in transects:
        try:
            tasks.append(_transect_task(transect, air, speed, layout))
        except InfeasibleError as exc:
            if refused is None:
                raise
            refused[transect.label] = str(exc)
            logger.warning("skipping %s: %s", transect.label, exc)
    return tasks


def _transect_task(transect: Transect, air: ZoneAir, speed_m_s: float, layout: _Layout) -> Task:
    """A transect's line at its height, camera off, with run-ups along it, clipped to the airspace.

    The lead-in and lead-out (``layout.turnaround_m`` on the line's extension)
    put the vehicle on the line straight and at speed, so every reading on it is
    taken in steady flight; they are dropped where they would enter a keep-out.
    """
    name = transect.label
    if not MIN_ORBIT_AGL_M <= transect.height_m <= layout.max_agl_m:
        raise AltitudeLimitError(
            f"{name}: {transect.height_m:.0f} m above ground is outside "
            f"{MIN_ORBIT_AGL_M:.0f} to {layout.max_agl_m:.0f} m"
        )
    line = air.frame.to_local(transect.line)
    pts = np.asarray(line.coords, dtype=float)[:, :2]
    span = float(np.hypot(*(pts[-1] - pts[0])))
    if span < 1.0:
        raise InvalidProfileError(f"{name}: the line is shorter than a metre")
    ahead = (pts[-1] - pts[0]) / span * layout.turnaround_m
    leg = Leg(
        points=pts,
        altitude_m=transect.height_m,
        lead_in=(float(pts[0, 0] - ahead[0]), float(pts[0, 1] - ahead[1])),
        lead_out=(float(pts[-1, 0] + ahead[0]), float(pts[-1, 1] + ahead[1])),
    )
    pieces = _clip_leg(leg, air.airspace, 0.0)  # no camera: no trigger to fit
    if not pieces:
        raise NoFlyViolationError(f"{name} lies inside {_zones_over(line, air.airspace)}")
    return Task(transect.target_id, "transect", tuple(pieces), speed_m_s, name)


def _clip_leg(leg: Leg, airspace: Airspace, trigger_m: float) -> list[Leg]:
    """The parts of a leg outside the keep-out areas, in flying order.

    Each part of a camera leg gets ``trigger_m`` fitted to its length; a leg
    without a camera (a gas transect) stays without one.
    """
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
        fitted = None if leg.trigger_m is None else fit_trigger(polyline_length(pts), trigger_m)
        piece = replace(
            leg,
            points=pts,
            trigger_m=fitted,
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


def _site_hull(sites: Sites, frame: LocalFrame) -> shapely.Geometry:
    """The convex hull of the zone's targets and docks, in local metres."""
    geoms: list[shapely.Geometry] = [frame.to_local(e.boundary) for e in sites.enterprises]
    geoms += [frame.to_local(r.centerline) for r in sites.rivers]
    geoms += [Point(frame.xy(d.lon, d.lat)) for d in sites.docks]
    return shapely.GeometryCollection(geoms).convex_hull


def _operating_area(sites: Sites, frame: LocalFrame, built: Sequence[BuiltSortie]) -> Polygon:
    """The geofence inclusion: hull of the zone, the docks and every route, plus a margin."""
    geoms = [_site_hull(sites, frame)]
    geoms += [shapely.multipoints(b.path[:, :2]) for b in built if len(b.path)]
    hull = shapely.GeometryCollection(geoms).convex_hull
    grown = hull.buffer(FENCE_MARGIN_M, quad_segs=2).simplify(5.0)
    assert isinstance(grown, Polygon)
    return grown


def _ring(poly: Polygon) -> Ring:
    """A polygon's exterior as (lat, lon) vertices, not closed."""
    coords = np.asarray(poly.exterior.coords)[:-1]
    return tuple((round(float(lat), 7), round(float(lon), 7)) for lon, lat in coords[:, :2])
