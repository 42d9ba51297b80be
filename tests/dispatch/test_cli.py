"""`ecopatrol status` and the argument checks of `ecopatrol worker`."""

from __future__ import annotations

from pathlib import Path

import typer
from sqlalchemy import Engine
from typer.testing import CliRunner

from imagery.dispatch.cli import register
from store.jobs import claim, fail
from tests.dispatch.helpers import make_flight

runner = CliRunner()


def app() -> typer.Typer:
    root = typer.Typer()
    register(root)
    return root


def test_status_shows_depth_throughput_and_failures(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    flight_id = make_flight(engine, tmp_path / "f", 3, max_attempts=1)
    (job, *_) = claim(engine, worker="w", limit=3, lease_s=60)
    fail(engine, job.id, worker="w", reason="cannot read SYN_0001.JPG")
    result = runner.invoke(app(), ["status", "--db", db_url, "--flight", str(flight_id)])
    assert result.exit_code == 0, result.output
    assert "queued" in result.output and "per minute" in result.output
    assert "cannot read SYN_0001.JPG" in result.output
    assert f"flight {flight_id}: 1/3 finished (33%), 1 failed" in result.output
    counts = next(line for line in result.output.splitlines() if "│" in line and "0" in line)
    assert [cell.strip() for cell in counts.split("│")[1:-1]] == ["0", "2", "0", "1", "0.0"]


def test_status_on_a_database_without_a_queue_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app(), ["status", "--db", f"sqlite:///{tmp_path / 'empty.db'}"])
    assert result.exit_code == 1
    assert result.output.startswith("error: no processing queue in")
    assert len(result.output.strip().splitlines()) == 1


def test_status_rejects_a_flight_that_is_no_id(sqlite_url: str) -> None:
    result = runner.invoke(app(), ["status", "--db", sqlite_url, "--flight", "ent-01"])
    assert result.exit_code == 2 and "not a flight id" in result.output


def test_worker_rejects_bad_settings_in_one_line(sqlite_url: str) -> None:
    result = runner.invoke(app(), ["worker", "--db", sqlite_url, "--scheduler", "8786"])
    assert result.exit_code == 2 and "tcp://host:8786" in result.output
    result = runner.invoke(app(), ["worker", "--db", sqlite_url, "--lease-s", "0"])
    assert result.exit_code == 2 and "lease-s" in result.output
