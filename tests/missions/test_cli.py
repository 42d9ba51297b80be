"""`ecopatrol plan`: files written, summary printed, one line and exit 2 on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from missions import cli
from missions.export.params import read_params
from missions.export.qgc_plan import read_plan
from missions.export.waypoints import read_waypoints
from missions.plan import Clearance, Patrol


def app() -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def _root() -> None:
        """Stand-in for the ecopatrol root."""

    cli.register(root)
    return root


def test_plan_writes_every_file_and_a_summary(zone_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app(),
        [
            "plan",
            str(zone_path),
            "--out",
            str(out),
            "--targets",
            "ent-01,river-xiliu",
            "--gsd-cm",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "GSD 2.00 cm/px" in result.output and "ent-01" in result.output
    plans = sorted(out.glob("sortie-*.plan"))
    assert plans and len(plans) == len(sorted(out.glob("sortie-*.waypoints")))
    for plan in plans:
        mission = read_plan(plan)
        assert read_waypoints(plan.with_suffix(".waypoints")).items == mission.items
        assert read_params(plan.with_suffix(".params")) == pytest.approx(mission.params)
        photos = json.loads((out / f"{plan.stem}.photos.json").read_text())
        assert photos and {"lat", "lon", "alt_m", "trigger_seq"} <= set(photos[0])
    geo = json.loads((out / "patrol.geojson").read_text())
    assert geo["type"] == "FeatureCollection"
    assert (out / "patrol.kml").read_text().startswith("<?xml")


def test_summary_prints_each_sorties_tightest_clearance_and_what_was_left_out(
    zone_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    planner = cli.plan_patrol

    def plan_patrol(*args: object, **kwargs: object) -> Patrol:
        planned = planner(*args, **kwargs)  # type: ignore[arg-type]
        sorties = tuple(
            replace(
                s, clearance=Clearance(10.44 + s.number, f"ent-0{s.number}-s1", 34.8, 113.52, 160.0)
            )
            for s in planned.sorties
        )
        # and one more sortie, in a zone without obstacles
        sorties += (replace(sorties[0], number=len(sorties) + 1, clearance=None),)
        return replace(
            planned,
            sorties=sorties,
            refused={"ent-09": "ent-09: no dock can reach it and come back"},
            left_out={
                "ent-01-s1 orbit": "the stack's emitting plume\nrises above the ceiling",
            },
        )

    monkeypatch.setattr(cli, "plan_patrol", plan_patrol)
    monkeypatch.setattr(cli, "console", Console(width=240, highlight=False))
    result = CliRunner().invoke(
        app(), ["plan", str(zone_path), "--out", str(tmp_path), "--targets", "ent-01,ent-02"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any("tightest clearance" in line for line in lines)
    rows = {
        line.split()[1]: line
        for line in lines
        if len(line.split()) > 1 and line.split()[0] in "│┃|" and line.split()[1].isdigit()
    }
    assert len(rows) >= 2, result.output
    for number, row in rows.items():
        if int(number) == len(rows):
            assert row.rstrip(" │").endswith("\u2014"), row
        else:
            assert f"{10.44 + int(number):.1f} m to ent-0{number}-s1" in row, row
    assert "refused ent-09: no dock can reach it and come back" in lines
    assert "left out ent-01-s1 orbit: the stack's emitting plume rises above the ceiling" in lines


def test_bad_input_is_one_line_and_exit_2(zone_path: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    cases = [
        (
            ["plan", str(zone_path), "--out", str(tmp_path), "--targets", "nope"],
            "unknown target 'nope'",
        ),
        (["plan", str(tmp_path / "none.geojson"), "--out", str(tmp_path)], "no such file"),
        (["plan", str(zone_path), "--out", str(tmp_path), "--altitude-m", "300"], "ceiling"),
        (["plan", str(zone_path), "--out", str(tmp_path), "--camera", "x"], "unknown camera 'x'"),
        (
            ["plan", str(zone_path), "--out", str(tmp_path), "--gsd-cm", "2", "--altitude-m", "50"],
            "not both",
        ),
        (
            ["plan", str(zone_path), "--out", str(tmp_path), "--gcs-loss-return-s", "300"],
            "must be 2 to 120 s",
        ),
    ]
    for args, message in cases:
        result = runner.invoke(app(), args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output
        assert "Traceback" not in result.output
    assert not list(tmp_path.glob("sortie-*"))


def test_installed_command_runs(zone_path: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from ecopatrol.cli import main; main()",
            "plan",
            str(zone_path),
            "--out",
            str(tmp_path),
            "--targets",
            "nope",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "unknown target" in proc.stderr


def test_the_clearance_rule_is_set_from_the_command_line(zone_path: Path, tmp_path: Path) -> None:
    course = zone_path.parent.parent / "obstacle-course" / "sites.geojson"
    runner = CliRunner()
    bad = runner.invoke(app(), ["plan", str(course), "--out", str(tmp_path), "--over-top-m", "-1"])
    assert bad.exit_code == 2
    assert "--over-top-m" in bad.output and "Traceback" not in bad.output
    # over the 70 m cold boiler stack the lanes climb to its top plus the vertical clearance
    # (and the planner's 1 m): 11 m with the default 10 m, 16 m with 15 m
    for over, tightest in (("10", 11.0), ("15", 16.0)):
        out = tmp_path / over
        result = runner.invoke(
            app(), ["plan", str(course), "--out", str(out), "--over-top-m", over]
        )
        assert result.exit_code == 0, result.output
        routes = [
            f["properties"]
            for f in json.loads((out / "patrol.geojson").read_text())["features"]
            if f["properties"].get("min_clearance_m") is not None
        ]
        assert min(r["min_clearance_m"] for r in routes) == pytest.approx(tightest, abs=0.05)
