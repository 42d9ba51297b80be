"""Building flights of test captures and checking what the dispatcher recorded."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, select

from bench.scale import SITES, make_captures, render_views
from imagery.dispatch.capture import enqueue_flight_captures, process_job
from store.db import session_scope
from store.jobs import JobStatus, ProcessingJob, enqueue_flight
from store.models import Capture, Finding, Flight
from tests.dispatch.tasks import TASK, WRITER, marks_for, write_capture


def make_flight(
    engine: Engine,
    directory: Path,
    n: int,
    *,
    task: str = TASK,
    version: str = "marks-1",
    max_attempts: int = 3,
    sleep_s: float = 0.0,
) -> uuid.UUID:
    """A flight of ``n`` captures on disk, queued for processing."""
    directory.mkdir(parents=True, exist_ok=True)
    with session_scope(engine) as session:
        flight = Flight(name=directory.name, directory=str(directory))
        session.add(flight)
        session.flush()
        for i in range(n):
            path = directory / f"{i:05d}.txt"
            write_capture(path, marks_for(i))
            session.add(Capture(flight_id=flight.id, index=i, path=str(path)))
        session.flush()
        enqueue_flight(
            session,
            flight.id,
            pipeline_version=version,
            task=task,
            writer=WRITER,
            max_attempts=max_attempts,
            extra_params={"sleep_s": sleep_s},
        )
        return flight.id


def job_counts(engine: Engine) -> Counter[JobStatus]:
    with Session(engine) as session:
        return Counter(JobStatus(j.status) for j in session.exec(select(ProcessingJob)).all())


def assert_exactly_once(engine: Engine, flight_id: uuid.UUID, n: int) -> list[ProcessingJob]:
    """Every capture done once: each expected finding present once, nothing else."""
    with Session(engine) as session:
        captures = session.exec(select(Capture).where(Capture.flight_id == flight_id)).all()
        findings = session.exec(select(Finding).where(Finding.flight_id == flight_id)).all()
        jobs = session.exec(select(ProcessingJob).where(ProcessingJob.flight_id == flight_id)).all()
    assert len(captures) == len(jobs) == n
    assert {JobStatus(j.status) for j in jobs} == {JobStatus.DONE}
    by_id = {c.id: c for c in captures}
    expected = Counter((c.id, x, y) for c in captures for x, y in marks_for(c.index or 0))
    found = Counter((f.capture_id, int(f.lat), int(f.lon)) for f in findings)
    missing, extra = expected - found, found - expected
    assert not missing, f"{len(missing)} findings lost"
    assert not extra, f"{len(extra)} findings duplicated or invented"
    assert all(by_id[j.capture_id].status == "processed" for j in jobs)
    return list(jobs)


@dataclass(frozen=True)
class SyntheticViews:
    """Rendered synthetic views and what the pipeline finds in each (run here, once)."""

    paths: list[Path]
    expected: list[Counter[tuple[str, tuple[int, ...]]]]


def render_synthetic_views(directory: Path, *, views: int = 8) -> SyntheticViews:
    paths = render_views(directory, views=views, width=320)
    expected = [
        Counter(
            (f.kind, tuple(f.pixel_box))
            for f in process_job({"path": str(p), "sites": str(SITES)}).findings
        )
        for p in paths
    ]
    assert sum(map(len, expected)) > 0, "the synthetic scene should hold findings"
    return SyntheticViews(paths, expected)


def make_synthetic_flight(
    engine: Engine, views: SyntheticViews, directory: Path, n: int
) -> uuid.UUID:
    """``n`` unique captures cycling through the views, queued for the real pipeline."""
    paths = make_captures(views.paths, directory, n)
    with session_scope(engine) as session:
        flight = Flight(name=directory.name, directory=str(directory))
        session.add(flight)
        session.flush()
        session.add_all(
            Capture(flight_id=flight.id, index=i, path=str(p)) for i, p in enumerate(paths)
        )
        session.flush()
        enqueue_flight_captures(session, flight.id, sites=SITES)
        return flight.id


def assert_pipeline_exactly_once(
    engine: Engine, flight_id: uuid.UUID, views: SyntheticViews, n: int
) -> list[ProcessingJob]:
    """Each capture has exactly the findings its view has: none lost, none twice."""
    with Session(engine) as session:
        captures = session.exec(select(Capture).where(Capture.flight_id == flight_id)).all()
        findings = session.exec(select(Finding).where(Finding.flight_id == flight_id)).all()
        jobs = session.exec(select(ProcessingJob).where(ProcessingJob.flight_id == flight_id)).all()
    assert len(captures) == len(jobs) == n
    assert {JobStatus(j.status) for j in jobs} == {JobStatus.DONE}
    found: dict[uuid.UUID, Counter[tuple[str, tuple[int, ...]]]] = {
        c.id: Counter() for c in captures
    }
    for f in findings:
        found[f.capture_id][(f.kind, tuple(f.pixel_box or ()))] += 1
    for capture in captures:
        expected = views.expected[(capture.index or 0) % len(views.paths)]
        assert found[capture.id] == expected, f"capture {capture.index}: {found[capture.id]}"
        assert capture.status == "processed"
    assert len({f.dedupe_key for f in findings}) == len(findings)
    return list(jobs)
