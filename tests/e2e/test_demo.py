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

from ecopatrol.demo import DemoSummary, fly_first_sortie, planned_poses
from missions.manifest import SOURCE_PLANNED
from missions.plan import Sortie
from store.db import make_engine
from store.models import Finding, Flight, FlightStatus, Mission, User
from tests.e2e.conftest import sitl_here

pytestmark = pytest.mark.demo

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
            _the_alert_chain(summary, session)
            assert session.get(Mission, flight.mission_id) is not None
            users = {u.username for u in session.exec(select(User)).all()}
            assert users >= set(summary.logins)
    finally:
        engine.dispose()


#: tools/make_sample_readings.py puts Yuhua Chemical's plume (ent-12) on stn-mic-03 at 14:00
#: and 15:00 (UTC+8): a NO2 alert over the GB 3095 limit and a TVOC one over the baseline.
SAMPLE_ALERTS = [("stn-mic-03", "NO2", "limit"), ("stn-mic-03", "TVOC", "baseline")]
SAMPLE_SOURCE = "ent-12"


def _the_alert_chain(summary: DemoSummary, session: Session) -> None:
    """The sample day's alerts, each with the plume's enterprise among its top three and a
    patrol to them stored with the alert on every sortie."""
    assert sorted((a.station, a.pollutant, a.reason) for a in summary.alerts) == SAMPLE_ALERTS
    for step in summary.alerts:
        assert SAMPLE_SOURCE in [site for site, _ in step.candidates], step
        assert step.sorties >= 1 and step.length_m > 0, step
        missions = session.exec(select(Mission).where(Mission.patrol_name == step.patrol)).all()
        assert len(missions) == step.sorties
        assert all(m.alert_id is not None for m in missions)
        assert SAMPLE_SOURCE in {t for m in missions for t in m.targets or []}


@pytest.mark.slow
def test_the_demo_end_to_end(demo: tuple[DemoSummary, Path]) -> None:
    """The demo (``conftest.demo``) flew sortie 1 in SITL exactly where a binary exists,
    found every anomaly in its footprints and stored what it found."""
    summary, data_dir = demo
    assert summary.flown_in_sitl == sitl_here()
    if summary.flown_in_sitl:
        assert summary.distance_m > 1000
    _check(summary, data_dir)


@pytest.mark.parametrize("binary", [None, "/nonexistent/arducopter"])
def test_without_sitl_the_demo_takes_the_planned_photo_points(
    binary: str | None, sample_sortie: Sortie, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not asked for SITL, or no binary to be found: the poses are the planned ones,
    and the note says why (what run_demo then renders is the end-to-end test's)."""
    if binary is not None:
        monkeypatch.setenv("ARDUPILOT_SITL", binary)
    stages: list[str] = []
    flown = fly_first_sortie(
        sample_sortie,
        tmp_path,
        speedup=20,
        use_sitl=False if binary is None else None,
        stage=stages.append,
    )
    assert not flown.in_sitl and stages == []
    points = [(p.lat, p.lon, p.alt_amsl_m, p.yaw_deg) for p in planned_poses(sample_sortie)]
    assert [(p.lat, p.lon, p.alt_amsl_m, p.yaw_deg) for p in flown.poses] == points
    assert len(points) == len(sample_sortie.photo_points) > 100
    assert {p.source for p in flown.poses} == {SOURCE_PLANNED}  # never passed off as flown
    assert flown.flight_dir == tmp_path / "planned-poses" and flown.flight_dir.is_dir()
    expected = "SITL not requested" if binary is None else f"$ARDUPILOT_SITL is {binary}"
    assert flown.note.startswith(expected) and "planned photo points" in flown.note
