"""The job queue's rules, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, select

from store.db import make_engine, session_scope
from store.jobs import (
    JOBS,
    JobGroup,
    JobSpec,
    JobStatus,
    ProcessingJob,
    claim,
    complete,
    enqueue,
    enqueue_flight,
    expire_leases,
    fail,
    flight_progress,
    heartbeat,
    queue_stats,
    release,
    retry_failed,
    settled_groups,
    utcnow,
)
from store.models import Capture, Flight

TASK = "tests.dispatch.tasks:fake_detect"
WRITER = "tests.dispatch.tasks:write_fake_findings"


def add_flight(engine: Engine, n: int) -> uuid.UUID:
    with session_scope(engine) as session:
        flight = Flight(name="t")
        session.add(flight)
        session.flush()
        for i in range(n):
            session.add(Capture(flight_id=flight.id, index=i, path=f"/data/{i:04d}.tif"))
        return flight.id


def queue_flight(
    engine: Engine, n: int, *, version: str = "v1", max_attempts: int = 3
) -> uuid.UUID:
    flight_id = add_flight(engine, n)
    with session_scope(engine) as session:
        added = enqueue_flight(
            session,
            flight_id,
            pipeline_version=version,
            task=TASK,
            writer=WRITER,
            max_attempts=max_attempts,
        )
    assert added == n
    return flight_id


def statuses(engine: Engine) -> dict[JobStatus, int]:
    with Session(engine) as session:
        jobs = session.exec(select(ProcessingJob)).all()
    counts = dict.fromkeys(JobStatus, 0)
    for job in jobs:
        counts[JobStatus(job.status)] += 1
    return counts


def test_enqueue_is_idempotent_and_the_version_is_part_of_the_key(engine: Engine) -> None:
    flight_id = queue_flight(engine, 5)
    with session_scope(engine) as session:
        again = enqueue_flight(session, flight_id, pipeline_version="v1", task=TASK, writer=WRITER)
        newer = enqueue_flight(session, flight_id, pipeline_version="v2", task=TASK, writer=WRITER)
    assert (again, newer) == (0, 5)
    assert statuses(engine)[JobStatus.QUEUED] == 10
    job = claim(engine, worker="w", limit=1, lease_s=30)[0]
    assert job.params["path"].startswith("/data/") and job.params["capture_id"] == str(
        job.capture_id
    )


def test_enqueue_rejects_zero_attempts(engine: Engine) -> None:
    flight_id = add_flight(engine, 1)
    with Session(engine) as session:
        capture = session.exec(select(Capture)).one()
        with pytest.raises(ValueError, match="max_attempts"):
            enqueue(
                session,
                [JobSpec(capture.id, "v1", TASK, WRITER, flight_id=flight_id, max_attempts=0)],
            )


def test_concurrent_claimers_never_share_a_job(engine: Engine) -> None:
    queue_flight(engine, 120)
    claimed: dict[str, list[uuid.UUID]] = {}
    errors: list[BaseException] = []

    def claimer(name: str) -> None:
        mine: list[uuid.UUID] = []
        try:
            while batch := claim(engine, worker=name, limit=7, lease_s=60):
                mine.extend(job.id for job in batch)
        except BaseException as exc:
            errors.append(exc)
        claimed[name] = mine

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    every = [job_id for ids in claimed.values() for job_id in ids]
    assert len(every) == len(set(every)) == 120
    assert statuses(engine)[JobStatus.RUNNING] == 120


def test_complete_is_fenced_by_the_lease(engine: Engine) -> None:
    queue_flight(engine, 2)
    now = utcnow()
    first = claim(engine, worker="a", limit=2, lease_s=10, now=now)
    assert [job.attempt for job in first] == [1, 1]
    # "a" goes silent; its leases expire and "b" takes the jobs over.
    assert expire_leases(engine, now=now + timedelta(seconds=11)).requeued == 2
    second = claim(engine, worker="b", limit=2, lease_s=10, now=now + timedelta(seconds=12))
    assert {job.id for job in second} == {job.id for job in first}
    assert [job.attempt for job in second] == [2, 2]
    with session_scope(engine) as session:
        assert complete(session, {job.id: {"findings": 1} for job in first}, worker="a") == set()
    assert heartbeat(engine, [job.id for job in first], worker="a", lease_s=10) == set()
    with session_scope(engine) as session:
        done = complete(session, {job.id: {"findings": 1} for job in second}, worker="b")
    assert done == {job.id for job in second}
    with Session(engine) as session:
        rows = session.exec(select(ProcessingJob)).all()
    assert {(row.status, row.attempts) for row in rows} == {(JobStatus.DONE, 2)}
    assert all(row.result == {"findings": 1} and row.lease_owner is None for row in rows)


def test_heartbeat_keeps_a_lease_alive(engine: Engine) -> None:
    queue_flight(engine, 1)
    now = utcnow()
    (job,) = claim(engine, worker="a", limit=5, lease_s=10, now=now)
    later = now + timedelta(seconds=8)
    assert heartbeat(engine, [job.id], worker="a", lease_s=10, now=later) == {job.id}
    assert expire_leases(engine, now=now + timedelta(seconds=15)).requeued == 0
    assert expire_leases(engine, now=later + timedelta(seconds=11)).requeued == 1


def test_a_job_that_keeps_failing_stops_without_blocking_the_rest(engine: Engine) -> None:
    queue_flight(engine, 3, max_attempts=2)
    now = utcnow()
    reasons = []
    for attempt in (1, 2):
        jobs = claim(engine, worker="w", limit=10, lease_s=30, now=now)
        bad = min(jobs, key=lambda j: j.id)
        assert bad.attempt == attempt
        reasons.append(fail(engine, bad.id, worker="w", reason=f"bad pixels #{attempt}", now=now))
        assert release(engine, [j.id for j in jobs if j.id != bad.id], worker="w") == len(jobs) - 1
    assert reasons == [JobStatus.QUEUED, JobStatus.FAILED]
    rest = claim(engine, worker="w", limit=10, lease_s=30, now=now)
    assert len(rest) == 2 and all(job.attempt == 1 for job in rest)  # released: not counted
    with session_scope(engine) as session:
        complete(session, {job.id: None for job in rest}, worker="w")
        stats = queue_stats(session, now=now + timedelta(seconds=1))
    assert stats.counts[JobStatus.DONE] == 2 and stats.counts[JobStatus.FAILED] == 1
    assert stats.done_in_window == 2
    (failure,) = stats.recent_failures
    assert failure.reason == "bad pixels #2" and failure.attempts == 2
    assert retry_failed(engine) == 1
    assert statuses(engine)[JobStatus.QUEUED] == 1


def test_fail_retries_after_the_delay(engine: Engine) -> None:
    queue_flight(engine, 1)
    now = utcnow()
    (job,) = claim(engine, worker="w", limit=1, lease_s=30, now=now)
    assert (
        fail(engine, job.id, worker="w", reason="io", retry_delay_s=5, now=now) is JobStatus.QUEUED
    )
    assert claim(engine, worker="w", limit=1, lease_s=30, now=now + timedelta(seconds=4)) == []
    assert len(claim(engine, worker="w", limit=1, lease_s=30, now=now + timedelta(seconds=6))) == 1
    assert fail(engine, job.id, worker="other", reason="not mine") is None


def test_expired_leases_out_of_attempts_fail_with_a_reason(engine: Engine) -> None:
    flight_id = queue_flight(engine, 2, max_attempts=1)
    now = utcnow()
    claim(engine, worker="gone", limit=2, lease_s=5, now=now)
    result = expire_leases(engine, now=now + timedelta(seconds=6))
    assert (result.requeued, result.failed) == (0, 2)
    with Session(engine) as session:
        progress = flight_progress(session, flight_id)
        assert progress.counts[JobStatus.FAILED] == 2 and progress.fraction == 1.0
        assert "lease expired" in (session.exec(select(ProcessingJob)).first().last_error or "")
        assert flight_progress(session, flight_id, pipeline_version="v9").total == 0


def test_a_group_settles_when_its_last_job_finishes_done_or_failed(engine: Engine) -> None:
    flight_id = add_flight(engine, 3)
    with session_scope(engine) as session:
        enqueue_flight(session, flight_id, pipeline_version="v1", task=TASK, writer=WRITER)
    group = JobGroup(flight_id, "v1", WRITER)
    now = utcnow()
    ok, bad, lost = claim(engine, worker="w", limit=3, lease_s=10, now=now)
    with session_scope(engine) as session:
        complete(session, {ok.id: None}, worker="w")
        assert settled_groups(session, [group]) == []  # two still running
    seen: list[list[JobGroup]] = []
    with session_scope(engine) as session:  # max_attempts is 3: back in the queue, no call
        session.execute(update(JOBS).where(JOBS.c.id.in_([bad.id, lost.id])).values(max_attempts=1))
    fail(engine, bad.id, worker="w", reason="x", on_failed=lambda s, g: seen.append(list(g)))
    assert seen == [[group]]  # failed for good; `lost` still runs, so not settled yet
    settled: list[list[JobGroup]] = []
    expire_leases(
        engine,
        now=now + timedelta(seconds=11),
        on_failed=lambda s, g: settled.append(settled_groups(s, g)),
    )
    assert settled == [[group]]  # the lease of the last job ran out: the flight is finished


@pytest.mark.postgres
def test_of_two_writers_finishing_a_flight_at_once_the_last_sees_it_settled(
    postgres_url: str,
) -> None:
    """Both write their flight's last results together (each inserting rows that reference
    the flight, as findings do): neither deadlocks, and exactly one finds the flight done."""
    engine = make_engine(postgres_url)
    try:
        flight_id = queue_flight(engine, 2)
        group = JobGroup(flight_id, "v1", WRITER)
        jobs = [claim(engine, worker=w, limit=1, lease_s=30)[0] for w in ("a", "b")]
        both_written = threading.Barrier(2, timeout=10)
        settled: dict[str, list[JobGroup]] = {}

        def finish(worker: str, job_id: uuid.UUID) -> None:
            with session_scope(engine) as session:
                assert complete(session, {job_id: None}, worker=worker) == {job_id}
                session.add(Capture(flight_id=flight_id, path=f"/data/{worker}.tif"))
                session.flush()  # takes a KEY SHARE lock on the flight row
                both_written.wait()
                settled[worker] = settled_groups(session, [group])

        threads = [
            threading.Thread(target=finish, args=(w, j.id)) for w, j in zip("ab", jobs, strict=True)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert sorted(map(len, settled.values())) == [0, 1], settled
    finally:
        engine.dispose()


def test_a_claim_never_takes_more_than_its_limit(engine: Engine) -> None:
    for _ in range(3):
        queue_flight(engine, 4)
    taken = [len(claim(engine, worker=f"w{i}", limit=1, lease_s=30)) for i in range(12)]
    assert taken == [1] * 12
    assert claim(engine, worker="late", limit=5, lease_s=30) == []
