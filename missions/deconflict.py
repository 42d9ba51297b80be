"""Keep drones that fly at the same time apart, by choosing when each one launches.

Two drones are *apart* when their horizontal distance is at least
``Separation.horizontal_m`` or their vertical distance at least
``Separation.vertical_m``. Deconfliction here is in time: the planner does not
move a checked route (that would undo its clearance and ceiling checks), it
delays launches. Each mission is turned into a :class:`Trajectory` from its
items alone, flown the way ArduCopter flies them (AC_WPNav's speeds, mode_rtl's
return, mode_land's descent). A vehicle never keeps its plan's clock exactly
(wind, acceleration at corners, a slow arming), so ``e`` seconds after its
launch a vehicle may be anywhere it planned to be within ``timing_margin_s +
timing_drift * e`` of ``e``: two planned points conflict when they are not
apart and their launch-shifted times are close enough for both to be flown at
one moment (see :func:`_window_s`).

Only airborne samples count: a drone on the ground in its dock (before its
launch, after it lands) is nobody's traffic. Positions are sampled every
``step_s``; the gap between samples is covered by widening the separation by
how far the two vehicles can move in half a step (and the timing window by one
step), so a conflict between samples is not missed.

Distances use a local equirectangular frame (x east, y north, metres on a
sphere of radius :data:`missions.geo.EARTH_RADIUS_M`) about the middle of the
two routes: within a zone of a few kilometres it differs from the geodesic by
well under a percent. Altitudes are AMSL throughout (``alt_amsl_m``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.camera import Aircraft
from missions.errors import InfeasibleError, InvalidProfileError
from missions.geo import EARTH_RADIUS_M
from missions.items import Mission, MissionItem

if TYPE_CHECKING:
    from missions.plan import Patrol

FloatArray = NDArray[np.float64]

#: ArduPilot defaults (AC_WPNav.cpp, ArduCopter/config.h, Parameters.cpp), m/s, m, s.
WPNAV_SPEED_M_S = 10.0
WPNAV_SPEED_UP_M_S = 2.5
WPNAV_SPEED_DN_M_S = 1.5
RTL_ALT_M = 15.0
RTL_ALT_MIN_M = 2.0
RTL_CONE_SLOPE = 3.0
RTL_LOIT_TIME_S = 5.0
LAND_SPEED_M_S = 0.5
LAND_ALT_LOW_M = 10.0
#: AC_Circle's CIRCLE_RATE default: how fast LOITER_TURNS goes round (deg/s).
CIRCLE_RATE_DEG_S = 20.0
#: A corner sharper than this slows the vehicle down (the routing estimate's threshold).
SHARP_TURN_DEG = 30.0
#: Trajectories are sampled every second for deconfliction.
STEP_S = 1.0
#: Launch delays are searched in steps of this many seconds.
WAIT_STEP_S = 5.0
#: Consecutive samples compared as one block before the exact distances.
BLOCK = 32
#: Metres per degree of latitude on the frame's sphere (of longitude: times cos(lat)).
_M_PER_DEG = math.pi / 180 * EARTH_RADIUS_M

_ABOVE_HOME = {
    mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT,
    mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
    # without a DEM the terrain under a terrain-frame item is taken to be home's
    mavlink.MAV_FRAME_GLOBAL_TERRAIN_ALT,
    mavlink.MAV_FRAME_GLOBAL_TERRAIN_ALT_INT,
}
_AMSL = {mavlink.MAV_FRAME_GLOBAL, mavlink.MAV_FRAME_GLOBAL_INT}
_GOTO = {mavlink.MAV_CMD_NAV_WAYPOINT, mavlink.MAV_CMD_NAV_SPLINE_WAYPOINT}


@dataclass(frozen=True, slots=True)
class Separation:
    """How far apart two drones must stay: either distance is enough (metres)."""

    horizontal_m: float = 50.0
    vertical_m: float = 15.0

    def __post_init__(self) -> None:
        if not (self.horizontal_m > 0 and self.vertical_m > 0):
            raise InvalidProfileError("separation distances must be positive")


@dataclass(frozen=True, slots=True, eq=False)
class Trajectory:
    """Where a mission puts the vehicle over time.

    ``t_s`` (N,) seconds from arming, evenly stepped; ``lat``, ``lon`` (N,)
    degrees WGS84; ``alt_amsl_m`` (N,) metres above mean sea level. The first
    sample is on the ground at home, the last on the ground where it lands.
    """

    t_s: FloatArray
    lat: FloatArray
    lon: FloatArray
    alt_amsl_m: FloatArray
    home_amsl_m: float

    @property
    def duration_s(self) -> float:
        return float(self.t_s[-1])


@dataclass(frozen=True, slots=True)
class Approach:
    """Two sorties at their closest: when (s after the first launch), where, how far apart."""

    sortie_a: int
    sortie_b: int
    t_s: float
    lat: float
    lon: float
    horizontal_m: float
    vertical_m: float
    separation: Separation = field(default_factory=Separation)

    @property
    def apart(self) -> bool:
        return (
            self.horizontal_m >= self.separation.horizontal_m
            or self.vertical_m >= self.separation.vertical_m
        )


@dataclass(frozen=True, slots=True)
class FleetSchedule:
    """When each sortie of a wave launches, and why any of them waits.

    ``start_s``: sortie number -> launch delay after the first launch (s);
    ``closest``: each pair airborne together, at its closest approach with those
    delays (on the planned clock); ``notes``: one line per added wait.
    """

    start_s: dict[int, float]
    closest: tuple[Approach, ...]
    notes: tuple[str, ...]


# --- trajectories -------------------------------------------------------------------


@dataclass
class _Rates:
    """The speeds in force (m/s): horizontal, up, down."""

    xy: float
    up: float
    down: float


class _Flight:
    """Keyframes (t, lat, lon, AMSL) of a mission flown item by item."""

    def __init__(self, mission: Mission, rates: _Rates, home_amsl_m: float, turn_s: float) -> None:
        self.mission = mission
        self.turn_s = turn_s
        self.heading: float | None = None  # of the last horizontal leg, None once stopped
        self.params = mission.params
        self.defaults = _Rates(rates.xy, rates.up, rates.down)
        self.rates = rates
        self.home = (mission.home.lat, mission.home.lon, home_amsl_m)
        self.keys: list[tuple[float, float, float, float]] = [(0.0, *self.home)]

    @property
    def at(self) -> tuple[float, float, float, float]:
        return self.keys[-1]

    def alt(self, item: MissionItem) -> float:
        if item.frame in _AMSL:
            return item.z
        if item.frame in _ABOVE_HOME:
            return self.home[2] + item.z
        raise InvalidProfileError(f"mission item {item.seq}: altitude frame {item.frame} unknown")

    def target(self, item: MissionItem) -> tuple[float, float]:
        """The item's position; 0, 0 means "where the vehicle is" (as ArduPilot reads it)."""
        if item.x == 0 and item.y == 0:
            return self.at[1], self.at[2]
        return item.lat, item.lon

    def move(self, lat: float, lon: float, alt: float, rates: _Rates | None = None) -> None:
        """A straight 3-D leg, as long as its slowest axis takes (AC_WPNav's limits).

        A turn of more than :data:`SHARP_TURN_DEG` from the last leg costs
        ``turn_s`` at the corner, slowing down and speeding up again, as the
        routing estimate counts it (:func:`missions.routing.task_duration_s`).
        """
        r = rates or self.rates
        t, lat0, lon0, alt0 = self.at
        h = float(_horizontal_m(lat0, lon0, lat, lon))
        heading = None
        if h > 0.5:
            cos_lat = math.cos(math.radians(lat0))
            heading = math.degrees(math.atan2((lon - lon0) * cos_lat, lat - lat0))
            if self.heading is not None and _turn_deg(self.heading, heading) > SHARP_TURN_DEG:
                t += self.turn_s
                self.keys.append((t, lat0, lon0, alt0))
        dz = alt - alt0
        dt = max(h / r.xy, dz / r.up if dz > 0 else -dz / r.down)
        self.keys.append((t + dt, lat, lon, alt))
        self.heading = heading

    def hold(self, seconds: float) -> None:
        if seconds > 0:
            self.heading = None
            t, lat, lon, alt = self.at
            self.keys.append((t + seconds, lat, lon, alt))

    def circle(self, item: MissionItem) -> None:
        """LOITER_TURNS: to the ring's nearest point, then ``param1`` turns round it.

        ``param3`` is the radius (m; positive clockwise seen from above), gone
        round at AC_Circle's CIRCLE_RATE or slower if that would exceed the
        horizontal speed; the vehicle leaves from where the turns end.
        """
        lat_c, lon_c = self.target(item)
        radius, turns = abs(item.param3), max(item.param1, 0.0)
        _, lat, lon, _ = self.at
        east = (lon - lon_c) * _M_PER_DEG * math.cos(math.radians(lat_c))
        start = math.atan2(east, (lat - lat_c) * _M_PER_DEG) if radius >= 1.0 else 0.0
        self.move(
            *_offset(lat_c, lon_c, radius * math.sin(start), radius * math.cos(start)),
            self.alt(item),
        )
        if radius < 1.0:
            self.hold(turns * 360.0 / CIRCLE_RATE_DEG_S)
            return
        rate = min(math.radians(CIRCLE_RATE_DEG_S), self.rates.xy / radius)
        sense = 1.0 if item.param3 >= 0 else -1.0
        steps = max(int(turns * 36), 1)
        t, _, _, alt = self.at
        for n in range(1, steps + 1):
            swept = 2 * math.pi * turns * n / steps
            ang = start + sense * swept
            lat, lon = _offset(lat_c, lon_c, radius * math.sin(ang), radius * math.cos(ang))
            self.keys.append((t + swept / rate, lat, lon, alt))
        self.heading = None

    def land(self) -> None:
        """mode_land: WPNAV_SPEED_DN (or LAND_SPEED_HIGH) to LAND_ALT_LOW, then LAND_SPEED."""
        high = self.param("LAND_SPEED_HIGH", 0.01, 0.0) or self.defaults.down
        slow = self.param("LAND_SPEED", 0.01, LAND_SPEED_M_S)
        low = self.home[2] + self.param("LAND_ALT_LOW", 0.01, LAND_ALT_LOW_M)
        t, lat, lon, alt = self.at
        if alt > low:
            self.keys.append((t + (alt - low) / high, lat, lon, low))
        t, _, _, alt = self.at
        ground = self.home[2]
        self.keys.append((t + max(alt - ground, 0.0) / slow, lat, lon, ground))

    def rtl(self) -> None:
        """mode_rtl: climb to the return altitude, on to home or the nearest rally point, land."""
        _, lat, lon, alt = self.at
        places = [(self.home[0], self.home[1])] + [(r.lat, r.lon) for r in self.mission.rally]
        dist = [float(_horizontal_m(lat, lon, p[0], p[1])) for p in places]
        goal = places[int(np.argmin(dist))]
        current = alt - self.home[2]
        floor = max(RTL_ALT_MIN_M, current)
        ret = max(self.param("RTL_ALT", 0.01, RTL_ALT_M), floor)
        slope = self.param("RTL_CONE_SLOPE", 1.0, RTL_CONE_SLOPE)
        if slope >= 0.5:
            ret = min(ret, max(min(dist) * slope, floor))
        speed = self.param("RTL_SPEED", 0.01, 0.0) or self.defaults.xy
        rates = _Rates(speed, self.defaults.up, self.defaults.down)
        self.move(lat, lon, self.home[2] + ret, rates)
        self.move(goal[0], goal[1], self.home[2] + ret, rates)
        self.hold(self.param("RTL_LOIT_TIME", 0.001, RTL_LOIT_TIME_S))
        self.land()

    def param(self, name: str, scale: float, default: float) -> float:
        return float(self.params[name]) * scale if name in self.params else default


def trajectory(
    mission: Mission,
    *,
    aircraft: Aircraft | None = None,
    home_amsl_m: float | None = None,
    step_s: float = 1.0,
) -> Trajectory:
    """Where ``mission`` puts the vehicle, second by second, from arming to touchdown.

    Read from the items alone, so it serves any uploaded or imported mission:
    the take-off climbs straight up; each leg flies at the speed in force
    (DO_CHANGE_SPEED, else ``WPNAV_SPEED`` from ``mission.params``, else the
    aircraft's cruise, else ArduPilot's 10 m/s), climbing and descending at
    ``WPNAV_SPEED_UP``/``_DN`` (else the aircraft's rates, else 2.5 and 1.5
    m/s), a leg lasting as long as its slowest axis, a sharp corner costing the
    aircraft's ``turn_time_s`` (that of the default :class:`Aircraft` when none
    is given); holds (a waypoint's
    ``param1``, LOITER_TIME, LOITER_TURNS, NAV_DELAY) wait; DO_JUMP repeats;
    the closing RTL (``RTL_ALT``, ``RTL_CONE_SLOPE``, ``RTL_LOIT_TIME`` from the
    params) or LAND descends to the ground, taken to be at home's altitude
    (there is no DEM here). Acceleration is not otherwise modelled: the timing
    window of :func:`deconflict` absorbs it.

    Parameters
    ----------
    home_amsl_m : float, metres AMSL
        The ground at home; default: home item's altitude (the planner writes
        it AMSL). Above-home and terrain frames are taken relative to it.

    Raises
    ------
    InfeasibleError
        The mission never ends (an unlimited loiter or jump, no closing RTL or
        LAND) or waits for a clock time: it has no timing to plan with.
    """
    if step_s <= 0:
        raise InvalidProfileError("step_s must be positive")
    turn_s = (aircraft or Aircraft()).turn_time_s
    flight = _Flight(
        mission, _default_rates(mission, aircraft), _home_alt(mission, home_amsl_m), turn_s
    )
    for item in _executed(mission):
        _fly(flight, item)
        if item.command in (mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH, mavlink.MAV_CMD_NAV_LAND):
            break
    else:
        raise InfeasibleError(
            f"{mission.name or 'mission'}: ends in the air (no RTL or LAND): its end has no time"
        )
    return _sampled(flight, step_s)


def _home_alt(mission: Mission, home_amsl_m: float | None) -> float:
    if home_amsl_m is not None:
        return home_amsl_m
    if not mission.items:
        raise InvalidProfileError("mission has no home item")
    return mission.home.z


def _default_rates(mission: Mission, aircraft: Aircraft | None) -> _Rates:
    p = mission.params
    base = (
        (aircraft.cruise_speed_m_s, aircraft.climb_rate_m_s, aircraft.descent_rate_m_s)
        if aircraft is not None
        else (WPNAV_SPEED_M_S, WPNAV_SPEED_UP_M_S, WPNAV_SPEED_DN_M_S)
    )
    names = ("WPNAV_SPEED", "WPNAV_SPEED_UP", "WPNAV_SPEED_DN")
    xy, up, down = (
        p[n] / 100.0 if p.get(n, 0) > 0 else b for n, b in zip(names, base, strict=True)
    )
    return _Rates(float(xy), float(up), float(down))


def _executed(mission: Mission) -> Iterator[MissionItem]:
    """The items in the order the autopilot runs them (DO_JUMP followed), home skipped."""
    items = mission.items
    jumps: dict[int, int] = defaultdict(int)
    k, budget = 1, 100 * max(len(items), 1)
    while k < len(items) and budget > 0:
        item, budget = items[k], budget - 1
        if item.command == mavlink.MAV_CMD_DO_JUMP:
            if item.param2 < 0:
                raise InfeasibleError(f"mission item {k}: jumps for ever, its end cannot be timed")
            if jumps[k] < int(item.param2):
                jumps[k] += 1
                k = int(item.param1)
                continue
        else:
            yield item
        k += 1
    if budget <= 0:
        raise InfeasibleError("mission jumps too many times to be timed")


def _fly(flight: _Flight, item: MissionItem) -> None:
    """One item's effect on the vehicle's path or speeds."""
    cmd = item.command
    if cmd == mavlink.MAV_CMD_NAV_TAKEOFF:
        _, lat, lon, alt = flight.at
        flight.move(lat, lon, max(alt, flight.alt(item)))
    elif cmd in _GOTO or cmd == mavlink.MAV_CMD_NAV_LOITER_TIME:
        flight.move(*flight.target(item), flight.alt(item))
        flight.hold(item.param1)
    elif cmd == mavlink.MAV_CMD_NAV_LOITER_TURNS:
        flight.circle(item)
    elif cmd == mavlink.MAV_CMD_NAV_DELAY:
        if item.param1 < 0:
            raise InfeasibleError(f"mission item {item.seq}: waits for a clock time")
        flight.hold(item.param1)
    elif cmd in (mavlink.MAV_CMD_NAV_LOITER_UNLIM, mavlink.MAV_CMD_NAV_LOITER_TO_ALT):
        raise InfeasibleError(f"mission item {item.seq}: loiters without a time limit")
    elif cmd == mavlink.MAV_CMD_NAV_LAND:
        alt = flight.at[3]
        flight.move(*flight.target(item), alt)
        flight.land()
    elif cmd == mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH:
        flight.rtl()
    elif cmd == mavlink.MAV_CMD_DO_CHANGE_SPEED and item.param2 > 0:
        kind = int(item.param1)
        if kind == mavlink.SPEED_TYPE_CLIMB_SPEED:
            flight.rates.up = item.param2
        elif kind == mavlink.SPEED_TYPE_DESCENT_SPEED:
            flight.rates.down = item.param2
        else:
            flight.rates.xy = item.param2


def _sampled(flight: _Flight, step_s: float) -> Trajectory:
    keys = np.asarray(flight.keys, dtype=float)
    end = float(keys[-1, 0])
    t = np.arange(0.0, end, step_s)
    t = np.append(t, end) if end - t[-1] > 1e-9 else t
    if len(t) < 2:
        t = np.array([0.0, end])
    lat, lon, alt = (np.interp(t, keys[:, 0], keys[:, k]) for k in (1, 2, 3))
    return Trajectory(t, lat, lon, alt, flight.home[2])


def _horizontal_m(
    lat0: float | FloatArray,
    lon0: float | FloatArray,
    lat1: float | FloatArray,
    lon1: float | FloatArray,
) -> FloatArray:
    """Local equirectangular distance (metres): ample for legs of a few kilometres."""
    mid = np.radians((np.asarray(lat0) + np.asarray(lat1)) / 2)
    dx = (np.asarray(lon1) - np.asarray(lon0)) * np.cos(mid) * _M_PER_DEG
    dy = (np.asarray(lat1) - np.asarray(lat0)) * _M_PER_DEG
    return np.asarray(np.hypot(dx, dy), dtype=float)


def _turn_deg(from_deg: float, to_deg: float) -> float:
    return abs((to_deg - from_deg + 180.0) % 360.0 - 180.0)


def _offset(lat: float, lon: float, east_m: float, north_m: float) -> tuple[float, float]:
    return lat + north_m / _M_PER_DEG, lon + east_m / (_M_PER_DEG * math.cos(math.radians(lat)))


# --- pairs of vehicles --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Track:
    """A trajectory's airborne samples in the shared local frame (x east, y north, metres)."""

    t: FloatArray
    xyz: FloatArray  # (N, 3): x, y, AMSL
    lat: FloatArray
    lon: FloatArray
    speed_xy: float  # the fastest the vehicle moves between samples (m/s)
    speed_z: float


def _tracks(trajs: Mapping[int, Trajectory]) -> dict[int, _Track]:
    """Each trajectory without its two ground samples, in one frame about their middle."""
    lat0 = float(np.mean([tr.lat.mean() for tr in trajs.values()]))
    lon0 = float(np.mean([tr.lon.mean() for tr in trajs.values()]))
    out = {}
    for n, tr in trajs.items():
        x = (tr.lon - lon0) * _M_PER_DEG * math.cos(math.radians(lat0))
        y = (tr.lat - lat0) * _M_PER_DEG
        xyz = np.column_stack([x, y, tr.alt_amsl_m])
        dt = np.maximum(np.diff(tr.t_s), 1e-9)
        vxy = np.hypot(*np.diff(xyz[:, :2], axis=0).T) / dt
        vz = np.abs(np.diff(xyz[:, 2])) / dt
        air = slice(1, max(len(tr.t_s) - 1, 1))
        out[n] = _Track(
            tr.t_s[air], xyz[air], tr.lat[air], tr.lon[air], float(vxy.max()), float(vz.max())
        )
    return out


@dataclass(frozen=True, slots=True)
class _Cells:
    """Every pair of samples (A at index ``ia``, B at ``ib``) not apart, with their distances."""

    ia: NDArray[np.intp]
    ib: NDArray[np.intp]
    h: FloatArray
    v: FloatArray


def _blocks(xyz: FloatArray) -> tuple[NDArray[np.intp], FloatArray, FloatArray]:
    """Indices of consecutive sample blocks ``(M, BLOCK)``, their boxes' low and high corners."""
    n = len(xyz)
    m = max(-(-n // BLOCK), 1)
    idx = np.minimum(np.arange(m * BLOCK).reshape(m, BLOCK), n - 1)
    pts = xyz[idx]
    return idx, pts.min(axis=1), pts.max(axis=1)


def _close_cells(a: _Track, b: _Track, sep: Separation, step_s: float) -> _Cells:
    """The sample pairs of two tracks not apart, the separation widened by half a step's travel.

    Blocks of samples whose boxes are apart are skipped whole, so two routes far
    from each other cost a few thousand box tests rather than N x M distances.
    """
    empty = _Cells(np.zeros(0, np.intp), np.zeros(0, np.intp), np.zeros(0), np.zeros(0))
    if len(a.t) == 0 or len(b.t) == 0:
        return empty
    lim_h = sep.horizontal_m + (a.speed_xy + b.speed_xy) * step_s / 2
    lim_v = sep.vertical_m + (a.speed_z + b.speed_z) * step_s / 2
    ia, lo_a, hi_a = _blocks(a.xyz)
    ib, lo_b, hi_b = _blocks(b.xyz)
    gap = np.maximum(0.0, np.maximum(lo_a[:, None] - hi_b[None, :], lo_b[None, :] - hi_a[:, None]))
    near = (np.hypot(gap[..., 0], gap[..., 1]) < lim_h) & (gap[..., 2] < lim_v)
    pa, pb = np.nonzero(near)
    parts = []
    for s in range(0, len(pa), 2048):
        ja, jb = ia[pa[s : s + 2048]][:, :, None], ib[pb[s : s + 2048]][:, None, :]
        d = a.xyz[ja] - b.xyz[jb]
        h, v = np.hypot(d[..., 0], d[..., 1]), np.abs(d[..., 2])
        hit = (h < lim_h) & (v < lim_v)
        ja, jb = np.broadcast_to(ja, hit.shape)[hit], np.broadcast_to(jb, hit.shape)[hit]
        parts.append((ja, jb, h[hit], v[hit]))
    if not parts:
        return empty
    cat = [np.concatenate(p) for p in zip(*parts, strict=True)]
    keep = np.unique(cat[0] * len(b.t) + cat[1], return_index=True)[1]
    return _Cells(cat[0][keep], cat[1][keep], cat[2][keep], cat[3][keep])


def _window_s(
    a: _Track, b: _Track, cells: _Cells, margin_s: float, drift: float, step_s: float
) -> FloatArray:
    """How far apart in launch-shifted time each cell's two samples may be and still meet.

    A vehicle ``e`` s after its launch is anywhere it planned to be within
    ``margin + drift * e`` of ``e``; so its planned point ``a`` is flown at some
    ``e`` with ``|a - e| <= (margin + drift * a) / (1 - drift)``. Two points meet
    when the sum of their bounds covers the gap, plus a step for the sampling.
    """
    ta, tb = a.t[cells.ia], b.t[cells.ib]
    return (2 * margin_s + drift * (ta + tb)) / (1 - drift) + step_s


def _meeting(
    a: _Track, b: _Track, cells: _Cells, lag_s: float, window: FloatArray
) -> NDArray[np.bool_]:
    """Cells that meet when B launches ``lag_s`` after A (B's time ``tb + lag``, A's ``ta``)."""
    return np.abs(a.t[cells.ia] - b.t[cells.ib] - lag_s) <= window


def _least_apart(h: FloatArray, v: FloatArray, sep: Separation) -> int:
    """Index of the least-apart pair: the larger of h/H and v/V smallest, then their sum.

    Apart means the larger ratio is at least 1; the sum breaks ties (0 m
    horizontally 20 m vertically is closer than 60 m and 20 m).
    """
    h_r, v_r = h / sep.horizontal_m, v / sep.vertical_m
    return int(np.lexsort((h_r + v_r, np.maximum(h_r, v_r)))[0])


def _worst(
    n_a: int,
    n_b: int,
    a: _Track,
    b: _Track,
    cells: _Cells,
    hit: NDArray[np.bool_],
    start_a: float,
    sep: Separation,
) -> Approach:
    """The meeting cell least apart, as an Approach."""
    k = int(np.flatnonzero(hit)[_least_apart(cells.h[hit], cells.v[hit], sep)])
    i, j = cells.ia[k], cells.ib[k]
    return Approach(
        n_a,
        n_b,
        float(start_a + a.t[i]),
        float((a.lat[i] + b.lat[j]) / 2),
        float((a.lon[i] + b.lon[j]) / 2),
        float(cells.h[k]),
        float(cells.v[k]),
        sep,
    )


def _blocked(
    a: _Track, b: _Track, cells: _Cells, window: FloatArray, lags_s: FloatArray
) -> NDArray[np.bool_]:
    """For each lag of B's launch after A's, whether any cell meets.

    Cell ``k`` forbids the lags ``[off_k - w_k, off_k + w_k]`` (``off = ta - tb``);
    a lag is blocked when more of those intervals have opened than closed
    before it: two sorted searches instead of a lags x cells table.
    """
    offsets = a.t[cells.ia] - b.t[cells.ib]
    opened = np.searchsorted(np.sort(offsets - window), lags_s, side="right")
    closed = np.searchsorted(np.sort(offsets + window), lags_s, side="left")
    return np.asarray(opened > closed, dtype=bool)


def _closest(
    n_a: int,
    n_b: int,
    a: _Track,
    b: _Track,
    start_a: float,
    start_b: float,
    sep: Separation,
    step_s: float,
) -> Approach | None:
    """The pair's closest approach on the planned clock, or None if never airborne together."""
    first = max(start_a + a.t[0], start_b + b.t[0]) if len(a.t) and len(b.t) else np.inf
    last = min(start_a + a.t[-1], start_b + b.t[-1]) if len(a.t) and len(b.t) else -np.inf
    if first > last:
        return None
    t = np.arange(first, last + 1e-9, step_s)
    pa = [np.interp(t - start_a, a.t, col) for col in (*a.xyz.T, a.lat, a.lon)]
    pb = [np.interp(t - start_b, b.t, col) for col in (*b.xyz.T, b.lat, b.lon)]
    h = np.hypot(pa[0] - pb[0], pa[1] - pb[1])
    v = np.abs(pa[2] - pb[2])
    k = _least_apart(h, v, sep)
    lat, lon = (pa[3][k] + pb[3][k]) / 2, (pa[4][k] + pb[4][k]) / 2
    return Approach(n_a, n_b, float(t[k]), float(lat), float(lon), float(h[k]), float(v[k]), sep)


def _order(missions: Mapping[int, Mission], priority: Sequence[int] | None) -> list[int]:
    """Sorties in priority order: those named first, then the rest by number."""
    named = list(priority or ())
    unknown = sorted(set(named) - set(missions))
    if unknown:
        raise InvalidProfileError(f"priority names sorties not in the wave: {unknown}")
    if len(set(named)) != len(named):
        raise InvalidProfileError("priority names a sortie twice")
    return named + sorted(set(missions) - set(named))


def deconflict(
    missions: Mapping[int, Mission],
    *,
    separation: Separation = Separation(),
    timing_margin_s: float = 10.0,
    timing_drift: float = 0.05,
    max_wait_s: float = 900.0,
    priority: Sequence[int] | None = None,
    aircraft: Aircraft | None = None,
) -> FleetSchedule:
    """Launch delays that keep sorties flown at the same time apart, with timing error.

    ``missions`` maps sortie number to the mission one drone flies while the
    others fly theirs. The first in ``priority`` (default: lowest number)
    launches at 0; each later one takes the smallest delay, in steps of
    :data:`WAIT_STEP_S`, at which it is apart from every earlier one at every
    moment, each vehicle being anywhere it would be within ``timing_margin_s +
    timing_drift * t`` of its planned elapsed time ``t`` (s).

    Raises
    ------
    InfeasibleError
        No delay up to ``max_wait_s`` keeps a sortie apart (one line: which, from whom).
    """
    _check_timing(timing_margin_s, timing_drift)
    if max_wait_s < 0:
        raise InvalidProfileError("max_wait_s must be >= 0")
    order = _order(missions, priority)
    if not order:
        return FleetSchedule({}, (), ())
    tracks = _tracks({n: trajectory(missions[n], aircraft=aircraft) for n in order})
    waits = np.arange(0.0, max_wait_s + 1e-9, WAIT_STEP_S)
    start: dict[int, float] = {order[0]: 0.0}
    notes: list[str] = []
    for n in order[1:]:
        blocked = np.zeros(len(waits), dtype=bool)
        meets: dict[int, tuple[_Cells, FloatArray]] = {}
        for m in start:
            cells = _close_cells(tracks[m], tracks[n], separation, STEP_S)
            window = _window_s(tracks[m], tracks[n], cells, timing_margin_s, timing_drift, STEP_S)
            meets[m] = (cells, window)
            blocked |= _blocked(tracks[m], tracks[n], cells, window, waits - start[m])
        if blocked.all():
            raise InfeasibleError(
                f"sortie {n} cannot launch within {max_wait_s:.0f} s and keep "
                f"{separation.horizontal_m:.0f} m horizontally or {separation.vertical_m:.0f} m "
                f"vertically from {_sorties(start)} flying at the same time"
            )
        start[n] = float(waits[int(np.argmin(blocked))])
        if start[n] > 0:
            notes.append(_wait_note(n, start, tracks, meets, separation))
    closest = [
        _closest(a, b, tracks[a], tracks[b], start[a], start[b], separation, STEP_S)
        for i, a in enumerate(order)
        for b in order[i + 1 :]
    ]
    return FleetSchedule(start, tuple(c for c in closest if c is not None), tuple(notes))


def _sorties(numbers: Iterable[int]) -> str:
    listed = list(numbers)
    return ("sortie " if len(listed) == 1 else "sorties ") + ", ".join(map(str, listed))


def _wait_note(
    n: int,
    start: Mapping[int, float],
    tracks: Mapping[int, _Track],
    meets: Mapping[int, tuple[_Cells, FloatArray]],
    sep: Separation,
) -> str:
    """Why sortie ``n`` waits: the earlier sortie it would meet launching at once, and where."""
    worst = None
    for m, (cells, window) in meets.items():
        hit = _meeting(tracks[m], tracks[n], cells, -start[m], window)
        if hit.any():
            worst = _worst(m, n, tracks[m], tracks[n], cells, hit, start[m], sep)
            break
    reason = (
        f": launched at once its route comes within {worst.horizontal_m:.0f} m horizontally "
        f"and {worst.vertical_m:.0f} m vertically of sortie {worst.sortie_a}'s "
        f"near {worst.lat:.5f}, {worst.lon:.5f}"
        if worst is not None
        else ""
    )
    return f"sortie {n} waits {start[n]:.0f} s before launch{reason}"


def _check_timing(margin_s: float, drift: float) -> None:
    if margin_s < 0 or not 0 <= drift < 1:
        raise InvalidProfileError("timing_margin_s must be >= 0 and timing_drift in [0, 1)")


def check_schedule(
    missions: Mapping[int, Mission],
    schedule: FleetSchedule,
    *,
    separation: Separation = Separation(),
    timing_margin_s: float = 10.0,
    timing_drift: float = 0.05,
    aircraft: Aircraft | None = None,
) -> list[Approach]:
    """Every pair of sorties that could meet with the schedule's delays (none: the plan is safe).

    The same rule as :func:`deconflict`, tested cell by cell at the schedule's
    own delays rather than searched: one :class:`Approach` per pair that
    meets, at its least-apart pair of points (its distances are the planned
    points', which the timing window lets coincide in time).
    """
    _check_timing(timing_margin_s, timing_drift)
    missing = sorted(set(missions) - set(schedule.start_s))
    if missing:
        raise InvalidProfileError(f"the schedule has no launch time for sorties {missing}")
    numbers = sorted(missions)
    tracks = _tracks({n: trajectory(missions[n], aircraft=aircraft) for n in numbers})
    found = []
    for i, a in enumerate(numbers):
        for b in numbers[i + 1 :]:
            cells = _close_cells(tracks[a], tracks[b], separation, STEP_S)
            window = _window_s(tracks[a], tracks[b], cells, timing_margin_s, timing_drift, STEP_S)
            lag = schedule.start_s[b] - schedule.start_s[a]
            hit = _meeting(tracks[a], tracks[b], cells, lag, window)
            if hit.any():
                found.append(
                    _worst(a, b, tracks[a], tracks[b], cells, hit, schedule.start_s[a], separation)
                )
    return found


def patrol_waves(patrol: Patrol) -> list[dict[int, Mission]]:
    """Which sorties fly at the same time: wave ``k`` holds each drone's ``k``-th sortie.

    A drone is a dock's drone number; its sorties fly one after another in
    number order, different drones at once.
    """
    by_drone: dict[tuple[str, int], list[int]] = defaultdict(list)
    missions = {s.number: s.mission for s in patrol.sorties}
    for s in sorted(patrol.sorties, key=lambda s: s.number):
        by_drone[(s.dock.id, s.drone)].append(s.number)
    depth = max((len(v) for v in by_drone.values()), default=0)
    return [{v[k]: missions[v[k]] for v in by_drone.values() if len(v) > k} for k in range(depth)]
