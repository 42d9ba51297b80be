"""Air-quality readings: checked one by one, stored once.

A reading is one station's value of one pollutant at one time, with the wind
where the station reports it. Every source (the API, a CSV file) hands this
module plain mappings of fields; each is checked on its own and refused with
one reason, so a batch stores its good readings whatever its bad ones hold.

Rules:

- the station must be known and measure the pollutant (the caller passes the
  stations, ``{station id: pollutants it measures}``, read from the sites);
- the unit must be the pollutant's (:data:`UNITS`: µg/m³, or mg/m³ for CO);
  a value in another unit is refused, never converted;
- the value is a finite number >= 0;
- the time is ISO 8601 with its zone (``Z`` or an offset) and is stored in
  UTC: a time without a zone could be any of several hours;
- the wind, both parts optional: ``wind_speed_m_s`` >= 0 in m/s, and
  ``wind_from_deg`` the direction it blows FROM, degrees clockwise from true
  north, 0 to 360 (360 is stored as 0).

Ingest is idempotent on (station, pollutant, time): the same reading again is
``unchanged``; a *different* reading for a key already stored (or earlier in
the batch) is refused, naming the stored value. Readings are measurements:
a correction replacing a value silently would leave alerts raised on the old
value unexplained, so a correction is an explicit act outside ingest.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlmodel import Session, col, select

from store.models import Reading

logger = logging.getLogger(__name__)

UG_M3 = "µg/m³"
MG_M3 = "mg/m³"
UNITS: dict[str, str] = {
    "PM2.5": UG_M3,
    "PM10": UG_M3,
    "NO2": UG_M3,
    "SO2": UG_M3,
    "O3": UG_M3,
    "CO": MG_M3,
    "TVOC": UG_M3,
}
# how people type the two units; the micro sign (U+00B5) and the Greek mu (U+03BC) look alike
_UNIT_SPELLINGS: dict[str, str] = {
    spelling: unit
    for unit, spellings in {
        UG_M3: ("µg/m³", "μg/m³", "µg/m3", "μg/m3", "ug/m3", "ug/m³"),
        MG_M3: ("mg/m³", "mg/m3"),
    }.items()
    for spelling in spellings
}
FIELDS = ("station", "pollutant", "value", "unit", "time", "wind_speed_m_s", "wind_from_deg")
REQUIRED = FIELDS[:5]
MAX_WIND_M_S = 100.0  # over any surface wind ever measured: a unit or typing error


def _show(raw: object) -> str:
    """``raw`` as it may be quoted back to a user: its repr, cut short."""
    text = repr(raw)
    return text if len(text) <= 60 else text[:57] + "..."


class ReadingError(ValueError):
    """One reading refused; the message is the reason, fit for an operator."""


@dataclass(frozen=True, slots=True)
class ReadingIn:
    """A checked reading: ``time`` is timezone-aware UTC, ``unit`` the pollutant's own."""

    station_id: str
    pollutant: str
    value: float
    unit: str
    time: datetime
    wind_speed_m_s: float | None = None
    wind_from_deg: float | None = None

    @property
    def key(self) -> tuple[str, str, datetime]:
        return (self.station_id, self.pollutant, self.time)


@dataclass(frozen=True, slots=True)
class Refused:
    """A reading not stored: its place in the batch (from 0) and why."""

    index: int
    reason: str


@dataclass(slots=True)
class IngestResult:
    """What a batch did: the rows it added, how many were already stored, what it refused."""

    stored: list[Reading] = field(default_factory=list)
    unchanged: int = 0
    refused: list[Refused] = field(default_factory=list)


def as_utc(value: datetime) -> datetime:
    """SQLite hands timestamps back without their zone; every stored time is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_reading(raw: object, *, stations: Mapping[str, Collection[str]]) -> ReadingIn:
    """Check one reading's fields (a mapping of :data:`FIELDS`); :class:`ReadingError` if bad.

    Numbers may come as numbers (JSON) or text (CSV); an empty text is a
    missing field.
    """
    if not isinstance(raw, Mapping):
        raise ReadingError("a reading must be an object of fields")
    fields = {k: v for k, v in raw.items() if v is not None and v != ""}
    unknown = sorted(str(k) for k in fields if k not in FIELDS)
    if unknown:
        raise ReadingError(f"unknown field {_show(unknown[0])} (fields: {', '.join(FIELDS)})")
    missing = [k for k in REQUIRED if k not in fields]
    if missing:
        raise ReadingError(f"missing {missing[0]!r}")
    station, pollutant = _station_pollutant(fields["station"], fields["pollutant"], stations)
    value = _number(fields["value"], "value")
    if value < 0:
        raise ReadingError(f"value {value:g} is negative")
    return ReadingIn(
        station,
        pollutant,
        value,
        _unit(fields["unit"], pollutant),
        parse_time(fields["time"]),
        _wind_speed(fields.get("wind_speed_m_s")),
        _wind_from(fields.get("wind_from_deg")),
    )


def _station_pollutant(
    station: object, pollutant: object, stations: Mapping[str, Collection[str]]
) -> tuple[str, str]:
    if not isinstance(station, str) or station not in stations:
        raise ReadingError(f"unknown station {_show(station)}")
    if not isinstance(pollutant, str) or pollutant not in UNITS:
        raise ReadingError(f"unknown pollutant {_show(pollutant)} (known: {', '.join(UNITS)})")
    if pollutant not in stations[station]:
        measured = ", ".join(stations[station]) or "nothing"
        raise ReadingError(
            f"station {station!r} does not measure {pollutant} (it measures {measured})"
        )
    return station, pollutant


def _number(raw: object, name: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ReadingError(f"{name} must be a number")
    try:
        value = float(raw)
    except ValueError:
        raise ReadingError(f"{name} {_show(raw)} is not a number") from None
    if not math.isfinite(value):
        raise ReadingError(f"{name} must be a finite number")
    return value


def _unit(raw: object, pollutant: str) -> str:
    unit = _UNIT_SPELLINGS.get(raw.strip()) if isinstance(raw, str) else None
    if unit is None:
        raise ReadingError(f"unknown unit {_show(raw)} (µg/m³ or mg/m³)")
    if unit != UNITS[pollutant]:
        raise ReadingError(f"wrong unit for {pollutant}: {UNITS[pollutant]}, not {unit}")
    return unit


def parse_time(raw: object) -> datetime:
    """An ISO 8601 time with its zone, in UTC; :class:`ReadingError` without a zone."""
    if isinstance(raw, datetime):
        when = raw
    elif isinstance(raw, str):
        try:
            when = datetime.fromisoformat(raw.strip())
        except ValueError:
            raise ReadingError(
                f"time {_show(raw)} is not ISO 8601 (e.g. 2026-06-15T14:00:00+08:00)"
            ) from None
    else:
        raise ReadingError("time must be an ISO 8601 text")
    if when.tzinfo is None or when.utcoffset() is None:
        raise ReadingError(f"time {_show(raw)} has no zone (add Z for UTC, or +08:00 for China)")
    try:
        return when.astimezone(UTC)
    except OverflowError:  # year 1 east of Greenwich, year 9999 west of it
        raise ReadingError(f"time {_show(raw)} is out of range in UTC") from None


def _wind_speed(raw: object) -> float | None:
    if raw is None:
        return None
    speed = _number(raw, "wind_speed_m_s")
    if not 0 <= speed <= MAX_WIND_M_S:
        raise ReadingError(f"wind_speed_m_s {speed:g} is not a wind speed in m/s")
    return speed


def _wind_from(raw: object) -> float | None:
    if raw is None:
        return None
    degrees = _number(raw, "wind_from_deg")
    if not 0 <= degrees <= 360:
        raise ReadingError(
            f"wind_from_deg {degrees:g} is outside 0-360 (degrees clockwise from true north)"
        )
    return 0.0 if degrees == 360 else degrees


def ingest(
    session: Session, raws: Sequence[object], *, stations: Mapping[str, Collection[str]]
) -> IngestResult:
    """Store a batch's good readings (flushed, in the caller's transaction); refuse the rest.

    Parameters
    ----------
    raws : sequence of mappings of :data:`FIELDS`
        The batch, in its order; refusals carry the index into it.
    stations : mapping of station id to the pollutants it measures

    Returns
    -------
    IngestResult
        The new rows (for :func:`store.alerts.update_alerts`), how many were
        already stored as given, and the refused readings with their reasons.
    """
    result = IngestResult()
    checked: list[tuple[int, ReadingIn]] = []
    for index, raw in enumerate(raws):
        try:
            checked.append((index, parse_reading(raw, stations=stations)))
        except ReadingError as exc:
            result.refused.append(Refused(index, str(exc)))
    known = _stored(session, [reading for _, reading in checked])
    for index, reading in checked:
        row = known.get(reading.key)
        if row is None:
            row = _row(reading)
            session.add(row)
            known[reading.key] = row
            result.stored.append(row)
        elif _same(row, reading):
            result.unchanged += 1
        else:
            result.refused.append(Refused(index, _conflict(row)))
    session.flush()
    result.refused.sort(key=lambda r: r.index)
    logger.info(
        "readings: %d stored, %d unchanged, %d refused",
        len(result.stored),
        result.unchanged,
        len(result.refused),
    )
    return result


def _stored(
    session: Session, readings: Sequence[ReadingIn]
) -> dict[tuple[str, str, datetime], Reading]:
    """The stored rows that share a key with ``readings``: one query per station."""
    spans: dict[str, list[datetime]] = defaultdict(list)
    for reading in readings:
        spans[reading.station_id].append(reading.time)
    keys = {reading.key for reading in readings}
    found: dict[tuple[str, str, datetime], Reading] = {}
    for station, times in spans.items():
        rows = session.exec(
            select(Reading).where(
                col(Reading.station_id) == station,
                col(Reading.time) >= min(times),
                col(Reading.time) <= max(times),
            )
        )
        for row in rows:
            key = (row.station_id, row.pollutant, as_utc(row.time))
            if key in keys:
                found[key] = row
    return found


def _row(reading: ReadingIn) -> Reading:
    return Reading(
        station_id=reading.station_id,
        pollutant=reading.pollutant,
        value=reading.value,
        unit=reading.unit,
        time=reading.time,
        wind_speed_m_s=reading.wind_speed_m_s,
        wind_from_deg=reading.wind_from_deg,
    )


def _close(a: float | None, b: float | None) -> bool:
    """Equal as stored numbers (a double read back from text may differ in its last bit)."""
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


def _same(row: Reading, reading: ReadingIn) -> bool:
    return (
        _close(row.value, reading.value)
        and _close(row.wind_speed_m_s, reading.wind_speed_m_s)
        and _close(row.wind_from_deg, reading.wind_from_deg)
    )


def _conflict(row: Reading) -> str:
    wind = ""
    if row.wind_speed_m_s is not None or row.wind_from_deg is not None:
        wind = f", wind {row.wind_speed_m_s} m/s from {row.wind_from_deg} deg"
    return (
        f"{row.station_id} {row.pollutant} at {as_utc(row.time).isoformat()} is already stored "
        f"as {row.value:g} {row.unit}{wind}; a stored reading is not replaced"
    )
