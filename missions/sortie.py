"""Turn one dock and an ordered list of tasks into an ArduPilot mission.

Item layout (ArduPilot conventions): item 0 is home at the dock (AMSL), then
NAV_TAKEOFF, DO_CHANGE_SPEED (cruise), the tasks with their transits, a
waypoint above the dock and RETURN_TO_LAUNCH. Each camera leg is
``WP(run-in) WP(on) DO_SET_CAM_TRIGG_DIST(d') WP(start) ... WP(end)
DO_SET_CAM_TRIGG_DIST(0)``, ``on`` one trigger distance before the first photo
point ``start`` (:attr:`missions.path.Leg.camera_on`): ArduPilot's distance
trigger takes its first photo one trigger distance after it is switched on, so
every photo, the first too, is taken in straight, steady flight; the camera is
off in turnarounds and transits. ArduPilot runs the DO items after a waypoint
when it reaches that waypoint. ``d'`` is the planned trigger distance less the
half 50 Hz check a photo fires late on average (:data:`CAMERA_CHECK_S`). Orbits set
DO_SET_ROI_LOCATION on the stack and DO_SET_ROI_NONE after; nadir tasks point
the gimbal down with DO_MOUNT_CONTROL (no NaN parameters, which ArduPilot
refuses). Every hop between waypoints is routed around the no-fly areas.

Heights: every waypoint is first placed in AMSL (the ground under it, from
the DEM or the zone's surveyed altitudes, plus its height above that ground;
an orbit ring's height is above its stack's base instead), then written in the
mission's frame: AMSL with a DEM, above home (the dock's ground) without one.
A hop whose ground track enters an obstacle's keep-out zone below its roof
steps up over it (a ramp, a level stretch over the zone, a ramp back down);
obstacles too tall for that were already taken out of the 2-D airspace.
"""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pymavlink.dialects.v20 import ardupilotmega as mavlink
from shapely.geometry import LineString, Point

from missions.airspace import Airspace
from missions.camera import Aircraft
from missions.geo import LocalFrame, autopilot_distance_m
from missions.items import Mission, MissionItem, to_e7
from missions.path import Leg, Task
from zone.ground import Ground
from zone.obstacles import Obstacles

logger = logging.getLogger(__name__)

RELATIVE_FRAME = mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT
AMSL_FRAME = mavlink.MAV_FRAME_GLOBAL_INT
COMMAND_FRAME = mavlink.MAV_FRAME_MISSION
TERRAIN_TOLERANCE_M = 3.0
TURN_DEG = 30.0
#: Level flight kept at an obstacle's roof beyond its keep-out zone on each side,
#: so ArduCopter's rounded corners (S-curves) never cut the climb short inside it.
STEP_PLATEAU_M = 10.0
#: Horizontal metres per metre of climb or descent on a step over an obstacle.
STEP_RAMP = 2.0
#: ArduCopter checks the distance trigger at 50 Hz (AP_Camera update in Copter.cpp's
#: scheduler table): a photo fires at the first check after the trigger distance is
#: reached, on average half a check's travel late, and the next is measured from
#: there, so the lag adds up along a leg (5.9 m/s, 11.96 m: 12.035 m between photos
#: in SITL, 5 m behind the plan after 60 photos). The distance commanded is shorter by
#: that half check's travel.
CAMERA_CHECK_S = 0.02


@dataclass(frozen=True, slots=True)
class PhotoPoint:
    """A planned camera trigger: where ArduPilot's distance trigger should fire.

    ``alt_m`` is in the mission's altitude frame (above home without a DEM,
    AMSL with one); ``agl_m`` is the height above ground. ``trigger_seq`` is
    the sequence number of the DO_SET_CAM_TRIGG_DIST item that starts the leg.
    """

    lat: float
    lon: float
    alt_m: float
    agl_m: float
    target_id: str
    pattern: str
    trigger_seq: int


@dataclass
class BuiltSortie:
    """The mission of one sortie with what it is expected to do."""

    mission: Mission
    photo_points: tuple[PhotoPoint, ...]
    path: NDArray[np.float64]  # (N, 3) local x, y and height above ground, as flown
    length_m: float
    duration_s: float
    legs: list[tuple[str, str, NDArray[np.float64]]] = field(default_factory=list)
    alt_amsl: NDArray[np.float64] = field(default_factory=lambda: np.empty(0))  # (N,) per point


class _Builder:
    def __init__(
        self,
        *,
        frame: LocalFrame,
        airspace: Airspace,
        aircraft: Aircraft,
        ground: Ground,
        amsl_frame: bool,
        obstacles: Obstacles,
        home_xy: tuple[float, float],
        home_alt_m: float,
    ) -> None:
        self.frame = frame
        self.airspace = airspace
        self.aircraft = aircraft
        self.ground = ground
        self.obstacles = obstacles
        self.alt_frame = AMSL_FRAME if amsl_frame else RELATIVE_FRAME
        self.items: list[MissionItem] = []
        self.path: list[tuple[float, float, float, float]] = []  # x, y, agl, speed to reach
        self.amsl: list[float] = []  # altitude AMSL of each path point
        self._grounds: dict[tuple[float, float], float] = {}
        self.photos: list[PhotoPoint] = []
        self.legs: list[tuple[str, str, NDArray[np.float64]]] = []
        self.speed = aircraft.cruise_speed_m_s
        self.gimbal: float | None = None
        self.home_xy = home_xy
        self.home_alt_m = home_alt_m

    # -- items -------------------------------------------------------------
    def _add(self, **kwargs: float | int) -> MissionItem:
        item = MissionItem(seq=len(self.items), **kwargs)  # type: ignore[arg-type]
        self.items.append(item)
        return item

    def _latlon(self, x: float, y: float) -> tuple[float, float]:
        lon, lat = self.frame.lonlat(np.array([[x, y]]))[0]
        return float(lat), float(lon)

    def _autopilot_scale(self, points: NDArray[np.float64]) -> float:
        """ArduPilot's metres per grid metre along ``points`` (x, y): the trigger distance
        it is sent is measured its way (:func:`missions.geo.autopilot_distance_m`), the
        photos are spaced on the grid. 1.0034 north-south at 35 N, 0.9989 east-west."""
        xy = np.asarray(points, dtype=float)[:, :2]
        grid_m = float(np.hypot(*np.diff(xy, axis=0).T).sum())
        if grid_m < 1.0:
            return 1.0  # an orbit's single point: no direction to measure
        return autopilot_distance_m(self.frame.lonlat(xy)) / grid_m

    def _ground_at(self, x: float, y: float) -> float:
        """Ground AMSL at local (x, y), remembered: a waypoint asks for it twice."""
        ground = self._grounds.get((x, y))
        if ground is None:
            lat, lon = self._latlon(x, y)
            ground = float(self.ground.elevation(np.array([lon]), np.array([lat]))[0])
            self._grounds[(x, y)] = ground
        return ground

    def _mission_z(self, amsl: float) -> float:
        """An AMSL altitude in the mission's frame (AMSL, or above home)."""
        z = amsl if self.alt_frame == AMSL_FRAME else amsl - self.home_alt_m
        return round(z, 2)

    def _located(self, command: int, x: float, y: float, agl: float) -> MissionItem:
        """A ``command`` item at local ``(x, y)``, ``agl`` above the ground there."""
        return self._at(command, x, y, self._ground_at(x, y) + agl)

    def _at(self, command: int, x: float, y: float, amsl: float) -> MissionItem:
        lat, lon = self._latlon(x, y)
        return self._add(
            frame=self.alt_frame,
            command=command,
            x=to_e7(lat),
            y=to_e7(lon),
            z=self._mission_z(amsl),
        )

    def _point(self, x: float, y: float, amsl: float, speed: float) -> None:
        self.path.append((x, y, amsl - self._ground_at(x, y), speed))
        self.amsl.append(amsl)

    def home(self) -> None:
        lat, lon = self._latlon(*self.home_xy)
        self._add(
            frame=mavlink.MAV_FRAME_GLOBAL,
            command=mavlink.MAV_CMD_NAV_WAYPOINT,
            x=to_e7(lat),
            y=to_e7(lon),
            z=round(self.home_alt_m, 2),
        )
        self._point(*self.home_xy, self.home_alt_m, 0.0)

    def takeoff(self, agl: float) -> None:
        """Climb straight up over the dock (NAV_TAKEOFF is always above home)."""
        lat, lon = self._latlon(*self.home_xy)
        self._add(
            frame=RELATIVE_FRAME,
            command=mavlink.MAV_CMD_NAV_TAKEOFF,
            x=to_e7(lat),
            y=to_e7(lon),
            z=round(agl, 2),
        )
        self._point(*self.home_xy, self.home_alt_m + agl, self.aircraft.climb_rate_m_s)
        self.set_speed(self.aircraft.cruise_speed_m_s, force=True)

    def waypoint(self, x: float, y: float, agl: float, *, base_amsl: float | None = None) -> None:
        """Fly to ``(x, y)`` at ``agl`` above the ground (or above ``base_amsl``).

        Without a base the hop follows the ground; either way it steps up over
        any obstacle whose keep-out zone it crosses below the roof.
        """
        stops: list[tuple[float, float, float]] = []
        if base_amsl is None and self.path:
            px, py, pagl, _ = self.path[-1]
            stops = self._terrain_breaks((px, py, pagl), (x, y, agl))
        z = base_amsl + agl if base_amsl is not None else self._ground_at(x, y) + agl
        for sx, sy, sz in [*stops, (x, y, z)]:
            self._step_over(sx, sy, max(sz, self.obstacles.roof_at(sx, sy)[0]))

    def _step_over(self, x: float, y: float, amsl: float) -> None:
        """One waypoint, with steps over the obstacles between the last one and it."""
        if self.path:
            a = (self.path[-1][0], self.path[-1][1], self.amsl[-1])
            for sx, sy, sz in step_profile(self.obstacles, a, (x, y, amsl)):
                self._waypoint(sx, sy, sz)
        self._waypoint(x, y, amsl)

    def _waypoint(self, x: float, y: float, amsl: float) -> None:
        self._at(mavlink.MAV_CMD_NAV_WAYPOINT, x, y, amsl)
        self._point(x, y, amsl, self.speed)

    def _terrain_breaks(
        self, a: tuple[float, float, float], b: tuple[float, float, float]
    ) -> list[tuple[float, float, float]]:
        """Intermediate AMSL points so a straight hop keeps its height over the ground."""
        length = math.hypot(b[0] - a[0], b[1] - a[1])
        step = max(self.ground.resolution_m, 5.0)
        n = int(length // step)
        if n < 2:
            return []
        t = np.linspace(0, 1, n + 1)
        xy = np.column_stack([a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])])
        lonlat = self.frame.lonlat(xy)
        ground = self.ground.elevation(lonlat[:, 0], lonlat[:, 1])
        agl = a[2] + t * (b[2] - a[2])
        target = ground + agl
        keep = [0, n]
        # split where the straight line between kept points strays from the target altitude
        changed = True
        while changed:
            changed = False
            for lo, hi in itertools.pairwise(keep):
                if hi - lo < 2:
                    continue
                line = np.interp(t[lo : hi + 1], [t[lo], t[hi]], [target[lo], target[hi]])
                err = np.abs(line - target[lo : hi + 1])
                worst = int(np.argmax(err))
                if err[worst] > TERRAIN_TOLERANCE_M:
                    keep = sorted({*keep, lo + worst})
                    changed = True
                    break
        return [(float(xy[k, 0]), float(xy[k, 1]), float(target[k])) for k in keep[1:-1]]

    def command(self, command: int, *params: float, z: float = 0.0) -> MissionItem:
        p = [round(float(v), 4) for v in (*params, 0.0, 0.0, 0.0, 0.0)[:4]]
        return self._add(
            frame=COMMAND_FRAME,
            command=command,
            param1=p[0],
            param2=p[1],
            param3=p[2],
            param4=p[3],
            z=z,
        )

    def set_speed(self, speed: float, *, force: bool = False) -> None:
        speed = round(speed, 1)
        if force or abs(speed - self.speed) > 1e-6:
            self.command(mavlink.MAV_CMD_DO_CHANGE_SPEED, 1, speed, -1)
            self.speed = speed

    def point_gimbal(self, pitch_deg: float) -> None:
        if self.gimbal != pitch_deg:
            self.command(
                mavlink.MAV_CMD_DO_MOUNT_CONTROL,
                pitch_deg,
                0,
                0,
                0,
                z=float(mavlink.MAV_MOUNT_MODE_MAVLINK_TARGETING),
            )
            self.gimbal = pitch_deg

    # -- flying ------------------------------------------------------------
    @property
    def position(self) -> tuple[float, float]:
        return self.path[-1][0], self.path[-1][1]

    def transit(
        self, to: tuple[float, float], agl: float, *, base_amsl: float | None = None
    ) -> None:
        """Fly to ``to``, around no-fly areas, arriving at ``agl`` (above ``base_amsl``)."""
        here = self.position
        if math.dist(here, to) < 0.01:
            self.waypoint(*to, agl, base_amsl=base_amsl)
            return
        route = self.airspace.path(here, to)
        for x, y in route[1:]:
            self.waypoint(x, y, agl, base_amsl=base_amsl)

    def fly_task(self, task: Task) -> None:
        for k, leg in enumerate(task.legs):
            self.fly_leg(task, leg, first=k == 0)
        self.set_speed(self.aircraft.cruise_speed_m_s)

    def fly_leg(self, task: Task, leg: Leg, *, first: bool) -> None:
        """Run in, switch the camera on one trigger distance before the first photo, fly
        the leg, switch it off (see :attr:`Leg.camera_on`)."""
        start = (float(leg.points[0, 0]), float(leg.points[0, 1]))
        agl, base = leg.altitude_m, leg.base_amsl_m
        on = leg.camera_on
        run_up = on is not None and not self.airspace.blocked(on, start)
        if on is not None and not run_up:
            # no room for the run-up (a leg cut short by a no-fly area): the camera is
            # switched on at start and its first photo is one trigger distance on (a
            # photo at start would be taken as the vehicle turns onto the leg)
            logger.info("%s: no run-up before the leg's start %s", task.target_id, start)
            on = None
        now = leg.trigger_m is not None and leg.camera_on is None  # an orbit: "trigger now"
        run_in = leg.lead_in if on is None else leg.run_in
        if run_in is not None and self.airspace.blocked(run_in, on or start):
            run_in = None  # no room for the turnaround: turn onto the run-up instead
        for k, point in enumerate(p for p in (run_in, on or start) if p is not None):
            self.transit(point, agl, base_amsl=base)
            if k == 0:
                # speed and gimbal settle before the camera is switched on
                self._settle(task, leg, first=first)
        trigger_seq, first_point = -1, len(self.path) - 1
        if leg.trigger_m is not None:
            # "trigger now" (param3) only on an orbit: otherwise every photo is the
            # distance trigger's
            late_m = self.speed * CAMERA_CHECK_S / 2
            trigger_seq = self.command(
                mavlink.MAV_CMD_DO_SET_CAM_TRIGG_DIST,
                (leg.trigger_m - late_m) * self._autopilot_scale(leg.points),
                0,
                int(now),
            ).seq
            if on is not None:
                self.waypoint(*start, agl, base_amsl=base)
        for x, y in leg.points[1:]:
            if self.airspace.blocked(self.position, (float(x), float(y))):
                self.transit((float(x), float(y)), agl, base_amsl=base)
            else:
                self.waypoint(float(x), float(y), agl, base_amsl=base)
        if leg.trigger_m is not None:
            self.command(mavlink.MAV_CMD_DO_SET_CAM_TRIGG_DIST, 0)
            self._record_photos(task, leg, trigger_seq, first_point, run_up=run_up)
        if leg.roi is not None:
            self.command(mavlink.MAV_CMD_DO_SET_ROI_NONE)
        if leg.lead_out is not None:
            self.transit(leg.lead_out, agl, base_amsl=base)
        self.legs.append((task.target_id, task.pattern, leg.points))

    def _settle(self, task: Task, leg: Leg, *, first: bool) -> None:
        """The task's speed (on its first leg) and the leg's gimbal pointing or ROI."""
        if first:
            self.set_speed(task.speed_m_s)
        if leg.roi is not None:
            rx, ry, rh = leg.roi
            foot = self._ground_at(rx, ry) if leg.base_amsl_m is None else leg.base_amsl_m
            self._at(mavlink.MAV_CMD_DO_SET_ROI_LOCATION, rx, ry, foot + rh)
            self.gimbal = None
        else:
            self.point_gimbal(leg.gimbal_pitch_deg)

    def _record_photos(
        self, task: Task, leg: Leg, trigger_seq: int, first: int, *, run_up: bool
    ) -> None:
        """The planned photo points, at the height flown there (steps over obstacles included).

        ``first`` is the path index where the camera is switched on; each photo's
        altitude is read off the flown profile from there on, by distance along it.
        ``run_up``: switched on one trigger distance before the leg (see
        :meth:`Leg.photo_positions`).
        """
        xy = leg.photo_positions(run_up=run_up)
        if len(xy) == 0:
            return
        flown = np.array([(x, y) for x, y, _, _ in self.path[first:]])
        along = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(flown, axis=0).T))])
        line = LineString(flown) if len(flown) > 1 else None
        where = [0.0 if line is None else line.project(Point(p)) for p in xy]
        amsl = np.interp(where, along, self.amsl[first:])
        lonlat = self.frame.lonlat(xy)
        ground = self.ground.elevation(lonlat[:, 0], lonlat[:, 1])
        alts = amsl if self.alt_frame == AMSL_FRAME else amsl - self.home_alt_m
        for (lon, lat), alt, agl in zip(lonlat, alts, amsl - ground, strict=True):
            self.photos.append(
                PhotoPoint(
                    lat=float(lat),
                    lon=float(lon),
                    alt_m=round(float(alt), 2),
                    agl_m=round(float(agl), 2),
                    target_id=task.target_id,
                    pattern=task.pattern,
                    trigger_seq=trigger_seq,
                )
            )

    def finish(self, end: Literal["rtl", "land"]) -> None:
        """Back over the dock at the last task's height above the ground, then down."""
        self.transit(self.home_xy, self.path[-1][2])
        if end == "land":
            lat, lon = self._latlon(*self.home_xy)
            self._add(
                frame=RELATIVE_FRAME,
                command=mavlink.MAV_CMD_NAV_LAND,
                x=to_e7(lat),
                y=to_e7(lon),
                z=0.0,
            )
        else:
            self._add(frame=COMMAND_FRAME, command=mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH)
        self._point(*self.home_xy, self.home_alt_m, self.aircraft.descent_rate_m_s)


def step_profile(
    obstacles: Obstacles, a: tuple[float, float, float], b: tuple[float, float, float]
) -> list[tuple[float, float, float]]:
    """Intermediate points (x, y, AMSL) that lift the straight hop ``a``-``b`` over obstacles.

    Over each keep-out zone the hop crosses below its roof, the profile holds
    the roof from ``STEP_PLATEAU_M`` before the zone to as far after it, with
    ramps of ``STEP_RAMP`` horizontal metres per metre of climb on either side
    (cut short, and so steeper, where the hop's ends leave no room; the hop's
    ends are never inside a zone below its roof, the builder lifts them). Where
    steps overlap the higher one wins; between the profile's break points it
    runs straight, which is never below the true upper envelope (the envelope
    of straight pieces is convex between its breaks).
    """
    length = math.hypot(b[0] - a[0], b[1] - a[1])
    conflicts = [c for c in obstacles.conflicts(a, b) if c.shortfall_m(a[2], b[2]) > 0]
    if not conflicts or length < 1e-6:
        return []

    def base(t: float) -> float:
        return a[2] + t * (b[2] - a[2])

    steps = []  # (ramp start, level start, level end, ramp end, roof)
    for c in conflicts:
        roof = c.volume.roof_amsl_m
        lo = c.t0 - STEP_PLATEAU_M / length
        lo = lo if lo > 0 else c.t0  # no room for the level stretch before the zone
        hi = c.t1 + STEP_PLATEAU_M / length
        hi = hi if hi < 1 else c.t1
        up = max(lo - STEP_RAMP * max(roof - base(lo), 0.0) / length, 0.0)
        down = min(hi + STEP_RAMP * max(roof - base(hi), 0.0) / length, 1.0)
        steps.append((up, lo, hi, down, roof))

    def height(t: float) -> float:
        z = base(t)
        for up, lo, hi, down, roof in steps:
            if lo <= t <= hi:
                z = max(z, roof)
            elif up < t < lo:
                z = max(z, base(up) + (roof - base(up)) * (t - up) / (lo - up))
            elif hi < t < down:
                z = max(z, roof + (base(down) - roof) * (t - hi) / (down - hi))
        return z

    breaks = sorted({t for step in steps for t in step[:4] if 0 < t < 1})
    return [(a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]), height(t)) for t in breaks]


def build_sortie(
    tasks: list[Task],
    *,
    home_xy: tuple[float, float],
    home_alt_m: float,
    frame: LocalFrame,
    airspace: Airspace,
    aircraft: Aircraft,
    ground: Ground,
    obstacles: Obstacles,
    amsl_frame: bool = False,
    name: str = "",
    end: Literal["rtl", "land"] = "rtl",
) -> BuiltSortie:
    """The mission flying ``tasks`` in order from and back to the dock at ``home_xy``.

    ``amsl_frame`` writes altitudes AMSL (with a DEM) instead of above home.
    """
    b = _Builder(
        frame=frame,
        airspace=airspace,
        aircraft=aircraft,
        ground=ground,
        amsl_frame=amsl_frame,
        obstacles=obstacles,
        home_xy=home_xy,
        home_alt_m=home_alt_m,
    )
    b.home()
    first = tasks[0].legs[0] if tasks else None
    if first is None:
        climb = 30.0
    elif first.base_amsl_m is not None:
        climb = first.base_amsl_m + first.altitude_m - home_alt_m
    else:
        climb = first.altitude_m
    b.takeoff(climb)
    for task in tasks:
        b.fly_task(task)
    b.finish(end)
    path = np.array([(x, y, agl) for x, y, agl, _ in b.path])
    length, duration = _length_and_duration(b.path, aircraft)
    mission = Mission(items=tuple(b.items), name=name)
    return BuiltSortie(mission, tuple(b.photos), path, length, duration, b.legs, np.asarray(b.amsl))


def _length_and_duration(
    path: list[tuple[float, float, float, float]], aircraft: Aircraft
) -> tuple[float, float]:
    """3-D flown length, and time with climbs, descents and a pause per sharp turn."""
    length = 0.0
    duration = 0.0
    headings: list[float] = []
    for (x0, y0, z0, _), (x1, y1, z1, speed) in itertools.pairwise(path):
        horizontal = math.hypot(x1 - x0, y1 - y0)
        vertical = z1 - z0
        length += math.hypot(horizontal, vertical)
        if horizontal > 0.01:
            headings.append(math.atan2(x1 - x0, y1 - y0))
            duration += horizontal / max(speed, 0.1)
        rate = aircraft.climb_rate_m_s if vertical > 0 else aircraft.descent_rate_m_s
        duration += abs(vertical) / rate
    turns = sum(
        1
        for h0, h1 in itertools.pairwise(headings)
        if abs((math.degrees(h1 - h0) + 180) % 360 - 180) > TURN_DEG
    )
    return length, duration + turns * aircraft.turn_time_s
