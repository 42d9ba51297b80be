"""The dispatcher end to end in this process: claim, run on Dask, write in batches."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask
import pytest
from distributed import Client, LocalCluster
from sqlalchemy import Engine
from sqlmodel import Session, select

from imagery.dispatch import Dispatcher, DispatchSettings, open_client
from imagery.dispatch.errors import TaskPathError
from imagery.dispatch.tasks import resolve
from store.db import make_engine
from store.jobs import JobStatus, ProcessingJob
from store.models import Finding
from tests.dispatch.helpers import assert_exactly_once, job_counts, make_flight

TASKS = "tests.dispatch.tasks"


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=2,
            processes=False,
            dashboard_address="127.0.0.1:0",
            scheduler_kwargs={"dashboard": False},
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        yield client


def fast(**overrides: Any) -> DispatchSettings:
    options: dict[str, Any] = {
        "lease_s": 10,
        "batch_size": 8,
        "poll_interval_s": 0.05,
        "retry_delay_s": 0,
    }
    return DispatchSettings(**{**options, **overrides})


def test_drains_a_flight_exactly_once(engine: Engine, client: Client, tmp_path: Path) -> None:
    flight_id = make_flight(engine, tmp_path / "f", 40)
    report = Dispatcher(engine, client, settings=fast()).run(drain=True)
    assert (report.claimed, report.written, report.failed, report.lost) == (40, 40, 0, 0)
    jobs = assert_exactly_once(engine, flight_id, 40)
    assert all(j.attempts == 1 and j.result and j.result["worker"] for j in jobs)
    # Running again finds nothing to do: re-processing needs a new pipeline version.
    assert Dispatcher(engine, client, settings=fast()).run(drain=True).claimed == 0


def test_a_failing_job_fails_with_its_reason_and_the_rest_go_on(
    engine: Engine, client: Client, tmp_path: Path
) -> None:
    good = make_flight(engine, tmp_path / "good", 6)
    make_flight(
        engine, tmp_path / "bad", 2, task="tests.dispatch.tasks:always_fails", max_attempts=2
    )
    report = Dispatcher(engine, client, settings=fast()).run(drain=True)
    assert (report.written, report.failed) == (6, 2)
    assert_exactly_once(engine, good, 6)
    with Session(engine) as session:
        failed = session.exec(
            select(ProcessingJob).where(ProcessingJob.status == JobStatus.FAILED)
        ).all()
    assert len(failed) == 2
    assert all(
        j.attempts == 2 and "ValueError: cannot read" in (j.last_error or "") for j in failed
    )


def test_an_unknown_task_path_fails_the_job_not_the_dispatcher(
    engine: Engine, client: Client, tmp_path: Path
) -> None:
    make_flight(engine, tmp_path / "f", 1, task=f"{TASKS}:no_such_task", max_attempts=1)
    assert Dispatcher(engine, client, settings=fast()).run(drain=True).failed == 1
    assert job_counts(engine)[JobStatus.FAILED] == 1
    with pytest.raises(TaskPathError, match="not 'module:function'"):
        resolve("no-colon")


@pytest.mark.timeout(120)
def test_a_result_the_writer_refuses_fails_alone(
    engine: Engine, client: Client, tmp_path: Path
) -> None:
    # a broken constraint is the database answering, not the database away: before, the
    # dispatcher took it for an outage and retried it for ever
    flight_id = make_flight(engine, tmp_path / "f", 12, max_attempts=2)
    with Session(engine) as session:
        for job in session.exec(select(ProcessingJob)).all():
            job.writer = f"{TASKS}:write_marks_refusing_capture_4"
            session.add(job)
        session.commit()
    report = Dispatcher(engine, client, settings=fast(batch_size=12)).run(drain=True)
    assert (report.written, report.failed) == (11, 1)
    with Session(engine) as session:
        jobs = session.exec(select(ProcessingJob)).all()
        findings = session.exec(select(Finding)).all()
    (bad,) = [j for j in jobs if j.status == JobStatus.FAILED]
    assert bad.params and bad.params["index"] == 4 and bad.attempts == 2
    assert "writing results: IntegrityError" in (bad.last_error or "")
    expected = {(i, k) for i in range(12) if i != 4 for k in range(i % 3)}
    assert {(int(f.lat), int(f.lon)) for f in findings} == expected
    assert len(findings) == len(expected)
    assert flight_id


@pytest.mark.slow
def test_a_task_that_kills_its_worker_process_fails_after_its_attempts(
    sqlite_url: str, tmp_path: Path
) -> None:
    engine = make_engine(sqlite_url)
    good = make_flight(engine, tmp_path / "good", 4)
    make_flight(
        engine, tmp_path / "bad", 1, task="tests.dispatch.tasks:kill_worker", max_attempts=2
    )
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        open_client(n_workers=1) as client,
    ):
        report = Dispatcher(engine, client, settings=fast()).run(drain=True)
    assert (report.written, report.failed) == (4, 1)
    assert_exactly_once(engine, good, 4)
    with Session(engine) as session:
        (bad,) = session.exec(
            select(ProcessingJob).where(ProcessingJob.status == JobStatus.FAILED)
        ).all()
    assert bad.attempts == 2 and "KilledWorker" in (bad.last_error or "")
    engine.dispose()
