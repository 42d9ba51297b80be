"""Recurring patrols: each patrol's schedules, their next slot and what became of each slot
(``server.scheduler`` decides them); operators and admins add, pause and remove them."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from sqlmodel import Session, col, delete, func, select

from server.api.deps import CurrentUser, OperatorUser, SessionDep
from server.scheduler import ScheduleError, Scheduler, new_schedule, next_slot, set_enabled
from server.schemas import (
    Message,
    ScheduleCreate,
    SchedulePublic,
    ScheduleRunPublic,
    ScheduleRunsPublic,
    SchedulesPublic,
    ScheduleUpdate,
)
from store.models import Schedule, ScheduleRun

router = APIRouter(prefix="/schedules", tags=["schedules"])
LAST_RUNS = 5


def _scheduler(request: Request) -> Scheduler:
    scheduler: Scheduler = request.app.state.scheduler
    return scheduler


def _schedule(session: Session, schedule_id: uuid.UUID) -> Schedule:
    schedule = session.get(Schedule, schedule_id)
    if schedule is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such schedule")
    return schedule


def _public(session: Session, schedule: Schedule, scheduler: Scheduler) -> SchedulePublic:
    public = SchedulePublic.model_validate(schedule)
    if schedule.enabled:
        public.next_run_at = next_slot(schedule, scheduler.clock())
    runs = session.exec(
        select(ScheduleRun)
        .where(ScheduleRun.schedule_id == schedule.id)
        .order_by(col(ScheduleRun.slot_at).desc())
        .limit(LAST_RUNS)
    ).all()
    public.last_runs = [ScheduleRunPublic.model_validate(r) for r in runs]
    return public


@router.get("")
def list_schedules(
    session: SessionDep,
    request: Request,
    _: CurrentUser,
    patrol: Annotated[str | None, Query(max_length=255)] = None,
) -> SchedulesPublic:
    """Every schedule (a patrol's only, with ``patrol``), each with its next slot and its
    last five runs, newest first."""
    query = select(Schedule).order_by(col(Schedule.patrol_name), col(Schedule.created_at))
    if patrol:
        query = query.where(Schedule.patrol_name == patrol)
    rows = session.exec(query).all()
    scheduler = _scheduler(request)
    return SchedulesPublic(data=[_public(session, s, scheduler) for s in rows], count=len(rows))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={422: {"model": Message, "description": "no such patrol, or a bad time"}},
)
def create_schedule(
    session: SessionDep, request: Request, user: OperatorUser, body: ScheduleCreate
) -> SchedulePublic:
    """Schedule a stored patrol; 422 names what cannot be kept."""
    scheduler = _scheduler(request)
    try:
        schedule = new_schedule(
            session, **body.model_dump(), created_by=user.id, now=scheduler.clock()
        )
    except ScheduleError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    session.commit()
    session.refresh(schedule)
    return _public(session, schedule, scheduler)


@router.patch("/{schedule_id}", responses={404: {"model": Message}})
def update_schedule(
    session: SessionDep,
    request: Request,
    _: OperatorUser,
    schedule_id: uuid.UUID,
    body: ScheduleUpdate,
) -> SchedulePublic:
    """Pause or resume a schedule, or change its wind limit. A resumed schedule's slots
    while paused are not flown: it goes on from its next slot."""
    schedule = _schedule(session, schedule_id)
    scheduler = _scheduler(request)
    if body.enabled is not None:
        set_enabled(schedule, body.enabled, scheduler.clock())
    if body.max_wind_m_s is not None:
        schedule.max_wind_m_s = body.max_wind_m_s
    session.add(schedule)
    session.commit()
    session.refresh(schedule)
    return _public(session, schedule, scheduler)


@router.delete("/{schedule_id}", responses={404: {"model": Message}})
def delete_schedule(session: SessionDep, _: OperatorUser, schedule_id: uuid.UUID) -> Message:
    """Remove a schedule and its run history."""
    schedule = _schedule(session, schedule_id)
    session.exec(delete(ScheduleRun).where(col(ScheduleRun.schedule_id) == schedule.id))
    session.delete(schedule)
    session.commit()
    return Message(message="deleted")


@router.get("/{schedule_id}/runs", responses={404: {"model": Message}})
def list_runs(
    session: SessionDep,
    _: CurrentUser,
    schedule_id: uuid.UUID,
    skip: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ScheduleRunsPublic:
    """The schedule's runs, newest slot first."""
    _schedule(session, schedule_id)
    clause = col(ScheduleRun.schedule_id) == schedule_id
    count = session.exec(select(func.count()).select_from(ScheduleRun).where(clause)).one()
    rows = session.exec(
        select(ScheduleRun)
        .where(clause)
        .order_by(col(ScheduleRun.slot_at).desc())
        .offset(skip)
        .limit(limit)
    ).all()
    return ScheduleRunsPublic(data=[ScheduleRunPublic.model_validate(r) for r in rows], count=count)
