"""Kill a Dask worker, then the dispatcher, mid-batch; restart; every capture done exactly once.

Real processes, real signals and the real pipeline: the dispatcher runs as
``python -m imagery.dispatch.cli worker`` with a LocalCluster of two worker
processes, processing synthetic captures with ``imagery.pipeline``, writing them with
``imagery.persist`` and grouping the flight once, after its last job.
"""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import psutil
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from store.db import make_engine
from store.jobs import JobStatus, ProcessingJob
from store.models import Finding
from tests.dispatch.helpers import (
    SyntheticViews,
    assert_pipeline_exactly_once,
    job_counts,
    make_synthetic_flight,
)
from tests.dispatch.procs import dask_workers, group_members, python, spawned, wait_for

N = 48
LEASE_S = 4


def grouped(engine: Engine, flight_id: uuid.UUID) -> set[str | None]:
    """The group ids of the flight's findings (None until the flight is finished)."""
    with Session(engine) as session:
        return {
            f.group_id
            for f in session.exec(select(Finding).where(Finding.flight_id == flight_id)).all()
        }


def dispatcher_args(url: str) -> list[str]:
    return python(
        "-m", "imagery.dispatch.cli", "worker", "--db", url, "--workers", "2",
        "--lease-s", str(LEASE_S), "--batch-size", "8", "--drain",
    )  # fmt: skip


@pytest.mark.slow
def test_killing_a_worker_then_the_dispatcher_loses_and_repeats_nothing(
    db_url: str, tmp_path: Path, synthetic_views: SyntheticViews
) -> None:
    engine = make_engine(db_url)
    flight_id = make_synthetic_flight(engine, synthetic_views, tmp_path / "flight", N)
    log = tmp_path / "dispatcher.log"
    done = lambda: job_counts(engine)[JobStatus.DONE]  # noqa: E731

    with spawned(dispatcher_args(db_url), log) as first:
        wait_for(lambda: len(dask_workers(first)) == 2, timeout_s=60, what="2 workers", log=log)
        wait_for(lambda: done() >= 8, timeout_s=90, what="first results", log=log)
        victim = dask_workers(first)[0]
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        at_worker_kill = done()
        wait_for(lambda: done() >= at_worker_kill + 10, timeout_s=90, what="recovery", log=log)
        left_behind = [p.pid for p in group_members(first.pid) if p.pid != first.pid]
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        at_dispatcher_kill = job_counts(engine)
        # Dask ties workers to their parent: they leave with the dispatcher.
        _gone, alive = psutil.wait_procs([psutil.Process(p) for p in left_behind], timeout=15)
        assert not alive, f"orphaned worker processes: {[p.pid for p in alive]}"

    assert 0 < at_dispatcher_kill[JobStatus.DONE] < N, at_dispatcher_kill
    assert grouped(engine, flight_id) <= {None}  # not finished: not grouped yet
    assert at_dispatcher_kill[JobStatus.RUNNING] > 0, f"not mid-batch: {at_dispatcher_kill}"

    with spawned(dispatcher_args(db_url), log) as second:
        assert second.wait(timeout=150) == 0, log.read_text(errors="replace")[-3000:]

    jobs = assert_pipeline_exactly_once(engine, flight_id, synthetic_views, N)
    assert None not in grouped(engine, flight_id)  # grouped once, after the restart
    retried = [j for j in jobs if j.attempts > 1]
    assert len(retried) >= at_dispatcher_kill[JobStatus.RUNNING]
    assert all(j.attempts <= j.max_attempts for j in jobs)
    with Session(engine) as session:
        assert (
            session.exec(
                select(ProcessingJob).where(ProcessingJob.lease_owner.is_not(None))  # type: ignore[union-attr]
            ).all()
            == []
        )
    engine.dispose()
