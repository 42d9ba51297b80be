"""Fly one mission from upload to landing, keeping everything in a flight directory.

``flight-<id>/`` holds ``flight.tlog`` (every MAVLink frame both ways),
``captures.jsonl`` (one pose per photo, written as each CAMERA_FEEDBACK
arrives), ``gas.jsonl`` (one line per gas reading the vehicle's system sends,
with its position: :mod:`missions.gas`), ``events.jsonl`` (the event stream)
and ``flight.json`` (the summary, written last). This is what the CLI, the
server and the demo call.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from missions.flight.errors import FlightAbortedError, FlightError
from missions.flight.events import FlightEvent
from missions.flight.logs import logging_advice, recover_after_landing
from missions.flight.transfer import DEFAULT_SETTINGS, TransferSettings
from missions.flight.vehicle import FlightDeadline, Vehicle, estimate_flight_s, reached_all
from missions.gas import GAS_NAME
from missions.geo import distance_m
from missions.items import Mission
from missions.manifest import MANIFEST_NAME, read_manifest

logger = logging.getLogger(__name__)

EventCallback = Callable[[FlightEvent], Awaitable[None] | None]


class Endpoint(Protocol):
    """Anything with a connection URL and a heartbeat period (a running ``sitl.Sitl``)."""

    @property
    def url(self) -> str: ...

    @property
    def heartbeat_interval_s(self) -> float: ...


@dataclass(frozen=True, slots=True)
class FlightResult:
    """What a flight left behind and how it went."""

    flight_id: str
    flight_dir: Path
    manifest_path: Path
    tlog_path: Path
    events_path: Path
    summary_path: Path
    captures: int
    captures_recovered: int
    """Of ``captures``, rows whose CAMERA_FEEDBACK was lost, rebuilt from the vehicle's log."""
    distance_flown_m: float
    duration_s: float
    items_reached: tuple[int, ...]
    items_missed: tuple[int, ...]
    landed_lat: float
    landed_lon: float
    landed_from_home_m: float
    link_outages: int
    events: tuple[FlightEvent, ...]

    def summary(self) -> dict[str, object]:
        data = asdict(self)
        data.pop("events")
        return {k: str(v) if isinstance(v, Path) else v for k, v in data.items()}


def new_flight_id() -> str:
    """Sortable and unique: UTC time plus a short random suffix."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


async def fly_mission(
    target: str | Endpoint,
    mission: Mission,
    *,
    out_dir: Path,
    flight_id: str | None = None,
    on_event: EventCallback | None = None,
    speedup: float = 1.0,
    estimate_s: float | None = None,
    timeout_s: float | None = None,
    link_timeout_s: float = 5.0,
    link_outage_s: float | None = None,
    transfer_settings: TransferSettings = DEFAULT_SETTINGS,
    min_battery_pct: float = 30.0,
    signing_key: bytes | None = None,
    photo_points: Sequence[tuple[float, float]] = (),
    recover_photos: bool = True,
    forward: Sequence[str] = (),
    before_start: Callable[[Vehicle], Awaitable[None]] | None = None,
) -> FlightResult:
    """Upload, set its parameters, check, arm, fly ``mission`` in AUTO; return once landed.

    ``mission.params`` (fence on, failsafe return altitude...) are set and read
    back after the upload; a parameter that differs, or that the autopilot
    reads only at boot, stops the flight before arming (``ParameterError``).

    Parameters
    ----------
    target : str or Endpoint
        A connection URL (``tcp:127.0.0.1:5760``, ``udpin:127.0.0.1:14550``)
        or a running SITL instance.
    out_dir : Path
        Parent of the new ``flight-<id>/`` directory.
    on_event : callable, optional
        Called with every :class:`FlightEvent` (may be a coroutine function).
    speedup : float
        The simulation speed-up when flying SITL, to scale timeouts and the
        GCS heartbeat (ignored when ``target`` is a SITL instance: it knows).
    estimate_s : float, optional
        The flight's expected duration, seconds on the vehicle's clock
        (simulated seconds in SITL); default from the route
        (:func:`~missions.flight.vehicle.estimate_flight_s`). Outlasting it
        while still making progress is not a failure: an ``Overdue`` event
        says so.
    timeout_s : float, optional
        The hard ceiling on the flight, vehicle seconds, however it
        progresses; default three times the route's estimate. Before it, the
        flight fails only after a stall window without progress (see
        :meth:`Vehicle.wait_landed`).
    link_timeout_s : float
        Wall seconds of silence after which the link counts as lost.
    link_outage_s : float, optional
        Wall seconds a lost link is waited for in flight (the vehicle flies on
        its own, its GCS failsafe decides) before the flight ends with
        ``LinkLostError``; default from the plan (:func:`outage_wait_s`).
    signing_key : bytes, optional
        The vehicle's MAVLink 2 signing key (32 bytes), for public networks.
    photo_points : sequence of (lat, lon)
        The planned photo points, in order: each capture near one records its
        index as ``planned_index`` in the manifest.
    recover_photos : bool
        After landing, recover the photos whose CAMERA_FEEDBACK was lost from
        the vehicle's dataflash log
        (:func:`~missions.flight.logs.recover_after_landing`); the log is
        downloaded only when the manifest lacks photos.
    forward : sequence of str
        Other ground stations to relay the vehicle to and from for the whole
        flight (``udp:HOST:PORT`` to QGroundControl's 14550, ``udpin:...``),
        so a pilot can watch and take over with the tool they know.
    before_start : coroutine function, optional
        Awaited with the vehicle once it is ready to arm, before arming: a
        fleet holds each vehicle there until its launch time
        (:func:`missions.flight.fleet.fly_fleet`).

    Raises ``FlightAbortedError`` when the flight ends away from home or
    before every waypoint was reached; the flight directory is kept.
    """
    url = target if isinstance(target, str) else target.url
    heartbeat = min(1.0, 1.0 / speedup) if isinstance(target, str) else target.heartbeat_interval_s
    scale = 1.0 / max(1.0, 1.0 / heartbeat)
    flight_id = flight_id or new_flight_id()
    flight_dir = out_dir / f"flight-{flight_id}"
    flight_dir.mkdir(parents=True, exist_ok=False)
    tlog_path = flight_dir / "flight.tlog"
    events_path = flight_dir / "events.jsonl"
    manifest_path = flight_dir / MANIFEST_NAME
    manifest_path.touch()
    deadline = FlightDeadline.for_mission(mission, estimate_s=estimate_s)
    if timeout_s is not None:
        deadline = replace(deadline, ceiling_s=timeout_s)
    if link_outage_s is None:
        link_outage_s = outage_wait_s(mission, deadline, scale)
    started = time.monotonic()
    events: list[FlightEvent] = []

    vehicle = await Vehicle.connect(
        url,
        tlog_path=tlog_path,
        events_path=events_path,
        heartbeat_interval_s=heartbeat,
        link_timeout_s=link_timeout_s,
        signing_key=signing_key,
        command_retries=transfer_settings.retries,
        forward=forward,
    )
    pump = asyncio.create_task(_pump(vehicle, events, on_event), name="flight-events")
    await asyncio.sleep(0)  # let the pump subscribe before anything happens
    try:
        vehicle.record_captures(manifest_path, planned=photo_points)
        vehicle.record_gas(flight_dir / GAS_NAME)
        await make_ready(
            vehicle, mission, settings=transfer_settings, min_battery_pct=min_battery_pct
        )
        if before_start is not None:
            await before_start(vehicle)
        await vehicle.start_mission()
        try:
            await vehicle.wait_landed(deadline=deadline, link_outage_s=link_outage_s)
        except (FlightError, asyncio.CancelledError):
            with contextlib.suppress(Exception):
                await asyncio.shield(vehicle.return_to_launch())
            raise
        await asyncio.sleep(0.2)  # the last events of the landing
        recovery = (
            await recover_after_landing(vehicle, manifest_path, photo_points=photo_points)
            if recover_photos
            else None
        )
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
        position = vehicle.telemetry.position
        home = vehicle.telemetry.home
        outages = vehicle.link.reconnects + sum(1 for e in events if e.kind == "link_lost")
        await vehicle.close()

    captures = len(read_manifest(manifest_path))  # live rows and any recovered from the log
    reached = tuple(sorted(vehicle.telemetry.reached))
    missed = tuple(reached_all(vehicle.telemetry.reached, mission))
    landed = (position.lat, position.lon) if position else (0.0, 0.0)
    home_ll = (home.lat, home.lon) if home else (mission.home.lat, mission.home.lon)
    result = FlightResult(
        flight_id=flight_id,
        flight_dir=flight_dir,
        manifest_path=manifest_path,
        tlog_path=tlog_path,
        events_path=events_path,
        summary_path=flight_dir / "flight.json",
        captures=captures,
        captures_recovered=recovery.recovered if recovery is not None else 0,
        distance_flown_m=round(vehicle.distance_flown_m, 1),
        duration_s=round(time.monotonic() - started, 1),
        items_reached=reached,
        items_missed=missed,
        landed_lat=landed[0],
        landed_lon=landed[1],
        landed_from_home_m=round(distance_m(*landed, *home_ll), 2),
        link_outages=outages,
        events=tuple(events),
    )
    result.summary_path.write_text(json.dumps(result.summary(), indent=2) + "\n", "utf-8")
    logger.info(
        "flight %s: %d captures, %.0f m flown, landed %.1f m from home",
        flight_id,
        captures,
        result.distance_flown_m,
        result.landed_from_home_m,
    )
    if missed:
        raise FlightAbortedError(f"flight {flight_id} landed without reaching items {list(missed)}")
    return result


async def make_ready(
    vehicle: Vehicle,
    mission: Mission,
    *,
    settings: TransferSettings = DEFAULT_SETTINGS,
    min_battery_pct: float = 30.0,
    ready_timeout_s: float = 60.0,
    say: Callable[[str], None] = lambda _: None,
) -> None:
    """Everything before arming, in the order it must happen.

    The mission, fence and rally points uploaded and verified; the plan's
    parameters set and read back (the fence switched on, the failsafes as
    planned: :meth:`Vehicle.apply_params`); then the vehicle's own readiness
    and the pre-flight checks, which read the fence and the parameters on
    board again; last, advice when the vehicle's log could not give lost
    photos their poses back (:func:`~missions.flight.logs.logging_advice`).
    ``say`` is told each step and the advice, for an operator's display.
    """
    say("uploading the mission")
    await vehicle.upload_mission(mission, settings=settings)
    say("setting the fence and failsafe parameters")
    await vehicle.apply_params(mission.params)
    say("waiting for the vehicle to be ready")
    await vehicle.wait_ready(timeout_s=ready_timeout_s)
    await vehicle.preflight(min_battery_pct=min_battery_pct)
    logging = await vehicle.read_params(("LOG_BACKEND_TYPE", "LOG_BITMASK"), timeout_s=0.5)
    advice = logging_advice(logging)
    if advice:
        logger.warning("%s", advice)
        say(advice)


def outage_wait_s(mission: Mission, deadline: FlightDeadline, scale: float) -> float:
    """How long a flight waits for a lost link, wall seconds.

    Through a loss shorter than the plan's FS_GCS_TIMEOUT the vehicle carries
    on with the mission, and the wait should still be there when the link
    returns: so the failsafe's timeout plus a stall window, or a quarter of
    the route's estimate, both on the vehicle's clock and scaled to the wall's
    (``scale``: wall seconds per vehicle second), and at least 60 s.
    """
    failsafe_s = float(mission.params.get("FS_GCS_TIMEOUT", 0.0)) + deadline.stall_s
    return max(60.0, max(failsafe_s, estimate_flight_s(mission) / 4) * scale)


async def _pump(
    vehicle: Vehicle, events: list[FlightEvent], on_event: EventCallback | None
) -> None:
    async for event in vehicle.event_stream():
        events.append(event)
        if on_event is None:
            continue
        try:
            outcome = on_event(event)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception:  # a failing display must not stop the flight
            logger.exception("event callback failed on %s", event.kind)
