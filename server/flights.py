"""Running flights: one asyncio task per flight, live state fan-out, pause/resume/abort.

The service process owns the flights it launches; their live state is kept in
memory (position, mode, progress, battery, link quality, the guard's alert, the
track so far) and pushed to every WebSocket subscriber, while the lasting record
(status, times, distance) goes to the store. Every flight's positions also go to
the manager's separation guard (:class:`server.fleet.FleetGuard`), which holds
the later-launched of two flights about to come too close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from server.errors import ConflictError, FlightControlError, NotFoundError
from server.planning import dock_of
from server.settings import Settings
from store.models import Flight, FlightStatus, Mission

if TYPE_CHECKING:
    from server.fleet import FleetGuard

logger = logging.getLogger(__name__)

TRACK_POINTS = 5000
QUEUE_SIZE = 64
FINAL = frozenset({FlightStatus.LANDED, FlightStatus.ABORTED, FlightStatus.FAILED})
IN_PROGRESS = frozenset({FlightStatus.STARTING, FlightStatus.FLYING})


class Pilot(Protocol):
    """What the manager needs from a vehicle in flight."""

    async def pause(self) -> None: ...
    async def resume(self) -> None: ...
    async def abort(self) -> None: ...
    async def return_home(self) -> None: ...
    async def land(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Fix:
    """Where a vehicle is now (GLOBAL_POSITION_INT): degrees, metres above mean sea level,
    velocity east, north, up in m/s; ``airborne``: armed and not on the ground."""

    lat: float
    lon: float
    alt_amsl_m: float
    v_enu_m_s: tuple[float, float, float]
    airborne: bool


@dataclass
class FlightRun:
    """The in-memory side of one flight; ``number`` is its launch order in this service."""

    flight_id: uuid.UUID
    number: int = 0
    state: dict[str, Any] = field(default_factory=dict)
    track: list[tuple[float, float]] = field(default_factory=list)
    subscribers: set[asyncio.Queue[dict[str, Any]]] = field(default_factory=set)
    pilot: Pilot | None = None
    task: asyncio.Task[None] | None = None
    fix: Fix | None = None
    on_fix: Callable[[Fix], None] | None = None

    def observe(self, fix: Fix) -> None:
        """The vehicle's latest position, for the guard (subscribers get positions with the
        runner's once-a-second progress, not at the message rate)."""
        self.fix = fix
        if self.on_fix is not None:
            self.on_fix(fix)

    def publish(self, **changes: Any) -> None:
        """Merge ``changes`` into the live state and push the new state to every subscriber."""
        self.state.update(changes)
        lat, lon = changes.get("lat"), changes.get("lon")
        point = (float(lon), float(lat)) if lat is not None and lon is not None else None
        if point is not None and (not self.track or self.track[-1] != point):
            self.track.append(point)
            del self.track[:-TRACK_POINTS]
        message = {"type": "state", "flight_id": str(self.flight_id), **self.state}
        for queue in list(self.subscribers):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(message)

    def snapshot(self) -> dict[str, Any]:
        return {**self.state, "track": [list(p) for p in self.track]}


Runner = Callable[["FlightRun", Mission, "LaunchTarget", "FlightManager"], Awaitable[FlightStatus]]


@dataclass(frozen=True)
class LaunchTarget:
    """A vehicle's connection URL, or a SITL the service starts at the mission's dock
    (answering as MAVLink ``system_id``; 1 when None)."""

    connection: str | None
    sitl: bool
    system_id: int | None = None


class FlightManager:
    """Launches and tracks flights; one per service process (``app.state.flights``)."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        runner: Runner | None = None,
        guard: FleetGuard | None = None,
    ) -> None:
        from server.fleet import FleetGuard

        self.engine = engine
        self.settings = settings
        self._runner = runner
        self._runs: dict[uuid.UUID, FlightRun] = {}
        self.guard = guard or FleetGuard()
        self._launched = 0
        self._waiting: set[asyncio.Task[None]] = set()

    def active(self) -> list[FlightRun]:
        """The runs still flying (or starting), in launch order."""
        return [r for r in self._runs.values() if r.task and not r.task.done()]

    def keep(self, task: asyncio.Task[None]) -> None:
        """Hold a sortie's delayed launch until it is done; cancelled at shutdown."""
        self._waiting.add(task)
        task.add_done_callback(self._waiting.discard)

    def run_of(self, flight_id: uuid.UUID) -> FlightRun | None:
        return self._runs.get(flight_id)

    def live(self, flight_id: uuid.UUID) -> dict[str, Any] | None:
        run = self._runs.get(flight_id)
        return run.snapshot() if run else None

    def _runner_or_default(self) -> Runner:
        if self._runner is None:
            from server.flying import fly_mission

            self._runner = fly_mission
        return self._runner

    def launch(self, mission: Mission, target: LaunchTarget, *, name: str = "") -> Flight:
        """Record a new flight and start flying it in the background."""
        busy = self.active()
        dock = dock_of(mission)
        if target.sitl and any(r.state.get("sitl") and r.state.get("dock") == dock for r in busy):
            raise ConflictError(
                f"a SITL flight from {dock or 'this dock'} is already running; wait for it "
                "or abort it"
            )
        if target.connection and any(r.state.get("connection") == target.connection for r in busy):
            raise ConflictError(f"a flight is already using {target.connection}")
        runner = self._runner_or_default()
        with Session(self.engine) as session:
            flight = Flight(
                mission_id=mission.id,
                name=name or mission.name,
                status=FlightStatus.STARTING,
                connection=target.connection or "sitl",
            )
            flight.directory = str(self.settings.flights_dir / str(flight.id))
            session.add(flight)
            session.commit()
            session.refresh(flight)
            session.expunge(flight)
        self._launched += 1
        run = FlightRun(flight.id, number=self._launched)
        run.publish(
            status=FlightStatus.STARTING.value,
            connection=target.connection,
            sitl=target.sitl,
            name=flight.name,
            patrol=mission.patrol_name,
            sortie=mission.sortie_index,
            dock=dock,
            message="starting",
        )
        self._runs[flight.id] = run
        self.guard.add(run)
        run.task = asyncio.get_running_loop().create_task(
            self._supervise(run, mission, target, runner), name=f"flight-{flight.id}"
        )
        return flight

    async def _supervise(
        self, run: FlightRun, mission: Mission, target: LaunchTarget, runner: Runner
    ) -> None:
        try:
            final = await runner(run, mission, target, self)
            message = run.state.get("message", final.value)
        except asyncio.CancelledError:
            final, message = FlightStatus.ABORTED, "stopped with the service"
            self.record(run, final, message=message)
            raise
        except Exception as exc:  # a failed flight is a state, not a crash of the service
            logger.warning("flight %s failed: %s", run.flight_id, exc)
            final, message = FlightStatus.FAILED, str(exc) or type(exc).__name__
        finally:
            await self.guard.forget(run)
        self.record(run, final, message=message)

    def record(self, run: FlightRun, status: FlightStatus, *, message: str | None = None) -> None:
        """Write a status change to the store and to subscribers."""
        with Session(self.engine) as session:
            flight = session.get(Flight, run.flight_id)
            if flight is None:
                return
            flight.status = status
            now = datetime.now(UTC)
            if status is FlightStatus.FLYING and flight.started_at is None:
                flight.started_at = now
            if status in FINAL:
                flight.ended_at = now
            distance = run.state.get("distance_m")
            if isinstance(distance, int | float):
                flight.distance_m = float(distance)
            session.add(flight)
            session.commit()
        changes: dict[str, Any] = {"status": status.value}
        if message is not None:
            changes["message"] = message
        run.publish(**changes)

    def _active(self, flight_id: uuid.UUID) -> tuple[FlightRun, Pilot]:
        run = self._runs.get(flight_id)
        if run is None:
            raise NotFoundError("this flight is not running in this service")
        if run.task is None or run.task.done():
            raise FlightControlError(f"the flight has ended ({run.state.get('status')})")
        if run.pilot is None:
            raise FlightControlError("the vehicle is not connected yet; try again in a moment")
        return run, run.pilot

    async def pause(self, flight_id: uuid.UUID) -> None:
        run, pilot = self._active(flight_id)
        self.guard.release(run)
        await pilot.pause()
        run.publish(paused=True, message="paused (holding position)")

    async def resume(self, flight_id: uuid.UUID) -> None:
        run, pilot = self._active(flight_id)
        self.guard.release(run)
        await pilot.resume()
        run.publish(paused=False, message="resumed")

    async def abort(self, flight_id: uuid.UUID) -> None:
        run, pilot = self._active(flight_id)
        self.guard.release(run)
        await pilot.abort()
        run.publish(message="aborting: returning to launch")

    async def return_home(self, flight_id: uuid.UUID) -> None:
        run, pilot = self._active(flight_id)
        self.guard.release(run)
        await pilot.return_home()
        run.publish(paused=False, message="sent home (RTL)")

    async def land(self, flight_id: uuid.UUID) -> None:
        run, pilot = self._active(flight_id)
        self.guard.release(run)
        await pilot.land()
        run.publish(paused=False, message="landing where it is (LAND)")

    def subscribe(self, flight_id: uuid.UUID) -> asyncio.Queue[dict[str, Any]]:
        run = self._runs.get(flight_id)
        if run is None:
            raise NotFoundError("this flight is not running in this service")
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        run.subscribers.add(queue)
        return queue

    def unsubscribe(self, flight_id: uuid.UUID, queue: asyncio.Queue[dict[str, Any]]) -> None:
        run = self._runs.get(flight_id)
        if run is not None:
            run.subscribers.discard(queue)

    def close_orphans(self) -> int:
        """Mark flights a previous service process left starting or flying as failed.

        Flight control lives in the process that launched the flight, so the service
        runs one worker; whatever it was flying when it stopped is no longer watched.
        """
        with Session(self.engine) as session:
            orphans = session.exec(
                select(Flight).where(
                    col(Flight.status).in_([FlightStatus.STARTING, FlightStatus.FLYING])
                )
            ).all()
            for flight in orphans:
                if flight.id not in self._runs:
                    flight.status = FlightStatus.FAILED
                    flight.ended_at = datetime.now(UTC)
                    session.add(flight)
            session.commit()
        if orphans:
            logger.warning("marked %d flight(s) of a previous run as failed", len(orphans))
        return len(orphans)

    async def shutdown(self) -> None:
        """Stop every flight task (the vehicle keeps its mission; ArduPilot's failsafes apply)."""
        for waiting in list(self._waiting):  # a sortie not launched yet is not launched at all
            waiting.cancel()
        tasks = [r.task for r in self._runs.values() if r.task and not r.task.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.guard.stop()
