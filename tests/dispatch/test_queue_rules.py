"""Whatever order claims, heartbeats, expiries, failures and completions come in,
no job is recorded twice and every job ends done or failed (hypothesis state machine)."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine, delete
from sqlmodel import Session, select

from store.db import make_engine, session_scope
from store.jobs import (
    JOBS,
    JobStatus,
    ProcessingJob,
    claim,
    complete,
    expire_leases,
    fail,
    heartbeat,
    utcnow,
)
from store.models import Capture, Flight
from tests.dispatch.helpers import make_flight

WORKERS = ("a", "b")
LEASE_S = 10
MAX_ATTEMPTS = 3


class Queue(RuleBasedStateMachine):
    """Runs on one SQLite file for every example (each example clears it first)."""

    tmp: Path
    engine: Engine

    def __init__(self) -> None:
        super().__init__()
        with session_scope(self.engine) as session:
            session.execute(delete(JOBS))
            session.execute(delete(Capture))
            session.execute(delete(Flight))
        make_flight(self.engine, self.tmp / "f", 2, max_attempts=MAX_ATTEMPTS)
        self.now = utcnow()
        self.held: dict[str, set[uuid.UUID]] = {w: set() for w in WORKERS}
        self.recorded: Counter[uuid.UUID] = Counter()

    @rule(worker=st.sampled_from(WORKERS), limit=st.integers(1, 2))
    def claim(self, worker: str, limit: int) -> None:
        with Session(self.engine) as session:
            queued = set(
                session.exec(
                    select(ProcessingJob.id).where(ProcessingJob.status == JobStatus.QUEUED)
                ).all()
            )
        jobs = claim(self.engine, worker=worker, limit=limit, lease_s=LEASE_S, now=self.now)
        ids = {j.id for j in jobs}
        assert ids <= queued, "claimed a job that was not queued"
        self.held[worker] |= ids  # a previous holder still believes it holds them

    @rule(seconds=st.sampled_from([1, LEASE_S // 2, LEASE_S + 1]))
    def time_passes_and_leases_expire(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)
        expire_leases(self.engine, now=self.now)

    @rule(worker=st.sampled_from(WORKERS))
    def beat(self, worker: str) -> None:
        self.held[worker] = heartbeat(
            self.engine, self.held[worker], worker=worker, lease_s=LEASE_S, now=self.now
        )

    @precondition(lambda self: any(self.held.values()))
    @rule(data=st.data())
    def complete(self, data: st.DataObject) -> None:
        worker = data.draw(st.sampled_from([w for w in WORKERS if self.held[w]]))
        ids = data.draw(st.sets(st.sampled_from(sorted(self.held[worker])), min_size=1))
        with session_scope(self.engine) as session:
            owned = set(
                session.exec(
                    select(ProcessingJob.id).where(
                        ProcessingJob.lease_owner == worker,
                        ProcessingJob.status == JobStatus.RUNNING,
                    )
                ).all()
            )
            done = complete(session, dict.fromkeys(ids), worker=worker, now=self.now)
        assert done == ids & owned, "only the lease holder records a result"
        self.recorded.update(done)
        self.held[worker] -= ids

    @precondition(lambda self: any(self.held.values()))
    @rule(data=st.data())
    def fail(self, data: st.DataObject) -> None:
        worker = data.draw(st.sampled_from([w for w in WORKERS if self.held[w]]))
        job_id = data.draw(st.sampled_from(sorted(self.held[worker])))
        fail(self.engine, job_id, worker=worker, reason="boom", now=self.now)
        self.held[worker].discard(job_id)

    @invariant()
    def recorded_at_most_once(self) -> None:
        assert all(n == 1 for n in self.recorded.values())
        with Session(self.engine) as session:
            jobs = session.exec(select(ProcessingJob)).all()
        for job in jobs:
            assert job.attempts <= job.max_attempts
            assert (job.status == JobStatus.DONE) == (job.id in self.recorded)
            assert (job.status == JobStatus.RUNNING) == (job.lease_owner is not None)

    def teardown(self) -> None:
        """Drain: everything ends done or failed, and still nothing twice."""
        for _ in range(MAX_ATTEMPTS + 1):
            self.now += timedelta(seconds=LEASE_S + 1)
            expire_leases(self.engine, now=self.now)
            jobs = claim(self.engine, worker="drain", limit=100, lease_s=LEASE_S, now=self.now)
            with session_scope(self.engine) as session:
                self.recorded.update(
                    complete(session, {j.id: None for j in jobs}, worker="drain", now=self.now)
                )
        self.recorded_at_most_once()
        with Session(self.engine) as session:
            statuses = {JobStatus(j.status) for j in session.exec(select(ProcessingJob)).all()}
        assert statuses <= {JobStatus.DONE, JobStatus.FAILED}


def test_queue_rules(sqlite_url: str, tmp_path: Path) -> None:
    Queue.tmp, Queue.engine = tmp_path, make_engine(sqlite_url)
    try:
        run_state_machine_as_test(
            Queue,
            settings=settings(
                max_examples=30,
                stateful_step_count=30,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    finally:
        Queue.engine.dispose()
