"""Grouping after distributed processing: a flight is finished once all its jobs are."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import typer
from sqlalchemy import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from bench.scale import SITES
from imagery.dispatch.capture import enqueue_flight_captures, finish_flight_jobs
from imagery.dispatch.cli import register
from imagery.synthetic import Anomaly, SurveyLine, make_basemap, render_captures
from store.db import session_scope
from store.jobs import JobStatus, ProcessingJob
from store.models import Capture, Finding, Flight
from zone.sites import load_sites

runner = CliRunner()


@pytest.fixture(scope="module")
def patrol(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two overlapping thermal captures of one yard, one hot spot seen in both."""
    stack = load_sites(SITES).stacks[0]
    bounds = (stack.lon - 0.002, stack.lat - 0.0015, stack.lon + 0.002, stack.lat + 0.0015)
    basemap = make_basemap(load_sites(SITES), bounds_lonlat=bounds, gsd_m=0.3)
    poses = SurveyLine(stack.lon - 0.0002, stack.lat, 90.0, 20.0, 2, alt_rel_m=120).poses()
    spot = Anomaly("hotspot", stack.lon - 0.0002, stack.lat + 0.0001, radius_m=2.5)
    return render_captures(
        poses,
        basemap=basemap,
        anomalies=[spot],
        kind="thermal",
        out_dir=tmp_path_factory.mktemp("patrol"),
    )


def drain(url: str) -> None:
    app = typer.Typer()
    register(app)
    result = runner.invoke(app, ["worker", "--db", url, "--drain", "--workers", "1"])
    assert result.exit_code == 0, result.output


def findings(engine: Engine, flight_id: uuid.UUID) -> list[Finding]:
    with Session(engine) as session:
        return list(session.exec(select(Finding).where(Finding.flight_id == flight_id)).all())


def test_worker_groups_a_flight_once_its_jobs_are_finished(
    engine: Engine, db_url: str, patrol: list[Path]
) -> None:
    with session_scope(engine) as session:
        flight = Flight(name="patrol", directory=str(patrol[0].parent))
        session.add(flight)
        session.flush()
        session.add_all(
            Capture(flight_id=flight.id, index=i, path=str(p)) for i, p in enumerate(patrol)
        )
        session.flush()
        enqueue_flight_captures(session, flight.id, sites=SITES)
        flight_id = flight.id
    drain(db_url)

    with Session(engine) as session:
        jobs = session.exec(select(ProcessingJob)).all()
    assert {JobStatus(j.status) for j in jobs} == {JobStatus.DONE} and len(jobs) == 2
    spots = [f for f in findings(engine, flight_id) if f.kind == "hotspot"]
    assert {f.capture_id for f in spots} == {j.capture_id for j in jobs}  # seen in both
    assert len({f.group_id for f in spots}) == 1 and spots[0].group_id is not None
    assert all((f.measurements or {}).get("change") == "new" for f in spots)

    # Finishing again (a restart, a second dispatcher) changes nothing.
    before = {(f.id, f.group_id, str(f.measurements)) for f in findings(engine, flight_id)}
    with session_scope(engine) as session:
        finish_flight_jobs(session, flight_id, jobs[0].pipeline_version)
    assert {(f.id, f.group_id, str(f.measurements)) for f in findings(engine, flight_id)} == before
