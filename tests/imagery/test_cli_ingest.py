"""`ecopatrol ingest` + `worker --drain` records what `ecopatrol process` (process_flight) does."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from ecopatrol.cli import _register_all, app
from imagery.batch import process_flight
from imagery.ingest import gather
from imagery.synthetic import Anomaly, SurveyLine, make_basemap, render_captures
from store.db import make_engine, migrate
from store.jobs import JobStatus, ProcessingJob
from store.models import Capture, Finding
from tests.imagery.conftest import ZONE_SITES
from zone.sites import load_sites

runner = CliRunner()


@pytest.fixture(scope="module")
def patrol(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three overlapping thermal captures (with their manifest) of a yard with two hot spots."""
    if not ZONE_SITES.is_file():
        pytest.skip(f"sample zone sites not found at {ZONE_SITES}")
    sites = load_sites(ZONE_SITES)
    stack = sites.stacks[0]
    bounds = (stack.lon - 0.002, stack.lat - 0.0015, stack.lon + 0.002, stack.lat + 0.0015)
    out = tmp_path_factory.mktemp("patrol")
    render_captures(
        SurveyLine(stack.lon - 0.0003, stack.lat, 90.0, 15.0, 3, alt_rel_m=120).poses(),
        basemap=make_basemap(sites, bounds_lonlat=bounds, gsd_m=0.3),
        anomalies=[
            Anomaly("hotspot", stack.lon - 0.0002, stack.lat + 0.0001, radius_m=2.5),
            Anomaly("hotspot", stack.lon + 0.0001, stack.lat - 0.0001, radius_m=2.5),
        ],
        kind="thermal",
        out_dir=out,
    )
    return out


def invoke(*args: str) -> str:
    _register_all()
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def recorded(url: str) -> tuple[set[tuple[str, str, tuple[int, ...], str]], list[set[str]]]:
    """Each finding by (file, kind, pixel box, change), and which findings are one object."""
    with Session(make_engine(url)) as session:
        names = {c.id: Path(c.path).name for c in session.exec(select(Capture)).all()}
        findings = session.exec(select(Finding)).all()
    keyed = {
        f.id: (
            names[f.capture_id],
            f.kind,
            tuple(f.pixel_box or ()),
            str((f.measurements or {}).get("change")),
        )
        for f in findings
    }
    groups: dict[str | None, set[str]] = {}
    for f in findings:
        groups.setdefault(f.group_id, set()).add(str(keyed[f.id]))
    assert None not in groups, "every finding is grouped"
    return set(keyed.values()), sorted(groups.values(), key=sorted)


def test_ingest_then_worker_records_what_process_does(patrol: Path, tmp_path: Path) -> None:
    inline, queued = (f"sqlite:///{tmp_path / name}.db" for name in ("inline", "queued"))
    sites = ("--sites", str(ZONE_SITES))
    invoke("process", str(patrol), "--db", inline, *sites)

    out = invoke("ingest", str(patrol), "--db", queued, *sites)
    assert "3 captures (3 new), 3 jobs queued" in out
    again = invoke("ingest", str(patrol), "--db", queued, *sites)
    assert "3 captures (0 new), 0 jobs queued" in again  # idempotent
    with Session(make_engine(queued)) as session:
        assert {c.status for c in session.exec(select(Capture)).all()} == {"pending"}
    invoke("worker", "--db", queued, "--drain", "--workers", "1")

    with Session(make_engine(queued)) as session:
        jobs = session.exec(select(ProcessingJob)).all()
    assert len(jobs) == 3 and {j.status for j in jobs} == {JobStatus.DONE}
    findings, groups = recorded(queued)
    assert any(kind == "hotspot" for _, kind, _, _ in findings)
    assert any(len(g) > 1 for g in groups), "a hot spot seen in two captures is one object"
    assert (findings, groups) == recorded(inline)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--manifest", "missing.jsonl"], "missing.jsonl: no such manifest"),
        (["--dem", "missing.tif"], "missing.tif: no such DEM file"),
        (["--sites", "missing.geojson"], "missing.geojson"),
    ],
)
def test_ingest_and_process_reject_bad_input_alike(
    patrol: Path, tmp_path: Path, extra: list[str], message: str
) -> None:
    _register_all()
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    for command in ("ingest", "process"):
        result = runner.invoke(app, [command, str(patrol), "--db", url, *extra])
        assert result.exit_code == 2, result.output
        assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "db.sqlite").exists()  # nothing written for bad input


def test_process_flight_is_the_command_without_the_command_line(
    patrol: Path, tmp_path: Path
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'lib.db'}")
    migrate(engine)
    seen: list[str] = []
    options = {"engine": engine, "sites": load_sites(ZONE_SITES), "evidence_dir": tmp_path / "ev"}
    first = process_flight(gather([patrol]), on_capture=lambda r: seen.append(r.path), **options)
    assert sorted(seen) == sorted(str(p) for p in gather([patrol]).images)
    assert not first.failed and first.findings_inserted > 0
    assert {c.status for c in first.changes} == {"new"}
    again = process_flight(gather([patrol]), **options)  # idempotent
    assert (again.flight_id, again.findings_inserted, again.findings_removed) == (
        first.flight_id,
        0,
        0,
    )


def test_process_exit_status_says_how_many_failed(
    real_file: Callable[[str], Path], tmp_path: Path
) -> None:
    """Exit 1 when every capture failed, 0 with a warning line when only some did."""
    _register_all()
    thermal = real_file("thermal_dji_zh20t_leipzig_GPL3/DJI_20220602143613_0216_T.JPG")
    no_pose = real_file("thermal_flir_duo_pro_r/baboons.jpg")  # EXIF GPS, no orientation
    flights = {"all_failed": [no_pose], "some_failed": [thermal, no_pose]}
    out = {}
    for name, frames in flights.items():
        (tmp_path / name).mkdir()
        for frame in frames:
            (tmp_path / name / frame.name).symlink_to(frame)
        url = f"sqlite:///{tmp_path / name}.db"
        out[name] = runner.invoke(
            app, ["process", str(tmp_path / name), "--db", url], env={"COLUMNS": "200"}
        )

    failed = out["all_failed"]
    assert failed.exit_code == 1, failed.output
    assert "1 captures, 0 processed, 1 failed" in failed.output
    assert "error: all 1 captures failed" in failed.output
    assert "baboons.jpg: EXIF GPS position only, no camera orientation" in failed.output

    partial = out["some_failed"]
    assert partial.exit_code == 0, partial.output
    assert "2 captures, 1 processed, 1 failed" in partial.output
    assert "warning: 1 of 2 captures failed; the others are stored" in partial.output
