"""A patrol's drones flown at once by the service: the first wave, its launch, and the
separation guard over every flight in the air.

- **The first wave** (:func:`first_wave`): one sortie per free drone of each dock,
  in sortie order. A dock's drones are the stored zone's ``drones`` (1 when it
  lists none); a drone is busy while a flight from its dock is starting or
  flying, and charging for ``recharge_min`` after one ended.
- **Launching it** (:func:`plan_wave`, :func:`launch_wave`): each sortie gets its
  own link (:func:`dock_target`: the dock's connection, or a SITL the service
  starts at the dock, answering as MAVLink system = the sortie's number) and the
  launch delay :func:`missions.deconflict.deconflict` gives it (seconds after the
  wave's first launch, waited in this process). The recurring-patrol scheduler
  and ``POST /patrols/{name}/launch`` both launch through here.
- **In the air** (:class:`FleetGuard`): every flight's positions
  (GLOBAL_POSITION_INT, fed by the runner through :meth:`FlightRun.observe`) go to
  one :class:`missions.flight.fleet.SeparationGuard`, the library's prediction:
  when two would stop being apart within its look-ahead, the later-launched one
  is held (GUIDED) through its Pilot, and its live state says so in ``alert``;
  the guard sends it on when clear, and the alert is cleared.
- **Link quality** (:class:`LinkQuality`): the share of the vehicle's messages that
  arrived, from the gaps in MAVLink's per-sender sequence numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from missions.deconflict import Separation, deconflict
from missions.errors import InfeasibleError, MissionError
from missions.flight.events import FlightEvent
from missions.flight.fleet import SeparationGuard, SeparationHold, SeparationLost, SeparationResume
from server.errors import ConflictError, FlightControlError, NotFoundError, ServerError
from server.flights import FINAL, IN_PROGRESS, LaunchTarget
from server.planning import dock_of, items_from_json
from store.models import Flight, Mission, Site
from store.readings import as_utc

if TYPE_CHECKING:
    from server.flights import FlightManager, FlightRun

logger = logging.getLogger(__name__)

#: MAVLink system ids a SITL started for a sortie may take (the sortie's number).
SYSTEM_IDS = range(1, 256)


class NoLinkError(ServerError, LookupError):
    """A sortie's dock has no link to its drone; the message says which and how to give one."""


class WaveError(ServerError, ValueError):
    """A patrol's wave cannot be flown as asked (no safe delays, no link, no dock)."""


# --- the first wave -----------------------------------------------------------------------


@dataclass
class DockState:
    """One dock's drones now: how many, which flights hold them, which are charging."""

    drones: int = 1
    flying: list[uuid.UUID] = field(default_factory=list)
    charging_min: list[float] = field(default_factory=list)  # minutes since each landed

    @property
    def free(self) -> int:
        return self.drones - len(self.flying) - len(self.charging_min)


def dock_states(session: Session, now: datetime, recharge_min: float) -> dict[str, DockState]:
    """Every dock's drones (the stored zone's ``drones``; 1 for a dock it does not list),
    less those flying and those whose flight ended less than ``recharge_min`` ago."""
    states: dict[str, DockState] = defaultdict(DockState)
    for site in session.exec(select(Site).where(Site.kind == "dock")):
        drones = (site.properties or {}).get("drones", 1)
        states[site.site_id].drones = drones if isinstance(drones, int) else 1
    since = now - timedelta(minutes=recharge_min)
    rows = session.exec(
        select(Flight, Mission)
        .join(Mission, col(Flight.mission_id) == col(Mission.id))
        .where(
            col(Flight.status).in_(IN_PROGRESS)
            | (col(Flight.status).in_(FINAL) & (col(Flight.ended_at) > since))
        )
    )
    for flight, mission in rows:
        dock = dock_of(mission)
        if dock is None:
            continue
        if flight.status in IN_PROGRESS:
            states[dock].flying.append(flight.id)
        elif flight.ended_at is not None:
            states[dock].charging_min.append((now - as_utc(flight.ended_at)) / timedelta(minutes=1))
    return states


def drone_refusal(
    states: dict[str, DockState], docks: Sequence[str], recharge_min: float
) -> str | None:
    """Why a sortie's dock has no drone to fly (None: each has one)."""
    for dock in dict.fromkeys(docks):
        state = states.get(dock, DockState())
        if state.free >= 1:
            continue
        if not state.flying and not state.charging_min:
            return f"{dock}: the zone lists no drone there"
        if state.flying:
            return f"{dock}: no drone free; flight {str(state.flying[0])[:8]} is flying from it"
        landed = max(min(state.charging_min), 0.0)
        return (
            f"{dock}: its drone is charging (landed {landed:.0f} min ago; "
            f"{recharge_min:g} min needed)"
        )
    return None


def patrol_sorties(session: Session, patrol: str) -> list[Mission]:
    """The patrol's sorties in order, detached from ``session`` (to launch after it closes)."""
    missions = list(
        session.exec(
            select(Mission).where(Mission.patrol_name == patrol).order_by(col(Mission.sortie_index))
        ).all()
    )
    for mission in missions:
        session.expunge(mission)
    return missions


def first_wave(missions: Sequence[Mission], states: dict[str, DockState]) -> list[Mission]:
    """One sortie per free drone of each dock, in sortie order (a dock ``states`` does not
    list has its one drone free)."""
    taken: dict[str, int] = defaultdict(int)
    wave = []
    for mission in missions:
        dock = dock_of(mission)
        if dock is None:
            continue
        if taken[dock] < states.get(dock, DockState()).free:
            taken[dock] += 1
            wave.append(mission)
    return wave


def wave_delays(wave: Sequence[Mission]) -> tuple[dict[uuid.UUID, float], tuple[str, ...]]:
    """Each sortie's launch delay (s after the wave's first launch) that keeps the drones of
    a wave apart in the air (:func:`missions.deconflict.deconflict`, its default separation
    and timing margins), and one note per wait. InfeasibleError when no delay within its
    limit does; ValueError when a sortie has no uploadable items."""
    if len(wave) < 2:
        return {m.id: 0.0 for m in wave}, ()
    items = {m.sortie_index: items_from_json(m.plan or {}, name=m.name) for m in wave}
    fleet = deconflict(items)
    return {m.id: fleet.start_s[m.sortie_index] for m in wave}, fleet.notes


# --- launching it -------------------------------------------------------------------------


@dataclass(frozen=True)
class Sortie:
    """One sortie to launch: its mission, its drone's link, and its wait after the first."""

    mission: Mission
    target: LaunchTarget
    delay_s: float = 0.0


@dataclass(frozen=True)
class Wave:
    """The sorties to launch together, and one note per deconfliction wait."""

    sorties: list[Sortie]
    notes: tuple[str, ...] = ()


def dock_target(mission: Mission, links: Mapping[str, str], *, sitl: bool) -> LaunchTarget:
    """The sortie's link: its dock's connection in ``links``, else (``sitl``) a SITL the
    service starts at the dock answering as MAVLink system = the sortie's number, so two
    vehicles of a wave never share an id; NoLinkError without either."""
    dock = dock_of(mission) or ""
    link = links.get(dock)
    if link is None and not sitl:
        raise NoLinkError(f"no link to {dock}'s drone (set ECOPATROL_DOCK_LINKS={dock}=URL)")
    if link is not None:
        return LaunchTarget(connection=link, sitl=False)
    number = mission.sortie_index
    return LaunchTarget(
        connection=None, sitl=True, system_id=number if number in SYSTEM_IDS else None
    )


def plan_wave(wave: Sequence[Mission], target_of: Callable[[Mission], LaunchTarget]) -> Wave:
    """The wave with each sortie's link (``target_of``, which may raise NoLinkError) and
    launch delay (:func:`wave_delays`: InfeasibleError, ValueError, MissionError)."""
    delays, notes = wave_delays(wave)
    return Wave([Sortie(m, target_of(m), delays[m.id]) for m in wave], notes)


Launched = Callable[[list[uuid.UUID], str | None], Awaitable[None]]


@dataclass
class WaveLaunch:
    """What :func:`launch_wave` did at once: the flights started, the error that stopped
    it, and one task per delayed sortie (none after an error)."""

    flights: list[uuid.UUID]
    error: str | None
    later: list[asyncio.Task[None]]


def launch_sorties(
    manager: FlightManager, sorties: Sequence[Sortie], name_of: Callable[[Mission], str]
) -> tuple[list[uuid.UUID], str | None]:
    """Start each sortie's flight; the flights started, and the error that stopped it."""
    flights: list[uuid.UUID] = []
    for sortie in sorties:
        try:
            flight = manager.launch(sortie.mission, sortie.target, name=name_of(sortie.mission))
        except Exception as exc:  # a refused launch is an outcome to report, not a crash
            return flights, f"launching {sortie.mission.name!r} failed: {exc}"
        flights.append(flight.id)
    return flights, None


def launch_wave(
    manager: FlightManager,
    wave: Wave,
    *,
    name_of: Callable[[Mission], str],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    on_later: Launched | None = None,
) -> WaveLaunch:
    """Launch the undelayed sorties now, and each delayed one after its delay (wall
    seconds in this process; ``on_later`` hears each late launch's flights or error)."""
    flights, error = launch_sorties(manager, [s for s in wave.sorties if s.delay_s <= 0], name_of)
    later: list[asyncio.Task[None]] = []
    if error is None:
        for sortie in (s for s in wave.sorties if s.delay_s > 0):

            async def launch(sortie: Sortie = sortie) -> None:
                await sleep(sortie.delay_s)
                done, failed = launch_sorties(manager, [sortie], name_of)
                if on_later is not None:
                    await on_later(done, failed)

            later.append(asyncio.create_task(launch(), name=f"launch-{sortie.mission.id}"))
    return WaveLaunch(flights, error, later)


@dataclass
class PatrolLaunched:
    """A patrol's first wave as launched: its sorties, what started at once, what is left."""

    wave: Wave
    launched: WaveLaunch
    not_in_wave: list[int]


def launch_patrol(
    manager: FlightManager, patrol: str, *, sitl: bool, connections: Mapping[str, str]
) -> PatrolLaunched:
    """Launch a patrol's first wave now (the operator's go): one sortie per free drone,
    each on its own link (SITL at every dock, or ``connections`` over the ``dock_links``
    setting), each delayed as deconfliction says. A drone flying from a sortie's dock is a
    ConflictError (a charging one is not: the operator decides); no safe delays, a dock
    without a link or a sortie without a dock is a WaveError; no such patrol, NotFoundError.
    """
    with Session(manager.engine) as session:
        missions = patrol_sorties(session, patrol)
        states = dock_states(session, datetime.now(UTC), 0.0)
    if not missions:
        raise NotFoundError(f"no patrol named {patrol!r}")
    docks = [dock_of(m) for m in missions]
    if None in docks:
        raise WaveError(f"sortie {missions[docks.index(None)].sortie_index} has no dock")
    refusal = drone_refusal(states, [d for d in docks if d], 0.0)
    if refusal is not None:
        raise ConflictError(refusal)
    wave_missions = first_wave(missions, states)
    links = {} if sitl else {**manager.settings.dock_links, **connections}
    try:
        wave = plan_wave(wave_missions, lambda m: dock_target(m, links, sitl=sitl))
    except InfeasibleError as exc:
        raise WaveError(f"not deconflicted: {exc}") from None
    except (NoLinkError, ValueError, MissionError) as exc:
        raise WaveError(str(exc)) from None
    launched = launch_wave(manager, wave, name_of=lambda m: m.name)
    for task in launched.later:
        manager.keep(task)
    if launched.error is not None:
        flying = (
            f"; {len(launched.flights)} launched before keep flying" if launched.flights else ""
        )
        raise ConflictError(launched.error + flying)
    in_wave = {m.id for m in wave_missions}
    left = [m.sortie_index for m in missions if m.id not in in_wave]
    return PatrolLaunched(wave, launched, left)


# --- link quality -------------------------------------------------------------------------


class LinkQuality:
    """The share of the vehicle's messages that arrived over the last ``window_s`` wall
    seconds, from MAVLink's sequence number (one per sender, 0-255, one more per message
    it sends): a gap of k means k - 1 messages lost on the way. A repeat, or a jump of
    over 128 (the sender restarted), counts as one message. Feed it one sender's
    messages only (the autopilot's)."""

    def __init__(self, window_s: float = 5.0) -> None:
        self.window_s = window_s
        self._heard: deque[tuple[float, int]] = deque()  # (monotonic s, messages it stands for)
        self._last_seq: int | None = None

    def heard(self, seq: int, now: float) -> None:
        gap = 1 if self._last_seq is None else (seq - self._last_seq) % 256
        self._last_seq = seq
        self._heard.append((now, gap if 0 < gap <= 128 else 1))

    def percent(self, now: float) -> float | None:
        """Received / sent, in percent, over the window; 0 when nothing came in it, None
        before the first message."""
        if self._last_seq is None:
            return None
        while self._heard and self._heard[0][0] < now - self.window_s:
            self._heard.popleft()
        sent = sum(gap for _, gap in self._heard)
        return round(100.0 * len(self._heard) / sent, 1) if sent else 0.0


# --- the guard ----------------------------------------------------------------------------


def _sortie_label(run: FlightRun) -> str:
    sortie = run.state.get("sortie")
    return f"sortie {sortie}" if sortie else f"flight {str(run.flight_id)[:8]}"


class _RunGuarded:
    """A running flight as the library guard sees it: its fix, live mode and Pilot."""

    def __init__(self, run: FlightRun, guard: FleetGuard) -> None:
        self.run = run
        self.guard = guard

    def airborne(self) -> bool:
        return self.run.fix is not None and self.run.fix.airborne

    def mode(self) -> str:
        return str(self.run.state.get("mode") or "")

    def connected(self) -> bool:
        return self.run.pilot is not None

    async def pause(self) -> None:
        if self.run.pilot is None:
            raise FlightControlError("the vehicle is not connected")
        await self.run.pilot.pause()

    async def resume(self) -> None:
        if self.run.pilot is None:
            raise FlightControlError("the vehicle is not connected")
        await self.run.pilot.resume()

    def tell(self, event: FlightEvent) -> None:
        self.guard.tell(self.run, event)


class FleetGuard:
    """Keeps every flight of this service apart in the air (one per FlightManager).

    The library guard's rules, on the runs' positions: two flights are apart when
    ``separation.horizontal_m`` or more apart horizontally, or
    ``separation.vertical_m`` vertically (AMSL); priority is launch order (the
    later-launched flight of a pair is held). ``lookahead_s`` is in the vehicles'
    seconds, as their velocities are.
    """

    def __init__(self, separation: Separation | None = None, **guard_options: float) -> None:
        self.separation = separation or Separation()
        self.guard = SeparationGuard(self.separation, **guard_options)
        self._runs: dict[int, FlightRun] = {}
        self._task: asyncio.Task[None] | None = None

    def add(self, run: FlightRun) -> None:
        """Guard ``run`` from its next fix on; starts the guard's loop with the first."""
        self._runs[run.number] = run
        self.guard.add(run.number, 0, _RunGuarded(run, self))
        run.on_fix = lambda fix: self.guard.observe(
            run.number, fix.lat, fix.lon, fix.alt_amsl_m, fix.v_enu_m_s
        )
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self.guard.run(), name="fleet-guard"
            )

    async def forget(self, run: FlightRun) -> None:
        run.on_fix = None
        self._runs.pop(run.number, None)
        await self.guard.forget(run.number)

    def release(self, run: FlightRun) -> None:
        """The operator commands the vehicle now: the guard will not resume it itself."""
        self.guard.release(run.number)
        if run.state.get("alert"):
            run.publish(alert=None)

    def tell(self, run: FlightRun, event: FlightEvent) -> None:
        """The guard's event about ``run``, as its live ``alert`` (None once resumed)."""
        if isinstance(event, SeparationHold):
            other = self._runs.get(event.other)
            whom = _sortie_label(other) if other else f"flight {event.other}"
            run.publish(
                paused=True,
                alert=f"held: {_sortie_label(run)} {event.horizontal_m:.0f} m from {whom}, "
                f"closing inside the {self.separation.horizontal_m:g} m separation",
            )
        elif isinstance(event, SeparationResume):
            run.publish(
                paused=False, alert=None, message=f"guard resumed it after {event.held_s:g} s"
            )
        elif isinstance(event, SeparationLost):
            run.publish(alert=f"separation not kept: {event.reason}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
