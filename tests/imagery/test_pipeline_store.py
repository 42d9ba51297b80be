"""Processing into the store: idempotent, failures recorded, grouping, change, CLI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from ecopatrol.cli import _register_all, app
from imagery.dispatch.capture import process_job
from imagery.ingest import collect_images, match_manifest
from imagery.persist import finish_flight, write_results
from imagery.pipeline import process_capture
from imagery.synthetic import Anomaly, SurveyLine, make_basemap, render_captures
from missions.manifest import CapturePose, write_manifest
from store.db import make_engine, migrate, session_scope
from store.findings import get_or_create_flight
from store.models import Capture, CaptureStatus, Finding
from zone.sites import Sites


@pytest.fixture()
def flight_dir(tmp_path: Path, h20t: Path) -> Path:
    """The three roof frames (read in place via symlinks: GPL data is not copied) and a
    corrupt file."""
    d = tmp_path / "flight"
    d.mkdir()
    for name in ("0214", "0215", "0216"):
        (src,) = h20t.glob(f"*_{name}_T.JPG")
        (d / src.name).symlink_to(src)
    (d / "DJI_9999_T.JPG").write_bytes(b"\xff\xd8\xff\xe1\x00\x10garbage-not-jpeg")
    return d


def _counts(url: str) -> tuple[int, int, int, int]:
    engine = make_engine(url)
    with Session(engine) as s:
        captures = s.exec(select(Capture)).all()
        findings = s.exec(select(Finding)).all()
        failed = sum(c.status == CaptureStatus.FAILED for c in captures)
        return len(captures), failed, len(findings), len({f.group_id for f in findings})


def test_reprocessing_is_idempotent_and_groups_the_roof(flight_dir: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = make_engine(url)
    migrate(engine)
    images, _ = collect_images([flight_dir])
    for _ in range(2):
        results = [process_capture(p, evidence_dir=tmp_path / "ev") for p in images]
        with session_scope(engine) as session:
            flight = get_or_create_flight(session, directory=str(flight_dir))
            write_results(session, results, flight_id=flight.id)
            finish_flight(session, flight)
    captures, failed, findings, groups = _counts(url)
    assert (captures, failed) == (4, 1)
    assert findings == sum(len(r.findings) for r in results)
    assert groups < findings  # the roof seen in three frames is one object
    with Session(engine) as s:
        bad = s.exec(select(Capture).where(Capture.status == CaptureStatus.FAILED)).one()
        assert "DJI_9999" in bad.path and bad.failure_reason
        roof = max(s.exec(select(Finding)).all(), key=lambda f: f.area_m2 or 0)
        same = s.exec(select(Finding).where(Finding.group_id == roof.group_id)).all()
        assert len(same) == 3 and len({f.capture_id for f in same}) == 3
        assert Path(roof.thumbnail_path or "").is_file() and Path(roof.overlay_path or "").is_file()
        assert roof.measurements and roof.measurements["change"] == "new"


def test_second_patrol_marks_recurring_and_gone(tmp_path: Path, zone_sites: Sites) -> None:
    """Two synthetic patrols over one yard: a hot spot seen twice recurs, one fixed is gone,
    a new one is new."""
    stack = zone_sites.stacks[0]
    bounds = (stack.lon - 0.002, stack.lat - 0.0015, stack.lon + 0.002, stack.lat + 0.0015)
    basemap = make_basemap(zone_sites, bounds_lonlat=bounds, gsd_m=0.3)
    poses = SurveyLine(stack.lon - 0.0002, stack.lat, 90.0, 20.0, 2, alt_rel_m=120).poses()
    kept = Anomaly("hotspot", stack.lon - 0.0002, stack.lat + 0.0001, radius_m=2.5)
    fixed = Anomaly("hotspot", stack.lon + 0.0001, stack.lat - 0.0001, radius_m=2.5)
    appeared = Anomaly("hotspot", stack.lon - 0.0003, stack.lat + 0.0002, radius_m=2.5)
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate(engine)
    for seed, anomalies in ((1, [kept, fixed]), (2, [kept, appeared])):
        paths = render_captures(
            poses,
            basemap=basemap,
            anomalies=anomalies,
            kind="thermal",
            out_dir=tmp_path / f"patrol{seed}",
            seed=seed,
        )
        results = [process_capture(p, sites=zone_sites) for p in paths]
        with session_scope(engine) as session:
            flight = get_or_create_flight(session, directory=str(tmp_path / f"patrol{seed}"))
            write_results(session, results, flight_id=flight.id)
            changes = finish_flight(session, flight)
    assert sorted(c.status for c in changes) == ["gone", "new", "recurring"]
    recurring = next(c for c in changes if c.status == "recurring")
    assert abs(recurring.lat - kept.lat) < 5e-5 and recurring.site_id == stack.site_id


def test_process_job_is_the_dispatcher_shape(real_file: Callable[[str], Path]) -> None:
    path = real_file("thermal_dji_zh20t_leipzig_GPL3/DJI_20220602143613_0216_T.JPG")
    result = process_job({"path": str(path), "index": 7})
    assert result.ok and result.index == 7 and result.findings
    assert result.capture_row()["status"] == "processed"


def test_manifest_matching_by_name_time_and_order(tmp_path: Path, h20t: Path) -> None:
    images = sorted(h20t.glob("*_T.JPG"))

    def pose(i: int, image: str | None, time_utc: str) -> CapturePose:
        return CapturePose(i, time_utc, 51.0, 12.0, 250.0, 95.0, 0, 0, 0, 0, -90, 0, image=image)

    named = match_manifest(images, [pose(0, images[2].name, "x")])
    assert named == {images[2]: pose(0, images[2].name, "x")}
    timed = match_manifest(images, [pose(0, None, "2022-06-02T12:36:12Z")])
    assert list(timed) == [images[2]]  # DJI_..._143612: 14:36:12 local, +02:00
    ordered = match_manifest(images, [pose(i, None, "x") for i in range(4)])
    assert [p.index for p in ordered.values()] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="match none"):
        match_manifest(images, [pose(0, "other.jpg", "x")])


def test_cli_process(flight_dir: Path, tmp_path: Path) -> None:
    _register_all()
    runner = CliRunner()
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    manifest = tmp_path / "m.jsonl"
    write_manifest(
        manifest,
        [
            CapturePose(
                0,
                "x",
                51.3673,
                12.309,
                252.4,
                95.0,
                0,
                0,
                0,
                0,
                -90,
                6.0,
                image="DJI_20220602143610_0214_T.JPG",
            )
        ],
    )
    ok = runner.invoke(app, ["process", str(flight_dir), "--db", url, "--manifest", str(manifest)])
    assert ok.exit_code == 0, ok.output
    assert "hotspot" in ok.output and "failed" in ok.output and "DJI_9999" in ok.output
    assert _counts(url)[:2] == (4, 1)
    missing = runner.invoke(app, ["process", str(tmp_path / "nope"), "--db", url])
    assert missing.exit_code == 2
    bad_manifest = tmp_path / "bad.jsonl"
    bad_manifest.write_text("{not json\n")
    bad = runner.invoke(
        app, ["process", str(flight_dir), "--db", url, "--manifest", str(bad_manifest)]
    )
    assert bad.exit_code == 2
    unknown = runner.invoke(app, ["process", str(flight_dir), "--db", url, "--detector", "nope"])
    assert unknown.exit_code == 2
