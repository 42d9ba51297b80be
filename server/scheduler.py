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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from missions.errors import InfeasibleError, MissionError
from server.errors import ServerError
from server.fleet import (
    NoLinkError,
    Wave,
    dock_states,
    dock_target,
    drone_refusal,
    first_wave,
    launch_wave,
    patrol_sorties,
    plan_wave,
)
from server.flights import FlightManager
from server.planning import dock_of
from store.models import (
    Mission,
    Reading,
    Schedule,
    ScheduleKind,
    ScheduleRun,
    ScheduleRunStatus,
)
from store.readings import as_utc

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
LOOKBACK = timedelta(days=7)
WIND_MAX_AGE = timedelta(hours=1)
MIN_INTERVAL_MIN = 5
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # datetime.weekday() order
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


@dataclass(frozen=True)
class Decision:
    """A slot's outcome before anything is done: a refusal, or the wave to launch."""

    status: str
    reason: str
    launch: Wave | None = None


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
        if decision.launch is None:
            return await asyncio.to_thread(
                claim_slot, self.engine, schedule.id, slot, decision.status, decision.reason, now
            )
        run = await asyncio.to_thread(
            claim_slot, self.engine, schedule.id, slot, ScheduleRunStatus.FAILED, INTERRUPTED, now
        )
        if run is None:  # another process, or this one before a restart, has the slot
            return None
        run_id = run.id

        async def later(flights: list[uuid.UUID], error: str | None) -> None:
            """A delayed sortie launched (or refused): add it to the run."""
            async with self._record_lock:
                await asyncio.to_thread(self._add_flights, run_id, flights, error)

        async with self._record_lock:  # held until the run is saved: late launches wait
            launched = launch_wave(
                self.manager,
                decision.launch,
                name_of=lambda m: f"{m.name} · {slot:%Y-%m-%d %H:%M}Z",
                sleep=self.sleep,
                on_later=later,
            )
            for task in launched.later:
                self._delayed.add(task)
                task.add_done_callback(self._delayed.discard)
            if launched.error is None:
                run.status, run.reason = ScheduleRunStatus.LAUNCHED, decision.reason
            else:
                run.status, run.reason = ScheduleRunStatus.FAILED, _one_line(launched.error)
            run.flight_ids = [str(f) for f in launched.flights]
            await asyncio.to_thread(self._save, run)
        logger.info("schedule %s, slot %s: %s (%s)", schedule.id, slot, run.status, run.reason)
        return run

    def decide(self, schedule: Schedule, now: datetime) -> Decision:
        """What the slot due ``now`` comes to: skipped (and why), failed, or the first wave."""
        with Session(self.engine) as session:
            missions = patrol_sorties(session, schedule.patrol_name)
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
        links, sitl = self.settings.dock_links, self.settings.schedule_sitl
        try:
            planned = plan_wave(wave, lambda m: dock_target(m, links, sitl=sitl))
        except InfeasibleError as exc:
            return Decision(ScheduleRunStatus.SKIPPED, _one_line(f"not deconflicted: {exc}"))
        except NoLinkError as exc:
            return Decision(ScheduleRunStatus.FAILED, str(exc))
        except (ValueError, MissionError) as exc:
            return Decision(ScheduleRunStatus.FAILED, _one_line(f"cannot fly the wave: {exc}"))
        reason = "; ".join(
            [
                f"wind {wind.speed_m_s:.1f} m/s at {wind.source}",
                f"{len(wave)} of {sorties} sorties launched (one per free drone)",
                *planned.notes,
            ]
        )
        return Decision(ScheduleRunStatus.LAUNCHED, _one_line(reason), planned)

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
