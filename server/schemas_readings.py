"""Response models of the readings and alerts API (requests are checked by ``store.readings``,
one reading at a time, so a batch is never refused whole for one bad reading)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

from server.schemas import MissionPublic, RequestModel, UTCDateTime
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


class AlertPatrolPublic(BaseModel):
    """A patrol planned from the alert: its name and its missions (sortie order)."""

    name: str
    mission_ids: list[uuid.UUID]


class AlertFindingPublic(BaseModel):
    """A finding of a flight of a patrol planned from the alert; ``captured_at`` is when its
    image was taken (UTC; None if the camera gave no time)."""

    id: uuid.UUID
    kind: str
    lon: float
    lat: float
    site_id: str | None
    captured_at: UTCDateTime | None


class AlertDetail(AlertPublic):
    """An alert with the readings of its station and pollutant from its opening to its
    closing (to the newest while open), the patrols planned from it and what their flights
    found."""

    readings: list[ReadingPublic]
    patrols: list[AlertPatrolPublic] = []
    findings: list[AlertFindingPublic] = []


class WindPublic(BaseModel):
    """Where the wind blows FROM (degrees clockwise from true north) and its speed."""

    from_deg: float
    speed_m_s: float


class ReadingUsed(BaseModel):
    """A station's reading at the alert's hour and the background it was compared with."""

    station_id: str
    lon: float
    lat: float
    value: float
    background: float
    unit: str


class CandidateProperties(BaseModel):
    """One enterprise as the alert's source: ``score`` is its posterior share (the zone's
    scores sum to 1), ``emission_g_s`` the rate that fits best, ``stacks`` its stacks'
    [lon, lat]."""

    rank: int
    site_id: str
    name: str
    industry: str | None
    score: float
    emission_g_s: float
    stacks: list[list[float]]


class CandidateFeature(BaseModel):
    """A candidate; its geometry is its footprint (lon/lat: where a unit emission's ground
    concentration is over a tenth of its peak, under the reported wind), or null."""

    type: Literal["Feature"] = "Feature"
    geometry: dict[str, Any] | None
    properties: CandidateProperties


class AlertCandidates(BaseModel):
    """The enterprises ranked as the source of an alert (GeoJSON FeatureCollection, best first)
    and what the ranking rests on: the hour, wind, stability class, its assumptions and the
    readings."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[CandidateFeature]
    alert_id: uuid.UUID
    pollutant: str
    time: UTCDateTime
    wind: WindPublic
    stability: str
    assumptions: str
    readings: list[ReadingUsed]


class AlertPatrolRequest(RequestModel):
    """A patrol to the alert's ``top`` candidates; ``name`` defaults to
    ``alert <station> <pollutant> <peak time, UTC>``."""

    top: int = Field(default=3, ge=1, le=20)
    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"^[^/\\]+$")
    time_limit_s: float = Field(
        default=10.0, gt=0, le=60, description="seconds the route solver may search"
    )


class AlertPatrolResult(BaseModel):
    """A patrol planned from an alert and stored: its sorties (missions) and the candidates
    it flies to, best first."""

    patrol_name: str
    alert_id: uuid.UUID
    candidates: list[str]
    sorties: list[MissionPublic]
    refused: dict[str, str]
    length_m: float
    duration_s: float
    photo_count: int
