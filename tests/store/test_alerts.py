"""The alert rules, each on a series worked out by hand: an alert opens once per station and
pollutant, later readings extend it, and it closes after two readings under 90 % of its level."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from store.alerts import GB3095_GRADE_II, AlertChanges, AlertRules, Limit, update_alerts
from store.db import make_engine, migrate
from store.models import Alert
from store.readings import as_utc, ingest
from zone.sites import load_sites

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "zhengzhou-hightech"
STATIONS = {"stn-a": ("NO2", "PM2.5", "TVOC", "O3"), "stn-b": ("NO2",)}
T0 = datetime(2026, 6, 15, tzinfo=UTC)
UNIT = "µg/m³"


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    migrate(engine)
    with Session(engine) as session:
        yield session


def feed(
    session: Session,
    pollutant: str,
    values: Sequence[float],
    *,
    station: str = "stn-a",
    start_h: int = 0,
    rules: AlertRules | None = None,
) -> AlertChanges:
    """Hourly readings from T0 + start_h hours, stored and evaluated as one batch."""
    batch = [
        {
            "station": station,
            "pollutant": pollutant,
            "value": v,
            "unit": UNIT,
            "time": (T0 + timedelta(hours=start_h + h)).isoformat(),
        }
        for h, v in enumerate(values)
    ]
    result = ingest(session, batch, stations=STATIONS)
    assert not result.refused
    changes = update_alerts(session, result.stored, rules=rules)
    session.commit()
    return changes


def alerts(session: Session) -> list[Alert]:
    return list(
        session.exec(select(Alert).order_by(col(Alert.opened_at), col(Alert.station_id))).all()
    )


def hour(h: int) -> datetime:
    return T0 + timedelta(hours=h)


def test_a_limit_alert_opens_once_holds_in_the_band_and_closes_after_two_below(
    session: Session,
) -> None:
    # NO2's 1-hour limit is 200; its closing level is 0.9 x 200 = 180.
    # h1 210 > 200 opens; h2 250 extends (peak); h3 190 lies in [180, 200]: holds, count 0;
    # h4 150 < 180: count 1; h5 185 in the band: count back to 0; h6 170: 1; h7 160: 2, closes.
    changes = feed(session, "NO2", [50, 210, 250, 190, 150, 185, 170, 160])
    (alert,) = alerts(session)
    assert (len(changes.opened), len(changes.closed)) == (1, 1)
    assert (alert.reason, alert.threshold, alert.averaging_h, alert.over_limit) == (
        "limit",
        200.0,
        1,
        True,
    )
    assert as_utc(alert.opened_at) == hour(1)
    assert as_utc(alert.last_seen_at) == hour(2)
    assert (alert.peak_value, as_utc(alert.peak_at)) == (250.0, hour(2))
    assert alert.closed_at is not None and as_utc(alert.closed_at) == hour(7)
    assert alert.open_key is None


def test_a_new_excursion_after_closing_is_a_new_alert(session: Session) -> None:
    # h0 210 opens; h1 100 and h2 100 (< 180) close it at h2; h3 220 opens a second
    changes = feed(session, "NO2", [210, 100, 100, 220])
    first, second = alerts(session)
    assert (len(changes.opened), len(changes.closed)) == (2, 1)
    assert first.closed_at is not None and as_utc(first.closed_at) == hour(2)
    assert (as_utc(second.opened_at), second.closed_at, second.open_key) == (
        hour(3),
        None,
        "stn-a|NO2",
    )


def test_a_value_equal_to_the_limit_complies(session: Session) -> None:
    # GB 3095's limits are not to be exceeded: 200 is within NO2's
    feed(session, "NO2", [200.0, 200.0])
    assert alerts(session) == []


def test_readings_in_later_batches_extend_the_one_open_alert(session: Session) -> None:
    feed(session, "NO2", [220])
    changes = feed(session, "NO2", [230, 240], start_h=1)
    feed(session, "NO2", [300], station="stn-b")
    assert changes.opened == []
    a, b = alerts(session)
    assert (a.station_id, a.peak_value, as_utc(a.last_seen_at), a.closed_at) == (
        "stn-a",
        240.0,
        hour(2),
        None,
    )
    assert a.open_key == "stn-a|NO2"
    assert (b.station_id, b.peak_value) == ("stn-b", 300.0)


def test_a_rise_over_the_stations_baseline_opens_at_its_level_and_not_on_it(
    session: Session,
) -> None:
    # TVOC has no ambient limit. Six readings 80, 90, 100, 80, 90, 100: median 90, so the level is
    # max(2 x 90, 90 + 100) = 190. h6 190 is not over it; before h7 the median of the seven
    # (80, 80, 90, 90, 100, 100, 190) is still 90: h7 191 opens. The level stays 190 (frozen):
    # h8 300 extends; h9 170 < 0.9 x 190 = 171: 1; h10 171 is not below 171: back to 0;
    # h11 100, h12 100 close at h12.
    feed(session, "TVOC", [80, 90, 100, 80, 90, 100, 190, 191, 300, 170, 171, 100, 100])
    (alert,) = alerts(session)
    assert (alert.reason, alert.threshold, alert.over_limit) == ("baseline", 190.0, False)
    assert as_utc(alert.opened_at) == hour(7)
    assert (alert.peak_value, as_utc(alert.last_seen_at)) == (300.0, hour(8))
    assert alert.closed_at is not None and as_utc(alert.closed_at) == hour(12)


def test_a_baseline_needs_six_readings_behind_it(session: Session) -> None:
    # five readings of 10 are no baseline: 500 opens nothing (TVOC has no limit)
    feed(session, "TVOC", [10, 10, 10, 10, 10, 500])
    assert alerts(session) == []


def test_o3_has_no_baseline_rule(session: Session) -> None:
    # 150 is five times the median 30 and 120 over it, but under O3's 200 limit
    feed(session, "O3", [30, 30, 30, 30, 30, 30, 150])
    assert alerts(session) == []


def test_pm25_is_judged_on_its_24h_mean_once_20_hours_are_in(session: Session) -> None:
    # every hourly value is 100, over the 24-h limit of 75, and the baseline level is
    # max(2 x 100, 100 + 35) = 200. Hours 0 to 18 are 19 readings: no valid 24-h mean yet;
    # at hour 19 the window (hour -5, hour 19] holds 20 readings, mean 100 > 75: opens.
    feed(session, "PM2.5", [100.0] * 19)
    assert alerts(session) == []
    feed(session, "PM2.5", [100.0], start_h=19)
    (alert,) = alerts(session)
    assert (alert.reason, alert.threshold, alert.averaging_h, alert.peak_value) == (
        "limit",
        75.0,
        24,
        100.0,
    )
    assert as_utc(alert.opened_at) == hour(19)


def test_a_late_reading_is_stored_but_not_evaluated(session: Session) -> None:
    feed(session, "NO2", [50, 50, 50], start_h=0)
    changes = feed(session, "NO2", [999], start_h=1, station="stn-b")  # another series: fresh
    late = feed(session, "NO2", [50, 999], start_h=-2)  # older than hour 2 of stn-a
    assert changes.late == 0 and late.late == 2
    assert [a.station_id for a in alerts(session)] == ["stn-b"]


def test_limits_are_configurable(session: Session) -> None:
    rules = AlertRules(limits={**GB3095_GRADE_II, "TVOC": Limit(300.0)})
    feed(session, "TVOC", [290, 301], rules=rules)
    (alert,) = alerts(session)
    assert (alert.reason, alert.threshold, as_utc(alert.opened_at)) == ("limit", 300.0, hour(1))


def test_rules_that_cannot_hold_are_refused() -> None:
    with pytest.raises(ValueError, match="not a pollutant"):
        AlertRules(limits={"H2S": Limit(10.0)})
    with pytest.raises(ValueError, match="baseline_factor"):
        AlertRules(baseline_factor=1.0)
    with pytest.raises(ValueError, match="24-h means"):
        AlertRules(limits={"NO2": Limit(200.0, averaging_h=8)})


def test_the_sample_day_opens_and_closes_its_alerts(tmp_path: Path) -> None:
    """The sample zone's day: ent-12's plume reaches stn-mic-03 at 14:00 and 15:00 China time
    (06:00 and 07:00 UTC). NO2 227.2 > 200 opens a limit alert at 06:00; 185.5 at 07:00 is in
    the band [180, 200] and holds it; 25.6 and 28.7 close it at 09:00 (17:00 local). TVOC 498.6
    opens a baseline alert at 06:00 (level: the 14 readings before have a median of 81.5, so
    max(163, 181.5) = 181.5); 392.3 extends it; 72.7 and 77.0 < 163.35 close it at 09:00.
    Nothing else in the day alerts."""
    engine = make_engine(f"sqlite:///{tmp_path / 'day.db'}")
    migrate(engine)
    stations = {s.id: s.measures for s in load_sites(EXAMPLE / "sites.geojson").stations}
    with (EXAMPLE / "readings.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    with Session(engine) as session:
        result = ingest(session, rows, stations=stations)
        changes = update_alerts(session, result.stored)
        session.commit()
        assert (len(result.stored), result.refused) == (len(rows), [])
        assert (len(changes.opened), len(changes.closed)) == (2, 2)
        found = {
            (a.station_id, a.pollutant): (
                a.reason,
                a.threshold,
                a.peak_value,
                as_utc(a.opened_at),
                as_utc(a.last_seen_at),
                a.closed_at and as_utc(a.closed_at),
            )
            for a in alerts(session)
        }
    engine.dispose()
    six, seven, nine = (datetime(2026, 6, 15, h, tzinfo=UTC) for h in (6, 7, 9))
    assert found == {
        ("stn-mic-03", "NO2"): ("limit", 200.0, 227.2, six, six, nine),
        ("stn-mic-03", "TVOC"): ("baseline", pytest.approx(181.5), 498.6, six, seven, nine),
    }
