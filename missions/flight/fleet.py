"""Fly several sorties at once, each vehicle on its own, kept apart by a guard.

Each sortie is flown by :func:`~missions.flight.fly.fly_mission` on its own
connection, to its own folder, as one flight would be: its own upload, checks,
arming, event log and result. They run as independent tasks: one vehicle's
exception (link lost, arming refused, a failsafe's RTL) is recorded in its own
:class:`SortieOutcome` and never cancels or confuses another's.

Before anything is uploaded every vehicle's HEARTBEAT is heard and its MAVLink
system id read: two sorties answering as the same system are refused at once
(one line, nothing flown), since every command and telemetry stream is told
apart by that id. Once ready to arm, each vehicle waits at a common gate for
the others (or their failure), then for its launch delay, counted on its own
clock (GLOBAL_POSITION_INT's ``time_boot_ms``: simulated seconds in SITL), as
:func:`missions.deconflict.deconflict` schedules it in flight seconds.

In the air, :class:`SeparationGuard` reads every vehicle's GLOBAL_POSITION_INT
(position, altitude AMSL, velocity; earth frame, north-east-down). Two vehicles
are apart when horizontally ``separation.horizontal_m`` or more apart, or
vertically ``separation.vertical_m`` or more. The guard extrapolates each
pair's tracks over a look-ahead and, when they would stop being apart (with a
margin), holds the lower-priority one (GUIDED at its braking point,
:meth:`~missions.flight.vehicle.Vehicle.pause`); it resumes it (AUTO) once,
flying on as it was before the hold, it would stay apart with the margin for
twice the look-ahead (the hysteresis that keeps a hold begun at the
look-ahead's edge from ending at once). A hold and a resume are events in
that flight's ``events.jsonl`` and in the result, for the operator.

What the guard does not do: route a held vehicle out of the way. A held vehicle
that another still flies at once it has stopped makes the guard hold that one
too, and both hover until the operator decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any, Protocol

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.deconflict import Separation
from missions.flight.errors import FlightError
from missions.flight.events import FlightEvent
from missions.flight.fly import Endpoint, FlightResult, fly_mission, new_flight_id
from missions.flight.link import LinkState
from missions.flight.vehicle import Vehicle
from missions.items import Mission

logger = logging.getLogger(__name__)

#: Metres per degree of latitude (and of longitude at the equator), for the
#: guard's local east-north frame: over the few kilometres of a patrol its
#: error is well under a metre.
M_PER_DEG = 111_320.0

FleetEventCallback = Callable[[int, FlightEvent], Awaitable[None] | None]


class Guarded(Protocol):
    """What the guard needs of a vehicle besides its positions: its state and two commands.

    ``mode`` is ArduPilot's mode name (``AUTO`` flying its mission, ``GUIDED`` held);
    ``pause`` holds it at its braking point, ``resume`` sends it on with its mission;
    ``tell`` hands the operator one of the guard's events about it.
    """

    def airborne(self) -> bool: ...
    def mode(self) -> str: ...
    def connected(self) -> bool: ...
    async def pause(self) -> None: ...
    async def resume(self) -> None: ...
    def tell(self, event: FlightEvent) -> None: ...


class _OnVehicle:
    """A connected :class:`Vehicle` as the guard sees it."""

    def __init__(self, vehicle: Vehicle) -> None:
        self.vehicle = vehicle

    def airborne(self) -> bool:
        t = self.vehicle.telemetry
        return t.armed and t.landed_state != mavlink.MAV_LANDED_STATE_ON_GROUND

    def mode(self) -> str:
        return self.vehicle.telemetry.mode

    def connected(self) -> bool:
        return self.vehicle.link.state is LinkState.CONNECTED

    async def pause(self) -> None:
        await self.vehicle.pause()

    async def resume(self) -> None:
        await self.vehicle.resume()

    def tell(self, event: FlightEvent) -> None:
        self.vehicle.events.publish(event)


class SystemIdError(FlightError, ValueError):
    """Two sorties' vehicles answer as the same MAVLink system, or not as planned."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SeparationHold(FlightEvent):
    """The guard held this vehicle (GUIDED) because it would come too close to ``other``."""

    sortie: int
    other: int
    horizontal_m: float
    vertical_m: float
    conflict_in_s: float
    """Vehicle seconds until the extrapolated tracks would stop being apart."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SeparationResume(FlightEvent):
    """The guard sent the held vehicle on with its mission (AUTO)."""

    sortie: int
    held_s: float
    """Wall seconds held."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SeparationLost(FlightEvent):
    """The guard cannot keep this vehicle apart: a hold or resume it did not take, or
    no position heard (link down). The operator's turn; ``other`` is 0 when none."""

    sortie: int
    other: int
    reason: str


@dataclass(frozen=True, slots=True)
class FleetSortie:
    """One vehicle's part of a fleet flight.

    ``number``: the sortie's number (the schedule's key); ``target``: its own
    connection URL or running SITL; ``start_s``: launch delay after the fleet's
    go, seconds on the vehicle's clock; ``priority``: when two would come too
    close, the lower one is held (ties: the higher sortie number is held);
    ``system_id``: the MAVLink system id it must answer as (any distinct one
    when None); ``options``: more keyword arguments for :func:`fly_mission`
    (``speedup``, ``link_timeout_s``, ``photo_points``...).
    """

    number: int
    target: str | Endpoint
    mission: Mission
    start_s: float = 0.0
    priority: int = 0
    system_id: int | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.target if isinstance(self.target, str) else self.target.url


@dataclass(frozen=True, slots=True)
class SortieOutcome:
    """How one sortie went: its flight result, or the error that ended it."""

    number: int
    system_id: int | None
    flight_dir: Path | None
    result: FlightResult | None
    error: str | None
    events: tuple[FlightEvent, ...]
    """The guard's holds and resumes of this vehicle."""

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class FleetResult:
    """Every sortie's outcome, the guard's events, and the closest approach it saw."""

    outcomes: dict[int, SortieOutcome]
    guard_events: tuple[FlightEvent, ...]
    closest_m: dict[tuple[int, int], tuple[float, float]]
    """Per pair, (horizontal, vertical) metres at the guard's smallest horizontal reading
    while both were airborne."""

    def summary(self) -> dict[str, object]:
        return {
            "sorties": {
                str(n): {
                    "system_id": o.system_id,
                    "flight_dir": str(o.flight_dir) if o.flight_dir else None,
                    "error": o.error,
                    "items_missed": list(o.result.items_missed) if o.result else None,
                }
                for n, o in sorted(self.outcomes.items())
            },
            "guard_events": [e.to_dict() for e in self.guard_events],
            "closest_m": {f"{a}-{b}": list(hv) for (a, b), hv in self.closest_m.items()},
        }


# -- the guard ------------------------------------------------------------------


@dataclass
class _Track:
    """One watched vehicle: its latest position and velocity, and its hold."""

    number: int
    priority: int
    vehicle: Guarded
    lat: float = math.nan
    lon: float = math.nan
    alt_amsl_m: float = math.nan
    v_enu_m_s: tuple[float, float, float] = (0.0, 0.0, 0.0)
    heard_at: float = -math.inf
    held_since: float | None = None
    held_for: int | None = None
    velocity_before_hold: tuple[float, float, float] = (0.0, 0.0, 0.0)
    busy: bool = False
    quiet_until: float = 0.0
    """After a command the vehicle did not take, none is sent before this (monotonic)."""
    blind: bool = False
    """Airborne but silent for the guard's ``stale_s``: told to the operator once."""

    def airborne(self) -> bool:
        return self.vehicle.airborne()

    def commandable(self, mode: str) -> bool:
        v = self.vehicle
        return (
            not self.busy
            and time.monotonic() >= self.quiet_until
            and v.connected()
            and v.mode() == mode
        )

    def at_rest(self) -> bool:
        """Hovering: under 1 m/s horizontally (a held vehicle once it has braked)."""
        return math.hypot(self.v_enu_m_s[0], self.v_enu_m_s[1]) < 1.0

    def rank(self) -> tuple[int, int]:
        """Lower ranks are held first."""
        return (self.priority, -self.number)


def position_of(
    msg: mavlink.MAVLink_global_position_int_message,
) -> tuple[float, float, float, tuple[float, float, float]]:
    """GLOBAL_POSITION_INT as the guard reads it: latitude, longitude (degrees), altitude
    above mean sea level (m), velocity east, north, up (m/s; the message's is north, east,
    down in cm/s)."""
    return (
        msg.lat / 1e7,
        msg.lon / 1e7,
        msg.alt / 1000,
        (msg.vy / 100, msg.vx / 100, -msg.vz / 100),
    )


def _offset_m(a: _Track, b: _Track) -> tuple[float, float, float]:
    """b minus a: east, north, up (metres; up from the AMSL altitudes)."""
    cos_lat = math.cos(math.radians((a.lat + b.lat) / 2))
    return (
        (b.lon - a.lon) * M_PER_DEG * cos_lat,
        (b.lat - a.lat) * M_PER_DEG,
        b.alt_amsl_m - a.alt_amsl_m,
    )


def first_conflict_s(
    offset_m: tuple[float, float, float],
    closing_m_s: tuple[float, float, float],
    *,
    horizontal_m: float,
    vertical_m: float,
    lookahead_s: float,
    step_s: float = 0.25,
) -> float | None:
    """Seconds until two straight tracks are no longer apart, or None within the look-ahead.

    ``offset_m`` is the second vehicle's east, north, up offset from the first;
    ``closing_m_s`` its velocity relative to the first (east, north, up). Not
    apart means horizontally closer than ``horizontal_m`` AND vertically closer
    than ``vertical_m``; sampled every ``step_s``.
    """
    steps = int(lookahead_s / step_s) + 1
    for i in range(steps):
        t = i * step_s
        e, n, u = (o + v * t for o, v in zip(offset_m, closing_m_s, strict=True))
        if math.hypot(e, n) < horizontal_m and abs(u) < vertical_m:
            return t
    return None


class SeparationGuard:
    """Hold the lower-priority of two vehicles that would come too close; resume it after.

    ``lookahead_s`` (vehicle seconds) and the margins must cover the guard's
    reaction (a polling period plus a mode change's round trip) and the braking
    distance at cruise speed: a vehicle held later than that stops inside the
    separation.
    """

    def __init__(
        self,
        separation: Separation,
        *,
        lookahead_s: float = 15.0,
        margin_horizontal_m: float = 15.0,
        margin_vertical_m: float = 5.0,
        period_s: float = 0.05,
        stale_s: float = 3.0,
    ) -> None:
        self.separation = separation
        self.lookahead_s = lookahead_s
        self.margin_h_m = margin_horizontal_m
        self.margin_v_m = margin_vertical_m
        self.period_s = period_s
        self.stale_s = stale_s
        self.events: list[FlightEvent] = []
        self.closest_m: dict[tuple[int, int], tuple[float, float]] = {}
        self._tracks: dict[int, _Track] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._commands: set[asyncio.Task[None]] = set()

    def watch(self, number: int, priority: int, vehicle: Vehicle) -> None:
        """Follow a vehicle's GLOBAL_POSITION_INT from now on."""
        self.add(number, priority, _OnVehicle(vehicle))
        self._tasks[number] = asyncio.create_task(
            self._follow(number, vehicle), name=f"guard-{number}"
        )

    def add(self, number: int, priority: int, vehicle: Guarded) -> None:
        """Guard a vehicle whose positions the caller feeds in (:meth:`observe`)."""
        self._tracks[number] = _Track(number, priority, vehicle)

    def observe(
        self,
        number: int,
        lat: float,
        lon: float,
        alt_amsl_m: float,
        v_enu_m_s: tuple[float, float, float],
    ) -> None:
        """A vehicle's position (degrees, metres above mean sea level) and velocity (east,
        north, up, m/s) now; ignored for a vehicle not guarded."""
        track = self._tracks.get(number)
        if track is None:
            return
        track.lat, track.lon, track.alt_amsl_m = lat, lon, alt_amsl_m
        track.v_enu_m_s = v_enu_m_s
        track.heard_at = time.monotonic()

    def release(self, number: int) -> None:
        """The operator took the vehicle over: the guard no longer resumes it by itself."""
        track = self._tracks.get(number)
        if track is not None:
            track.held_since = None

    async def forget(self, number: int) -> None:
        """Stop following a vehicle (its flight ended)."""
        self._tracks.pop(number, None)
        task = self._tasks.pop(number, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run(self) -> None:
        """Check every pair each ``period_s`` until cancelled."""
        try:
            while True:
                self.check()
                await asyncio.sleep(self.period_s)
        finally:
            for task in list(self._commands):
                task.cancel()

    async def _follow(self, number: int, vehicle: Vehicle) -> None:
        with vehicle.link.subscribe(mavlink.MAVLink_global_position_int_message) as sub:
            async for msg in sub:
                self.observe(number, *position_of(msg))

    def check(self) -> None:
        """One pass: record the closest approaches, hold whoever must, resume whoever may."""
        now = time.monotonic()
        live: dict[int, _Track] = {}
        for n, track in self._tracks.items():
            if not track.airborne():
                continue
            if now - track.heard_at < self.stale_s:
                live[n] = track
                track.blind = False
            elif not track.blind:  # say it once per silence
                track.blind = True
                reason = f"not heard for {self.stale_s:g} s: out of the guard's sight"
                self._publish(track, SeparationLost(sortie=n, other=0, reason=reason))
        for a, b in combinations(sorted(live), 2):
            self._record(live[a], live[b])
            low, high = sorted((live[a], live[b]), key=_Track.rank)
            self._hold_if_needed(low, high)
        for track in live.values():
            if track.held_since is not None:
                self._resume_if_clear(track, live)

    def _record(self, a: _Track, b: _Track) -> None:
        e, n, u = _offset_m(a, b)
        key = (a.number, b.number)
        now = (round(math.hypot(e, n), 1), round(abs(u), 1))
        if key not in self.closest_m or now[0] < self.closest_m[key][0]:
            self.closest_m[key] = now

    def _conflict_in_s(
        self,
        a: _Track,
        b: _Track,
        v_a: tuple[float, float, float] | None = None,
        *,
        lookahead_s: float | None = None,
    ) -> float | None:
        va = v_a if v_a is not None else a.v_enu_m_s
        closing = tuple(vb - vv for vb, vv in zip(b.v_enu_m_s, va, strict=True))
        return first_conflict_s(
            _offset_m(a, b),
            (closing[0], closing[1], closing[2]),
            horizontal_m=self.separation.horizontal_m + self.margin_h_m,
            vertical_m=self.separation.vertical_m + self.margin_v_m,
            lookahead_s=lookahead_s or self.lookahead_s,
        )

    def _hold_if_needed(self, low: _Track, high: _Track) -> None:
        when = self._conflict_in_s(low, high)
        if when is None:
            return
        if low.held_since is None:
            if low.commandable("AUTO"):
                self._hold(low, high, when)
            elif high.held_since is None and high.commandable("AUTO"):
                self._hold(high, low, when)  # the lower one is not ours to hold
        elif high.held_since is None and high.commandable("AUTO") and low.at_rest():
            # the held one has stopped: does the other still fly at it?
            at_rest = self._conflict_in_s(low, high, (0.0, 0.0, 0.0))
            if at_rest is not None:
                self._hold(high, low, at_rest)  # both hover: the operator's turn

    def _resume_if_clear(self, track: _Track, live: Mapping[int, _Track]) -> None:
        if track.busy:
            return
        if track.vehicle.mode() != "GUIDED":  # the vehicle or the pilot took over
            track.held_since = None
            return
        if not track.commandable("GUIDED"):
            return
        for other in live.values():
            if other is track:
                continue
            # twice the look-ahead: a hold that began at its edge does not end at once
            ahead = self._conflict_in_s(
                track, other, track.velocity_before_hold, lookahead_s=2 * self.lookahead_s
            )
            if ahead is not None:
                return
        self._resume(track)

    def _hold(self, track: _Track, other: _Track, when_s: float) -> None:
        e, n, u = _offset_m(track, other)
        track.held_since = time.monotonic()
        track.held_for = other.number
        track.velocity_before_hold = track.v_enu_m_s
        event = SeparationHold(
            sortie=track.number,
            other=other.number,
            horizontal_m=round(math.hypot(e, n), 1),
            vertical_m=round(abs(u), 1),
            conflict_in_s=round(when_s, 2),
        )
        self._command(track, track.vehicle.pause(), event)

    def _resume(self, track: _Track) -> None:
        assert track.held_since is not None
        event = SeparationResume(
            sortie=track.number, held_s=round(time.monotonic() - track.held_since, 1)
        )
        track.held_since = None
        self._command(track, track.vehicle.resume(), event)

    def _command(self, track: _Track, action: Awaitable[None], event: FlightEvent) -> None:
        """Publish ``event`` and send the mode change without blocking the guard."""
        self._publish(track, event)
        track.busy = True

        async def send() -> None:
            try:
                await action
            except Exception as exc:  # the operator must hear of it; the guard carries on
                track.quiet_until = time.monotonic() + 2.0
                self._publish(
                    track,
                    SeparationLost(sortie=track.number, other=track.held_for or 0, reason=str(exc)),
                )
            finally:
                track.busy = False

        task = asyncio.create_task(send(), name=f"guard-command-{track.number}")
        self._commands.add(task)
        task.add_done_callback(self._commands.discard)

    def _publish(self, track: _Track, event: FlightEvent) -> None:
        logger.warning("sortie %d: %s", track.number, event)
        self.events.append(event)
        track.vehicle.tell(event)


# -- the fleet ------------------------------------------------------------------


class _LaunchGate:
    """Opens once every sortie is ready to arm or has failed (or after a timeout)."""

    def __init__(self, numbers: Sequence[int]) -> None:
        self._waiting = set(numbers)
        self._open = asyncio.Event()
        if not self._waiting:
            self._open.set()

    def settle(self, number: int) -> None:
        self._waiting.discard(number)
        if not self._waiting:
            self._open.set()

    async def wait(self, timeout_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._open.wait()
        if self._waiting:
            logger.warning("launching without sorties %s (not ready)", sorted(self._waiting))


async def read_system_id(sortie: FleetSortie, *, timeout_s: float = 30.0) -> int:
    """The MAVLink system id the sortie's vehicle answers as (its first HEARTBEAT's)."""
    target = sortie.target
    heartbeat = 1.0 if isinstance(target, str) else target.heartbeat_interval_s
    vehicle = await Vehicle.connect(sortie.url, heartbeat_interval_s=heartbeat, timeout_s=timeout_s)
    try:
        return vehicle.link.target_system
    finally:
        await vehicle.close()


def check_system_ids(sorties: Sequence[FleetSortie], heard: Mapping[int, int]) -> None:
    """``SystemIdError`` (one line) when two vehicles share an id or one is not as planned."""
    by_id: dict[int, list[int]] = {}
    for number, sysid in heard.items():
        by_id.setdefault(sysid, []).append(number)
    for sysid, numbers in sorted(by_id.items()):
        if len(numbers) > 1:
            raise SystemIdError(
                f"sorties {', '.join(map(str, sorted(numbers)))} all answer as MAVLink system "
                f"{sysid}: give each vehicle its own MAV_SYSID (SYSID_THISMAV)"
            )
    for sortie in sorties:
        got = heard.get(sortie.number)
        if sortie.system_id is not None and got is not None and got != sortie.system_id:
            raise SystemIdError(
                f"sortie {sortie.number} expects MAVLink system {sortie.system_id}, "
                f"but {sortie.url} answers as {got}"
            )


async def fly_fleet(
    sorties: Sequence[FleetSortie],
    *,
    separation: Separation,
    out_dir: Path,
    guard: SeparationGuard | None = None,
    ready_timeout_s: float = 180.0,
    on_event: FleetEventCallback | None = None,
) -> FleetResult:
    """Fly every sortie at once, each on its own; return when all have ended, however.

    Parameters
    ----------
    sorties : sequence of FleetSortie
        Distinct numbers, each vehicle on its own connection.
    separation : Separation
        The spacing the guard keeps (``missions.deconflict.Separation``).
    out_dir : Path
        Parent of each flight's ``flight-<id>/`` folder; ``fleet.json`` (the
        outcomes and the guard's events) is written here at the end.
    guard : SeparationGuard, optional
        Default ``SeparationGuard(separation)``.
    ready_timeout_s : float
        Wall seconds the ready vehicles wait for the others before launching.
    on_event : callable, optional
        Called with (sortie number, event) for every event of every flight.

    Raises ``SystemIdError`` before anything is uploaded when two vehicles
    answer as the same system. A vehicle that cannot be reached at all is
    recorded as failed and the others fly.
    """
    numbers = [s.number for s in sorties]
    if len(set(numbers)) != len(numbers):
        raise ValueError(f"sortie numbers repeat: {numbers}")
    heard_or_error = await asyncio.gather(
        *(read_system_id(s) for s in sorties), return_exceptions=True
    )
    heard = {
        s.number: h for s, h in zip(sorties, heard_or_error, strict=True) if isinstance(h, int)
    }
    check_system_ids(sorties, heard)
    guard = guard or SeparationGuard(separation)
    gate = _LaunchGate(list(heard))
    guard_task = asyncio.create_task(guard.run(), name="separation-guard")
    try:
        flights = [
            _fly_one(s, heard.get(s.number), out_dir, gate, guard, ready_timeout_s, on_event)
            if isinstance(h, int)
            else _unreached(s, h)
            for s, h in zip(sorties, heard_or_error, strict=True)
        ]
        outcomes = await asyncio.gather(*flights)
    finally:
        guard_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await guard_task
    result = FleetResult(
        outcomes={o.number: o for o in outcomes},
        guard_events=tuple(guard.events),
        closest_m=dict(guard.closest_m),
    )
    (out_dir / "fleet.json").write_text(json.dumps(result.summary(), indent=2) + "\n", "utf-8")
    return result


async def _unreached(sortie: FleetSortie, error: BaseException) -> SortieOutcome:
    return SortieOutcome(sortie.number, None, None, None, f"not reached: {error}", ())


async def _fly_one(
    sortie: FleetSortie,
    system_id: int | None,
    out_dir: Path,
    gate: _LaunchGate,
    guard: SeparationGuard,
    ready_timeout_s: float,
    on_event: FleetEventCallback | None,
) -> SortieOutcome:
    """One sortie's whole flight; every failure is caught into its outcome."""
    flight_id = f"{new_flight_id()}-s{sortie.number}"

    async def before_start(vehicle: Vehicle) -> None:
        if vehicle.link.target_system != system_id:
            raise SystemIdError(
                f"sortie {sortie.number}: the vehicle now answers as system "
                f"{vehicle.link.target_system}, not {system_id}"
            )
        gate.settle(sortie.number)
        await gate.wait(ready_timeout_s)
        guard.watch(sortie.number, sortie.priority, vehicle)
        await _wait_vehicle_clock(vehicle, sortie.start_s)

    def forward(event: FlightEvent) -> Awaitable[None] | None:
        return on_event(sortie.number, event) if on_event is not None else None

    result: FlightResult | None = None
    error: str | None = None
    try:
        result = await fly_mission(
            sortie.target,
            sortie.mission,
            out_dir=out_dir,
            flight_id=flight_id,
            on_event=forward,
            before_start=before_start,
            **sortie.options,
        )
    except Exception as exc:  # recorded as this sortie's outcome; the others fly on
        logger.warning("sortie %d ended: %s", sortie.number, exc)
        error = f"{type(exc).__name__}: {exc}"
    finally:
        gate.settle(sortie.number)
        await guard.forget(sortie.number)
    flight_dir = out_dir / f"flight-{flight_id}"
    mine = tuple(e for e in guard.events if getattr(e, "sortie", None) == sortie.number)
    return SortieOutcome(
        sortie.number,
        system_id,
        flight_dir if flight_dir.is_dir() else None,
        result,
        error,
        mine,
    )


async def _wait_vehicle_clock(vehicle: Vehicle, delay_s: float) -> None:
    """Wait ``delay_s`` seconds of the vehicle's own clock (simulated seconds in SITL)."""
    if delay_s <= 0:
        return
    t = vehicle.telemetry
    await vehicle.wait_until(lambda: t.position_time_boot_ms is not None, 10.0, "heard")
    start_ms = t.position_time_boot_ms or 0
    await vehicle.wait_until(
        lambda: (t.position_time_boot_ms or 0) - start_ms >= delay_s * 1000,
        delay_s + 60.0,
        f"{delay_s:g} s into its launch delay",
    )
