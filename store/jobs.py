"""The processing queue: one row per (capture, pipeline version), in the database.

The database is the durable record of work, so any process may die at any
moment and the work still ends exactly once:

- ``queued`` -> ``running``: :func:`claim` takes jobs in one atomic statement
  (``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING``;
  SQLite serialises writers, so the same statement is atomic there too) and
  gives the claimer a lease that it must renew with :func:`heartbeat`.
- ``running`` -> ``done``: :func:`complete` runs inside the transaction that
  writes the results, and only for jobs whose lease the writer still holds, so
  results and the "done" mark commit together or not at all.
- ``running`` -> ``queued``/``failed``: :func:`fail` on an error, or
  :func:`expire_leases` when the holder vanished; each claim counts one
  attempt, and a job out of attempts is ``failed`` with its reason while the
  rest of the queue goes on.

The pipeline version is part of the key: processing captures again with a new
detector version means enqueuing new jobs, never silently redoing old ones.

Functions that are a unit of work by themselves (a claim must be durable
before the work starts) take an ``Engine`` and commit; those that belong to
the caller's transaction (enqueue on ingest, complete with the results) take a
``Session`` and leave the commit to the caller.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Engine,
    Index,
    Table,
    UniqueConstraint,
    bindparam,
    case,
    func,
    select,
    update,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlmodel import Field, Session, SQLModel, col
from sqlmodel import select as sqlmodel_select

from store.models import Capture, CaptureStatus, Flight

logger = logging.getLogger(__name__)

_INSERT_CHUNK = 500


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands timestamps back naive; every stored one is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


def _ts(*, index: bool = False) -> Any:
    return Field(
        default=None,
        sa_type=DateTime(timezone=True),
        nullable=True,
        index=index,
    )


class ProcessingJob(SQLModel, table=True):
    """Processing one capture with one pipeline version.

    ``task`` and ``writer`` are ``"module:function"`` paths: the task runs on a
    compute worker with ``params`` (paths and small values only) and returns a
    small picklable result; the writer records a batch of results in the
    database. Keeping them on the row keeps the dispatcher generic.
    """

    __tablename__ = "processing_job"
    __table_args__ = (
        UniqueConstraint(
            "capture_id", "pipeline_version", name="uq_processing_job_capture_version"
        ),
        Index("ix_processing_job_claim", "status", "available_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    capture_id: uuid.UUID = Field(foreign_key="capture.id", index=True)
    flight_id: uuid.UUID | None = Field(default=None, foreign_key="flight.id", index=True)
    pipeline_version: str = Field(max_length=64)
    task: str = Field(max_length=255)
    writer: str = Field(max_length=255)
    params: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    status: JobStatus = Field(
        default=JobStatus.QUEUED,
        sa_column=Column(
            SAEnum(
                JobStatus,
                native_enum=False,
                length=16,
                values_callable=lambda e: [m.value for m in e],
                name="job_status",
            ),
            nullable=False,
            index=True,
        ),
    )
    attempts: int = 0
    max_attempts: int = 3
    lease_owner: str | None = Field(default=None, max_length=255)
    lease_expires_at: datetime | None = _ts(index=True)
    available_at: datetime | None = _ts()
    last_error: str | None = Field(default=None, max_length=2000)
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    created_at: datetime = Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),
        nullable=False,
    )
    started_at: datetime | None = _ts()
    finished_at: datetime | None = _ts(index=True)


JOBS: Table = ProcessingJob.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What to enqueue for one capture."""

    capture_id: uuid.UUID
    pipeline_version: str
    task: str
    writer: str
    flight_id: uuid.UUID | None = None
    params: dict[str, Any] = field(default_factory=dict)
    max_attempts: int = 3


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A job as its claimer sees it: enough to run it and to prove the lease."""

    id: uuid.UUID
    capture_id: uuid.UUID
    flight_id: uuid.UUID | None
    pipeline_version: str
    task: str
    writer: str
    params: dict[str, Any]
    attempt: int
    max_attempts: int


@dataclass(frozen=True, slots=True, order=True)
class JobGroup:
    """A flight's jobs for one pipeline version and writer: the unit that is finished as a whole."""

    flight_id: uuid.UUID
    pipeline_version: str
    writer: str


OnFailed = Callable[[Session, Sequence[JobGroup]], None]
"""Called in the transaction that fails jobs for good, with the groups those jobs belong to."""


@dataclass(frozen=True, slots=True)
class ExpiredLeases:
    requeued: int
    failed: int


@dataclass(frozen=True, slots=True)
class FailedJob:
    id: uuid.UUID
    capture_id: uuid.UUID
    attempts: int
    reason: str
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class QueueStats:
    """What ``ecopatrol status`` shows: depth, throughput, failures."""

    counts: dict[JobStatus, int]
    done_in_window: int
    window_s: float
    recent_failures: list[FailedJob]
    oldest_queued_at: datetime | None

    @property
    def per_minute(self) -> float:
        return 60.0 * self.done_in_window / self.window_s if self.window_s > 0 else 0.0


@dataclass(frozen=True, slots=True)
class FlightProgress:
    """A flight's processing progress, for the UI."""

    flight_id: uuid.UUID
    counts: dict[JobStatus, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def finished(self) -> int:
        return self.counts[JobStatus.DONE] + self.counts[JobStatus.FAILED]

    @property
    def fraction(self) -> float:
        return self.finished / self.total if self.total else 1.0


def _chunks(rows: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _insert_ignoring_duplicates(bind: Connection | Session, rows: list[dict[str, Any]]) -> int:
    dialect = bind.get_bind().dialect.name if isinstance(bind, Session) else bind.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    if dialect not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"the job queue supports SQLite and PostgreSQL, not {dialect}")
    added = 0
    for chunk in _chunks(rows, _INSERT_CHUNK):
        stmt = (
            insert(JOBS)
            .values(chunk)
            .on_conflict_do_nothing(index_elements=["capture_id", "pipeline_version"])
            .returning(JOBS.c.id)
        )
        added += len(bind.execute(stmt).all())
    return added


def enqueue(session: Session, specs: Iterable[JobSpec], *, now: datetime | None = None) -> int:
    """Queue jobs in the caller's transaction; a (capture, version) already queued is kept as is.

    Returns how many jobs are new.
    """
    now = now or utcnow()
    rows = []
    for spec in specs:
        if spec.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {spec.max_attempts}")
        rows.append(
            {
                "id": uuid.uuid4(),
                "capture_id": spec.capture_id,
                "flight_id": spec.flight_id,
                "pipeline_version": spec.pipeline_version,
                "task": spec.task,
                "writer": spec.writer,
                "params": spec.params,
                "status": JobStatus.QUEUED,
                "attempts": 0,
                "max_attempts": spec.max_attempts,
                "available_at": now,
                "created_at": now,
            }
        )
    if not rows:
        return 0
    added = _insert_ignoring_duplicates(session, rows)
    logger.info("queued %d new jobs (%d already queued)", added, len(rows) - added)
    return added


def capture_params(capture: Capture) -> dict[str, Any]:
    """What a worker needs about a capture: its path and pose, never its pixels."""
    return {
        "capture_id": str(capture.id),
        "index": capture.index,
        "path": capture.path,
        "kind": capture.kind,
        "pose": capture.pose,
    }


def enqueue_flight(
    session: Session,
    flight_id: uuid.UUID,
    *,
    pipeline_version: str,
    task: str,
    writer: str,
    max_attempts: int = 3,
    extra_params: Mapping[str, Any] | None = None,
    capture_ids: Collection[uuid.UUID] | None = None,
) -> int:
    """Queue every capture of a flight (or only ``capture_ids``) for ``pipeline_version``.

    Call it on ingest; ``capture_ids`` keeps an upload of one photo from
    touching every capture the flight already has.
    """
    query = sqlmodel_select(Capture).where(Capture.flight_id == flight_id)
    if capture_ids is not None:
        query = query.where(col(Capture.id).in_(list(capture_ids)))
    captures = session.exec(query.order_by(col(Capture.index))).all()
    return enqueue(
        session,
        (
            JobSpec(
                capture_id=capture.id,
                flight_id=flight_id,
                pipeline_version=pipeline_version,
                task=task,
                writer=writer,
                params={**capture_params(capture), **(extra_params or {})},
                max_attempts=max_attempts,
            )
            for capture in captures
        ),
    )


def claim(
    engine: Engine,
    *,
    worker: str,
    limit: int,
    lease_s: float,
    now: datetime | None = None,
) -> list[ClaimedJob]:
    """Atomically take up to ``limit`` queued jobs for ``worker`` and commit the lease.

    Two claimers never get the same job: PostgreSQL skips rows another claimer
    has locked, and SQLite runs one writing statement at a time.
    """
    if limit <= 0:
        return []
    now = now or utcnow()
    job = JOBS.c
    # A materialised CTE picks the rows once: as an IN (subquery) PostgreSQL
    # may run the LIMITed subquery again per row and take more than ``limit``.
    candidates = (
        select(job.id)
        .where(job.status == JobStatus.QUEUED, job.available_at <= now)
        .order_by(job.created_at, job.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("candidates")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    stmt = (
        update(JOBS)
        .where(job.id.in_(select(candidates.c.id)), job.status == JobStatus.QUEUED)
        .values(
            status=JobStatus.RUNNING,
            lease_owner=worker,
            lease_expires_at=now + timedelta(seconds=lease_s),
            attempts=job.attempts + 1,
            started_at=func.coalesce(job.started_at, now),
        )
        .returning(
            job.id,
            job.capture_id,
            job.flight_id,
            job.pipeline_version,
            job.task,
            job.writer,
            job.params,
            job.attempts,
            job.max_attempts,
        )
    )
    with engine.begin() as conn:
        rows = conn.execute(stmt).all()
    claimed = [
        ClaimedJob(
            id=r.id,
            capture_id=r.capture_id,
            flight_id=r.flight_id,
            pipeline_version=r.pipeline_version,
            task=r.task,
            writer=r.writer,
            params=dict(r.params or {}),
            attempt=r.attempts,
            max_attempts=r.max_attempts,
        )
        for r in rows
    ]
    claimed.sort(key=lambda j: j.id)
    if claimed:
        logger.debug("%s claimed %d jobs", worker, len(claimed))
    return claimed


def _leased_by(worker: str, job_ids: Collection[uuid.UUID]) -> tuple[Any, ...]:
    """Where-clauses for the jobs among ``job_ids`` that ``worker`` holds right now."""
    job = JOBS.c
    return (job.id.in_(list(job_ids)), job.lease_owner == worker, job.status == JobStatus.RUNNING)


def heartbeat(
    engine: Engine,
    job_ids: Collection[uuid.UUID],
    *,
    worker: str,
    lease_s: float,
    now: datetime | None = None,
) -> set[uuid.UUID]:
    """Extend ``worker``'s leases; returns the jobs it still holds (a lost lease is gone)."""
    if not job_ids:
        return set()
    now = now or utcnow()
    job = JOBS.c
    stmt = (
        update(JOBS)
        .where(*_leased_by(worker, job_ids))
        .values(lease_expires_at=now + timedelta(seconds=lease_s))
        .returning(job.id)
    )
    with engine.begin() as conn:
        held = set(conn.execute(stmt).scalars())
    lost = len(job_ids) - len(held)
    if lost:
        logger.warning("%s lost the lease on %d jobs", worker, lost)
    return held


def complete(
    session: Session,
    results: Mapping[uuid.UUID, dict[str, Any] | None],
    *,
    worker: str,
    now: datetime | None = None,
) -> set[uuid.UUID]:
    """Mark jobs done in the caller's transaction, only where ``worker`` still holds the lease.

    Call it first in the transaction that writes the results and write only the
    jobs it returns: the results and the "done" mark then commit together, and
    a claimer whose lease expired cannot record anything twice. ``results``
    maps each job to a small summary kept on the row.
    """
    if not results:
        return set()
    now = now or utcnow()
    job = JOBS.c
    stmt = (
        update(JOBS)
        .where(*_leased_by(worker, results))
        .values(
            status=JobStatus.DONE,
            lease_owner=None,
            lease_expires_at=None,
            last_error=None,
            finished_at=now,
        )
        .returning(job.id)
    )
    done = set(session.execute(stmt).scalars())
    summaries = [
        {"job_id": job_id, "summary": results[job_id]}
        for job_id in done
        if results[job_id] is not None
    ]
    if summaries:
        session.execute(
            update(JOBS).where(job.id == bindparam("job_id")).values(result=bindparam("summary")),
            summaries,
        )
    return done


def fail(
    engine: Engine,
    job_id: uuid.UUID,
    *,
    worker: str,
    reason: str,
    retry_delay_s: float = 0.0,
    now: datetime | None = None,
    on_failed: OnFailed | None = None,
) -> JobStatus | None:
    """Record a failed attempt: back to the queue, or ``failed`` when out of attempts.

    When the job fails for good, ``on_failed`` runs in the same transaction
    (so whatever it records commits with the failure, or neither does).
    Returns the new status, or None when ``worker`` no longer held the job.
    """
    now = now or utcnow()
    job = JOBS.c
    out_of_attempts = job.attempts >= job.max_attempts
    stmt = (
        update(JOBS)
        .where(*_leased_by(worker, [job_id]))
        .values(
            status=case((out_of_attempts, JobStatus.FAILED.value), else_=JobStatus.QUEUED.value),
            finished_at=case((out_of_attempts, now), else_=None),
            available_at=now + timedelta(seconds=retry_delay_s),
            lease_owner=None,
            lease_expires_at=None,
            last_error=reason[:2000],
        )
        .returning(
            job.status,
            job.attempts,
            job.max_attempts,
            job.capture_id,
            job.flight_id,
            job.pipeline_version,
            job.writer,
        )
    )
    with Session(engine) as session, session.begin():
        row = session.execute(stmt).first()
        if row is None:
            return None
        status = JobStatus(row.status)
        if status is JobStatus.FAILED:
            _fail_captures(session, [row.capture_id], reason)
            if on_failed is not None:
                on_failed(session, _groups([row]))
    log = logger.warning if status is JobStatus.FAILED else logger.info
    log("job %s attempt %d/%d failed: %s", job_id, row.attempts, row.max_attempts, reason)
    return status


def release(engine: Engine, job_ids: Collection[uuid.UUID], *, worker: str) -> int:
    """Give jobs back unrun (a clean shutdown): the attempt they used is not counted."""
    if not job_ids:
        return 0
    job = JOBS.c
    stmt = (
        update(JOBS)
        .where(*_leased_by(worker, job_ids))
        .values(
            status=JobStatus.QUEUED,
            attempts=job.attempts - 1,
            lease_owner=None,
            lease_expires_at=None,
        )
        .returning(job.id)
    )
    with engine.begin() as conn:
        return len(conn.execute(stmt).all())


def expire_leases(
    engine: Engine, *, now: datetime | None = None, on_failed: OnFailed | None = None
) -> ExpiredLeases:
    """Return jobs whose holder vanished to the queue, or fail them when out of attempts.

    ``on_failed`` runs in the same transaction with the groups of the jobs failed for good.
    """
    now = now or utcnow()
    job = JOBS.c
    expired = (job.status == JobStatus.RUNNING, job.lease_expires_at < now)
    with Session(engine) as session, session.begin():
        failed = session.execute(
            update(JOBS)
            .where(*expired, job.attempts >= job.max_attempts)
            .values(
                status=JobStatus.FAILED,
                finished_at=now,
                lease_owner=None,
                lease_expires_at=None,
                last_error=func.coalesce(job.last_error, "")
                + "lease expired: the process running it stopped answering",
            )
            .returning(job.capture_id, job.flight_id, job.pipeline_version, job.writer)
        ).all()
        _fail_captures(
            session,
            [r.capture_id for r in failed],
            "lease expired: the process running it stopped answering",
        )
        requeued = session.execute(
            update(JOBS)
            .where(*expired, job.attempts < job.max_attempts)
            .values(
                status=JobStatus.QUEUED,
                available_at=now,
                lease_owner=None,
                lease_expires_at=None,
            )
            .returning(job.id)
        ).all()
        if failed and on_failed is not None:
            on_failed(session, _groups(failed))
    result = ExpiredLeases(requeued=len(requeued), failed=len(failed))
    if result.requeued or result.failed:
        logger.warning(
            "expired leases: %d jobs back in the queue, %d out of attempts",
            result.requeued,
            result.failed,
        )
    return result


def _fail_captures(session: Session, capture_ids: Sequence[uuid.UUID], reason: str) -> None:
    """Mark still-pending captures whose job failed for good ``failed`` with the reason.

    In the transaction that fails the jobs: a capture is never left ``pending``
    with nothing left to process it. A capture already processed (by another
    pipeline version) keeps its result.
    """
    if not capture_ids:
        return
    session.execute(
        update(Capture)
        .where(col(Capture.id).in_(list(capture_ids)), col(Capture.status) == CaptureStatus.PENDING)
        .values(status=CaptureStatus.FAILED, failure_reason=reason[:2000])
    )


def _groups(rows: Iterable[Any]) -> list[JobGroup]:
    """The distinct groups of job rows with ``flight_id``, ``pipeline_version`` and ``writer``."""
    return sorted(
        {JobGroup(r.flight_id, r.pipeline_version, r.writer) for r in rows if r.flight_id}
    )


def settled_groups(session: Session, groups: Iterable[JobGroup]) -> list[JobGroup]:
    """Those of ``groups`` with no job left queued or running (in the caller's transaction).

    Call it in the transaction that finished some of the groups' jobs. It
    first locks the groups' flight rows (in id order; SQLite serialises writers
    anyway), so when two transactions finish a flight's last jobs at once the
    second waits for the first, then sees its jobs finished: at least one of
    them, the last to commit, finds the group settled.
    """
    wanted = sorted(set(groups))
    if not wanted:
        return []
    flights = sorted({g.flight_id for g in wanted})
    session.execute(
        select(col(Flight.id))
        .where(col(Flight.id).in_(flights))
        .order_by(col(Flight.id))
        # NO KEY UPDATE: serialises finishers without waiting on the KEY SHARE
        # locks that writing the flight's captures and findings takes (FOR
        # UPDATE would deadlock two writers of one flight).
        .with_for_update(key_share=True)
    ).all()
    job = JOBS.c
    busy = session.execute(
        select(job.flight_id, job.pipeline_version, job.writer)
        .where(
            job.flight_id.in_(flights),
            job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]),
        )
        .distinct()
    ).all()
    return [g for g in wanted if g not in set(_groups(busy))]


def retry_failed(engine: Engine, *, pipeline_version: str | None = None) -> int:
    """Queue failed jobs again with fresh attempts (after fixing what made them fail)."""
    job = JOBS.c
    stmt = update(JOBS).where(job.status == JobStatus.FAILED)
    if pipeline_version is not None:
        stmt = stmt.where(job.pipeline_version == pipeline_version)
    stmt = stmt.values(
        status=JobStatus.QUEUED, attempts=0, finished_at=None, available_at=utcnow()
    ).returning(job.id)
    with engine.begin() as conn:
        return len(conn.execute(stmt).all())


def _counts(session: Session, *where: Any) -> dict[JobStatus, int]:
    job = JOBS.c
    rows = session.execute(
        select(job.status, func.count()).where(*where).group_by(job.status)
    ).all()
    counts = dict.fromkeys(JobStatus, 0)
    for status, n in rows:
        counts[JobStatus(status)] = n
    return counts


def queue_stats(
    session: Session,
    *,
    window_s: float = 900.0,
    recent_failures: int = 5,
    now: datetime | None = None,
) -> QueueStats:
    """Queue depth per status, jobs finished in the last ``window_s``, the latest failures."""
    now = now or utcnow()
    job = JOBS.c
    done_recent = session.execute(
        select(func.count()).where(
            job.status == JobStatus.DONE,
            job.finished_at >= now - timedelta(seconds=window_s),
        )
    ).scalar_one()
    failures = session.execute(
        select(job.id, job.capture_id, job.attempts, job.last_error, job.finished_at)
        .where(job.status == JobStatus.FAILED)
        .order_by(job.finished_at.desc())
        .limit(recent_failures)
    ).all()
    oldest = session.execute(
        select(func.min(job.created_at)).where(job.status == JobStatus.QUEUED)
    ).scalar_one()
    return QueueStats(
        counts=_counts(session),
        done_in_window=done_recent,
        window_s=window_s,
        recent_failures=[
            FailedJob(
                id=r.id,
                capture_id=r.capture_id,
                attempts=r.attempts,
                reason=r.last_error or "",
                finished_at=_aware(r.finished_at),
            )
            for r in failures
        ],
        oldest_queued_at=_aware(oldest),
    )


def flight_progress(
    session: Session, flight_id: uuid.UUID, *, pipeline_version: str | None = None
) -> FlightProgress:
    """How far a flight's processing has gone (jobs per status), for the UI."""
    where = [JOBS.c.flight_id == flight_id]
    if pipeline_version is not None:
        where.append(JOBS.c.pipeline_version == pipeline_version)
    return FlightProgress(flight_id=flight_id, counts=_counts(session, *where))
