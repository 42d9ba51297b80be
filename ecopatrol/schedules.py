"""``ecopatrol schedule``: recurring patrols, as the server's scheduler flies them.

``add`` schedules a stored patrol at times of day (``--at 07:30,15:00``, in
``--tz``, on ``--days``) or every N minutes (``--every 120``), with a wind
limit; ``list`` prints one schedule a line with its next slot and last run;
``pause`` and ``resume`` stop and restart one (a resumed schedule goes on from
its next slot). The server (``ecopatrol serve``) decides each slot; this
command only writes the schedules. Anything refused is one line on stderr,
exit status 2.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from ecopatrol.cli import store_session
from imagery.dispatch.cli import DbOption

if TYPE_CHECKING:
    from sqlmodel import Session

    from store.models import Schedule

schedule_app = typer.Typer(help="Recurring patrols flown by the server.", no_args_is_help=True)
IdArg = Annotated[str, typer.Argument(help="The schedule's id (ecopatrol schedule list).")]


def register(app: typer.Typer) -> None:
    """Add the ``schedule`` commands to the root app."""
    app.add_typer(schedule_app, name="schedule")


def _split(text: str | None) -> list[str] | None:
    return [part.strip() for part in text.split(",") if part.strip()] if text else None


@schedule_app.command("add")
def add(
    patrol: Annotated[str, typer.Argument(help="The stored patrol's name.")],
    at: Annotated[
        str | None, typer.Option("--at", help="Times of day, comma-separated (07:30,15:00).")
    ] = None,
    days: Annotated[
        str | None, typer.Option(help="Weekdays, comma-separated (mon,wed); default every day.")
    ] = None,
    tz: Annotated[str, typer.Option(help="The IANA zone of --at and --days.")] = "Asia/Shanghai",
    every: Annotated[
        int | None, typer.Option("--every", help="Minutes between flights (at least 5).")
    ] = None,
    max_wind: Annotated[
        float, typer.Option("--max-wind", help="The wind it may fly in, m/s.")
    ] = 10.0,
    db: DbOption = None,
) -> None:
    """Schedule a stored patrol; prints the new schedule's id and next slot."""
    from ecopatrol.cli import fail
    from server.scheduler import ScheduleError, new_schedule, next_slot

    if (at is None) == (every is None):
        raise fail("give --at (times of day) or --every (minutes), one of them")
    now = datetime.now(UTC)
    with store_session(db) as session:
        try:
            schedule = new_schedule(
                session,
                patrol_name=patrol,
                kind="times" if at else "interval",
                times=_split(at),
                days=_split(days),
                tz=tz,
                interval_min=every,
                max_wind_m_s=max_wind,
                now=now,
            )
        except ScheduleError as exc:
            raise fail(str(exc)) from None
        session.flush()
        upcoming = next_slot(schedule, now)
        typer.echo(f"{schedule.id}  {patrol}  next {_when(upcoming)}")


@schedule_app.command("list")
def list_schedules(db: DbOption = None) -> None:
    """Every schedule: id, patrol, when, state, wind limit, next slot, last run and why."""
    from sqlmodel import col, select

    from store.models import Schedule

    with store_session(db) as session:
        rows = session.exec(
            select(Schedule).order_by(col(Schedule.patrol_name), col(Schedule.created_at))
        ).all()
        for schedule in rows:
            typer.echo(_line(session, schedule))
        if not rows:
            typer.echo("no schedules")


def _line(session: Session, schedule: Schedule) -> str:
    from sqlmodel import col, select

    from server.scheduler import describe, next_slot
    from store.models import ScheduleRun

    last = session.exec(
        select(ScheduleRun)
        .where(ScheduleRun.schedule_id == schedule.id)
        .order_by(col(ScheduleRun.slot_at).desc())
    ).first()
    state = "enabled" if schedule.enabled else "paused"
    upcoming = next_slot(schedule, datetime.now(UTC)) if schedule.enabled else None
    ran = f"last {last.status}: {last.reason}" if last else "not run yet"
    return (
        f"{schedule.id}  {schedule.patrol_name}  {describe(schedule)}  {state}  "
        f"max wind {schedule.max_wind_m_s:g} m/s  next {_when(upcoming)}  {ran}"
    )


def _when(slot: datetime | None) -> str:
    return f"{slot:%Y-%m-%d %H:%M}Z" if slot else "-"


def _set_enabled(schedule_id: str, enabled: bool, db: str | None) -> None:
    from ecopatrol.cli import fail
    from server.scheduler import set_enabled
    from store.models import Schedule

    try:
        key = uuid.UUID(schedule_id)
    except ValueError:
        raise fail(f"{schedule_id!r} is not a schedule id") from None
    with store_session(db) as session:
        schedule = session.get(Schedule, key)
        if schedule is None:
            raise fail(f"no schedule {schedule_id}")
        set_enabled(schedule, enabled, datetime.now(UTC))
        session.add(schedule)
    typer.echo(f"{schedule_id} {'resumed' if enabled else 'paused'}")


@schedule_app.command("pause")
def pause(schedule_id: IdArg, db: DbOption = None) -> None:
    """Stop flying a schedule (its history stays)."""
    _set_enabled(schedule_id, False, db)


@schedule_app.command("resume")
def resume(schedule_id: IdArg, db: DbOption = None) -> None:
    """Fly a paused schedule again, from its next slot."""
    _set_enabled(schedule_id, True, db)
