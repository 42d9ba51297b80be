"""The rules of ingest: each reading checked on its own and refused with one reason, times in
UTC, the wind from true north, and the same reading twice stored once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from store.db import migrate
from store.models import Reading
from store.readings import ReadingError, ingest, parse_reading

STATIONS = {"stn-a": ("NO2", "CO", "TVOC"), "stn-b": ("PM2.5",)}


def _raw(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "station": "stn-a",
        "pollutant": "NO2",
        "value": 42.5,
        "unit": "µg/m³",
        "time": "2026-06-15T14:00:00+08:00",
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not ...}


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    migrate(engine)
    with Session(engine) as session:
        yield session


def test_a_reading_is_read_in_utc_with_its_wind() -> None:
    reading = parse_reading(_raw(wind_speed_m_s="3.0", wind_from_deg="45"), stations=STATIONS)
    # 14:00 China Standard Time (UTC+8) is 06:00 UTC
    assert reading.time == datetime(2026, 6, 15, 6, 0, tzinfo=UTC)
    assert (reading.value, reading.unit) == (42.5, "µg/m³")
    assert (reading.wind_speed_m_s, reading.wind_from_deg) == (3.0, 45.0)


def test_text_fields_as_a_csv_gives_them() -> None:
    reading = parse_reading(
        _raw(
            pollutant="CO",
            value="1.25",
            unit="mg/m3",
            time="2026-06-15T06:00:00Z",
            wind_speed_m_s="",
            wind_from_deg="",
        ),
        stations=STATIONS,
    )
    assert (reading.value, reading.unit) == (1.25, "mg/m³")
    assert reading.time == datetime(2026, 6, 15, 6, 0, tzinfo=UTC)
    assert reading.wind_speed_m_s is None and reading.wind_from_deg is None


@pytest.mark.parametrize("unit", ["µg/m³", "μg/m³", "ug/m3", " ug/m³ "])
def test_the_spellings_of_micrograms_are_one_unit(unit: str) -> None:
    assert parse_reading(_raw(unit=unit), stations=STATIONS).unit == "µg/m³"


def test_wind_from_360_is_from_the_north() -> None:
    assert parse_reading(_raw(wind_from_deg=360), stations=STATIONS).wind_from_deg == 0.0
    assert parse_reading(_raw(wind_from_deg=0), stations=STATIONS).wind_from_deg == 0.0


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"station": "stn-z"}, "unknown station 'stn-z'"),
        ({"pollutant": "H2S"}, "unknown pollutant 'H2S'"),
        ({"pollutant": "SO2"}, "station 'stn-a' does not measure SO2 (it measures NO2, CO, TVOC)"),
        ({"value": -0.1}, "value -0.1 is negative"),
        ({"value": "n/a"}, "value 'n/a' is not a number"),
        ({"value": float("nan")}, "value must be a finite number"),
        ({"value": True}, "value must be a number"),
        ({"unit": "mg/m³"}, "wrong unit for NO2: µg/m³, not mg/m³"),
        ({"pollutant": "CO", "value": 800}, "wrong unit for CO: mg/m³, not µg/m³"),
        ({"unit": "ppb"}, "unknown unit 'ppb'"),
        ({"time": "2026-06-15T14:00:00"}, "time '2026-06-15T14:00:00' has no zone"),
        ({"time": "15/06/2026 14:00"}, "time '15/06/2026 14:00' is not ISO 8601"),
        ({"time": "0001-01-01T00:00:00+08:00"}, "is out of range in UTC"),
        ({"wind_from_deg": 360.5}, "wind_from_deg 360.5 is outside 0-360"),
        ({"wind_from_deg": -1}, "wind_from_deg -1 is outside 0-360"),
        ({"wind_speed_m_s": -2}, "wind_speed_m_s -2 is not a wind speed in m/s"),
        ({"unit": ...}, "missing 'unit'"),
        ({"wind_dir": 90}, "unknown field 'wind_dir'"),
    ],
)
def test_a_bad_reading_is_refused_with_its_reason(fields: dict[str, Any], reason: str) -> None:
    with pytest.raises(ReadingError) as caught:
        parse_reading(_raw(**fields), stations=STATIONS)
    assert reason in str(caught.value)


def test_a_reading_must_be_an_object() -> None:
    with pytest.raises(ReadingError, match="must be an object"):
        parse_reading([1, 2], stations=STATIONS)


def _count(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Reading)).one()


def test_good_readings_are_stored_whatever_the_bad_ones_hold(session: Session) -> None:
    batch = [_raw(), _raw(value=-1), _raw(pollutant="TVOC", value=80), "junk"]
    result = ingest(session, batch, stations=STATIONS)
    session.commit()
    assert len(result.stored) == 2 and result.unchanged == 0
    assert [(r.index, r.reason) for r in result.refused] == [
        (1, "value -1 is negative"),
        (3, "a reading must be an object of fields"),
    ]
    stored = session.exec(select(Reading).order_by(col(Reading.pollutant))).all()
    assert [(r.pollutant, r.value) for r in stored] == [("NO2", 42.5), ("TVOC", 80.0)]
    assert stored[0].time.replace(tzinfo=UTC) == datetime(2026, 6, 15, 6, 0, tzinfo=UTC)


def test_the_same_reading_again_changes_nothing(session: Session) -> None:
    batch = [_raw(wind_speed_m_s=3, wind_from_deg=45), _raw(time="2026-06-15T15:00:00+08:00")]
    first = ingest(session, batch, stations=STATIONS)
    session.commit()
    # the same readings, one written in UTC: 06:00Z is 14:00+08:00
    again = [_raw(time="2026-06-15T06:00:00Z", wind_speed_m_s="3", wind_from_deg="45"), batch[1]]
    second = ingest(session, again, stations=STATIONS)
    session.commit()
    assert (len(first.stored), first.unchanged) == (2, 0)
    assert (len(second.stored), second.unchanged, second.refused) == (0, 2, [])
    assert _count(session) == 2


def test_a_different_value_for_a_stored_reading_is_refused_not_replaced(session: Session) -> None:
    ingest(session, [_raw(value=42.5)], stations=STATIONS)
    session.commit()
    result = ingest(session, [_raw(value=43.0)], stations=STATIONS)
    session.commit()
    assert len(result.stored) == 0
    (refused,) = result.refused
    assert refused.index == 0
    assert refused.reason == (
        "stn-a NO2 at 2026-06-15T06:00:00+00:00 is already stored as 42.5 µg/m³; "
        "a stored reading is not replaced"
    )
    assert session.exec(select(Reading.value)).all() == [42.5]


def test_a_batch_holding_one_reading_twice_stores_it_once(session: Session) -> None:
    batch = [_raw(), _raw(), _raw(value=50)]
    result = ingest(session, batch, stations=STATIONS)
    session.commit()
    assert (len(result.stored), result.unchanged) == (1, 1)
    assert [r.index for r in result.refused] == [2]
    assert _count(session) == 1
