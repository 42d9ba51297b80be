"""`--takeoff-ground-alt`: camera heights re-based on the ground the flight took off from.

The frame is the real DJI H20T thermal R-JPEG 0216 (tests/data/SOURCES.md). Its XMP:
AbsoluteAltitude +252.447 m (AMSL), RelativeAltitude +94.964 m (above take-off),
gimbal pitch -90.00 and roll 0.00 (straight down), and a laser-rangefinder point
at LRFTargetAbsAlt 155.200 m AMSL, 97.218 m away: the ground under the frame.
The H20T's thermal camera (camera database djiZH20T) is a 640 x 512 pinhole with
fx = fy = 1125 px and no distortion.

Hand-worked case, both runs on flat ground at the rangefinder's 155.2 m AMSL
(``--ground-alt 155.2``):

* recorded: the camera at 252.447 m AMSL, 252.447 - 155.2 = 97.247 m above the ground;
* ``--takeoff-ground-alt 150.0`` (a dock stated 5.2 m below that ground): the camera
  at 150.0 + 94.964 = 244.964 m AMSL, 244.964 - 155.2 = 89.764 m above the ground.

Looking straight down from h metres, the footprint (its outline runs through the
centres of the edge pixels, 0..639 and 0..511) is a rectangle of
(639 h / 1125) x (511 h / 1125) m:
97.247^2 x 639 x 511 / 1125^2 = 2439.88 m^2 recorded, 89.764^2 x 639 x 511 / 1125^2 =
2078.84 m^2 re-based, and every finding's area shrinks by (89.764 / 97.247)^2 = 0.85202.

The stated take-off ground is a test value, not a claim about this flight: the
rangefinder's 97.218 m agrees with the recorded 97.247 m, and DJI's own record puts
the take-off ground at 155.200 + 2.283 (LRFTargetAlt -2.283 above take-off) =
157.483 m = 252.447 - 94.964.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pyproj import Geod
from shapely.geometry import shape
from sqlmodel import Session, select
from typer.testing import CliRunner

from ecopatrol.cli import _register_all, app
from store.db import make_engine
from store.models import Capture, CaptureStatus, Finding

runner = CliRunner()

H20T_0216 = "thermal_dji_zh20t_leipzig_GPL3/DJI_20220602143613_0216_T.JPG"
SKYDIO_X2 = "skydio_openathena_ios_GPL3/S1008521.JPG"  # no RelativeAltitude in its XMP
GROUND = ("--ground-alt", "155.2")  # the rangefinder's ground under frame 0216, m AMSL
TAKEOFF = ("--takeoff-ground-alt", "150.0")  # stated take-off ground, m AMSL

RECORDED_AREA_M2 = 97.247**2 * 639 * 511 / 1125**2  # 2439.88, see the module docstring
REBASED_AREA_M2 = 89.764**2 * 639 * 511 / 1125**2  # 2078.84
SHRINK = (89.764 / 97.247) ** 2  # 0.85202


def flight_of(tmp_path: Path, name: str, *frames: Path) -> Path:
    """A flight directory holding the given frames (symlinked, unmodified)."""
    directory = tmp_path / name
    directory.mkdir()
    for frame in frames:
        (directory / frame.name).symlink_to(frame)
    return directory


def invoke(*args: str) -> str:
    _register_all()
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def stored(url: str) -> tuple[Capture, dict[str, float]]:
    """The one stored capture and its findings' areas (m^2) by dedupe key."""
    with Session(make_engine(url)) as session:
        (capture,) = session.exec(select(Capture)).all()
        findings = session.exec(select(Finding)).all()
    return capture, {f.dedupe_key: f.area_m2 for f in findings if f.area_m2}


def footprint_area_m2(capture: Capture) -> float:
    """Geodesic area of the stored lon/lat footprint (WGS84), independent of the pipeline."""
    assert capture.footprint is not None, capture.failure_reason
    area, _ = Geod(ellps="WGS84").geometry_area_perimeter(shape(capture.footprint))
    return abs(area)


@pytest.fixture
def h20t_flight(real_file: Callable[[str], Path], tmp_path: Path) -> Path:
    return flight_of(tmp_path, "h20t", real_file(H20T_0216))


def test_process_puts_the_camera_at_takeoff_ground_plus_relative_altitude(
    h20t_flight: Path, tmp_path: Path
) -> None:
    recorded_url = f"sqlite:///{tmp_path / 'recorded.db'}"
    rebased_url = f"sqlite:///{tmp_path / 'rebased.db'}"
    invoke("process", str(h20t_flight), "--db", recorded_url, *GROUND)
    invoke("process", str(h20t_flight), "--db", rebased_url, *GROUND, *TAKEOFF)

    recorded, recorded_findings = stored(recorded_url)
    rebased, rebased_findings = stored(rebased_url)
    assert rebased.alt_rel_m == pytest.approx(94.964)  # the file's own, unchanged
    assert recorded.alt_amsl_m == pytest.approx(252.447)  # as recorded
    assert rebased.alt_amsl_m == pytest.approx(244.964)  # 150.0 + 94.964, as cast
    assert rebased.pose is not None and rebased.pose["takeoff_ground_amsl_m"] == 150.0
    assert footprint_area_m2(recorded) == pytest.approx(RECORDED_AREA_M2, rel=1e-3)
    assert footprint_area_m2(rebased) == pytest.approx(REBASED_AREA_M2, rel=1e-3)
    # the same pixels found in both runs, each on less ground from the lower camera
    assert recorded_findings.keys() == rebased_findings.keys() and recorded_findings
    roof = max(recorded_findings, key=lambda key: recorded_findings[key])
    assert rebased_findings[roof] / recorded_findings[roof] == pytest.approx(SHRINK, rel=1e-3)


def test_ingest_then_worker_re_bases_the_camera_as_process_does(
    h20t_flight: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'queued.db'}"
    out = invoke("ingest", str(h20t_flight), "--db", url, *GROUND, *TAKEOFF)
    assert "1 captures (1 new), 1 jobs queued" in out
    invoke("worker", "--db", url, "--drain", "--workers", "1")

    capture, _ = stored(url)
    assert capture.status == CaptureStatus.PROCESSED, capture.failure_reason
    assert footprint_area_m2(capture) == pytest.approx(REBASED_AREA_M2, rel=1e-3)


@pytest.mark.parametrize("command", ["process", "ingest"])
def test_a_capture_without_height_above_takeoff_refuses_the_option(
    real_file: Callable[[str], Path], tmp_path: Path, command: str
) -> None:
    """One frame with RelativeAltitude and one without: refused in one line, nothing written."""
    flight = flight_of(tmp_path, "mixed", real_file(H20T_0216), real_file(SKYDIO_X2))
    _register_all()
    db = tmp_path / "db.sqlite"
    result = runner.invoke(app, [command, str(flight), "--db", f"sqlite:///{db}", *TAKEOFF])

    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [
        "error: --takeoff-ground-alt: S1008521.JPG records no height above take-off "
        "(RelativeAltitude) to add to the take-off ground; drop the option"
    ]
    assert not db.exists()
