"""Request and response models of the API (the table models live in ``store.models``).

Families per entity in the FastAPI template's manner: ``XCreate`` in,
``XPublic`` out, ``XsPublic{data, count}`` for lists.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from server.passwords import NewPassword
from server.storable import storable_problem
from store.models import Alert, FindingStatus, FlightStatus, Reading, ReviewDecision, Role
from store.readings import as_utc
from zone.errors import InvalidSiteError
from zone.sites import KINDS, check_site

UTCDateTime = Annotated[datetime, AfterValidator(as_utc)]


class RequestModel(BaseModel):
    """Base of every request body: refuses what the database cannot store, anywhere in it.

    Lone surrogates, NUL characters and non-finite numbers are found in every
    field, free-form JSON (site properties, coordinates) included, before any
    field validator runs (see :mod:`server.storable`).
    """

    model_config = ConfigDict(allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        problem = storable_problem(data)
        if problem:
            raise ValueError(problem)
        return data


class Message(BaseModel):
    message: str


class FlightProcessing(BaseModel):
    """A flight's processing jobs (one per photo and pipeline version) by status."""

    flight_id: uuid.UUID
    queued: int
    running: int
    done: int
    failed: int
    total: int
    finished: int = Field(description="done or failed for good")
    fraction: float = Field(ge=0.0, le=1.0, description="finished / total (1 when no jobs)")
    local_dispatcher: bool = Field(description="this server is running the queue itself")
    error: str = Field(default="", description="why the server's own processing stopped")


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"


# --- users -----------------------------------------------------------------------------------


class UserCreate(RequestModel):
    username: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: NewPassword
    full_name: str = Field(default="", max_length=128)
    role: Role = Role.INSPECTOR


class UserUpdate(RequestModel):
    full_name: str | None = Field(default=None, max_length=128)
    password: NewPassword | None = None
    role: Role | None = None
    is_active: bool | None = None


class UserUpdateMe(RequestModel):
    full_name: str | None = Field(default=None, max_length=128)
    current_password: str | None = Field(default=None, max_length=256)
    new_password: NewPassword | None = None


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    full_name: str
    role: Role
    is_active: bool
    created_at: UTCDateTime


class UsersPublic(BaseModel):
    data: list[UserPublic]
    count: int


# --- sites (GeoJSON) -------------------------------------------------------------------------


class Geometry(RequestModel):
    """A GeoJSON geometry in WGS 84 longitude/latitude; which one each kind takes, and
    whether it is valid, is :func:`zone.sites.check_site`'s to say (see :class:`SiteFeature`)."""

    type: str = Field(
        max_length=32,
        json_schema_extra={"enum": ["Point", "LineString", "Polygon", "MultiPolygon"]},
    )
    coordinates: Any = Field(json_schema_extra={"type": "array"})


class SiteProperties(RequestModel):
    """A site's properties as the zone's ``sites.geojson`` has them; other keys are kept.

    ``kind`` and what each kind needs (``stacks`` of an enterprise, ``width_m``
    of a river, ``reason`` of a no-fly zone, ``ground_alt_m`` of a dock, ...)
    are checked by the zone's one site model on the whole feature (see
    :class:`SiteFeature`), so a refused kind gets the same message here as in
    the planner.
    """

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    kind: str = Field(max_length=32, json_schema_extra={"enum": list(KINDS)})
    name: str = Field(default="", max_length=255)


class SiteFeature(RequestModel):
    """A site as a GeoJSON Feature; the feature ``id`` is the site id on the way out.

    Valid when :func:`zone.sites.check_site` reads it, the check the planner and
    the pipeline read sites with: whatever the API stores can be planned and
    processed, and a refusal says what the planner would say.
    """

    type: Literal["Feature"] = "Feature"
    id: str | None = Field(default=None, max_length=128)
    geometry: Geometry
    properties: SiteProperties

    @model_validator(mode="after")
    def _valid_site(self) -> SiteFeature:
        try:
            check_site(self.model_dump(exclude={"id"}))
        except InvalidSiteError as exc:
            raise ValueError(str(exc)) from None
        return self


class SiteCollection(RequestModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[SiteFeature] = Field(max_length=10_000)

    @field_validator("features")
    @classmethod
    def _unique(cls, features: list[SiteFeature]) -> list[SiteFeature]:
        seen: set[str] = set()
        for feature in features:
            if feature.properties.id in seen:
                raise ValueError(f"site {feature.properties.id!r}: duplicate id")
            seen.add(feature.properties.id)
        return features


class SitePublic(BaseModel):
    """A stored site as a GeoJSON Feature, with ``problem``: why the zone model refuses it.

    ``problem`` is null for every site written through the API; a site stored
    before a check existed may carry one, and then cannot be planned until it
    is corrected or deleted.
    """

    type: Literal["Feature"] = "Feature"
    id: str
    geometry: Any
    properties: dict[str, Any]
    problem: str | None = None


class SitesPublic(BaseModel):
    """The stored sites as a GeoJSON FeatureCollection."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[SitePublic]


class SiteImportResult(BaseModel):
    created: int
    updated: int


# --- findings and reviews --------------------------------------------------------------------


class FindingPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    capture_id: uuid.UUID
    flight_id: uuid.UUID | None
    object_id: uuid.UUID | None = None
    """The object (group of findings across captures) it belongs to; decisions go there."""
    site_id: str | None
    kind: str
    detector: str
    detector_version: str
    score: float
    severity: str
    pixel_box: list[int] | None
    ground_polygon: dict[str, Any] | None
    lat: float
    lon: float
    area_m2: float | None
    position_error_m: float | None
    source_id: str | None = None
    """The stack or outfall the finding is attributed to."""
    alt_amsl_m: float | None = None
    """In the air (a plume above its stack): the point's altitude, metres AMSL."""
    height_agl_m: float | None = None
    """In the air: metres above the ground at its source."""
    source_distance_m: float | None = None
    """Metres from the source's mouth (in the air) or foot (on the ground)."""
    measurements: dict[str, Any] | None
    status: FindingStatus
    created_at: UTCDateTime
    has_thumbnail: bool = False
    has_overlay: bool = False


class FindingsPublic(BaseModel):
    data: list[FindingPublic]
    count: int


class ReviewPublic(BaseModel):
    id: uuid.UUID
    finding_id: uuid.UUID | None
    """Set on decisions taken on one finding, before objects existed."""
    object_id: uuid.UUID | None = None
    user_id: uuid.UUID
    username: str
    decision: ReviewDecision
    reason: str | None = None
    comment: str
    previous_status: FindingStatus | None
    duplicate_of: uuid.UUID | None
    duplicate_of_object: uuid.UUID | None = None
    created_at: UTCDateTime


class ReviewsPublic(BaseModel):
    data: list[ReviewPublic]
    count: int


# --- objects ---------------------------------------------------------------------------------


class ObjectPublic(BaseModel):
    """One thing seen, in one or more captures of one flight: the unit inspectors review."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    flight_id: uuid.UUID | None
    patrol_name: str
    kind: str
    site_id: str | None
    source_id: str | None
    """The stack or outfall it is attributed to."""
    severity: str
    score: float
    lat: float
    lon: float
    position_error_m: float | None
    alt_amsl_m: float | None
    """In the air (a plume above its stack): metres AMSL."""
    height_agl_m: float | None
    """In the air: metres above the ground at its source."""
    finding_count: int
    best_finding_id: uuid.UUID | None
    summary: dict[str, Any] | None
    """Peaks across its captures: score_max, area_m2_max, rise_max (rise_units K or raw),
    delta_e_max, colour; and captures, how many saw it."""
    change: str | None
    """Against the previous patrol of its site: new or recurring."""
    previous_object_id: uuid.UUID | None
    split_from: uuid.UUID | None
    status: FindingStatus
    created_at: UTCDateTime


class ObjectsPublic(BaseModel):
    data: list[ObjectPublic]
    count: int


class ObjectPrevious(BaseModel):
    """The same object on the previous patrol, and what inspectors decided then."""

    object: ObjectPublic
    reviews: list[ReviewPublic]


class ObjectDetail(ObjectPublic):
    findings: list[FindingPublic]
    """Every capture's finding, the best first."""
    reviews: list[ReviewPublic]
    """Every decision on it, oldest first (the audit trail)."""
    previous: ObjectPrevious | None


class ObjectReviewCreate(RequestModel):
    decision: ReviewDecision
    reason: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="A rejection's reason: one of GET /objects/reject-reasons, or free text.",
    )
    comment: str = Field(default="", max_length=4000)
    duplicate_of: uuid.UUID | None = Field(
        default=None, description="For a duplicate: the object this one repeats."
    )


class ObjectSplit(RequestModel):
    finding_ids: list[uuid.UUID] = Field(min_length=1, max_length=1000)
    """The findings (captures) to move to a new object of their own."""


# --- captures --------------------------------------------------------------------------------


class CapturePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    flight_id: uuid.UUID | None
    index: int | None
    kind: str
    sha256: str
    width: int | None
    height: int | None
    taken_at: UTCDateTime | None
    lat: float | None
    lon: float | None
    footprint: dict[str, Any] | None
    status: str
    failure_reason: str | None
    created_at: UTCDateTime


class CapturesPublic(BaseModel):
    data: list[CapturePublic]
    count: int


# --- missions and flights --------------------------------------------------------------------


class MissionPublic(BaseModel):
    """One sortie; ``alert_id`` is the air-quality alert it was planned from, if any."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    patrol_name: str
    sortie_index: int
    targets: list[str] | None
    length_m: float
    duration_s: float
    photo_count: int
    alert_id: uuid.UUID | None = None
    created_at: UTCDateTime


class MissionsPublic(BaseModel):
    data: list[MissionPublic]
    count: int


class FlightLaunch(RequestModel):
    mission_id: uuid.UUID
    connection: str | None = Field(
        default=None,
        max_length=255,
        description="MAVLink connection URL (e.g. udpin:0.0.0.0:14550); leave empty to start SITL.",
    )
    sitl: bool = Field(default=False, description="Start an ArduCopter SITL instance to fly.")

    @model_validator(mode="after")
    def _one_target(self) -> FlightLaunch:
        if bool(self.connection) == self.sitl:
            raise ValueError("give either a connection URL or sitl=true (exactly one)")
        return self


class FlightPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    mission_id: uuid.UUID | None
    name: str
    status: FlightStatus
    connection: str
    distance_m: float
    started_at: UTCDateTime | None
    ended_at: UTCDateTime | None
    created_at: UTCDateTime
    live: dict[str, Any] | None = None


class FlightsPublic(BaseModel):
    data: list[FlightPublic]
    count: int


# --- gas tracks (server.gas) -------------------------------------------------------------


class GasPoint(BaseModel):
    type: Literal["Point"] = "Point"
    coordinates: tuple[float, float] = Field(description="longitude, latitude (WGS 84)")


class GasPointProperties(BaseModel):
    value: float = Field(description="the reading, in unit")
    unit: str
    pollutant: str
    time_utc: str
    alt_amsl_m: float = Field(description="the vehicle's altitude above mean sea level")
    height_agl_m: float | None = Field(
        description="above the ground under the point (the stored zone's surveyed ground), "
        "clamped at 0; null when the zone states no ground altitude"
    )


class GasFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    geometry: GasPoint
    properties: GasPointProperties


class GasRange(BaseModel):
    pollutant: str
    unit: str
    count: int
    min: float
    max: float


class GasTrack(BaseModel):
    """A flight's gas readings as GeoJSON; ``count`` and ``ranges`` cover every reading,
    ``shown`` how many are features (fewer when thinned with ``max_points``)."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    flight_id: uuid.UUID
    count: int
    shown: int
    ranges: list[GasRange]
    features: list[GasFeature]


class GasSourcePublic(BaseModel):
    """Where the flight's transect places its source (``zone.sources.locate_source``).

    ``height_m`` is the effective release height above ground; ``uncertainty_m``
    the position's one-sigma radius along its worst axis and ``covariance_en_m2``
    its 2x2 covariance (east, north metres), both null when the transect does not
    pin the source down. ``rms_residual`` is in ``unit``. The wind is where it
    blows FROM, degrees clockwise from true north, and its speed at 10 m;
    ``wind_source`` says whether it was given (``query``), taken from the
    station of the mission's alert near the transect (``alert``), or is the wind
    the alert was ranked under (``alert peak``); ``stability_source`` whether the
    class was given, the alert's, or taken from Turner's key. ``stability_fitted``
    is the class whose fit placed the source (the locator tries them all, the one
    given likeliest a priori). ``wind_turn_deg`` is how far clockwise of that wind
    the fitted plume axis lies.
    """

    flight_id: uuid.UUID
    pollutant: str
    unit: str
    lon: float
    lat: float
    height_m: float
    height_sigma_m: float | None
    uncertainty_m: float | None
    covariance_en_m2: list[list[float]] | None
    emission_g_s: float | None
    stack_id: str | None
    site_id: str | None
    distance_m: float | None
    n_samples: int
    rms_residual: float
    wind_from_deg: float
    wind_speed_m_s: float
    wind_turn_deg: float
    stability: str
    stability_source: Literal["query", "alert peak", "turner"]
    stability_fitted: str
    wind_source: Literal["query", "alert", "alert peak"]
    alert_id: uuid.UUID | None = None
    station_id: str | None = None


# --- readings and alerts: response models (requests are checked by store.readings,
# one reading at a time, so a batch is never refused whole for one bad reading) ---


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


class ScheduleCreate(RequestModel):
    """When a stored patrol flies by itself (``server.scheduler`` keeps the rules).

    ``kind: "times"``: ``times`` of day (HH:MM) in the IANA zone ``tz``, on ``days``
    of the week (mon ... sun, in that zone; every day when omitted).
    ``kind: "interval"``: every ``interval_min`` minutes from ``anchor_at`` (UTC;
    the creation time when omitted). A slot flies only in a wind of at most
    ``max_wind_m_s``.
    """

    patrol_name: str = Field(min_length=1, max_length=255)
    kind: Literal["times", "interval"]
    times: list[str] | None = Field(default=None, max_length=48)
    days: list[str] | None = Field(default=None, max_length=7)
    tz: str = Field(default="Asia/Shanghai", min_length=1, max_length=64)
    interval_min: int | None = Field(default=None, ge=5, le=7 * 24 * 60)
    anchor_at: UTCDateTime | None = None
    max_wind_m_s: float = Field(default=10.0, gt=0, le=40, description="m/s")
    enabled: bool = True


class ScheduleUpdate(RequestModel):
    """Pause (``enabled: false``) or resume a schedule, or change its wind limit."""

    enabled: bool | None = None
    max_wind_m_s: float | None = Field(default=None, gt=0, le=40, description="m/s")


class ScheduleRunPublic(BaseModel):
    """One slot's outcome: launched, skipped, missed or failed, with its one-line reason."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    schedule_id: uuid.UUID
    slot_at: UTCDateTime
    status: Literal["launched", "skipped", "missed", "failed"]
    reason: str
    flight_ids: list[str] | None
    decided_at: UTCDateTime


class ScheduleRunsPublic(BaseModel):
    data: list[ScheduleRunPublic]
    count: int


class SchedulePublic(BaseModel):
    """A schedule with its next slot (UTC; None while paused) and its latest runs."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    patrol_name: str
    kind: Literal["times", "interval"]
    times: list[str] | None
    days: list[str] | None
    tz: str
    interval_min: int | None
    anchor_at: UTCDateTime | None
    enabled: bool
    max_wind_m_s: float
    created_by: uuid.UUID | None
    created_at: UTCDateTime
    next_run_at: UTCDateTime | None = None
    last_runs: list[ScheduleRunPublic] = []


class SchedulesPublic(BaseModel):
    data: list[SchedulePublic]
    count: int


# --- a patrol launched together (server.fleet) --------------------------------------------


class PatrolLaunch(RequestModel):
    """How each dock's drone is reached: SITL at every dock, or a connection per dock (those
    not given come from the ``dock_links`` setting)."""

    sitl: bool = Field(default=False, description="Start an ArduCopter SITL at each dock.")
    connections: dict[
        Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=255)]
    ] = Field(
        default_factory=dict,
        max_length=32,
        description="DOCK_ID: MAVLink connection URL (e.g. udpin:0.0.0.0:14550)",
    )

    @model_validator(mode="after")
    def _one_way(self) -> PatrolLaunch:
        if self.sitl and self.connections:
            raise ValueError("give either sitl=true or connections, not both")
        return self


class SortieLaunchPublic(BaseModel):
    sortie: int
    mission_id: uuid.UUID
    dock: str
    connection: str = Field(description="the drone's link, or 'sitl'")
    delay_s: float = Field(description="seconds after the wave's first launch (deconfliction)")
    flight_id: uuid.UUID | None = Field(description="None while it waits for its delay")


class PatrolLaunchPublic(BaseModel):
    patrol: str
    flights: list[FlightPublic]
    sorties: list[SortieLaunchPublic]
    notes: list[str]
    not_in_wave: list[int] = Field(description="sorties left for later (no drone free for them)")
