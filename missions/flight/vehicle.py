"""One vehicle: telemetry, events and the verbs that fly it.

The shape is MAVSDK-Python's (``await vehicle.arm()``, ``async for pos in
vehicle.positions()``, a typed exception for each refusal) without its server
process: everything runs on the asyncio loop over :class:`MavLink`.
Conventions are ArduPilot's: arm in GUIDED then ``MAV_CMD_MISSION_START``;
pause holds in GUIDED and resume goes back to AUTO at the current item.
The vehicle parameters a plan relies on (fence on, failsafe return altitude,
path planning) are set and read back with :meth:`Vehicle.apply_params`, and
checked again before arming.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType

import numpy as np
from pymavlink import mavutil
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.flight import transfer
from missions.flight.capture import (
    MOUNT_UPDATE_MS,
    Feedback,
    GimbalSender,
    ManifestWriter,
    PoseRecorder,
)
from missions.flight.errors import (
    CommandDeniedError,
    CommandTimeoutError,
    FlightError,
    LinkLostError,
    LinkTimeoutError,
    ParameterError,
    PreflightError,
    RebootRequiredError,
)
from missions.flight.events import (
    Armed,
    Captured,
    CapturesMissed,
    CurrentItem,
    Disarmed,
    EventBus,
    FlightEvent,
    ItemReached,
    Landed,
    LinkLost,
    LinkRestored,
    MissionUploaded,
    ModeChanged,
    Overdue,
    Progress,
    Stalled,
    StatusText,
)
from missions.flight.link import LinkState, MavLink, Message
from missions.flight.transfer import DEFAULT_SETTINGS, TransferSettings
from missions.gas import GasRecorder, GasWriter
from missions.geo import distance_m
from missions.items import Mission, MissionItem, MissionType, to_e7

logger = logging.getLogger(__name__)


#: EKF_STATUS_REPORT flags that must all be set before flying on GPS.
_EKF_NEEDED = (
    mavlink.EKF_ATTITUDE
    | mavlink.EKF_VELOCITY_HORIZ
    | mavlink.EKF_POS_HORIZ_ABS
    | mavlink.EKF_POS_VERT_ABS
)


#: Telemetry streams asked for: status, position, attitude, HUD, EKF/battery/mount.
#: Not the raw sensor and RC streams, which would multiply the traffic.
_STREAMS = (
    mavlink.MAV_DATA_STREAM_EXTENDED_STATUS,
    mavlink.MAV_DATA_STREAM_POSITION,
    mavlink.MAV_DATA_STREAM_EXTRA1,
    mavlink.MAV_DATA_STREAM_EXTRA2,
    mavlink.MAV_DATA_STREAM_EXTRA3,
)


#: Tries at starting a mission: each start lost on the link (see
#: :meth:`Vehicle.start_mission`) costs one, so with a link losing a fifth of its frames
#: five leave 1 in 3000 flights unstarted.
START_ATTEMPTS = 5

#: Resends of a command with no COMMAND_ACK, on a good link (a lossy one is given more:
#: :meth:`Vehicle.connect`).
COMMAND_RETRIES = 5

#: Parameters ArduCopter reads only at boot: ``AP_OAPathPlanner::init`` runs once from
#: ``Copter::init_ardupilot`` (ArduCopter/system.cpp), and until a reboot the pre-arm
#: check says "Dijkstra OA requires reboot". EcoPatrol never writes these itself.
REBOOT_PARAMS = frozenset({"OA_TYPE"})

#: FS_OPTIONS bit 1, "Continue if in Auto on GCS failsafe" (ArduCopter/Parameters.cpp;
#: ``Copter::failsafe_gcs_on_event`` then does nothing in AUTO): set, a vehicle flying
#: a mission never comes home on a lost ground station, whatever FS_GCS_ENABLE says.
FS_OPTIONS_GCS_CONTINUE_IN_AUTO = 1 << 1

#: AC_Fence rebuilds its enabled fences from FENCE_TYPE only when FENCE_ENABLE
#: changes (AC_Fence::update), so FENCE_ENABLE is written after the other fence
#: parameters.
_WRITTEN_LAST = ("FENCE_ENABLE",)

#: FENCE_TYPE bits MAV_CMD_DO_FENCE_ENABLE may switch on while on the ground:
#: maximum altitude (1), circle around home (2), polygons and circles of the
#: fence list (4). Not the floor (8), which would be breached at once.
_FENCE_ON_GROUND = 1 | 2 | 4


def same_param(held: float, needed: float) -> bool:
    """True when a value read from the vehicle is the value needed.

    ArduPilot stores float parameters as float32 (and sends integers as
    floats), so 0.1 reads back as 0.100000001: compared to 1 part in 10^6.
    """
    return math.isclose(held, needed, rel_tol=1e-6, abs_tol=1e-6)


def param_differences(
    needed: Mapping[str, float], held: Mapping[str, float | None]
) -> dict[str, tuple[float | None, float]]:
    """Each parameter of ``needed`` the vehicle holds otherwise, as ``(held, needed)``.

    ``held`` maps names to what the vehicle reported, None when it did not
    answer (a missing name counts as no answer).
    """
    out: dict[str, tuple[float | None, float]] = {}
    for name, value in needed.items():
        got = held.get(name)
        if got is None or not same_param(got, value):
            out[name] = (got, value)
    return out


def failsafe_reads(params: Mapping[str, float]) -> tuple[str, ...]:
    """The vehicle's own parameters :func:`with_failsafe_options` needs to see."""
    return ("FS_OPTIONS",) if params.get("FS_GCS_ENABLE") else ()


def with_failsafe_options(
    params: Mapping[str, float], held: Mapping[str, float | None]
) -> dict[str, float]:
    """``params`` and, when they turn the GCS failsafe on, the FS_OPTIONS it needs.

    That is the vehicle's FS_OPTIONS (``held``) without
    :data:`FS_OPTIONS_GCS_CONTINUE_IN_AUTO`: the plan's return after
    FS_GCS_TIMEOUT must happen. The other bits (the RC failsafe's, landing's,
    pilot control's, the gripper's) are the vehicle owner's and are kept. A
    vehicle that has no FS_OPTIONS (it did not answer) is left alone.
    """
    options = params.get("FS_OPTIONS", held.get("FS_OPTIONS"))
    if not params.get("FS_GCS_ENABLE") or options is None:
        return dict(params)
    return {**params, "FS_OPTIONS": float(int(options) & ~FS_OPTIONS_GCS_CONTINUE_IN_AUTO)}


def describe_differences(differences: Mapping[str, tuple[float | None, float]]) -> str:
    """``FENCE_ENABLE is 0, plan needs 1; OA_TYPE is 0, plan needs 2 (read at boot: ...)``."""
    parts = []
    for name, (held, needed) in differences.items():
        now = "did not answer" if held is None else f"is {held:g}"
        part = f"{name} {now}, plan needs {needed:g}"
        if name in REBOOT_PARAMS:
            part += f" (read only at boot: set {name} to {needed:g} and reboot the vehicle)"
        parts.append(part)
    return "; ".join(parts)


def _parameter_error(differences: dict[str, tuple[float | None, float]]) -> ParameterError:
    message = "vehicle parameters differ from the plan: " + describe_differences(differences)
    reboot = tuple(name for name in differences if name in REBOOT_PARAMS)
    if reboot:
        return RebootRequiredError(message, differences=differences, reboot=reboot)
    return ParameterError(message, differences=differences)


@dataclass(frozen=True, slots=True)
class Position:
    lat: float
    lon: float
    alt_amsl_m: float
    alt_rel_m: float


@dataclass(frozen=True, slots=True)
class PreflightReport:
    """Each named check and whether it passed, with a reason when not."""

    checks: dict[str, str | None]

    @property
    def failures(self) -> dict[str, str]:
        return {name: why for name, why in self.checks.items() if why is not None}

    @property
    def ok(self) -> bool:
        return not self.failures


#: A flight's progress, read on the vehicle's own clock (GLOBAL_POSITION_INT's
#: ``time_boot_ms``: simulated seconds in SITL, whatever the speed-up and however
#: loaded the machine). Smallest changes taken as progress: a fall in the distance
#: to go beyond position noise, a climb or descent beyond the altitude hold's wander.
TO_GO_STEP_M = 2.0
ALT_STEP_M = 1.0
#: Shortest stall window, vehicle seconds: longer than the pauses a flight makes
#: while getting somewhere (a stop at a waypoint, the spool-up before take-off,
#: RTL_LOIT_TIME's 5 s over home before the descent, a few seconds of telemetry
#: lost on a cellular link).
STALL_FLOOR_S = 30.0
#: Added to the longest planned hold to make a stall window.
STALL_MARGIN_S = 15.0
#: The hard ceiling on a flight, as a multiple of its estimate: for a vehicle that
#: keeps moving (circling, a DO_JUMP loop) without ever landing.
CEILING_FACTOR = 3.0
#: Ground speed assumed for a loiter's circles when sizing the stall window (slow).
_CIRCLE_SPEED_M_S = 1.0

#: Modes that return or land: distance to go is to the nearest of home and the rally
#: points (RTL picks the nearest, RALLY_INCL_HOME).
_RETURN_MODES = frozenset({"RTL", "SMART_RTL", "AUTO_RTL", "LAND"})
#: Modes in which the ground station steers (a pause, a goto): holding there is the
#: operator's choice, so it does not count against the stall window.
_GROUND_STEERED = frozenset({"GUIDED"})


def estimate_flight_s(mission: Mission, speed_m_s: float = 3.0) -> float:
    """A generous estimate of the flight's duration (vehicle seconds), from the route.

    Twice the route flown at ``speed_m_s`` (a third of WPNAV_SPEED's 10 m/s
    default, for climbs, turns and stops) plus 120 s for take-off and landing.
    """
    points = [(i.lat, i.lon) for i in mission.items if i.has_position and (i.x or i.y)]
    length = sum(distance_m(a[0], a[1], b[0], b[1]) for a, b in itertools.pairwise(points))
    return 120.0 + 2 * length / speed_m_s


def longest_hold_s(mission: Mission) -> float:
    """The longest the plan keeps the vehicle in one place on purpose (vehicle seconds).

    A waypoint's hold (NAV_WAYPOINT param1), a timed loiter (LOITER_TIME
    param1), a delay (NAV_DELAY param1; -1, a time of day, is not sized), a
    loiter's turns (LOITER_TURNS: param1 turns of param3 metres radius, flown at
    a slow 1 m/s). An unlimited loiter never ends: that is left to the stall.
    """
    holds = [0.0]
    for item in mission.items[1:]:
        if item.command in (
            mavlink.MAV_CMD_NAV_WAYPOINT,
            mavlink.MAV_CMD_NAV_LOITER_TIME,
            mavlink.MAV_CMD_NAV_DELAY,
        ):
            holds.append(max(0.0, item.param1))
        elif item.command == mavlink.MAV_CMD_NAV_LOITER_TURNS:
            circle_m = 2 * math.pi * max(abs(item.param3), 1.0)
            holds.append(abs(item.param1) * circle_m / _CIRCLE_SPEED_M_S)
    return max(holds)


@dataclass(frozen=True, slots=True)
class FlightDeadline:
    """When a flight is late, and when it has failed; vehicle seconds from the start.

    ``estimate_s`` passing only makes it overdue (an :class:`Overdue` event);
    it fails when no progress was made for ``stall_s``, or at ``ceiling_s``.
    """

    estimate_s: float
    stall_s: float
    ceiling_s: float

    @classmethod
    def for_mission(
        cls, mission: Mission | None, *, estimate_s: float | None = None
    ) -> FlightDeadline:
        """From the plan: its estimate, its longest hold, three times its duration.

        ``estimate_s`` replaces the plan's estimate (never lowers the ceiling).
        Without a mission: 10 minutes, the stall floor.
        """
        planned = estimate_flight_s(mission) if mission is not None else 600.0
        estimate = planned if estimate_s is None else estimate_s
        hold = longest_hold_s(mission) if mission is not None else 0.0
        return cls(
            estimate_s=estimate,
            stall_s=max(STALL_FLOOR_S, hold + STALL_MARGIN_S),
            ceiling_s=CEILING_FACTOR * max(planned, estimate),
        )


@dataclass(frozen=True, slots=True)
class ProgressSample:
    """One look at the flight.

    ``time_s``: the vehicle's boot clock, s. ``seq``: the mission item it heads
    for. ``to_go_m``: horizontal metres to the end of the mission in AUTO, else to
    the nearest of home and the rally points. ``alt_rel_m``: above home.
    ``flown_m``: horizontal metres flown since arming.
    """

    time_s: float
    seq: int
    to_go_m: float
    alt_rel_m: float
    mode: str
    landed_state: int
    flown_m: float = 0.0


def _measure(mode: str) -> str:
    """What ``to_go_m`` measures in ``mode``: the mission's route, or the way home."""
    return "route" if mode == "AUTO" else "home"


class ProgressWatch:
    """Whether a flight is still getting somewhere, from successive samples.

    Progress is any of: the mission item moving on; the distance to go falling
    below its lowest since the item (or the measure, on a mode change) began by
    :data:`TO_GO_STEP_M`; the altitude leaving the band it held since then (or since
    its last step) by :data:`ALT_STEP_M` (climbing out, climbing to RTL_ALT,
    descending to land);
    the landed state changing. A vehicle holding still, or circling at one
    height, makes none. Time after :meth:`excuse` (the link was down) and time
    in a ground-steered mode (GUIDED) is never counted as a stall.
    """

    def __init__(self) -> None:
        self._first: ProgressSample | None = None
        self._last: ProgressSample | None = None
        self._elapsed_s = 0.0
        self._progress_at_s = 0.0
        self._best_to_go_m = math.inf
        self._alt_band_m = (0.0, 0.0)
        self._excused = False

    @property
    def elapsed_s(self) -> float:
        """Vehicle seconds since the first sample (a reboot's clock reset adds nothing)."""
        return self._elapsed_s

    @property
    def stalled_s(self) -> float:
        """Vehicle seconds since the last progress."""
        return self._elapsed_s - self._progress_at_s

    @property
    def last(self) -> ProgressSample | None:
        return self._last

    def excuse(self) -> None:
        """The time up to the next sample does not count as a stall (the link was down)."""
        self._excused = True

    def observe(self, sample: ProgressSample) -> bool:
        """Take a new sample; True when it shows progress."""
        last, self._last = self._last, sample
        if last is None:
            self._first = sample
            self._restart(sample)
            return True
        step_s = sample.time_s - last.time_s
        self._elapsed_s += max(0.0, step_s)
        excused = self._excused or step_s < 0 or sample.mode in _GROUND_STEERED
        self._excused = False
        progressed = self._progressed(last, sample)
        if progressed or excused:
            self._progress_at_s = self._elapsed_s
        return progressed

    def ground_speed_m_s(self) -> float | None:
        """Mean ground speed over the flight so far (None before 10 m are flown)."""
        if self._first is None or self._last is None or self._elapsed_s <= 0:
            return None
        flown = self._last.flown_m - self._first.flown_m
        return flown / self._elapsed_s if flown >= 10.0 else None

    def _restart(self, sample: ProgressSample) -> None:
        self._best_to_go_m = sample.to_go_m
        self._alt_band_m = (sample.alt_rel_m, sample.alt_rel_m)

    def _progressed(self, last: ProgressSample, sample: ProgressSample) -> bool:
        if sample.seq != last.seq or _measure(sample.mode) != _measure(last.mode):
            self._restart(sample)
            return sample.seq > last.seq
        moved = False
        if sample.to_go_m < self._best_to_go_m - TO_GO_STEP_M:
            self._best_to_go_m = sample.to_go_m
            moved = True
        low, high = self._alt_band_m
        alt = sample.alt_rel_m
        if alt < low - ALT_STEP_M or alt > high + ALT_STEP_M:
            # the band restarts here: a descent back through heights climbed earlier
            # (RTL's climb to RTL_ALT, then down) is progress too
            self._alt_band_m = (alt, alt)
            moved = True
        return moved or sample.landed_state != last.landed_state


@dataclass
class Telemetry:
    """The latest of everything the vehicle reported; updated as messages arrive."""

    armed: bool = False
    mode: str = ""
    custom_mode: int = -1
    position: Position | None = None
    #: the vehicle's boot clock when ``position`` was measured (GLOBAL_POSITION_INT)
    position_time_boot_ms: int | None = None
    home: Position | None = None
    attitude_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    groundspeed_m_s: float = 0.0
    gps_fix: int = 0
    satellites: int = 0
    ekf_flags: int = 0
    battery_pct: float | None = None
    battery_v: float | None = None
    prearm_ok: bool | None = None
    landed_state: int = mavlink.MAV_LANDED_STATE_UNDEFINED
    current_seq: int = 0
    passed_seq: int = 0
    reached: set[int] = field(default_factory=set)
    wp_dist_m: float = 0.0
    last_capture_index: int | None = None
    status_texts: list[str] = field(default_factory=list)


class Vehicle:
    """A connected vehicle. Create with :meth:`connect`; close (or ``async with``) after."""

    def __init__(self, link: MavLink, *, events_path: Path | None = None) -> None:
        self.link = link
        self.telemetry = Telemetry()
        self.events = EventBus(events_path)
        self.mission: Mission | None = None
        self.distance_flown_m = 0.0
        self._modes: dict[str, int] = {}
        self._manifest: ManifestWriter | None = None
        self._gas: GasRecorder | None = None
        self._poses = PoseRecorder()
        self._planned = np.zeros((0, 2))
        self._match_within_m = 10.0
        self._tasks: list[asyncio.Task[None]] = []
        self._lost_at: float | None = None
        self._stream_rate_hz = 4.0
        self._command_retries = COMMAND_RETRIES
        self._last_position_at = 0.0
        self._last_status_at = 0.0
        self._last_fix: tuple[float, float] | None = None
        #: MISSION_CURRENT said ACTIVE since the last upload: a COMPLETE is this mission's
        self._mission_ran = False
        link.on_state(self._on_link_state)

    # -- life cycle ---------------------------------------------------------

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        tlog_path: Path | None = None,
        events_path: Path | None = None,
        heartbeat_interval_s: float = 1.0,
        link_timeout_s: float = 5.0,
        timeout_s: float = 30.0,
        stream_rate_hz: float = 4.0,
        signing_key: bytes | None = None,
        source_system: int = 255,
        command_retries: int = COMMAND_RETRIES,
        forward: Sequence[str] = (),
    ) -> Vehicle:
        """Open ``url``, wait for the vehicle and ask for its telemetry streams.

        With ``signing_key`` (32 bytes, already given to the vehicle with
        :meth:`setup_signing`) every frame is signed and unsigned ones refused.
        ``source_system`` is the system id this end sends as: ArduPilot's GCS
        failsafe listens only for heartbeats from MAV_GCS_SYSID (255 unless
        changed), so a watcher that must not count as the ground station
        (while the GCS link is cut on purpose) uses another.
        ``command_retries``: how often a command is resent when no COMMAND_ACK
        comes back; over a link that loses a fraction p of the frames each way, one
        try fails with 1 - (1 - p)^2 (0.36 at p = 0.2), so a lossy link needs more.
        ``forward``: other ground stations that follow the vehicle and may take
        it over (``udp:HOST:PORT``, ``udpin:HOST:PORT``; see
        :mod:`missions.flight.link`).
        """
        link = MavLink(
            url,
            source_system=source_system,
            tlog_path=tlog_path,
            heartbeat_interval_s=heartbeat_interval_s,
            link_timeout_s=link_timeout_s,
            forward=forward,
        )
        vehicle = cls(link, events_path=events_path)
        vehicle._stream_rate_hz = stream_rate_hz
        vehicle._command_retries = command_retries
        if signing_key is not None:
            link.enable_signing(signing_key)
        vehicle._tasks.append(asyncio.create_task(vehicle._track(), name="vehicle-track"))
        try:
            await link.open(timeout_s=timeout_s)
        except BaseException:
            await vehicle.close()
            raise
        vehicle._tasks.append(asyncio.create_task(vehicle._keep_streams(), name="vehicle-streams"))
        return vehicle

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        await self.link.close()
        self.stop_recording()
        self.events.close()

    async def __aenter__(self) -> Vehicle:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- telemetry -----------------------------------------------------------

    async def positions(self) -> AsyncIterator[Position]:
        """Each GLOBAL_POSITION_INT as a :class:`Position`."""
        with self.link.subscribe(mavlink.MAVLink_global_position_int_message) as sub:
            async for msg in sub:
                yield _position(msg)

    async def event_stream(self) -> AsyncIterator[FlightEvent]:
        """Every :class:`FlightEvent` from now on."""
        async for event in self.events.subscribe():
            yield event

    def record_captures(
        self,
        manifest_path: Path,
        *,
        planned: Sequence[tuple[float, float]] = (),
        match_within_m: float = 10.0,
    ) -> None:
        """Write each CAMERA_FEEDBACK to ``manifest_path`` (JSON Lines) from now on.

        ``planned`` are the planned photo points (lat, lon); a capture within
        ``match_within_m`` of one gets its index as ``planned_index``.
        """
        self._manifest = ManifestWriter(manifest_path)
        self._planned = np.array(planned, dtype=float).reshape(-1, 2)
        self._match_within_m = match_within_m

    def _planned_index(self, lat: float, lon: float) -> int | None:
        if not len(self._planned):
            return None
        dy = (self._planned[:, 0] - lat) * 111_320.0
        dx = (self._planned[:, 1] - lon) * 111_320.0 * math.cos(math.radians(lat))
        distances = np.hypot(dx, dy)
        nearest = int(distances.argmin())
        return nearest if distances[nearest] <= self._match_within_m else None

    def stop_recording(self) -> None:
        """Write the captures and gas readings still waiting, then close their files."""
        self._record_ready(flush=True)
        if self._manifest is not None:
            self._manifest.close()
            self._manifest = None
        if self._gas is not None:
            self._gas.close()
            self._gas = None

    def record_gas(self, path: Path) -> None:
        """Write each gas reading the vehicle's system sends to ``path`` from now on.

        NAMED_VALUE_FLOAT of a gas name (:data:`missions.gas.GAS_NAMES`) from any
        component, placed at the vehicle's position (:class:`missions.gas.GasRecorder`).
        """
        self._gas = GasRecorder(GasWriter(path))

    def _feed_gas(self, msg: Message) -> None:
        """Hand the gas recorder the autopilot's positions and UTC tie, and named values.

        Positions and SYSTEM_TIME only from the autopilot's component (its boot
        clock); named values from any component of the vehicle's system (the
        link passes no other system's), with the newest autopilot boot time
        heard, for a sender whose stamp is not on the autopilot's clock.
        """
        gas = self._gas
        if gas is None:
            return
        from_autopilot = msg.get_srcComponent() == self.link.target_component
        if isinstance(msg, mavlink.MAVLink_named_value_float_message):
            gas.named_value(
                str(msg.name),
                float(msg.value),
                int(msg.time_boot_ms),
                component=msg.get_srcComponent(),
                from_autopilot=from_autopilot,
                autopilot_ms=self._poses.clock.latest_ms,
            )
        elif isinstance(msg, mavlink.MAVLink_global_position_int_message) and from_autopilot:
            p = _position(msg)
            gas.position(int(msg.time_boot_ms), p.lat, p.lon, p.alt_amsl_m, p.alt_rel_m)
        elif isinstance(msg, mavlink.MAVLink_system_time_message) and from_autopilot:
            gas.system_time(int(msg.time_unix_usec), int(msg.time_boot_ms))

    @property
    def captures_written(self) -> int:
        return self._manifest.count if self._manifest is not None else 0

    def _on_link_state(self, state: LinkState) -> None:
        if state is LinkState.LOST and self._lost_at is None:
            self._lost_at = time.monotonic()
            self.events.publish(LinkLost(url=self.link.url))
        elif state is LinkState.CONNECTED and self._lost_at is not None:
            outage = time.monotonic() - self._lost_at
            self._lost_at = None
            self.events.publish(LinkRestored(url=self.link.url, outage_s=round(outage, 2)))
            self._request_streams()

    def _request_streams(self) -> None:
        link = self.link
        for stream in _STREAMS:
            link.send(
                link.mav.request_data_stream_encode(
                    link.target_system,
                    link.target_component,
                    stream,
                    max(1, round(self._stream_rate_hz)),
                    1,
                )
            )
        interval_us = int(1e6 / self._stream_rate_hz)
        for msg_id, interval in (
            (mavlink.MAVLINK_MSG_ID_EXTENDED_SYS_STATE, interval_us),
            # the gimbal's angle goes into every photo's pose: one status per mount
            # update, so one reports the outputs the photo was taken with (about 3 kB/s)
            (mavlink.MAVLINK_MSG_ID_GIMBAL_DEVICE_ATTITUDE_STATUS, round(MOUNT_UPDATE_MS * 1000)),
            (mavlink.MAVLINK_MSG_ID_HOME_POSITION, interval_us),
        ):
            link.send(
                link.mav.command_long_encode(
                    link.target_system,
                    link.target_component,
                    mavlink.MAV_CMD_SET_MESSAGE_INTERVAL,
                    0,
                    msg_id,
                    interval,
                    0,
                    0,
                    0,
                    0,
                    0,
                )
            )

    async def _keep_streams(self) -> None:
        """Ask for streams now and again whenever positions or SYS_STATUS stop: each stream
        is its own request, and on a lossy link one can be lost while the others arrive
        (then no pre-arm state ever comes, and the flight waits for it in vain)."""
        self._request_streams()
        while True:
            await asyncio.sleep(1.0)
            self._record_ready()  # captures whose wait ran out while nothing came
            now = time.monotonic()
            if now - self._last_position_at > 2.0 or now - self._last_status_at > 2.0:
                self._request_streams()

    async def _track(self) -> None:
        last_progress = 0.0
        with self.link.subscribe() as sub:
            async for msg in sub:
                try:
                    self._update(msg)
                    self._feed_gas(msg)
                    if self._poses.waiting:
                        self._record_ready()
                except Exception:  # one odd message must not stop the tracking
                    logger.exception("could not process %s", msg.get_type())
                now = time.monotonic()
                if now - last_progress >= 1.0 and self.telemetry.position is not None:
                    last_progress = now
                    self.events.publish(self.progress())

    def _update(self, msg: Message) -> None:
        t = self.telemetry
        if self._gimbal_or_clock(msg):
            return
        if isinstance(msg, mavlink.MAVLink_heartbeat_message):
            if msg.get_srcComponent() != self.link.target_component:
                return
            if not self._modes:
                self._modes = {v: k for k, v in mavutil.mode_mapping_bynumber(msg.type).items()}
            armed = bool(msg.base_mode & mavlink.MAV_MODE_FLAG_SAFETY_ARMED)
            if armed != t.armed:
                t.armed = armed
                self.events.publish(Armed() if armed else Disarmed())
            if msg.custom_mode != t.custom_mode:
                t.custom_mode = msg.custom_mode
                t.mode = next(
                    (n for n, v in self._modes.items() if v == msg.custom_mode),
                    str(msg.custom_mode),
                )
                self.events.publish(ModeChanged(mode=t.mode))
        elif isinstance(msg, mavlink.MAVLink_global_position_int_message):
            t.position = _position(msg)
            t.position_time_boot_ms = int(msg.time_boot_ms)
            self._last_position_at = time.monotonic()
            if t.armed and self._last_fix is not None:
                self.distance_flown_m += distance_m(*self._last_fix, t.position.lat, t.position.lon)
            self._last_fix = (t.position.lat, t.position.lon)
        elif isinstance(msg, mavlink.MAVLink_attitude_message):
            t.attitude_deg = (
                math.degrees(msg.roll),
                math.degrees(msg.pitch),
                math.degrees(msg.yaw),
            )
        elif isinstance(msg, mavlink.MAVLink_vfr_hud_message):
            t.groundspeed_m_s = msg.groundspeed
        elif isinstance(msg, mavlink.MAVLink_gps_raw_int_message):
            t.gps_fix, t.satellites = msg.fix_type, msg.satellites_visible
        elif isinstance(msg, mavlink.MAVLink_ekf_status_report_message):
            t.ekf_flags = msg.flags
        elif isinstance(msg, mavlink.MAVLink_sys_status_message):
            self._last_status_at = time.monotonic()
            t.battery_pct = None if msg.battery_remaining < 0 else float(msg.battery_remaining)
            t.battery_v = msg.voltage_battery / 1000 if msg.voltage_battery != 65535 else None
            if msg.onboard_control_sensors_present & mavlink.MAV_SYS_STATUS_PREARM_CHECK:
                t.prearm_ok = bool(
                    msg.onboard_control_sensors_health & mavlink.MAV_SYS_STATUS_PREARM_CHECK
                )
            else:  # an autopilot that does not report it: arming itself will tell
                t.prearm_ok = True
        elif isinstance(msg, mavlink.MAVLink_home_position_message):
            t.home = Position(msg.latitude / 1e7, msg.longitude / 1e7, msg.altitude / 1000, 0.0)
        elif isinstance(msg, mavlink.MAVLink_extended_sys_state_message):
            was_flying = t.landed_state in (
                mavlink.MAV_LANDED_STATE_IN_AIR,
                mavlink.MAV_LANDED_STATE_LANDING,
            )
            t.landed_state = msg.landed_state
            if (
                was_flying
                and msg.landed_state == mavlink.MAV_LANDED_STATE_ON_GROUND
                and t.position is not None
            ):
                self.events.publish(Landed(lat=t.position.lat, lon=t.position.lon))
        elif isinstance(msg, mavlink.MAVLink_mission_current_message):
            self._mission_current(msg)
            if msg.seq != t.current_seq:
                t.current_seq = msg.seq
                self.events.publish(CurrentItem(seq=msg.seq))
        elif isinstance(msg, mavlink.MAVLink_mission_item_reached_message):
            if msg.seq not in t.reached:
                t.reached.add(msg.seq)
                self.events.publish(ItemReached(seq=msg.seq))
        elif isinstance(msg, mavlink.MAVLink_nav_controller_output_message):
            t.wp_dist_m = float(msg.wp_dist)
        elif isinstance(msg, mavlink.MAVLink_statustext_message):
            text = msg.text.rstrip("\0") if isinstance(msg.text, str) else str(msg.text)
            t.status_texts = [*t.status_texts[-49:], text]
            self.events.publish(StatusText(severity=msg.severity, text=text))
            # ArduPilot sends MISSION_ITEM_REACHED from a one-slot queue, so of two
            # waypoints reached close together only the second is reported; its
            # "Reached command #N" text comes for each one.
            reached = _REACHED_TEXT.fullmatch(text)
            if reached is not None and int(reached.group(1)) not in t.reached:
                t.reached.add(int(reached.group(1)))
                self.events.publish(ItemReached(seq=int(reached.group(1))))
        elif isinstance(msg, mavlink.MAVLink_camera_feedback_message):
            self._captured(msg)

    def _mission_current(self, msg: mavlink.MAVLink_mission_current_message) -> None:
        """Count the items MISSION_CURRENT has moved past as reached.

        MISSION_ITEM_REACHED and "Reached command #N" are sent once each and
        can be lost; MISSION_CURRENT is streamed (EXTENDED_STATUS). ArduPilot
        reports in it the current *nav* item (``AP_Mission::
        get_current_nav_index``: DO items are run beside it and never current)
        and moves it on only once that item is done, and its ``mission_state``:
        ACTIVE while the mission runs, COMPLETE once it has run past its last
        item. Disarming resets the item to 0 but leaves COMPLETE, so a link
        that comes back only after the landing still learns that the whole
        mission was flown. COMPLETE counts only once ACTIVE was seen since the
        upload: before that it is left from the last flight. An
        autopilot that does not fill ``mission_state`` (0) is taken as running
        the mission while it reports AUTO and armed.
        """
        t = self.telemetry
        state = msg.mission_state
        if state == mavlink.MISSION_STATE_UNKNOWN:
            running = t.mode == "AUTO" and t.armed
        else:
            running = state == mavlink.MISSION_STATE_ACTIVE
        if running:
            self._mission_ran = True
            # compared with the highest item passed, not the last one seen: after a
            # jump back the item moves on again over items already counted
            if msg.seq > t.passed_seq:
                self._passed(t.passed_seq, msg.seq)
                t.passed_seq = msg.seq
        elif (
            state == mavlink.MISSION_STATE_COMPLETE
            and self._mission_ran
            and self.mission is not None
        ):
            end = len(self.mission.items)
            if end > t.passed_seq:
                self._passed(t.passed_seq, end)
                t.passed_seq = end

    def _passed(self, old_seq: int, new_seq: int) -> None:
        """Count the nav items from ``old_seq`` up to ``new_seq`` (excluded) as reached.

        Between two nav items the mission runs its items in order, except at
        a jump (DO_JUMP, DO_JUMP_TAG) and where a landing or return sequence
        starts (DO_LAND_START, DO_RETURN_PATH_START: a failsafe or RTL may jump
        there from anywhere): the items after one of those in the range may
        have been skipped, so only those before it count.
        """
        if self.mission is None:
            return
        for item in self.mission.items[max(1, old_seq) : new_seq]:
            if item.command in _SEQUENCE_BREAKS:
                return
            if item.command in _NAV_TO_POINT and item.seq not in self.telemetry.reached:
                self.telemetry.reached.add(item.seq)
                self.events.publish(ItemReached(seq=item.seq))

    def _gimbal_or_clock(self, msg: Message) -> bool:
        """Feed the pose recorder the autopilot's clock and every gimbal status.

        True when ``msg`` was a gimbal status (nothing else to do with it).
        Every autopilot message with a ``time_boot_ms`` moves the boot clock on;
        SYSTEM_TIME also ties it to UTC (see :class:`~missions.flight.capture.BootClock`).
        """
        clock = self._poses.clock
        component = msg.get_srcComponent()
        from_autopilot = component == self.link.target_component
        if isinstance(msg, mavlink.MAVLink_system_time_message) and from_autopilot:
            clock.observe_system_time(int(msg.time_unix_usec), int(msg.time_boot_ms))
        elif from_autopilot and isinstance(getattr(msg, "time_boot_ms", None), int):
            clock.observe_boot_ms(msg.time_boot_ms)
        if isinstance(msg, mavlink.MAVLink_gimbal_device_attitude_status_message):
            device_id = int(getattr(msg, "gimbal_device_id", 0) or 0)
            if from_autopilot and device_id == 0:
                device_id = 1  # a MAVLink 2.0 message without the extension: the first mount
            sender = GimbalSender(component, device_id if from_autopilot else 0, from_autopilot)
            q = (float(msg.q[0]), float(msg.q[1]), float(msg.q[2]), float(msg.q[3]))
            self._poses.gimbal_status(sender, float(msg.time_boot_ms), int(msg.flags), q)
        elif isinstance(msg, mavlink.MAVLink_mount_status_message):
            # pointing_a pitch, pointing_b roll, pointing_c yaw, centidegrees
            sender = GimbalSender(component, 1 if from_autopilot else 0, from_autopilot)
            self._poses.mount_status(
                sender, msg.pointing_b / 100, msg.pointing_a / 100, msg.pointing_c / 100
            )
        else:
            return False
        for device_id in self._poses.mount_types_to_ask():
            self._tasks.append(asyncio.create_task(self._read_mount_type(device_id)))
        return True

    async def _read_mount_type(self, device_id: int) -> None:
        """MNTn_TYPE of the autopilot's mount ``device_id`` (MNT_TYPE before ArduPilot 4.3)."""
        names = [f"MNT{device_id}_TYPE"] + (["MNT_TYPE"] if device_id == 1 else [])
        for name in names:
            try:
                self._poses.set_mount_type(device_id, await self.get_param(name, timeout_s=1.0))
                return
            except CommandTimeoutError:
                continue
        logger.warning("mount %d: no MNTn_TYPE; its statuses are taken at their flags", device_id)
        self._poses.set_mount_type(device_id, None)

    def _captured(self, msg: mavlink.MAVLink_camera_feedback_message) -> None:
        """Queue a CAMERA_FEEDBACK until the gimbal around its trigger is known."""
        t = self.telemetry
        index = int(msg.img_idx)
        if t.last_capture_index is not None and index <= t.last_capture_index:
            return  # a repeat
        if t.last_capture_index is not None and index > t.last_capture_index + 1:
            self.events.publish(
                CapturesMissed(first_index=t.last_capture_index + 1, last_index=index - 1)
            )
        t.last_capture_index = index
        feedback = Feedback(
            index=index,
            time_usec=int(msg.time_usec),
            lat=msg.lat / 1e7,
            lon=msg.lng / 1e7,
            alt_amsl_m=float(msg.alt_msl),
            alt_rel_m=float(msg.alt_rel),
            vehicle_rpy_deg=(float(msg.roll), float(msg.pitch), float(msg.yaw)),
        )
        self._poses.feedback(feedback, now_s=time.monotonic())

    def _record_ready(self, *, flush: bool = False) -> None:
        """Write and announce every capture whose pose can be made now."""
        for pose in self._poses.ready(now_s=time.monotonic(), flush=flush):
            pose = replace(pose, planned_index=self._planned_index(pose.lat, pose.lon))
            if self._manifest is not None:
                self._manifest.write(pose)
            self.events.publish(Captured(pose=pose))

    # -- progress ------------------------------------------------------------

    def _route(self) -> list[tuple[int, float, float]]:
        """(seq, lat, lon) of every place the mission flies to, home last on RTL."""
        if self.mission is None:
            return []
        route = [
            (i.seq, i.lat, i.lon)
            for i in self.mission.items[1:]
            if i.command in _NAV_TO_POINT and (i.x or i.y)
        ]
        home = self.telemetry.home or (
            Position(self.mission.home.lat, self.mission.home.lon, 0.0, 0.0)
        )
        for item in self.mission.items[1:]:
            if item.command == mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH:
                route.append((item.seq, home.lat, home.lon))
        return route

    def progress(self) -> Progress:
        """Where the flight stands now: current item, distance still to fly, ETA."""
        t = self.telemetry
        pos = t.position or Position(0.0, 0.0, 0.0, 0.0)
        route = [leg for leg in self._route() if leg[0] >= t.current_seq]
        to_go = 0.0
        if route:
            to_go = distance_m(pos.lat, pos.lon, route[0][1], route[0][2])
            for (_, a_lat, a_lon), (_, b_lat, b_lon) in itertools.pairwise(route):
                to_go += distance_m(a_lat, a_lon, b_lat, b_lon)
        speed = t.groundspeed_m_s
        total = len(self.mission.items) if self.mission is not None else 0
        return Progress(
            lat=pos.lat,
            lon=pos.lon,
            alt_rel_m=round(pos.alt_rel_m, 2),
            current_seq=t.current_seq,
            total_items=total,
            reached=len(t.reached),
            distance_to_go_m=round(to_go, 1),
            eta_s=round(to_go / speed, 1) if speed > 0.5 else None,
            groundspeed_m_s=round(speed, 2),
            battery_pct=t.battery_pct,
            mode=t.mode,
        )

    # -- commands ------------------------------------------------------------

    async def command(
        self,
        command: int,
        *params: float,
        timeout_s: float = 1.5,
        retries: int | None = None,
        done: Callable[[], bool] | None = None,
    ) -> None:
        """COMMAND_LONG until acknowledged; ``CommandDeniedError`` when refused.

        Resent ``retries`` times (the link's ``command_retries`` when None).
        ``done``: the command's effect as the vehicle reports it (the mode it
        asked for, armed). Once that is seen the command counts as carried out
        and is never sent again: on a busy link ArduPilot drops the ACK when
        its send buffer is full, and a resend that arrives after someone else
        (a pilot through a forward) changed the state again would undo their
        change: a MISSION_START resent after a pilot's RTL resumes the mission.
        """
        link = self.link
        retries = self._command_retries if retries is None else retries
        values = [*params, *[0.0] * (7 - len(params))]
        name = _command_name(command)
        with link.subscribe(mavlink.MAVLink_command_ack_message) as sub:
            for confirmation in range(retries + 1):
                link.send(
                    link.mav.command_long_encode(
                        link.target_system, link.target_component, command, confirmation, *values
                    )
                )
                deadline = time.monotonic() + timeout_s
                while (left := deadline - time.monotonic()) > 0:
                    if done is not None and done():
                        return
                    try:
                        ack = await sub.get(left if done is None else min(left, 0.05))
                    except LinkTimeoutError:
                        continue
                    if not isinstance(ack, mavlink.MAVLink_command_ack_message):
                        continue
                    if ack.command != command:
                        continue
                    if ack.result == mavlink.MAV_RESULT_IN_PROGRESS:
                        deadline = time.monotonic() + timeout_s
                        continue
                    if ack.result == mavlink.MAV_RESULT_ACCEPTED:
                        return
                    result = mavlink.enums["MAV_RESULT"][ack.result].name
                    hint = self._recent_text()
                    raise CommandDeniedError(
                        f"{name} refused: {result}" + (f" ({hint})" if hint else ""),
                        command=command,
                        result=ack.result,
                    )
        raise CommandTimeoutError(f"{name}: no COMMAND_ACK after {retries} retries")

    def _recent_text(self) -> str:
        texts = self.telemetry.status_texts[-3:]
        return "; ".join(t for t in texts if "PreArm" in t or "Arm" in t or "fail" in t.lower())

    async def set_mode(self, mode: str, *, timeout_s: float = 10.0) -> None:
        """Switch flight mode by ArduPilot name (``GUIDED``, ``AUTO``, ``RTL``...)."""
        await self.wait_until(lambda: bool(self._modes), timeout_s, "the vehicle's mode list")
        if mode not in self._modes:
            raise ValueError(f"unknown flight mode {mode!r} (known: {', '.join(self._modes)})")
        number = self._modes[mode]
        await self.command(
            mavlink.MAV_CMD_DO_SET_MODE,
            mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED,
            number,
            done=lambda: self.telemetry.custom_mode == number,
        )
        await self.wait_until(
            lambda: self.telemetry.custom_mode == number, timeout_s, f"mode {mode}"
        )

    async def arm(self, *, timeout_s: float = 10.0) -> None:
        await self.command(
            mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 1, done=lambda: self.telemetry.armed
        )
        await self.wait_until(lambda: self.telemetry.armed, timeout_s, "armed")

    async def disarm(self, *, force: bool = False, timeout_s: float = 10.0) -> None:
        await self.command(mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 0, 21196 if force else 0)
        await self.wait_until(lambda: not self.telemetry.armed, timeout_s, "disarmed")

    async def takeoff(self, altitude_m: float, *, timeout_s: float = 60.0) -> None:
        """Climb in GUIDED to ``altitude_m`` above home (arms first when needed)."""
        await self.set_mode("GUIDED")
        if not self.telemetry.armed:
            await self.arm()
        await self.command(mavlink.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, math.nan, 0, 0, altitude_m)
        await self.wait_until(
            lambda: (self.telemetry.position or Position(0, 0, 0, 0)).alt_rel_m > altitude_m * 0.95,
            timeout_s,
            f"{altitude_m:g} m above home",
        )

    async def start_mission(self, *, attempts: int = START_ATTEMPTS) -> None:
        """Arm in GUIDED, start AUTO from the first item; return once armed in AUTO.

        ArduCopter disarms on the ground DISARM_DELAY (10 s) after arming when
        nothing makes it take off (``Copter::auto_disarm_check``), and
        MAV_CMD_MISSION_START switches a disarmed copter to AUTO just as well and
        acknowledges it (``GCS_MAVLINK_Copter::handle_MAV_CMD_MISSION_START``).
        A MISSION_START lost on the link is sent again 1.5 s later; by then a
        copter in SITL at speed-up 20 (10 s is 0.5 s there), or behind a slow
        link, has disarmed, and the start leaves it in AUTO on the ground: the
        flight would end at once, nothing flown. That is not a start, so the
        vehicle is armed again and the mission started again, up to
        ``attempts`` times; then ``FlightError``.
        """
        for attempt in range(1, attempts + 1):
            await self._start_once()
            if self.telemetry.armed:
                return
            logger.warning(
                "start %d of %d: the vehicle is in AUTO but disarmed (it disarmed on the "
                "ground before MISSION_START arrived); arming it again",
                attempt,
                attempts,
            )
        raise FlightError(
            f"the vehicle disarmed on the ground before each of {attempts} mission starts arrived"
        )

    async def _start_once(self) -> None:
        if not self.telemetry.armed:
            await self.set_mode("GUIDED")
            await self.arm()
        try:
            await self.command(
                mavlink.MAV_CMD_MISSION_START, 0, 0, done=lambda: self.telemetry.mode == "AUTO"
            )
        except CommandTimeoutError:
            # on a lossy link every ACK can be lost while the vehicle did start:
            # the mode it reports decides
            await self.wait_until(lambda: self.telemetry.mode == "AUTO", 5.0, "mode AUTO")
        await self.wait_until(lambda: self.telemetry.mode == "AUTO", 10.0, "mode AUTO")

    async def pause(self) -> None:
        """Hold position where the vehicle is (GUIDED stops at its braking point)."""
        await self.set_mode("GUIDED")

    async def resume(self) -> None:
        """Carry on with the mission from the item it was flying to."""
        await self.set_mode("AUTO")

    async def return_to_launch(self) -> None:
        """Abort the mission and fly home (RTL)."""
        await self.set_mode("RTL")

    async def set_param(self, name: str, value: float, *, timeout_s: float = 2.0) -> None:
        """PARAM_SET until the vehicle echoes the value back."""
        held = await self._write_param(name, value, timeout_s=timeout_s)
        if held is None or not same_param(held, value):
            now = "no PARAM_VALUE" if held is None else f"the vehicle holds {held:g}"
            raise CommandTimeoutError(f"parameter {name} not confirmed at {value:g} ({now})")

    async def _write_param(
        self, name: str, value: float, *, timeout_s: float = 2.0, tries: int = 5
    ) -> float | None:
        """PARAM_SET until the vehicle echoes ``value``; what it last echoed (None: silence).

        Silence is retried ``tries`` times. An echo of another value (one that
        crossed the request, or a value the vehicle will not take) gets one
        more request: a second such answer is the vehicle's.
        """
        link = self.link
        held: float | None = None
        other_answers = 0
        with link.subscribe(mavlink.MAVLink_param_value_message) as sub:
            for _ in range(tries):
                if other_answers >= 2:
                    break
                link.send(
                    link.mav.param_set_encode(
                        link.target_system,
                        link.target_component,
                        name.encode(),
                        value,
                        mavlink.MAV_PARAM_TYPE_REAL32,
                    )
                )
                deadline = time.monotonic() + timeout_s
                while (left := deadline - time.monotonic()) > 0:
                    try:
                        msg = await sub.get(left, waiting_for=f"PARAM_VALUE {name}")
                    except LinkTimeoutError:
                        break
                    if not isinstance(msg, mavlink.MAVLink_param_value_message):
                        continue
                    if msg.param_id != name:
                        continue
                    held = float(msg.param_value)
                    if same_param(held, value):
                        return held
                    other_answers += 1
                    break
        return held

    async def read_params(
        self, names: Sequence[str] | Mapping[str, float], *, timeout_s: float = 2.0
    ) -> dict[str, float | None]:
        """Each parameter's value on the vehicle, None for one it never answered for."""
        held: dict[str, float | None] = {}
        for name in names:
            try:
                held[name] = await self.get_param(name, timeout_s=timeout_s)
            except CommandTimeoutError:
                held[name] = None
        return held

    async def apply_params(self, params: Mapping[str, float], *, timeout_s: float = 2.0) -> None:
        """Set the parameters a plan relies on, read each back, refuse any that differ.

        Written in the order given except FENCE_ENABLE, which goes last; with
        the fence wanted on, MAV_CMD_DO_FENCE_ENABLE then switches on every
        type in FENCE_TYPE (ArduPilot re-reads FENCE_TYPE only when
        FENCE_ENABLE changes). Parameters the autopilot reads only at boot
        (:data:`REBOOT_PARAMS`) are not written: this never reboots a vehicle.
        With the GCS failsafe on, FS_OPTIONS is written too
        (:func:`with_failsafe_options`).

        Raises ``ParameterError`` naming every parameter whose read-back
        differs (``FENCE_ENABLE is 0, plan needs 1``), ``RebootRequiredError``
        when one of them is read only at boot. ``timeout_s`` is the wait for
        each reply (five tries each).
        """
        if not params:
            return
        before = await self.read_params([*params, *failsafe_reads(params)], timeout_s=timeout_s)
        params = with_failsafe_options(params, before)

        def to_write(name: str) -> bool:
            held = before[name]
            # a name the vehicle never answered for is not one it has
            return (
                name not in REBOOT_PARAMS
                and held is not None
                and not same_param(held, params[name])
            )

        written = [n for n in sorted(params, key=lambda n: n in _WRITTEN_LAST) if to_write(n)]
        for name in written:
            logger.info("setting %s to %g (was %g)", name, params[name], before[name])
            await self._write_param(name, params[name], timeout_s=timeout_s)
        if params.get("FENCE_ENABLE") == 1:
            await self._enable_fences(params)
        after = {**before, **await self.read_params(written, timeout_s=timeout_s)}
        differences = param_differences(params, after)
        if differences:
            raise _parameter_error(differences)

    async def _enable_fences(self, params: Mapping[str, float]) -> None:
        fence_type = params.get("FENCE_TYPE")
        if fence_type is None:
            with contextlib.suppress(CommandTimeoutError):
                fence_type = await self.get_param("FENCE_TYPE")
        types = int(fence_type or 0) & _FENCE_ON_GROUND
        if types:
            try:
                await self.command(mavlink.MAV_CMD_DO_FENCE_ENABLE, 1, types)
            except CommandDeniedError:
                # MAV_RESULT_FAILED: none of these types is present, nothing to switch on
                logger.warning("the vehicle has none of fence types %d to enable", types)

    async def goto(self, lat: float, lon: float, alt_rel_m: float) -> None:
        """Fly to a point in GUIDED (switching to it), ``alt_rel_m`` above home.

        SET_POSITION_TARGET_GLOBAL_INT has no acknowledgement: ArduCopter
        silently refuses a target outside an enabled fence. With GUID_OPTIONS
        bit 6 (64) it flies there with its waypoint controller, and so around
        fence exclusions when OA_TYPE is 2 (Dijkstra).
        """
        if self.telemetry.mode != "GUIDED":
            await self.set_mode("GUIDED")
        link = self.link
        ignore = (
            mavlink.POSITION_TARGET_TYPEMASK_VX_IGNORE
            | mavlink.POSITION_TARGET_TYPEMASK_VY_IGNORE
            | mavlink.POSITION_TARGET_TYPEMASK_VZ_IGNORE
            | mavlink.POSITION_TARGET_TYPEMASK_AX_IGNORE
            | mavlink.POSITION_TARGET_TYPEMASK_AY_IGNORE
            | mavlink.POSITION_TARGET_TYPEMASK_AZ_IGNORE
            | mavlink.POSITION_TARGET_TYPEMASK_YAW_IGNORE
            | mavlink.POSITION_TARGET_TYPEMASK_YAW_RATE_IGNORE
        )
        link.send(
            link.mav.set_position_target_global_int_encode(
                0,
                link.target_system,
                link.target_component,
                mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
                ignore,
                to_e7(lat),
                to_e7(lon),
                alt_rel_m,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
            )
        )

    async def get_param(self, name: str, *, timeout_s: float = 2.0) -> float:
        link = self.link
        for _ in range(5):
            link.send(
                link.mav.param_request_read_encode(
                    link.target_system, link.target_component, name.encode(), -1
                )
            )
            try:
                msg = await link.wait_for(
                    mavlink.MAVLink_param_value_message,
                    timeout_s=timeout_s,
                    where=lambda m: m.param_id == name,
                )
                return float(msg.param_value)
            except LinkTimeoutError:
                continue
        raise CommandTimeoutError(f"parameter {name}: no PARAM_VALUE")

    async def reboot(self) -> None:
        """Reboot the autopilot and wait until it is heard again."""
        with contextlib.suppress(CommandTimeoutError):
            await self.command(mavlink.MAV_CMD_PREFLIGHT_REBOOT_SHUTDOWN, 1, retries=1)
        self.telemetry.custom_mode = -1
        self.telemetry.prearm_ok = None
        self.telemetry.ekf_flags = 0
        await asyncio.sleep(1.0)
        await self.link.wait_connected(timeout_s=60.0)
        self._request_streams()

    async def setup_signing(self, key: bytes) -> None:
        """Give the vehicle a MAVLink 2 signing key, then sign this link with it.

        Once done the vehicle refuses unsigned commands on its signing-capable
        links. Only while disarmed (ArduPilot refuses otherwise).
        """
        from missions.flight.link import signing_timestamp

        if len(key) != 32:
            raise ValueError("a MAVLink signing key is 32 bytes")
        link = self.link
        link.send(
            link.mav.setup_signing_encode(
                link.target_system, link.target_component, key, signing_timestamp()
            )
        )
        link.enable_signing(key)

    async def disable_signing(self) -> None:
        """Remove the vehicle's signing key (an all-zero key and timestamp), then stop signing."""
        link = self.link
        link.send(
            link.mav.setup_signing_encode(link.target_system, link.target_component, bytes(32), 0)
        )
        await asyncio.sleep(0.2)
        link.disable_signing()

    # -- missions ------------------------------------------------------------

    async def upload_mission(
        self, mission: Mission, *, settings: TransferSettings = DEFAULT_SETTINGS
    ) -> None:
        """Upload mission, fence and rally, each checked by reading it back."""
        started = time.monotonic()
        await transfer.upload_verified(self.link, mission, settings=settings)
        self.mission = mission
        self.telemetry.reached.clear()
        self.telemetry.passed_seq = 0
        self._mission_ran = False
        self.events.publish(
            MissionUploaded(
                items=len(mission.items),
                fence=len(mission.fence),
                rally=len(mission.rally),
                seconds=round(time.monotonic() - started, 2),
            )
        )

    async def download_mission(
        self,
        mission_type: MissionType = MissionType.MISSION,
        *,
        settings: TransferSettings = DEFAULT_SETTINGS,
    ) -> list[MissionItem]:
        return await transfer.download(self.link, mission_type, settings=settings)

    async def preflight(
        self, *, min_battery_pct: float = 30.0, timeout_s: float = 20.0
    ) -> PreflightReport:
        """Run the pre-flight checks; raises ``PreflightError`` naming each failure.

        GPS 3D fix, EKF position estimate, battery, the autopilot's own
        pre-arm checks, the fence on board matching the mission's, and the
        vehicle parameters the mission relies on (``params``).
        """
        board = await self._board_checks()  # what is stored on board: asked once
        deadline = time.monotonic() + timeout_s
        while True:
            report = PreflightReport({**self._live_checks(min_battery_pct), **board})
            if report.ok or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        if not report.ok:
            raise PreflightError(
                "pre-flight checks failed: "
                + "; ".join(f"{name}: {why}" for name, why in report.failures.items())
            )
        return report

    def _live_checks(self, min_battery_pct: float) -> dict[str, str | None]:
        """The checks read from streamed telemetry, which settles while we wait."""
        t = self.telemetry
        checks: dict[str, str | None] = {}
        checks["gps"] = None if t.gps_fix >= 3 else f"fix type {t.gps_fix}, need 3D (3)"
        missing = _EKF_NEEDED & ~t.ekf_flags
        checks["ekf"] = None if not missing else f"EKF flags {t.ekf_flags:#x} lack {missing:#x}"
        if t.battery_pct is None:
            checks["battery"] = None if t.battery_v is not None else "no battery report"
        else:
            checks["battery"] = (
                None
                if t.battery_pct >= min_battery_pct
                else f"{t.battery_pct:g} % < {min_battery_pct:g} %"
            )
        checks["prearm"] = (
            None
            if t.prearm_ok is not False
            else (self._recent_text() or "autopilot says not ready")
        )
        return checks

    async def _board_checks(self) -> dict[str, str | None]:
        """The fence list and the parameters on board against the mission's."""
        checks: dict[str, str | None] = {}
        if self.mission is not None and self.mission.fence:
            held = await transfer.download(self.link, MissionType.FENCE)
            checks["fence"] = (
                None
                if len(held) == len(self.mission.fence)
                else f"{len(held)} fence items on board, mission has {len(self.mission.fence)}"
            )
        if self.mission is not None and self.mission.params:
            planned = self.mission.params
            values = await self.read_params([*planned, *failsafe_reads(planned)])
            differences = param_differences(with_failsafe_options(planned, values), values)
            checks["params"] = describe_differences(differences) if differences else None
        return checks

    def landed_and_disarmed(self) -> bool:
        """The end of a flight: disarmed, and on the ground by EXTENDED_SYS_STATE.

        ArduCopter never reports MAV_LANDED_STATE_UNDEFINED
        (``GCS_MAVLINK_Copter::landed_state`` answers ON_GROUND from
        ``land_complete``, else LANDING, TAKEOFF or IN_AIR); only vehicles without
        their own ``landed_state`` (``GCS_MAVLINK``'s default) send it. UNDEFINED
        here is also what we hold before the first EXTENDED_SYS_STATE. Either
        way the autopilot gives no landed state, and disarmed is all there is: a
        copter disarmed in the air has stopped its motors, so it is on the way
        down for good. It is therefore accepted with disarmed; a state heard as
        IN_AIR, TAKEOFF or LANDING is not, even disarmed (a stale one, until the
        next EXTENDED_SYS_STATE after a drop-out).
        """
        t = self.telemetry
        return not t.armed and t.landed_state in (
            mavlink.MAV_LANDED_STATE_ON_GROUND,
            mavlink.MAV_LANDED_STATE_UNDEFINED,
        )

    async def wait_landed(
        self,
        *,
        deadline: FlightDeadline | None = None,
        link_outage_s: float = 60.0,
        timeout_s: float | None = None,
    ) -> None:
        """Return once the vehicle is on the ground and disarmed; fail only a stuck flight.

        The flight is watched on the vehicle's clock (:class:`ProgressWatch`):
        it fails when it makes no progress for ``deadline.stall_s`` or outlasts
        ``deadline.ceiling_s``, each a ``FlightError`` that names it and where
        the vehicle is; passing ``deadline.estimate_s`` while still progressing
        publishes :class:`Overdue` instead. ``deadline`` defaults to
        :meth:`FlightDeadline.for_mission` of the uploaded mission.

        A lost link is waited out for up to ``link_outage_s`` wall seconds at a
        time (the vehicle flies on its own meanwhile) and that time never counts
        as a stall; longer, ``LinkLostError``. So is ``link_outage_s`` with the
        link up but no position heard. ``timeout_s``: an optional wall-clock
        limit regardless of progress, for short waits in tests; a flight passes
        none.
        """
        deadline = deadline or FlightDeadline.for_mission(self.mission)
        watch = ProgressWatch()
        give_up_at = None if timeout_s is None else time.monotonic() + timeout_s
        heard_at = time.monotonic()
        seen_ms: int | None = None
        overdue = False
        while not self.landed_and_disarmed():
            if give_up_at is not None and time.monotonic() > give_up_at:
                raise FlightError(f"not landed and disarmed within {timeout_s:g} s")
            if self.link.state is not LinkState.CONNECTED:
                await self._link_back(link_outage_s)
                watch.excuse()
                heard_at = time.monotonic()
            if self.telemetry.position_time_boot_ms != seen_ms:
                seen_ms = self.telemetry.position_time_boot_ms
                heard_at = time.monotonic()
                sample = self._progress_sample()
                if sample is not None:
                    watch.observe(sample)
                    overdue = self._judge(watch, deadline, overdue=overdue)
            elif time.monotonic() - heard_at > link_outage_s:
                raise LinkLostError(
                    f"no position from the vehicle for {link_outage_s:g} s in flight, "
                    "though the link is up: the telemetry stream stopped"
                )
            await asyncio.sleep(0.05)

    async def _link_back(self, link_outage_s: float) -> None:
        """Wait for a lost link; ``LinkLostError`` saying where the vehicle was if it stays lost."""
        try:
            await self.link.wait_connected(timeout_s=link_outage_s)
        except LinkLostError as exc:
            t = self.telemetry
            alt = f", {t.position.alt_rel_m:.0f} m above home" if t.position else ""
            raise LinkLostError(
                f"link to the vehicle down for more than {link_outage_s:g} s in flight; "
                f"last heard in {t.mode or 'an unknown mode'} at item {t.current_seq}{alt}. "
                "It flies on its own: its GCS failsafe (FS_GCS_ENABLE, FS_GCS_TIMEOUT) "
                f"decides what it does ({exc})"
            ) from exc

    def _progress_sample(self) -> ProgressSample | None:
        """The flight now, as the progress watch reads it (None before a position)."""
        t = self.telemetry
        if t.position is None or t.position_time_boot_ms is None:
            return None
        if _measure(t.mode) == "route":
            to_go = self.progress().distance_to_go_m
        else:
            to_go = min(
                distance_m(t.position.lat, t.position.lon, lat, lon)
                for lat, lon in self._return_points()
            )
        return ProgressSample(
            time_s=t.position_time_boot_ms / 1000,
            seq=t.current_seq,
            to_go_m=to_go,
            alt_rel_m=t.position.alt_rel_m,
            mode=t.mode,
            landed_state=t.landed_state,
            flown_m=self.distance_flown_m,
        )

    def _return_points(self) -> list[tuple[float, float]]:
        """(lat, lon) of home and of every rally point: where RTL may go."""
        t = self.telemetry
        points: list[tuple[float, float]] = []
        if t.home is not None:
            points.append((t.home.lat, t.home.lon))
        elif self.mission is not None:
            points.append((self.mission.home.lat, self.mission.home.lon))
        if self.mission is not None:
            points.extend((r.lat, r.lon) for r in self.mission.rally if r.x or r.y)
        if not points and t.position is not None:
            points.append((t.position.lat, t.position.lon))
        return points

    def _judge(self, watch: ProgressWatch, deadline: FlightDeadline, *, overdue: bool) -> bool:
        """Fail a stalled or endless flight; announce an overdue one. True once overdue."""
        last = watch.last
        assert last is not None  # judged after a sample
        where = (
            f"in {last.mode or 'an unknown mode'} at item {last.seq}, "
            f"{last.to_go_m:.0f} m to go, {last.alt_rel_m:.0f} m above home"
        )
        if watch.stalled_s > deadline.stall_s:
            self.events.publish(
                Stalled(
                    stalled_s=round(watch.stalled_s, 1),
                    window_s=deadline.stall_s,
                    mode=last.mode,
                    seq=last.seq,
                    to_go_m=round(last.to_go_m, 1),
                )
            )
            raise FlightError(
                f"flight stalled: no progress for {watch.stalled_s:.0f} s (stall window "
                f"{deadline.stall_s:g} s, vehicle clock) {where}"
            )
        if watch.elapsed_s > deadline.ceiling_s:
            raise FlightError(
                f"flight not landed after {watch.elapsed_s:.0f} s (vehicle clock), over its "
                f"ceiling of {deadline.ceiling_s:.0f} s ({CEILING_FACTOR:g} x the plan's "
                f"duration), still moving {where}"
            )
        if overdue or watch.elapsed_s <= deadline.estimate_s:
            return overdue
        speed = watch.ground_speed_m_s()
        self.events.publish(
            Overdue(
                estimate_s=round(deadline.estimate_s, 1),
                elapsed_s=round(watch.elapsed_s, 1),
                to_go_m=round(last.to_go_m, 1),
                eta_s=round(last.to_go_m / speed, 1) if speed else None,
            )
        )
        return True

    async def wait_ready(self, *, timeout_s: float = 60.0) -> None:
        """Wait until the autopilot reports it could arm (pre-arm checks pass)."""
        await self.wait_until(
            lambda: (
                self.telemetry.prearm_ok is True
                and not (_EKF_NEEDED & ~self.telemetry.ekf_flags)
                and self.telemetry.gps_fix >= 3
            ),
            timeout_s,
            "ready to arm",
        )

    async def wait_until(self, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
        """Poll ``condition`` until true; ``LinkTimeoutError`` naming ``what`` if it never is."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                hint = self._recent_text()
                raise LinkTimeoutError(
                    f"vehicle not {what} within {timeout_s:g} s" + (f" ({hint})" if hint else "")
                )
            await asyncio.sleep(0.05)


_REACHED_TEXT = re.compile(r"Reached command #(\d+)")

_NAV_TO_POINT = frozenset(
    {
        mavlink.MAV_CMD_NAV_WAYPOINT,
        mavlink.MAV_CMD_NAV_SPLINE_WAYPOINT,
        mavlink.MAV_CMD_NAV_LOITER_TIME,
        mavlink.MAV_CMD_NAV_LOITER_TURNS,
        mavlink.MAV_CMD_NAV_LAND,
    }
)


#: Items the mission may jump across instead of running the items after them in order.
_SEQUENCE_BREAKS = frozenset(
    {
        mavlink.MAV_CMD_DO_JUMP,
        mavlink.MAV_CMD_DO_JUMP_TAG,
        mavlink.MAV_CMD_DO_LAND_START,
        mavlink.MAV_CMD_DO_RETURN_PATH_START,
    }
)


def _position(msg: mavlink.MAVLink_global_position_int_message) -> Position:
    return Position(msg.lat / 1e7, msg.lon / 1e7, msg.alt / 1000, msg.relative_alt / 1000)


def _command_name(command: int) -> str:
    entry = mavlink.enums["MAV_CMD"].get(command)
    return entry.name if entry is not None else f"command {command}"


def reached_all(reached: Sequence[int] | set[int], mission: Mission) -> list[int]:
    """Mission items with a position the vehicle never reported reaching."""
    return [
        item.seq
        for item in mission.items[1:]
        if item.command in _NAV_TO_POINT and (item.x or item.y) and item.seq not in reached
    ]
