"""Response models of the readings and alerts API (requests are checked by ``store.readings``,
one reading at a time, so a batch is never refused whole for one bad reading)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel

from server.schemas import UTCDateTime
from store.models import Alert, Reading
from store.readings import as_utc


class ReadingPublic(BaseModel):
    """A stored reading; ``wind_from_deg`` is where the wind blows FROM, degrees clockwise
    from true north; ``time`` is UTC."""

    station: str
    pollutant: str
    value: float
    unit: str
    time: UTCDateTime
    wind_speed_m_s: float | None = None
    wind_from_deg: float | None = None

    @classmethod
    def of(cls, row: Reading) -> ReadingPublic:
        return cls(
            station=row.station_id,
            pollutant=row.pollutant,
            value=row.value,
            unit=row.unit,
            time=as_utc(row.time),
            wind_speed_m_s=row.wind_speed_m_s,
            wind_from_deg=row.wind_from_deg,
        )


class ReadingsPublic(BaseModel):
    data: list[ReadingPublic]
    count: int


class RefusedReading(BaseModel):
    """A reading not stored: its index in the batch (0 for a single reading) and why."""

    index: int
    reason: str


class ReadingsIngested(BaseModel):
    """What a batch did. ``detail`` says why when nothing in it was valid (then 422)."""

    stored: int
    unchanged: int
    refused: list[RefusedReading]
    late: int = 0
    alerts_opened: list[uuid.UUID] = []
    alerts_closed: list[uuid.UUID] = []
    detail: str | None = None


class AlertPublic(BaseModel):
    """An alert; ``threshold`` is the level it opened over (``reason``: the ambient limit, or
    the station's own baseline), compared with hourly values or, for ``averaging_h`` 24,
    rolling 24-h means; times are the readings' (UTC)."""

    id: uuid.UUID
    station: str
    pollutant: str
    reason: str
    unit: str
    threshold: float
    averaging_h: int
    over_limit: bool
    open: bool
    opened_at: UTCDateTime
    last_seen_at: UTCDateTime
    peak_value: float
    peak_at: UTCDateTime
    closed_at: UTCDateTime | None = None

    @classmethod
    def of(cls, alert: Alert) -> AlertPublic:
        return cls(
            id=alert.id,
            station=alert.station_id,
            pollutant=alert.pollutant,
            reason=alert.reason,
            unit=alert.unit,
            threshold=alert.threshold,
            averaging_h=alert.averaging_h,
            over_limit=alert.over_limit,
            open=alert.closed_at is None,
            opened_at=as_utc(alert.opened_at),
            last_seen_at=as_utc(alert.last_seen_at),
            peak_value=alert.peak_value,
            peak_at=as_utc(alert.peak_at),
            closed_at=as_utc(alert.closed_at) if alert.closed_at else None,
        )


class AlertsPublic(BaseModel):
    data: list[AlertPublic]
    count: int


class AlertDetail(AlertPublic):
    """An alert with the readings of its station and pollutant from its opening to its
    closing (to the newest while open)."""

    readings: list[ReadingPublic]
