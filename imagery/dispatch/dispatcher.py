"""The dispatcher: claims jobs from the database, runs them on Dask, writes results in batches.

One dispatcher process is the only writer for the jobs it holds. It claims
jobs with a lease (:func:`store.jobs.claim`), submits each job's task path and
small parameters to Dask, keeps its leases alive while the tasks run, and
writes finished results in batches: each batch is one transaction that first
marks the jobs done where this dispatcher still holds their lease
(:func:`store.jobs.complete`) and then calls the jobs' writer for those jobs
only. So a result is recorded exactly once even when a worker, the dispatcher
or the database connection dies at any point:

- a Dask worker dies: Dask runs its tasks again elsewhere (a task that keeps
  killing workers comes back as a failure and uses up one attempt);
- the dispatcher dies: its leases expire, any dispatcher puts the jobs back in
  the queue and they run again; nothing it had not committed was recorded;
- the database drops the connection: the loop waits and retries; results not
  yet written stay in memory and are written once it is back, unless their
  lease ran out meanwhile, in which case the fence drops them and the job
  runs again.

Once the last job of a flight (for one pipeline version and writer) is done
or failed, the transaction that finished it also runs the writer's finisher
(for captures, grouping the flight's findings, see ``finishers``), so a crash
never leaves a finished flight ungrouped and a flight is never grouped early.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import CancelledError
from dataclasses import dataclass, field
from typing import Any

from distributed import Client, Future, wait
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from imagery.dispatch.tasks import TaskOutput, resolve, run_task
from store.db import database_away, session_scope
from store.jobs import (
    JOBS,
    ClaimedJob,
    JobGroup,
    JobStatus,
    claim,
    complete,
    expire_leases,
    fail,
    heartbeat,
    release,
    settled_groups,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """One finished job as a writer receives it."""

    job: ClaimedJob
    result: Any


Writer = Callable[[Session, Sequence[JobOutcome]], None]
Finisher = Callable[[Session, uuid.UUID, str], None]
"""Called with (session, flight id, pipeline version) once a flight's jobs are all finished."""


def default_worker_id() -> str:
    """Names this dispatcher in lease columns: host, process and a random tail."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True)
class DispatchSettings:
    """How a dispatcher paces itself.

    ``lease_s`` is how long a claim survives without a heartbeat (the time a
    crashed dispatcher's jobs wait before running again); heartbeats go out
    every third of it. ``max_in_flight`` defaults to four jobs per cluster
    thread, claimed half of it at a time, so workers never wait for the next
    claim and the database sees one claim per several jobs.
    """

    worker_id: str = field(default_factory=default_worker_id)
    lease_s: float = 60.0
    batch_size: int = 32
    flush_interval_s: float = 2.0
    max_in_flight: int | None = None
    poll_interval_s: float = 0.5
    retry_delay_s: float = 5.0
    expire_every_s: float = 10.0

    def __post_init__(self) -> None:
        if self.lease_s <= 0 or self.batch_size < 1 or self.poll_interval_s <= 0:
            raise ValueError("lease_s and poll_interval_s must be positive, batch_size >= 1")
        if self.max_in_flight is not None and self.max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, not {self.max_in_flight}")


@dataclass(slots=True)
class DispatchReport:
    """What one :meth:`Dispatcher.run` did."""

    claimed: int = 0
    written: int = 0
    failed: int = 0
    lost: int = 0
    seconds: float = 0.0

    @property
    def per_second(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else 0.0


class Dispatcher:
    """Claims jobs for one Dask client and records their results (see the module docstring).

    ``finishers`` maps a writer path to the ``"module:function"`` path of a
    :data:`Finisher`; by default the capture pipeline's
    (:data:`imagery.dispatch.capture.FINISHERS`).
    """

    def __init__(
        self,
        engine: Engine,
        client: Client,
        *,
        settings: DispatchSettings | None = None,
        finishers: Mapping[str, str] | None = None,
    ) -> None:
        if finishers is None:  # imported here: the pipeline is heavy and only its jobs need it
            from imagery.dispatch.capture import FINISHERS

            finishers = FINISHERS
        self.engine = engine
        self.client = client
        self.settings = settings or DispatchSettings()
        self.finishers = dict(finishers)
        self._in_flight: dict[Future, ClaimedJob] = {}
        self._finished: list[tuple[ClaimedJob, TaskOutput]] = []
        self._report = DispatchReport()

    @property
    def worker_id(self) -> str:
        return self.settings.worker_id

    def _capacity(self) -> int:
        """Jobs to hold at once: as set, or four per cluster thread (workers come and go)."""
        if self.settings.max_in_flight is not None:
            return self.settings.max_in_flight
        threads = sum(self.client.nthreads().values())
        return max(4, 4 * threads)

    def run(
        self, *, drain: bool = False, should_stop: Callable[[], bool] | None = None
    ) -> DispatchReport:
        """Dispatch until ``should_stop()`` says so or, with ``drain``, the queue is empty.

        Draining waits for jobs other dispatchers hold, too (their leases may
        expire and bring them back), so it ends only when nothing is queued or
        running anywhere.
        """
        s = self.settings
        start = time.monotonic()
        last_flush = last_beat = start
        last_expire = -float("inf")
        self._report = DispatchReport()
        capacity = self._capacity()
        try:
            while not (should_stop and should_stop()):
                now = time.monotonic()
                try:
                    if now - last_expire >= min(s.expire_every_s, s.lease_s):
                        expire_leases(self.engine, on_failed=self._finish_settled)
                        last_expire = now
                    if now - last_beat >= s.lease_s / 3:
                        self._heartbeat()
                        capacity = self._capacity()
                        last_beat = now
                    self._collect(timeout_s=s.poll_interval_s)
                    idle = not self._in_flight
                    due = idle or time.monotonic() - last_flush >= s.flush_interval_s
                    if len(self._finished) >= s.batch_size or (self._finished and due):
                        self._flush()
                        last_flush = time.monotonic()
                    # Claim in bunches (one commit for several jobs) unless idle.
                    room = capacity - len(self._in_flight)
                    wanted = room >= max(1, capacity // 2) or idle
                    if not (wanted and self._claim(room)) and idle:
                        if drain and self._queue_is_empty():
                            break
                        time.sleep(s.poll_interval_s)
                except DBAPIError as exc:
                    if not database_away(exc):
                        raise
                    logger.warning("database unavailable (%s); retrying", exc.orig or exc)
                    time.sleep(s.poll_interval_s)
        finally:
            self._shutdown()
        self._report.seconds = time.monotonic() - start
        return self._report

    def _claim(self, room: int) -> list[ClaimedJob]:
        jobs = claim(self.engine, worker=self.worker_id, limit=room, lease_s=self.settings.lease_s)
        if jobs:  # one message to the scheduler for the whole claim
            futures = self.client.map(
                run_task,
                [job.task for job in jobs],
                [job.params for job in jobs],
                key=[f"job-{job.id}-{job.attempt}" for job in jobs],
                pure=False,
            )
            self._in_flight.update(zip(futures, jobs, strict=True))
        self._report.claimed += len(jobs)
        return jobs

    def _collect(self, *, timeout_s: float) -> None:
        if not self._in_flight:
            return
        try:
            with self.client.as_current():  # `wait` finds its client there
                done, _ = wait(
                    list(self._in_flight), timeout=timeout_s, return_when="FIRST_COMPLETED"
                )
        except TimeoutError:
            return
        for future in done:
            job = self._in_flight.pop(future)
            try:
                output = future.result()
            except CancelledError:
                logger.warning("job %s was cancelled by Dask; giving it back", job.id)
                release(self.engine, [job.id], worker=self.worker_id)
                continue
            except Exception as exc:
                self._fail(job, f"{type(exc).__name__}: {exc}")
                continue
            finally:
                future.release()
            self._finished.append((job, output))

    def _fail(self, job: ClaimedJob, reason: str) -> None:
        status = fail(
            self.engine,
            job.id,
            worker=self.worker_id,
            reason=reason,
            retry_delay_s=self.settings.retry_delay_s,
            on_failed=self._finish_settled,
        )
        if status is JobStatus.FAILED:
            self._report.failed += 1

    def _heartbeat(self) -> None:
        held_before = {job.id for job in self._in_flight.values()}
        held_before |= {job.id for job, _ in self._finished}
        held = heartbeat(
            self.engine, held_before, worker=self.worker_id, lease_s=self.settings.lease_s
        )
        lost = held_before - held
        if not lost:
            return
        self._report.lost += len(lost)
        for future, job in list(self._in_flight.items()):
            if job.id in lost:
                del self._in_flight[future]
                future.cancel()
        self._finished = [(job, out) for job, out in self._finished if job.id not in lost]

    def _flush(self) -> None:
        """Write finished results: one transaction per batch, one per job if the batch fails."""
        batch, self._finished = self._finished, []
        try:
            self._write(batch)
        except Exception as exc:
            if database_away(exc):
                self._finished = batch + self._finished  # keep them for when it is back
                raise
            logger.warning("writing a batch of %d failed (%s); writing one by one", len(batch), exc)
            for item in batch:
                try:
                    self._write([item])
                except Exception as item_exc:
                    if database_away(item_exc):
                        self._finished.append(item)
                        raise
                    self._fail(item[0], f"writing results: {type(item_exc).__name__}: {item_exc}")

    def _write(self, batch: list[tuple[ClaimedJob, TaskOutput]]) -> None:
        with session_scope(self.engine) as session:
            done = complete(
                session, {job.id: out.summary() for job, out in batch}, worker=self.worker_id
            )
            by_writer: dict[str, list[JobOutcome]] = defaultdict(list)
            for job, out in batch:
                if job.id in done:
                    by_writer[job.writer].append(JobOutcome(job=job, result=out.result))
            for path, outcomes in by_writer.items():
                writer: Writer = resolve(path)
                writer(session, outcomes)
            self._finish_settled(
                session,
                [
                    JobGroup(job.flight_id, job.pipeline_version, job.writer)
                    for job, _ in batch
                    if job.id in done and job.flight_id is not None
                ],
            )
        self._report.written += len(done)
        self._report.lost += len(batch) - len(done)
        logger.info("wrote %d results (%d no longer ours)", len(done), len(batch) - len(done))

    def _finish_settled(self, session: Session, groups: Sequence[JobGroup]) -> None:
        """Run the finisher of each group whose jobs are now all finished (same transaction).

        A finisher that raises is logged and rolled back to its savepoint, so a
        fault there never fails the jobs; the group is finished again when any
        of its jobs next finishes.
        """
        wanted = [g for g in groups if g.writer in self.finishers]
        for g in settled_groups(session, wanted):
            finisher: Finisher = resolve(self.finishers[g.writer])
            try:
                with session.begin_nested():
                    finisher(session, g.flight_id, g.pipeline_version)
            except Exception as exc:
                if database_away(exc):
                    raise
                logger.exception("finishing flight %s (%s) failed", g.flight_id, g.writer)

    def _queue_is_empty(self) -> bool:
        with self.engine.connect() as conn:
            waiting = conn.execute(
                select(func.count()).where(JOBS.c.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
            ).scalar_one()
        return waiting == 0

    def _shutdown(self) -> None:
        """Write what is finished and give back what is not (best effort: leases cover the rest)."""
        try:
            if self._finished:
                self._flush()
            if self._in_flight:
                ids = [job.id for job in self._in_flight.values()]
                for future in self._in_flight:
                    future.cancel()
                self._in_flight.clear()
                logger.info(
                    "giving back %d unfinished jobs",
                    release(self.engine, ids, worker=self.worker_id),
                )
        except Exception:
            logger.exception("could not hand back work on shutdown; its leases will expire")
