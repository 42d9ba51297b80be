"""Turn one dock and an ordered list of tasks into an ArduPilot mission.

Item layout (ArduPilot conventions): item 0 is home at the dock (AMSL), then
NAV_TAKEOFF, DO_CHANGE_SPEED (cruise), the tasks with their transits, a
waypoint above the dock and RETURN_TO_LAUNCH. Each camera leg is
``WP(start) DO_SET_CAM_TRIGG_DIST(d, 0, 1) ... WP(end) DO_SET_CAM_TRIGG_DIST(0)``
so the camera is off in turnarounds and transits; ArduPilot runs the DO items
after a waypoint when it reaches that waypoint. Orbits set
DO_SET_ROI_LOCATION on the stack and DO_SET_ROI_NONE after; nadir tasks point
the gimbal down with DO_MOUNT_CONTROL (no NaN parameters, which ArduPilot
refuses). Every hop between waypoints is routed around the no-fly areas.
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

from missions.airspace import Airspace
from missions.camera import Aircraft
from missions.geo import LocalFrame
from missions.items import Mission, MissionItem, to_e7
from missions.path import Leg, Task
from missions.terrain import Terrain

logger = logging.getLogger(__name__)

RELATIVE_FRAME = mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT
AMSL_FRAME = mavlink.MAV_FRAME_GLOBAL_INT
COMMAND_FRAME = mavlink.MAV_FRAME_MISSION
TERRAIN_TOLERANCE_M = 3.0
TURN_DEG = 30.0


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


class _Builder:
    def __init__(
        self,
        *,
        frame: LocalFrame,
        airspace: Airspace,
        aircraft: Aircraft,
        terrain: Terrain | None,
        home_xy: tuple[float, float],
        home_alt_m: float,
    ) -> None:
        self.frame = frame
        self.airspace = airspace
        self.aircraft = aircraft
        self.terrain = terrain
        self.alt_frame = AMSL_FRAME if terrain is not None else RELATIVE_FRAME
        self.items: list[MissionItem] = []
        self.path: list[tuple[float, float, float, float]] = []  # x, y, agl, speed to reach
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

    def _located(self, command: int, x: float, y: float, agl: float) -> MissionItem:
        """A ``command`` item at local ``(x, y)``, ``agl`` above the terrain when there is one."""
        lat, lon = self._latlon(x, y)
        z = agl
        if self.terrain is not None:
            z += float(self.terrain.elevation(np.array([lon]), np.array([lat]))[0])
        return self._add(
            frame=self.alt_frame, command=command, x=to_e7(lat), y=to_e7(lon), z=round(z, 2)
        )

    def home(self) -> None:
        lat, lon = self._latlon(*self.home_xy)
        self._add(
            frame=mavlink.MAV_FRAME_GLOBAL,
            command=mavlink.MAV_CMD_NAV_WAYPOINT,
            x=to_e7(lat),
            y=to_e7(lon),
            z=round(self.home_alt_m, 2),
        )
        self.path.append((*self.home_xy, 0.0, 0.0))

    def takeoff(self, agl: float) -> None:
        lat, lon = self._latlon(*self.home_xy)
        self._add(
            frame=RELATIVE_FRAME,
            command=mavlink.MAV_CMD_NAV_TAKEOFF,
            x=to_e7(lat),
            y=to_e7(lon),
            z=round(agl, 2),
        )
        self.path.append((*self.home_xy, agl, self.aircraft.climb_rate_m_s))
        self.set_speed(self.aircraft.cruise_speed_m_s, force=True)

    def waypoint(self, x: float, y: float, agl: float) -> None:
        if self.terrain is not None and self.path:
            px, py, pagl, _ = self.path[-1]
            for mx, my, magl in self._terrain_breaks((px, py, pagl), (x, y, agl)):
                self._waypoint(mx, my, magl)
        self._waypoint(x, y, agl)

    def _waypoint(self, x: float, y: float, agl: float) -> None:
        self._located(mavlink.MAV_CMD_NAV_WAYPOINT, x, y, agl)
        self.path.append((x, y, agl, self.speed))

    def _terrain_breaks(
        self, a: tuple[float, float, float], b: tuple[float, float, float]
    ) -> list[tuple[float, float, float]]:
        """Intermediate waypoints so a straight hop keeps its height over the terrain."""
        assert self.terrain is not None
        length = math.hypot(b[0] - a[0], b[1] - a[1])
        step = max(self.terrain.resolution_m, 5.0)
        n = int(length // step)
        if n < 2:
            return []
        t = np.linspace(0, 1, n + 1)
        xy = np.column_stack([a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])])
        lonlat = self.frame.lonlat(xy)
        ground = self.terrain.elevation(lonlat[:, 0], lonlat[:, 1])
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
        return [(float(xy[k, 0]), float(xy[k, 1]), float(agl[k])) for k in keep[1:-1]]

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

    def transit(self, to: tuple[float, float], agl: float) -> None:
        """Fly to ``to``, around no-fly areas, arriving at ``agl``."""
        here = self.position
        if math.dist(here, to) < 0.01:
            if abs(self.path[-1][2] - agl) > 0.01:
                self.waypoint(*to, agl)
            return
        route = self.airspace.path(here, to)
        for x, y in route[1:]:
            self.waypoint(x, y, agl)

    def fly_task(self, task: Task) -> None:
        for k, leg in enumerate(task.legs):
            self.fly_leg(task, leg, first=k == 0)
        self.set_speed(self.aircraft.cruise_speed_m_s)

    def fly_leg(self, task: Task, leg: Leg, *, first: bool) -> None:
        start = (float(leg.points[0, 0]), float(leg.points[0, 1]))
        if leg.lead_in is not None:
            # at the run-in point: speed and gimbal settle before the first photo
            self.transit(leg.lead_in, leg.altitude_m)
            if first:
                self.set_speed(task.speed_m_s)
            if leg.roi is None:
                self.point_gimbal(leg.gimbal_pitch_deg)
        self.transit(start, leg.altitude_m)
        if first:
            self.set_speed(task.speed_m_s)
        if leg.roi is not None:
            rx, ry, rh = leg.roi
            self._located(mavlink.MAV_CMD_DO_SET_ROI_LOCATION, rx, ry, rh)
            self.gimbal = None
        else:
            self.point_gimbal(leg.gimbal_pitch_deg)
        trigger_seq = -1
        if leg.trigger_m is not None:
            trigger_seq = self.command(
                mavlink.MAV_CMD_DO_SET_CAM_TRIGG_DIST, leg.trigger_m, 0, 1
            ).seq
        for x, y in leg.points[1:]:
            if self.airspace.blocked(self.position, (float(x), float(y))):
                self.transit((float(x), float(y)), leg.altitude_m)
            else:
                self.waypoint(float(x), float(y), leg.altitude_m)
        if leg.trigger_m is not None:
            self.command(mavlink.MAV_CMD_DO_SET_CAM_TRIGG_DIST, 0, 0, 0)
            self._record_photos(task, leg, trigger_seq)
        if leg.roi is not None:
            self.command(mavlink.MAV_CMD_DO_SET_ROI_NONE)
        if leg.lead_out is not None:
            self.transit(leg.lead_out, leg.altitude_m)
        self.legs.append((task.target_id, task.pattern, leg.points))

    def _record_photos(self, task: Task, leg: Leg, trigger_seq: int) -> None:
        xy = leg.photo_positions()
        if len(xy) == 0:
            return
        lonlat = self.frame.lonlat(xy)
        if self.terrain is None:
            alts = np.full(len(xy), leg.altitude_m)
        else:
            alts = self.terrain.elevation(lonlat[:, 0], lonlat[:, 1]) + leg.altitude_m
        for (lon, lat), alt in zip(lonlat, alts, strict=True):
            self.photos.append(
                PhotoPoint(
                    lat=float(lat),
                    lon=float(lon),
                    alt_m=round(float(alt), 2),
                    agl_m=leg.altitude_m,
                    target_id=task.target_id,
                    pattern=task.pattern,
                    trigger_seq=trigger_seq,
                )
            )

    def finish(self, agl: float, end: Literal["rtl", "land"]) -> None:
        self.transit(self.home_xy, agl)
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
        self.path.append((*self.home_xy, 0.0, self.aircraft.descent_rate_m_s))


def build_sortie(
    tasks: list[Task],
    *,
    home_xy: tuple[float, float],
    home_alt_m: float,
    frame: LocalFrame,
    airspace: Airspace,
    aircraft: Aircraft,
    terrain: Terrain | None = None,
    name: str = "",
    end: Literal["rtl", "land"] = "rtl",
) -> BuiltSortie:
    """The mission flying ``tasks`` in order from and back to the dock at ``home_xy``."""
    b = _Builder(
        frame=frame,
        airspace=airspace,
        aircraft=aircraft,
        terrain=terrain,
        home_xy=home_xy,
        home_alt_m=home_alt_m,
    )
    b.home()
    b.takeoff(tasks[0].legs[0].altitude_m if tasks else 30.0)
    for task in tasks:
        b.fly_task(task)
    b.finish(b.path[-1][2], end)
    path = np.array([(x, y, agl) for x, y, agl, _ in b.path])
    length, duration = _length_and_duration(b.path, aircraft)
    mission = Mission(items=tuple(b.items), name=name)
    return BuiltSortie(mission, tuple(b.photos), path, length, duration, b.legs)


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
