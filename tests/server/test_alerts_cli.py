"""``ecopatrol alerts`` as a duty officer runs it on the sample day: the alerts listed, the
NO2 alert's likely sources ranked (the plume's enterprise among the first three), a patrol
planned and stored with its alert, and every refusal one line with a non-zero exit."""

from __future__ import annotations

import csv
import json
import uuid

import pytest
import typer
from sqlmodel import Session, select
from typer.testing import CliRunner

from ecopatrol.alerts import register
from server.api.routes.sites import upsert_sites
from server.readings import record_readings, station_catalogue
from server.schemas import SiteCollection
from store.db import make_engine, migrate
from store.models import Alert, Mission

from .conftest import SITES

runner = CliRunner()
SOURCE = "ent-12"  # tools/make_sample_readings.py: the plume's enterprise


def app() -> typer.Typer:
    root = typer.Typer()
    register(root)
    return root


@pytest.fixture
def alerts(db_url: str) -> dict[str, str]:
    """The sample zone and day stored; pollutant -> its alert's id."""
    engine = make_engine(db_url)
    migrate(engine)
    with Session(engine) as session:
        upsert_sites(session, SiteCollection.model_validate(json.loads(SITES.read_text())))
        session.commit()
        with (SITES.parent / "readings.csv").open(encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        record_readings(session, rows, stations=station_catalogue(session))
        found = {a.pollutant: str(a.id) for a in session.exec(select(Alert))}
    engine.dispose()
    return found


def test_list_shows_the_days_alerts(db_url: str, alerts: dict[str, str]) -> None:
    result = runner.invoke(app(), ["alerts", "list", "--db", db_url])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert sorted(line.split()[0] for line in lines) == sorted(alerts.values())
    no2 = next(line for line in lines if line.startswith(alerts["NO2"]))
    # the CSV's stn-mic-03 NO2 at 14:00+08:00; both alerts closed at 17:00+08:00
    assert "stn-mic-03  NO2  limit  peak 227.2 µg/m³ at 2026-06-15 06:00Z  closed 09:00" in no2
    opened = runner.invoke(app(), ["alerts", "list", "--open", "--db", db_url])
    assert (opened.exit_code, opened.output) == (0, "no open alerts\n")


def test_rank_prints_the_candidates_table(db_url: str, alerts: dict[str, str]) -> None:
    result = runner.invoke(app(), ["alerts", "rank", alerts["NO2"], "--top", "3", "--db", db_url])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    # the wind is stn-nat-01's at 14:00+08:00 (the CSV: 3.2 m/s from 49 degrees)
    assert lines[0] == "stn-mic-03 NO2 at 2026-06-15 06:00Z: wind 3.2 m/s from 49 deg, stability B"
    assert lines[1].split() == ["rank", "site", "industry", "score"]
    table = [line.split() for line in lines[2:5]]
    assert [row[0] for row in table] == ["1", "2", "3"]
    assert SOURCE in [row[1] for row in table]
    assert [row[2] for row in table if row[1] == SOURCE] == ["chemical"]
    scores = [float(row[3]) for row in table]
    assert scores == sorted(scores, reverse=True)
    assert lines[5].startswith("Wind 3.2 m/s from 49 deg (true north) reported by stn-nat-01")


def test_refusals_are_one_line_and_non_zero(db_url: str, alerts: dict[str, str]) -> None:
    unknown = runner.invoke(app(), ["alerts", "rank", str(uuid.UUID(int=7)), "--db", db_url])
    assert unknown.exit_code == 2
    assert unknown.output.strip() == f"error: no alert {uuid.UUID(int=7)}"
    bad = runner.invoke(app(), ["alerts", "patrol", "nope", "--db", db_url])
    assert (bad.exit_code, bad.output.strip()) == (2, "error: 'nope' is not an alert id")
    engine = make_engine(db_url)
    with Session(engine) as session:
        alert = session.get(Alert, uuid.UUID(alerts["NO2"]))
        assert alert is not None
        alert.peak_at = alert.peak_at.replace(year=2025)  # an hour with no readings at all
        session.add(alert)
        session.commit()
    engine.dispose()
    result = runner.invoke(app(), ["alerts", "rank", alerts["NO2"], "--db", db_url])
    assert result.exit_code == 1
    assert result.output.strip() == "error: no NO2 readings at 2025-06-15T06:00:00+00:00"


def test_patrol_plans_stores_and_prints_its_sorties(db_url: str, alerts: dict[str, str]) -> None:
    args = ["alerts", "patrol", alerts["NO2"], "--top", "2", "--name", "NO2 check"]
    args += ["--time-limit", "1", "--db", db_url]
    result = runner.invoke(app(), args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    n = len(lines) - 2
    plural = "" if n == 1 else "s"
    assert lines[0].startswith(f"patrol 'NO2 check': {n} sortie{plural} to {SOURCE}, ")
    assert lines[1].split() == ["sortie", "mission", "dock", "targets", "length", "photos"]
    engine = make_engine(db_url)
    with Session(engine) as session:
        missions = session.exec(select(Mission).where(Mission.patrol_name == "NO2 check")).all()
    engine.dispose()
    assert {str(m.id) for m in missions} == {line.split()[1] for line in lines[2:]}
    assert {m.alert_id for m in missions} == {uuid.UUID(alerts["NO2"])}
    again = runner.invoke(app(), args)
    assert again.exit_code == 1
    assert again.output.strip() == "error: a patrol named 'NO2 check' already exists"
