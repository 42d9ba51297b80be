"""Finding, starting and stopping SITL; bad input to the `fly` and `sitl` commands
(`sitl start|status|stop` run for real: test_cli.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import sitl.instance as instance
from missions.export.qgc_plan import write_plan
from missions.plan import Sortie
from sitl.cli import register
from sitl.errors import BinaryNotFoundError
from sitl.instance import Home, Sitl, find_binary, launch
from tests.sitl.missions import box_mission

app = typer.Typer()
register(app)
runner = CliRunner()


def test_env_variable_must_name_an_executable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARDUPILOT_SITL", "/nonexistent/arducopter")
    with pytest.raises(BinaryNotFoundError, match=r"\$ARDUPILOT_SITL is /nonexistent"):
        find_binary()


def test_missing_binary_says_where_it_was_looked_for(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("ARDUPILOT_SITL", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(instance, "DEFAULT_BINARY", tmp_path / "arducopter")
    with pytest.raises(BinaryNotFoundError) as info:
        find_binary()
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    assert "$ARDUPILOT_SITL" in message and "PATH" in message and str(tmp_path) in message


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fly", "missing.plan", "--connect", "tcp:127.0.0.1:5760"], "no such file"),
        (["fly", "x.plan"], "exactly one of --connect URL or --sitl"),
        (["fly", "x.plan", "--sitl", "--connect", "tcp:127.0.0.1:1"], "exactly one of"),
        (["fly", "PLAN", "--connect", "bogus:1"], "unknown connection URL"),
        (["fly", "PLAN", "--sitl", "--signing-key", "missing.key"], "--signing-key missing.key"),
        (["fly", "PLAN", "--sitl", "--signing-key", "PLAN"], "32 bytes or 64 hexadecimal"),
        (["sitl", "start", "--home", "95,10"], "expected LAT,LON"),
        (["sitl", "start", "--param", "RTL_ALT=high"], "NAME=VALUE"),
        (["sitl", "start", "--home", "34.8,nan"], "expected LAT,LON"),
        (["sitl", "start", "--param", "=5"], "NAME=VALUE"),
        (["sitl", "start", "--param", "A_NAME_OF_17_CHAR=1"], "NAME=VALUE"),
        (["sitl", "start", "--param", "RTL_ALT=inf"], "NAME=VALUE"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], message: str, tmp_path: Path, sortie_plan: Path
) -> None:
    args = [str(sortie_plan) if a == "PLAN" else a for a in args]
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.fixture
def sortie_plan(tmp_path: Path) -> Path:
    return write_plan(box_mission(Home(34.8, 113.55, 100.0)), tmp_path / "box.plan")


@pytest.mark.sitl
def test_stop_leaves_no_process(sitl_binary: Path) -> None:
    sitl = launch(home=Home(34.8, 113.55, 100.0), speedup=10, binary=sitl_binary)
    pgid = sitl.process.pid
    assert sitl.running()
    sitl.stop()
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)
    assert not sitl.workdir.exists()


@pytest.mark.sitl
@pytest.mark.timeout(300)
def test_fly_command_flies_a_plan_file(copter: Sitl, sample_sortie: Sortie, tmp_path: Path) -> None:
    lat, lon, alt = sample_sortie.home
    plan = write_plan(box_mission(Home(lat, lon, alt), side_m=80), tmp_path / "sortie-box.plan")
    result = runner.invoke(app, ["fly", str(plan), "--connect", copter.url, "--speedup",
                                 str(copter.speedup)], catch_exceptions=False)  # fmt: skip
    assert result.exit_code == 0, result.output
    flights = list(tmp_path.glob("flight-*"))
    assert len(flights) == 1
    names = {p.name for p in flights[0].iterdir()}
    assert {"flight.tlog", "captures.jsonl", "events.jsonl", "flight.json"} <= names
    assert "landed" in result.output and "m from home" in result.output


@pytest.mark.sitl
def test_sitl_dies_with_a_killed_parent(sitl_binary: Path) -> None:
    code = (
        "import time\n"
        "from pathlib import Path\n"
        "from sitl.instance import Home, launch\n"
        f"s = launch(home=Home(34.8, 113.55, 100.0), binary=Path({str(sitl_binary)!r}))\n"
        "print(s.process.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    pid = int(parent.stdout.readline())
    os.killpg(pid, 0)  # running
    parent.kill()  # SIGKILL: no finalizer, no atexit
    parent.wait()
    for _ in range(50):
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.killpg(pid, 9)
        pytest.fail("SITL outlived its killed parent")
