"""Recurring patrols: the server flies each schedule's slots, or records why it did not.

The rules, all in :meth:`Scheduler.tick` (the app's background task only calls it
every ``scheduler_tick_s``; tests call it after moving their clock):

- A schedule's slots are its local times of day in its IANA zone (on its
  weekdays, if it names some), or ``anchor_at`` plus whole multiples of
  ``interval_min``; all are compared in UTC.
- The due slots are those after the schedule's last recorded slot (or its
  creation or last resume), up to now, looking back at most :data:`LOOKBACK`.
  Every due slot but the newest is recorded ``missed``; the newest too when it is
  found more than ``schedule_grace_min`` late (the server was not running then).
- The newest slot within the grace is decided. Wind first: the newest station
  reading with a wind in the hour before (m/s, the station's, taken 10 m above
  ground); over the schedule's limit, or no wind known at all, is ``skipped``
  (fail safe). Then drones: every sortie's dock needs a drone that is neither
  flying (a flight from the dock starting or flying) nor charging (a flight from
  it ended less than ``recharge_min`` ago); else ``skipped``. Otherwise the first
  wave flies: one sortie per free drone of each dock, each launched after the
  delay :func:`missions.deconflict.deconflict` gives it so drones flying at once
  stay apart (no such delays: ``skipped``). A delayed sortie waits in this
  process; a server stopped meanwhile does not launch it.
- A slot is claimed before anything is done: its row is inserted in a
  transaction of its own, and the unique key (schedule, slot) makes the database
  refuse a second claim, from a restarted server or a second process alike, so
  no slot flies twice. A launch is claimed as ``failed`` ("did not finish") and
  becomes ``launched`` with its flight ids once the flights are started, so a
  server stopped mid-launch leaves a true record.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from missions.deconflict import deconflict
from missions.errors import InfeasibleError, MissionError
from server.errors import ServerError
from server.flights import FINAL, FlightManager, LaunchTarget
from server.planning import items_from_json
from store.models import (
    Flight,
    FlightStatus,
    Mission,
    Reading,
    Schedule,
    ScheduleKind,
    ScheduleRun,
    ScheduleRunStatus,
    Site,
)
from store.readings import as_utc

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
LOOKBACK = timedelta(days=7)
WIND_MAX_AGE = timedelta(hours=1)
MIN_INTERVAL_MIN = 5
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # datetime.weekday() order
IN_PROGRESS = (FlightStatus.STARTING, FlightStatus.FLYING)
REASON_CHARS = 500
INTERRUPTED = "claimed; the launch did not finish (the server stopped while launching)"


class ScheduleError(ServerError, ValueError):
    """A schedule that cannot be kept (bad time, zone, day or interval); the message says why."""


def utc_now() -> datetime:
    return datetime.now(UTC)


# --- when: the slots of a schedule ------------------------------------------------------


def parse_times(times: Sequence[str]) -> list[time]:
    """``"HH:MM"`` times of day, sorted; ScheduleError names the first that is not one."""
    if not times:
        raise ScheduleError("give at least one time of day (HH:MM)")
    parsed = []
    for text in times:
        try:
            hours, minutes = text.strip().split(":")
            parsed.append(time(int(hours), int(minutes)))
        except ValueError:
            raise ScheduleError(f"{text!r} is not a time of day (HH:MM, 00:00 to 23:59)") from None
    return sorted(set(parsed))


def parse_days(days: Sequence[str] | None) -> list[str] | None:
    """Weekday names (``mon`` ... ``sun``) in week order; None or empty: every day."""
    if not days:
        return None
    names = [d.strip().lower()[:3] for d in days]
    unknown = [d for d, n in zip(days, names, strict=True) if n not in DAYS]
    if unknown:
        raise ScheduleError(f"{unknown[0]!r} is not a weekday (mon, tue, wed, thu, fri, sat, sun)")
    return [d for d in DAYS if d in names]


def parse_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"{name!r} is not an IANA time zone (e.g. Asia/Shanghai, UTC)"
        ) from None


def check_interval(interval_min: int) -> None:
    if interval_min < MIN_INTERVAL_MIN:
        raise ScheduleError(f"the interval must be at least {MIN_INTERVAL_MIN} minutes")


def slots_between(schedule: Schedule, after: datetime, until: datetime) -> list[datetime]:
    """The schedule's slots (UTC) later than ``after`` and no later than ``until``."""
    if schedule.kind == ScheduleKind.INTERVAL:
        return _interval_slots(schedule, after, until)
    zone = parse_zone(schedule.tz)
    times = parse_times(schedule.times or [])
    days = parse_days(schedule.days)
    first: date = after.astimezone(zone).date()
    slots = []
    for offset in range((until.astimezone(zone).date() - first).days + 1):
        day = first + timedelta(days=offset)
        if days is not None and DAYS[day.weekday()] not in days:
            continue
        for t in times:
            slot = datetime.combine(day, t, tzinfo=zone).astimezone(UTC)
            if after < slot <= until:
                slots.append(slot)
    return slots


def _interval_slots(schedule: Schedule, after: datetime, until: datetime) -> list[datetime]:
    if schedule.interval_min is None or schedule.anchor_at is None:
        raise ScheduleError("an interval schedule needs interval_min and anchor_at")
    step = timedelta(minutes=schedule.interval_min)
    anchor = as_utc(schedule.anchor_at)
    slot = anchor + step * (math.floor((after - anchor) / step) + 1)
    slots = []
    while slot <= until:
        slots.append(slot)
        slot += step
    return slots


def next_slot(schedule: Schedule, after: datetime) -> datetime | None:
    """The first slot after ``after`` (within 8 days: a weekly schedule has one by then)."""
    slots = slots_between(schedule, after, after + timedelta(days=8))
    return slots[0] if slots else None


def new_schedule(
    session: Session,
    *,
    patrol_name: str,
    kind: str,
    now: datetime,
    times: Sequence[str] | None = None,
    days: Sequence[str] | None = None,
    tz: str = "Asia/Shanghai",
    interval_min: int | None = None,
    anchor_at: datetime | None = None,
    max_wind_m_s: float = 10.0,
    enabled: bool = True,
    created_by: uuid.UUID | None = None,
) -> Schedule:
    """A checked schedule, added to ``session`` (not committed); ScheduleError says what is
    wrong: no such patrol, a time, day or zone that cannot be read, too short an interval."""
    if session.exec(select(Mission.id).where(Mission.patrol_name == patrol_name)).first() is None:
        raise ScheduleError(f"no patrol named {patrol_name!r}")
    if max_wind_m_s <= 0:
        raise ScheduleError("the wind limit must be over 0 m/s")
    schedule = Schedule(
        patrol_name=patrol_name,
        kind=kind,
        tz=tz,
        max_wind_m_s=max_wind_m_s,
        enabled=enabled,
        created_by=created_by,
        created_at=now,
        active_since=now,
    )
    if kind == ScheduleKind.TIMES:
        if interval_min is not None or anchor_at is not None:
            raise ScheduleError(
                "a times schedule takes times (HH:MM), not interval_min or anchor_at"
            )
        parse_zone(tz)
        schedule.times = [f"{t:%H:%M}" for t in parse_times(times or [])]
        schedule.days = parse_days(days)
    elif kind == ScheduleKind.INTERVAL:
        if interval_min is None or times or days:
            raise ScheduleError(
                "an interval schedule takes interval_min (minutes), not times or days"
            )
        check_interval(interval_min)
        schedule.interval_min = interval_min
        schedule.anchor_at = anchor_at or now
    else:
        raise ScheduleError(f"{kind!r} is not a schedule kind (times or interval)")
    session.add(schedule)
    return schedule


def set_enabled(schedule: Schedule, enabled: bool, now: datetime) -> None:
    """Pause or resume; a resumed schedule goes on from its next slot (those while it was
    paused are never due, so none is flown or recorded late)."""
    if enabled and not schedule.enabled:
        schedule.active_since = now
    schedule.enabled = enabled


def describe(schedule: Schedule) -> str:
    """When it flies, in a few words: ``07:30,15:00 mon,wed Asia/Shanghai`` or
    ``every 120 min from 2030-06-03 00:30Z``."""
    if schedule.kind == ScheduleKind.INTERVAL and schedule.anchor_at is not None:
        return (
            f"every {schedule.interval_min} min from {as_utc(schedule.anchor_at):%Y-%m-%d %H:%M}Z"
        )
    days = ",".join(schedule.days) if schedule.days else "daily"
    return f"{','.join(schedule.times or [])} {days} {schedule.tz}"


# --- claiming a slot --------------------------------------------------------------------


def claim_slot(
    engine: Engine,
    schedule_id: uuid.UUID,
    slot_at: datetime,
    status: str,
    reason: str,
    now: datetime,
) -> ScheduleRun | None:
    """Record the slot's run in a transaction of its own; None when it is recorded already
    (the unique key refused it: another process, or this one before a restart, has it)."""
    run = ScheduleRun(
        schedule_id=schedule_id, slot_at=slot_at, status=status, reason=reason, decided_at=now
    )
    with Session(engine) as session:
        session.add(run)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return None
        session.refresh(run)
        session.expunge(run)
    return run


# --- the decision: wind and drones ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WindSeen:
    """A wind speed (m/s) and where it came from, as said in a run's reason."""

    speed_m_s: float
    source: str


def current_wind(session: Session, now: datetime) -> WindSeen | None:
    """The newest station reading with a wind in the hour before ``now`` (the configured
    feed: the readings table). No vehicle reports its own wind estimate yet (the flight
    link does not read ArduPilot's WIND message), so the stations are the only source."""
    reading = session.exec(
        select(Reading)
        .where(col(Reading.wind_speed_m_s).is_not(None))
        .where(col(Reading.time) > now - WIND_MAX_AGE, col(Reading.time) <= now)
        .order_by(col(Reading.time).desc(), col(Reading.station_id))
    ).first()
    if reading is None or reading.wind_speed_m_s is None:
        return None
    return WindSeen(
        reading.wind_speed_m_s, f"{reading.station_id} at {as_utc(reading.time):%H:%M}Z"
    )


def wind_refusal(wind: WindSeen | None, limit_m_s: float) -> str | None:
    """Why the wind forbids flying (None: it allows it)."""
    if wind is None:
        return "no wind known: no station reported one in the last hour"
    if wind.speed_m_s > limit_m_s:
        return f"wind {wind.speed_m_s:.1f} m/s at {wind.source} over the {limit_m_s:g} m/s limit"
    return None


def dock_of(mission: Mission) -> str | None:
    dock = (mission.plan or {}).get("dock") or {}
    found = dock.get("id")
    return found if isinstance(found, str) else None


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


@dataclass(frozen=True)
class Sortie:
    """One sortie to launch: its mission, its drone's link, and its wait after the first."""

    mission: Mission
    target: LaunchTarget
    delay_s: float = 0.0


@dataclass(frozen=True)
class Decision:
    """A slot's outcome before anything is done: a refusal, or the sorties to launch."""

    status: str
    reason: str
    launch: list[Sortie] = field(default_factory=list)


# --- the scheduler ----------------------------------------------------------------------


class Scheduler:
    """Decides and records the schedules' due slots; one per service process
    (``app.state.scheduler``). ``clock`` gives the time (UTC); tests pass one they move."""

    def __init__(
        self,
        engine: Engine,
        manager: FlightManager,
        *,
        clock: Clock = utc_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.engine = engine
        self.manager = manager
        self.settings = manager.settings
        self.clock = clock
        self.sleep = sleep  # waits out a sortie's launch delay (tests pass one that records)
        self._delayed: set[asyncio.Task[None]] = set()
        self._record_lock = asyncio.Lock()

    async def run_forever(self) -> None:
        """Tick every ``scheduler_tick_s``; an error is logged and the next tick tries again."""
        try:
            while True:
                await asyncio.sleep(self.settings.scheduler_tick_s)
                try:
                    await self.tick()
                except Exception:  # a database away must not end the scheduling
                    logger.exception("the scheduler's tick failed; trying again next tick")
        finally:
            for task in self._delayed:  # a sortie not launched yet is not launched at all
                task.cancel()

    async def drain(self) -> None:
        """Wait until every delayed sortie has been launched (or refused)."""
        await asyncio.gather(*self._delayed, return_exceptions=True)

    async def tick(self) -> list[ScheduleRun]:
        """Record every enabled schedule's due slots (see the module's rules); the runs
        this call recorded."""
        now = self.clock()
        schedules = await asyncio.to_thread(self._enabled)
        recorded: list[ScheduleRun] = []
        for schedule in schedules:
            try:
                recorded += await self._tick_schedule(schedule, now)
            except Exception:  # one schedule's fault must not stop the others
                logger.exception("schedule %s could not be decided", schedule.id)
        return recorded

    def _enabled(self) -> list[Schedule]:
        with Session(self.engine) as session:
            rows = session.exec(select(Schedule).where(col(Schedule.enabled))).all()
            for row in rows:
                session.expunge(row)
            return list(rows)

    def due_slots(self, schedule: Schedule, now: datetime) -> list[datetime]:
        """The slots not recorded yet, up to ``now``: after the last recorded one, the
        schedule's creation or last resume (``active_since``), and :data:`LOOKBACK` ago."""
        with Session(self.engine) as session:
            last = session.exec(
                select(func.max(ScheduleRun.slot_at)).where(ScheduleRun.schedule_id == schedule.id)
            ).one()
        since = max(as_utc(schedule.active_since), now - LOOKBACK)
        if last is not None:
            since = max(since, as_utc(last))
        return slots_between(schedule, since, now)

    async def _tick_schedule(self, schedule: Schedule, now: datetime) -> list[ScheduleRun]:
        due = await asyncio.to_thread(self.due_slots, schedule, now)
        if not due:
            return []
        *earlier, latest = due
        grace = timedelta(minutes=self.settings.schedule_grace_min)
        outcomes = [
            (slot, Decision(ScheduleRunStatus.MISSED, _missed(slot, now, grace)))
            for slot in earlier
        ]
        if now - latest > grace:
            outcomes.append(
                (latest, Decision(ScheduleRunStatus.MISSED, _missed(latest, now, grace)))
            )
        recorded = []
        for slot, decision in outcomes:
            run = await asyncio.to_thread(
                claim_slot, self.engine, schedule.id, slot, decision.status, decision.reason, now
            )
            recorded += [run] if run else []
        if now - latest <= grace:
            run = await self._decide_and_act(schedule, latest, now)
            recorded += [run] if run else []
        return recorded

    async def _decide_and_act(
        self, schedule: Schedule, slot: datetime, now: datetime
    ) -> ScheduleRun | None:
        decision = await asyncio.to_thread(self.decide, schedule, now)
        if not decision.launch:
            return await asyncio.to_thread(
                claim_slot, self.engine, schedule.id, slot, decision.status, decision.reason, now
            )
        run = await asyncio.to_thread(
            claim_slot, self.engine, schedule.id, slot, ScheduleRunStatus.FAILED, INTERRUPTED, now
        )
        if run is None:  # another process, or this one before a restart, has the slot
            return None
        now_sorties = [s for s in decision.launch if s.delay_s <= 0]
        flights, error = self._launch(now_sorties, slot)
        if error is None:
            run.status, run.reason = ScheduleRunStatus.LAUNCHED, decision.reason
        else:
            run.status, run.reason = ScheduleRunStatus.FAILED, error
        run.flight_ids = [str(f) for f in flights]
        async with self._record_lock:
            await asyncio.to_thread(self._save, run)
        if error is None:
            for sortie in decision.launch:
                if sortie.delay_s > 0:
                    task = asyncio.create_task(self._launch_later(run.id, sortie, slot))
                    self._delayed.add(task)
                    task.add_done_callback(self._delayed.discard)
        logger.info("schedule %s, slot %s: %s (%s)", schedule.id, slot, run.status, run.reason)
        return run

    def decide(self, schedule: Schedule, now: datetime) -> Decision:
        """What the slot due ``now`` comes to: skipped (and why), failed, or the first wave."""
        with Session(self.engine) as session:
            missions = session.exec(
                select(Mission)
                .where(Mission.patrol_name == schedule.patrol_name)
                .order_by(col(Mission.sortie_index))
            ).all()
            for mission in missions:
                session.expunge(mission)
            if not missions:
                return Decision(
                    ScheduleRunStatus.FAILED, f"patrol {schedule.patrol_name!r} has no sorties"
                )
            wind = current_wind(session, now)
            states = dock_states(session, now, self.settings.recharge_min)
        refusal = wind_refusal(wind, schedule.max_wind_m_s)
        if refusal is not None or wind is None:
            return Decision(ScheduleRunStatus.SKIPPED, refusal or "no wind known")
        docks = [dock_of(m) for m in missions]
        if None in docks:
            return Decision(ScheduleRunStatus.FAILED, "a sortie of the patrol has no dock")
        refusal = drone_refusal(states, [d for d in docks if d], self.settings.recharge_min)
        if refusal is not None:
            return Decision(ScheduleRunStatus.SKIPPED, refusal)
        return self._launch_plan(first_wave(missions, states), len(missions), wind)

    def _launch_plan(self, wave: list[Mission], sorties: int, wind: WindSeen) -> Decision:
        """The wave with each sortie's link (``dock_links``; SITL when ``schedule_sitl``) and
        launch delay; skipped when no delays keep its drones apart."""
        try:
            delays, notes = wave_delays(wave)
        except InfeasibleError as exc:
            return Decision(ScheduleRunStatus.SKIPPED, _one_line(f"not deconflicted: {exc}"))
        except (ValueError, MissionError) as exc:
            return Decision(ScheduleRunStatus.FAILED, _one_line(f"cannot fly the wave: {exc}"))
        launch = []
        for mission in wave:
            dock = dock_of(mission) or ""
            link = self.settings.dock_links.get(dock)
            if link is None and not self.settings.schedule_sitl:
                return Decision(
                    ScheduleRunStatus.FAILED,
                    f"no link to {dock}'s drone (set ECOPATROL_DOCK_LINKS={dock}=URL)",
                )
            target = LaunchTarget(connection=link, sitl=link is None)
            launch.append(Sortie(mission, target, delays[mission.id]))
        reason = "; ".join(
            [
                f"wind {wind.speed_m_s:.1f} m/s at {wind.source}",
                f"{len(wave)} of {sorties} sorties launched (one per free drone)",
                *notes,
            ]
        )
        return Decision(ScheduleRunStatus.LAUNCHED, _one_line(reason), launch)

    def _launch(
        self, sorties: Sequence[Sortie], slot: datetime
    ) -> tuple[list[uuid.UUID], str | None]:
        """Start each sortie's flight; the flights started, and the error that stopped it."""
        flights: list[uuid.UUID] = []
        for sortie in sorties:
            name = f"{sortie.mission.name} · {slot:%Y-%m-%d %H:%M}Z"
            try:
                flight = self.manager.launch(sortie.mission, sortie.target, name=name)
            except Exception as exc:  # a refused launch is the run's outcome, not a crash
                return flights, _one_line(f"launching {sortie.mission.name!r} failed: {exc}")
            flights.append(flight.id)
        return flights, None

    async def _launch_later(self, run_id: uuid.UUID, sortie: Sortie, slot: datetime) -> None:
        """Launch a sortie after its delay, and add its flight (or the failure) to the run."""
        await self.sleep(sortie.delay_s)
        flights, error = self._launch([sortie], slot)
        async with self._record_lock:
            await asyncio.to_thread(self._add_flights, run_id, flights, error)

    def _add_flights(self, run_id: uuid.UUID, flights: list[uuid.UUID], error: str | None) -> None:
        with Session(self.engine) as session:
            run = session.get(ScheduleRun, run_id)
            if run is None:  # the schedule was deleted meanwhile
                return
            run.flight_ids = [*(run.flight_ids or []), *(str(f) for f in flights)]
            if error is not None:
                run.status, run.reason = ScheduleRunStatus.FAILED, error
            session.add(run)
            session.commit()

    def _save(self, run: ScheduleRun) -> None:
        with Session(self.engine, expire_on_commit=False) as session:
            session.add(run)
            session.commit()
            session.expunge(run)


def _one_line(text: str) -> str:
    """``text`` on one line, cut to what ``schedule_run.reason`` holds."""
    line = " ".join(text.split())
    return line if len(line) <= REASON_CHARS else line[: REASON_CHARS - 1] + "…"


def _missed(slot: datetime, now: datetime, grace: timedelta) -> str:
    late_min = (now - slot) / timedelta(minutes=1)
    if now - slot > grace:
        return (
            f"not flown: found {late_min:.0f} min late (the server was not running at "
            f"{slot:%Y-%m-%d %H:%M}Z; grace {grace / timedelta(minutes=1):g} min)"
        )
    return "not flown: a later slot was already due"
