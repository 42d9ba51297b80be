"""The README's main job, end to end: plan, fly, render, process, store, score.

Thresholds: every injected anomaly that lies inside a flown footprint must be
found (the scene is clean and the anomalies are large, so a miss is a bug, not
noise); at most one false group per 50 captures (the detectors flag other
bright or warm things in an industrial scene, which inspectors reject); and a
median position error within 5 m, about three times the 1 m / 0.3 degree pose
noise the renderer adds at 60 m above ground.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from ecopatrol.demo import DemoSummary, run_demo
from sitl.pytest_plugin import sitl_binary  # noqa: F401 - fixture
from store.db import make_engine
from store.models import Finding, Flight, FlightStatus, Mission, User

MAX_FALSE_PER_CAPTURE = 1 / 50
MAX_MEDIAN_ERROR_M = 5.0


def _check(summary: DemoSummary, data_dir: Path) -> None:
    assert summary.failed_captures == 0
    assert summary.injected_visible >= 3, summary.per_kind
    assert summary.injected_found == summary.injected_visible, summary.per_kind
    assert summary.false_groups <= summary.captures * MAX_FALSE_PER_CAPTURE, summary.per_kind
    assert summary.median_error_m <= MAX_MEDIAN_ERROR_M, summary.errors_m

    engine = make_engine(summary.db_url)
    try:
        with Session(engine) as session:
            stored = session.exec(select(func.count()).select_from(Finding)).one()
            assert stored == sum(summary.findings_by_kind.values())
            groups = session.exec(select(func.count(func.distinct(Finding.group_id)))).one()
            assert groups == sum(summary.objects_by_kind.values())
            assert groups < stored  # overlapping captures of one object are grouped
            flight = session.exec(select(Flight)).one()
            assert flight.status == FlightStatus.LANDED
            assert session.get(Mission, flight.mission_id) is not None
            users = {u.username for u in session.exec(select(User)).all()}
            assert users >= set(summary.logins)
    finally:
        engine.dispose()


@pytest.mark.slow
def test_demo_without_sitl_uses_planned_points(tmp_path: Path) -> None:
    summary = run_demo(data_dir=tmp_path, use_sitl=False, rgb_width_px=800)
    assert not summary.flown_in_sitl
    _check(summary, tmp_path)


@pytest.mark.sitl
@pytest.mark.slow
def test_demo_flies_sortie_in_sitl(tmp_path: Path, sitl_binary: Path) -> None:  # noqa: F811
    summary = run_demo(data_dir=tmp_path, use_sitl=True, speedup=20, rgb_width_px=800)
    assert summary.flown_in_sitl
    assert summary.distance_m > 1000
    _check(summary, tmp_path)
