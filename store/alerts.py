"""Alerts: a station's pollutant over its level opens one alert, which stays open until the
readings fall back.

An alert is an episode of one station and one pollutant, not a reading: at
most one is open per station and pollutant (the ``open_key`` unique index
holds it between writers too). Readings are evaluated per station and
pollutant in time order, each against the state the last one left:

Opening (no alert open). A reading opens an alert with reason

- ``limit`` when the compared value is strictly over the pollutant's limit
  (GB 3095's limits are "not to exceed": a value equal to it complies);
- else ``baseline`` when its hourly value is strictly over both
  ``baseline_factor`` times the median of the station's readings of that
  pollutant in the ``baseline_window_h`` before it, and that median plus the
  pollutant's ``baseline_margin`` (so a clean station's small numbers do not
  alarm on doubling). The median needs ``baseline_min_readings`` readings.
  The alert's ``threshold`` is that level, frozen at opening: the median rises
  with the episode and must not close the alert for it.

Extending and closing (an alert open). The compared value over the alert's
``threshold`` extends it (``last_seen_at``); every value raises the peak.
A value below ``clear_fraction`` of the threshold (default 90 %) counts
towards closing, and ``clear_readings`` (default 2) such readings in a row
close it at the last one's time. A value between the two holds the alert
and restarts the count: the hysteresis keeps a value hovering at the limit
from opening and closing an alert every hour.

Limits (:data:`GB3095_GRADE_II`, China's GB 3095-2012, Grade II): where the
standard gives a 1-hour limit it is applied to each hourly reading: NO2 200,
SO2 500, O3 200 µg/m³, CO 10 mg/m³. PM2.5 and PM10 have only 24-hour limits
(75 and 150 µg/m³); comparing an hourly value with them is not what the
standard says, so they are compared with the rolling mean of the readings in
the 24 h up to and including the reading, and only once the window holds
``mean_min_readings`` values (20: GB 3095's validity rule for a daily mean).
TVOC has no ambient standard in GB 3095: it has no limit unless one is
configured, and alerts on its baseline. O3 has no baseline rule by default:
it is made by sunlight and doubles over its own median on any clear
afternoon, which says nothing of a source nearby.

A reading older than the newest one already stored for its station and
pollutant (a late or back-filled reading) is stored but not evaluated: the
alerts already raised stand as they were raised.
"""

from __future__ import annotations

import bisect
import logging
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, col, func, select

from store.models import Alert, Reading
from store.readings import UNITS, as_utc

logger = logging.getLogger(__name__)

LIMIT = "limit"
BASELINE = "baseline"


@dataclass(frozen=True, slots=True)
class Limit:
    """An ambient limit in the pollutant's unit (:data:`store.readings.UNITS`).

    ``averaging_h`` is 1 (each hourly reading is compared) or 24 (the rolling
    24-h mean is).
    """

    value: float
    averaging_h: int = 1


GB3095_GRADE_II: dict[str, Limit] = {
    "NO2": Limit(200.0),
    "SO2": Limit(500.0),
    "O3": Limit(200.0),
    "CO": Limit(10.0),
    "PM10": Limit(150.0, averaging_h=24),
    "PM2.5": Limit(75.0, averaging_h=24),
}
# the absolute rise over the baseline median, in each pollutant's unit; a pollutant absent
# here has no baseline rule (O3: see the module's docstring)
DEFAULT_BASELINE_MARGIN: dict[str, float] = {
    "PM2.5": 35.0,
    "PM10": 50.0,
    "NO2": 40.0,
    "SO2": 20.0,
    "CO": 1.0,
    "TVOC": 100.0,
}


@dataclass(frozen=True, slots=True)
class AlertRules:
    """The configurable rules; the defaults are the module docstring's."""

    limits: Mapping[str, Limit] = field(default_factory=lambda: dict(GB3095_GRADE_II))
    baseline_factor: float = 2.0
    baseline_margin: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_BASELINE_MARGIN)
    )
    baseline_window_h: float = 24.0
    baseline_min_readings: int = 6
    mean_min_readings: int = 20
    clear_fraction: float = 0.9
    clear_readings: int = 2

    def __post_init__(self) -> None:
        unknown = sorted(set(self.limits) - set(UNITS))
        if unknown:
            raise ValueError(f"a limit for {unknown[0]!r}, which is not a pollutant")
        if any(lim.value <= 0 or lim.averaging_h not in (1, 24) for lim in self.limits.values()):
            raise ValueError("a limit must be positive, on 1-hour values or 24-h means")
        if self.baseline_factor <= 1 or not 0 < self.clear_fraction <= 1:
            raise ValueError("baseline_factor must be over 1 and clear_fraction in (0, 1]")
        if self.clear_readings < 1 or self.baseline_min_readings < 1:
            raise ValueError("clear_readings and baseline_min_readings must be at least 1")


@dataclass(slots=True)
class AlertChanges:
    """What a batch of readings did to the alerts."""

    opened: list[Alert] = field(default_factory=list)
    closed: list[Alert] = field(default_factory=list)
    late: int = 0


@dataclass(frozen=True, slots=True)
class _Series:
    """One station's readings of one pollutant, in time order (UTC), for the rolling windows."""

    times: list[datetime]
    values: list[float]

    def before(self, when: datetime, hours: float) -> list[float]:
        """Values in [when - hours, when): the baseline's window, the reading itself left out."""
        lo = bisect.bisect_left(self.times, when - timedelta(hours=hours))
        return self.values[lo : bisect.bisect_left(self.times, when)]

    def up_to(self, when: datetime, hours: float) -> list[float]:
        """Values in (when - hours, when]: a rolling mean's window, the reading included."""
        lo = bisect.bisect_right(self.times, when - timedelta(hours=hours))
        return self.values[lo : bisect.bisect_right(self.times, when)]


def open_key(station_id: str, pollutant: str) -> str:
    return f"{station_id}|{pollutant}"


def update_alerts(
    session: Session, readings: Sequence[Reading], *, rules: AlertRules | None = None
) -> AlertChanges:
    """Evaluate newly stored ``readings`` (flushed, in the caller's transaction).

    Each station's pollutant is taken on its own, its new readings in time
    order; the alert rows are flushed.
    """
    rules = rules or AlertRules()
    changes = AlertChanges()
    by_series: dict[tuple[str, str], list[Reading]] = defaultdict(list)
    for reading in readings:
        by_series[(reading.station_id, reading.pollutant)].append(reading)
    for (station_id, pollutant), new in sorted(by_series.items()):
        fresh = _fresh(session, new)
        changes.late += len(new) - len(fresh)
        if fresh:
            _evaluate_series(session, station_id, pollutant, fresh, rules, changes)
    session.flush()
    if changes.late:
        logger.info("alerts: %d late readings stored but not evaluated", changes.late)
    return changes


def _fresh(session: Session, new: Sequence[Reading]) -> list[Reading]:
    """The new readings later than every reading of their series stored before them, by time."""
    first = new[0]
    ids = [r.id for r in new]
    newest = session.exec(
        select(func.max(Reading.time)).where(
            col(Reading.station_id) == first.station_id,
            col(Reading.pollutant) == first.pollutant,
            col(Reading.id).not_in(ids),
        )
    ).one()
    ordered = sorted(new, key=lambda r: as_utc(r.time))
    if newest is None:
        return ordered
    return [r for r in ordered if as_utc(r.time) > as_utc(newest)]


def _load_series(
    session: Session, station_id: str, pollutant: str, start: datetime, end: datetime
) -> _Series:
    rows = session.exec(
        select(Reading.time, Reading.value)
        .where(
            col(Reading.station_id) == station_id,
            col(Reading.pollutant) == pollutant,
            col(Reading.time) >= start,
            col(Reading.time) <= end,
        )
        .order_by(col(Reading.time))
    ).all()
    return _Series([as_utc(t) for t, _ in rows], [v for _, v in rows])


def _evaluate_series(
    session: Session,
    station_id: str,
    pollutant: str,
    fresh: Sequence[Reading],
    rules: AlertRules,
    changes: AlertChanges,
) -> None:
    window_h = max(rules.baseline_window_h, 24.0)
    series = _load_series(
        session,
        station_id,
        pollutant,
        as_utc(fresh[0].time) - timedelta(hours=window_h),
        as_utc(fresh[-1].time),
    )
    key = open_key(station_id, pollutant)
    alert = session.exec(select(Alert).where(col(Alert.open_key) == key)).first()
    for reading in fresh:
        if alert is None:
            alert = _maybe_open(reading, series, rules)
            if alert is not None:
                session.add(alert)
                changes.opened.append(alert)
        elif _step(alert, reading, series, rules):
            changes.closed.append(alert)
            session.flush()  # frees the open key before a later reading opens the next alert
            alert = None


def _compared_value(
    reading: Reading, series: _Series, limit: Limit | None, *, min_n: int
) -> float | None:
    """The value a limit is judged on: the reading's own, or its rolling 24-h mean (None
    while the window holds fewer than ``min_n`` readings)."""
    if limit is None or limit.averaging_h == 1:
        return reading.value
    window = series.up_to(as_utc(reading.time), 24.0)
    return statistics.fmean(window) if len(window) >= min_n else None


def _baseline_level(reading: Reading, series: _Series, rules: AlertRules) -> float | None:
    """The level over which ``reading`` is a rise over its station's baseline (None: no rule,
    or too few readings before it): max(factor x median, median + margin)."""
    margin = rules.baseline_margin.get(reading.pollutant)
    if margin is None:
        return None
    before = series.before(as_utc(reading.time), rules.baseline_window_h)
    if len(before) < rules.baseline_min_readings:
        return None
    median = statistics.median(before)
    return max(rules.baseline_factor * median, median + margin)


def _maybe_open(reading: Reading, series: _Series, rules: AlertRules) -> Alert | None:
    """A new alert when ``reading`` is over its limit, else over its baseline; else None."""
    limit = rules.limits.get(reading.pollutant)
    when = as_utc(reading.time)
    value = _compared_value(reading, series, limit, min_n=rules.mean_min_readings)
    if limit is not None and value is not None and value > limit.value:
        reason, threshold, averaging_h = LIMIT, limit.value, limit.averaging_h
    else:
        level = _baseline_level(reading, series, rules)
        if level is None or not reading.value > level:
            return None
        reason, threshold, averaging_h, value = BASELINE, level, 1, reading.value
    logger.info(
        "alert opened: %s %s %s %.4g > %.4g",
        reading.station_id,
        reading.pollutant,
        reason,
        value,
        threshold,
    )
    return Alert(
        station_id=reading.station_id,
        pollutant=reading.pollutant,
        reason=reason,
        unit=reading.unit,
        threshold=threshold,
        averaging_h=averaging_h,
        over_limit=reason == LIMIT,
        opened_at=when,
        last_seen_at=when,
        peak_value=value,
        peak_at=when,
        open_key=open_key(reading.station_id, reading.pollutant),
    )


def _step(alert: Alert, reading: Reading, series: _Series, rules: AlertRules) -> bool:
    """Apply one later reading to an open alert; True when it closes it."""
    limit = rules.limits.get(reading.pollutant)
    when = as_utc(reading.time)
    on_limit = limit if alert.averaging_h == 24 else None
    value = _compared_value(reading, series, on_limit, min_n=rules.mean_min_readings)
    if value is None:  # a 24-h mean with too few readings: holds, neither way
        return False
    if limit is not None and limit.averaging_h == alert.averaging_h and value > limit.value:
        alert.over_limit = True
    if value > alert.peak_value:
        alert.peak_value, alert.peak_at = value, when
    if value > alert.threshold:
        alert.last_seen_at, alert.below_count = when, 0
    elif value < rules.clear_fraction * alert.threshold:
        alert.below_count += 1
    else:
        alert.below_count = 0
    if alert.below_count < rules.clear_readings:
        return False
    alert.closed_at, alert.open_key = when, None
    logger.info("alert closed: %s %s at %s", alert.station_id, alert.pollutant, when.isoformat())
    return True


def alert_readings(session: Session, alert: Alert) -> list[Reading]:
    """The readings of an alert's station and pollutant from its opening to its closing (or
    to the newest, while it is open), in time order."""
    query = select(Reading).where(
        col(Reading.station_id) == alert.station_id,
        col(Reading.pollutant) == alert.pollutant,
        col(Reading.time) >= alert.opened_at,
    )
    if alert.closed_at is not None:
        query = query.where(col(Reading.time) <= alert.closed_at)
    return list(session.exec(query.order_by(col(Reading.time))).all())
