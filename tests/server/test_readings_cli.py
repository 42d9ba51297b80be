"""``ecopatrol readings import`` as a duty officer runs it on a station feed's file: good rows
stored, each bad row named by its line, a non-zero exit when any was refused."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from sqlmodel import Session, func, select
from typer.testing import CliRunner

from ecopatrol.readings import register
from server.api.routes.sites import upsert_sites
from server.schemas import SiteCollection
from store.db import make_engine
from store.models import Alert, Reading

from .conftest import SITES

runner = CliRunner()
HEADER = "station,pollutant,value,unit,time,wind_speed_m_s,wind_from_deg\n"


def app() -> typer.Typer:
    root = typer.Typer()
    register(root)
    return root


def _counts(db_url: str) -> tuple[int, int]:
    engine = make_engine(db_url)
    with Session(engine) as session:
        readings = session.exec(select(func.count()).select_from(Reading)).one()
        alerts = session.exec(select(func.count()).select_from(Alert)).one()
    engine.dispose()
    return readings, alerts


def test_good_rows_are_stored_and_bad_rows_named_by_line(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "feed.csv"
    path.write_text(
        HEADER
        + "stn-nat-01,NO2,22.7,µg/m³,2026-06-15T00:00:00+08:00,2.1,125\n"  # line 2
        + "stn-nat-01,CO,0.61,ug/m3,2026-06-15T00:00:00+08:00,2.1,125\n"  # line 3: CO is mg/m³
        + "stn-mic-04,SO2,9.0,µg/m³,2026-06-15T00:00:00+08:00,,\n"  # line 4: not measured
        + "stn-mic-03,TVOC,80.1,µg/m³,2026-06-15T00:00:00+08:00,,\n"  # line 5
        + "stn-nat-01,O3,31,µg/m³,2026-06-15T00:00:00+08:00,2.1,400\n"  # line 6: 400 degrees
        + "stn-nat-01,SO2,9.0,µg/m³,2026-06-15T00:00:00+08:00,2.1,125,extra\n",  # line 7
        encoding="utf-8",
    )
    args = ["readings", "import", str(path), "--db", db_url, "--sites", str(SITES)]
    result = runner.invoke(app(), args)
    assert result.exit_code == 1, result.output
    assert result.output.splitlines() == [
        "line 3: wrong unit for CO: mg/m³, not µg/m³",
        "line 4: station 'stn-mic-04' does not measure SO2 (it measures PM2.5, NO2, TVOC)",
        "line 6: wind_from_deg 400 is outside 0-360 (degrees clockwise from true north)",
        "line 7: more cells than the header has columns",
        "2 stored, 0 unchanged, 4 refused; alerts: 0 opened, 0 closed",
    ]
    assert _counts(db_url) == (2, 0)


def test_the_sample_day_imports_twice_into_the_same_store(db_url: str) -> None:
    readings = SITES.parent / "readings.csv"
    rows = len(readings.read_text(encoding="utf-8").splitlines()) - 1
    args = ["readings", "import", str(readings), "--db", db_url, "--sites", str(SITES)]
    first = runner.invoke(app(), args)
    assert first.exit_code == 0, first.output
    assert first.output == f"{rows} stored, 0 unchanged, 0 refused; alerts: 2 opened, 2 closed\n"
    second = runner.invoke(app(), args)
    assert second.exit_code == 0
    assert second.output == f"0 stored, {rows} unchanged, 0 refused; alerts: 0 opened, 0 closed\n"
    assert _counts(db_url) == (rows, 2)


def test_a_file_that_is_not_ours_is_one_line(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("station,pollutant,value,unit,when\n", encoding="utf-8")
    args = ["readings", "import", str(path), "--db", db_url, "--sites", str(SITES)]
    result = runner.invoke(app(), args)
    assert result.exit_code == 2
    assert "no column 'time'" in result.output
    missing = runner.invoke(
        app(), ["readings", "import", str(tmp_path / "none.csv"), "--db", db_url]
    )
    assert missing.exit_code == 2 and "no such file" in missing.output


def test_without_sites_the_stores_stations_are_used(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "feed.csv"
    path.write_text(HEADER + "stn-nat-01,NO2,22.7,µg/m³,2026-06-15T00:00:00Z,,\n", encoding="utf-8")
    args = ["readings", "import", str(path), "--db", db_url]
    none_yet = runner.invoke(app(), args)
    assert none_yet.exit_code == 2
    assert "no stations: import the zone's sites first, or give --sites" in none_yet.output
    engine = make_engine(db_url)
    with Session(engine) as session:
        upsert_sites(session, SiteCollection.model_validate(json.loads(SITES.read_text())))
        session.commit()
    engine.dispose()
    result = runner.invoke(app(), args)
    assert result.exit_code == 0, result.output
    assert result.output == "1 stored, 0 unchanged, 0 refused; alerts: 0 opened, 0 closed\n"
