"""A job that fails for good leaves its capture ``failed`` with the reason, never ``pending``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from store.db import make_engine, migrate, session_scope
from store.jobs import JobStatus, claim, enqueue_flight, expire_leases, fail, utcnow
from store.models import Capture, CaptureStatus, Flight


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url = (
        f"sqlite:///{tmp_path / 'jobs.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    engine = make_engine(url)
    migrate(engine)
    yield engine
    engine.dispose()


def _one_capture(engine: Engine, max_attempts: int) -> Capture:
    with session_scope(engine) as session:
        flight = Flight(name="f")
        session.add(flight)
        session.flush()
        capture = Capture(flight_id=flight.id, index=0, path="/nowhere/bomb.png")
        session.add(capture)
        session.flush()
        enqueue_flight(
            session,
            flight.id,
            pipeline_version="v1",
            task="t:t",
            writer="w:w",
            max_attempts=max_attempts,
        )
        session.expunge(capture)
        return capture


def _status(engine: Engine, capture: Capture) -> tuple[CaptureStatus, str | None]:
    with Session(engine) as session:
        row = session.get(Capture, capture.id)
        assert row is not None
        return CaptureStatus(row.status), row.failure_reason


def test_third_failure_marks_the_capture_failed(engine: Engine) -> None:
    capture = _one_capture(engine, max_attempts=3)
    reason = "ImageTooLargeError: bomb.png: 13000 x 13000 = 169 million pixels"
    for attempt in (1, 2, 3):
        [job] = claim(engine, worker="w", limit=1, lease_s=60)
        status = fail(engine, job.id, worker="w", reason=reason)
        # attempts 1 and 2 go back to the queue; the third is the last of max_attempts=3
        assert status is (JobStatus.FAILED if attempt == 3 else JobStatus.QUEUED)
        expected = CaptureStatus.FAILED if attempt == 3 else CaptureStatus.PENDING
        assert _status(engine, capture)[0] is expected
    assert _status(engine, capture) == (CaptureStatus.FAILED, reason)


def test_expired_last_lease_marks_the_capture_failed(engine: Engine) -> None:
    capture = _one_capture(engine, max_attempts=1)
    claim(engine, worker="w", limit=1, lease_s=60)
    expired = expire_leases(engine, now=utcnow() + timedelta(seconds=61))
    assert expired.failed == 1
    status, reason = _status(engine, capture)
    assert status is CaptureStatus.FAILED and reason is not None and "lease expired" in reason
