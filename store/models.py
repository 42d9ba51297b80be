"""SQLModel tables shared by the imagery pipeline, the dispatcher and the server.

Geometries are kept as GeoJSON (JSON columns) with plain latitude/longitude
columns beside them for indexed bounding-box filters, so the same schema runs
on SQLite and PostgreSQL without a spatial extension. Keys are UUIDs and
timestamps are timezone-aware UTC.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, UniqueConstraint, event, update
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Field, SQLModel, col


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(
        default_factory=utcnow if not nullable else None,
        sa_type=DateTime(timezone=True),
        nullable=nullable,
        index=index,
    )


def _json(*, nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(JSON, nullable=nullable))


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    INSPECTOR = "inspector"


class FlightStatus(StrEnum):
    PLANNED = "planned"
    STARTING = "starting"
    FLYING = "flying"
    LANDED = "landed"
    ABORTED = "aborted"
    FAILED = "failed"


class CaptureStatus(StrEnum):
    PENDING = "pending"
    PROCESSED = "processed"
    FAILED = "failed"


class FindingStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"


class ReviewDecision(StrEnum):
    CONFIRM = "confirm"
    REJECT = "reject"
    DUPLICATE = "duplicate"


class User(SQLModel, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    username: str = Field(index=True, unique=True, max_length=64)
    full_name: str = Field(default="", max_length=128)
    password_hash: str = Field(max_length=255)
    role: Role = Field(default=Role.INSPECTOR)
    is_active: bool = True
    # Every session token carries the generation it was signed in; sign-out, a new password
    # and an administrator's reset raise it, which ends every token signed before.
    token_version: int = Field(default=0)
    created_at: datetime = _ts()


class Site(SQLModel, table=True):
    """One feature of a zone's sites file (enterprise, river, no_fly, dock)."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    site_id: str = Field(index=True, unique=True, max_length=128)
    kind: str = Field(index=True, max_length=32)
    name: str = Field(default="", max_length=255)
    geometry: dict[str, Any] = _json(nullable=False)
    properties: dict[str, Any] | None = _json()
    created_at: datetime = _ts()


class Mission(SQLModel, table=True):
    """One planned sortie (the unit a drone flies)."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=255)
    patrol_name: str = Field(default="", index=True, max_length=255)
    sortie_index: int = 0
    targets: list[str] | None = _json()
    length_m: float = 0.0
    duration_s: float = 0.0
    photo_count: int = 0
    plan: dict[str, Any] | None = _json()
    # the air-quality alert the patrol was planned to find the source of (None: a routine one)
    alert_id: uuid.UUID | None = Field(default=None, foreign_key="alert.id", index=True)
    created_at: datetime = _ts()


class Flight(SQLModel, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    mission_id: uuid.UUID | None = Field(default=None, foreign_key="mission.id", index=True)
    name: str = Field(default="", max_length=255)
    status: FlightStatus = Field(default=FlightStatus.PLANNED, index=True)
    connection: str = Field(default="", max_length=255)
    directory: str = Field(default="", max_length=1024)
    distance_m: float = 0.0
    started_at: datetime | None = _ts(nullable=True)
    ended_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts()


class Capture(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("flight_id", "path", name="uq_capture_flight_path"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    flight_id: uuid.UUID | None = Field(default=None, foreign_key="flight.id", index=True)
    index: int | None = None
    path: str = Field(max_length=1024)
    sha256: str = Field(default="", max_length=64, index=True)
    kind: str = Field(default="rgb", max_length=16)
    width: int | None = None
    height: int | None = None
    taken_at: datetime | None = _ts(nullable=True)
    lat: float | None = Field(default=None, index=True)
    lon: float | None = Field(default=None, index=True)
    alt_amsl_m: float | None = None
    alt_rel_m: float | None = None
    pose: dict[str, Any] | None = _json()
    footprint: dict[str, Any] | None = _json()
    position_error_m: float | None = None
    status: CaptureStatus = Field(default=CaptureStatus.PENDING, index=True)
    failure_reason: str | None = Field(default=None, max_length=2000)
    created_at: datetime = _ts()


SEVERITY_RANK = {"low": 1, "medium": 2, "high": 3}


class DetectedObject(SQLModel, table=True):
    """One thing on the ground or in the air, seen in one or more captures of one flight.

    The unit inspectors review: the findings of one group (``key`` is their
    ``group_id``, or a split's own key), with what the queue and the map need
    kept here so a page of objects is one indexed query. A decision on the
    object sets every member finding's status. ``split_from`` names the
    object a capture was split off, when the grouping was wrong.
    """

    __tablename__ = "detected_object"
    # the review queue: a status's objects by severity, then site and id. The index runs
    # the other way in severity, so the database reads it backwards one severity at a
    # time and sorts only that severity's objects by site, stopping at the page's end.
    __table_args__ = (
        Index("ix_detected_object_queue", "status", "severity_rank", "site_id", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    key: str = Field(index=True, unique=True, max_length=255)
    flight_id: uuid.UUID | None = Field(default=None, foreign_key="flight.id", index=True)
    patrol_name: str = Field(default="", index=True, max_length=255)
    kind: str = Field(index=True, max_length=32)
    site_id: str | None = Field(default=None, index=True, max_length=128)
    source_id: str | None = Field(default=None, max_length=128)
    severity: str = Field(default="low", max_length=16)
    severity_rank: int = 1
    score: float = 0.0
    lat: float = Field(index=True)
    lon: float = Field(index=True)
    position_error_m: float | None = None
    alt_amsl_m: float | None = None
    height_agl_m: float | None = None
    finding_count: int = 0
    best_finding_id: uuid.UUID | None = None
    summary: dict[str, Any] | None = _json()
    change: str | None = Field(default=None, max_length=16)
    previous_object_id: uuid.UUID | None = None
    split_from: uuid.UUID | None = None
    status: FindingStatus = Field(default=FindingStatus.PENDING, index=True)
    created_at: datetime = _ts(index=True)


class ChangeCounter(SQLModel, table=True):
    """How many times rows of one table have changed (``name``: the table's name).

    A page built from those rows (the review queue's, the map's object layer) may
    be served again while the counter still reads what it read when the page was
    built: every process sees the same counter, so no worker serves a stale page.
    """

    __tablename__ = "change_counter"

    name: str = Field(primary_key=True, max_length=64)
    value: int = 0


@event.listens_for(OrmSession, "before_flush")
def _count_object_changes(session: OrmSession, _context: object, _instances: object) -> None:
    """A flush that adds, changes or deletes an object counts one change of the objects,
    in the flush's own transaction (so the count and the rows commit together)."""
    touched = itertools.chain(session.new, session.dirty, session.deleted)
    if any(isinstance(row, DetectedObject) for row in touched):
        counter = ChangeCounter.__table__  # type: ignore[attr-defined]
        session.execute(
            update(counter)
            .where(counter.c.name == DetectedObject.__tablename__)
            .values(value=counter.c.value + 1)
        )


class Finding(SQLModel, table=True):
    """One anomaly found in one capture; ``dedupe_key`` makes re-processing idempotent.

    ``source_id`` is the stack or outfall it is attributed to (None: none).
    A finding in the air (a plume above its stack) has its point's altitude
    ``alt_amsl_m`` (metres above mean sea level) and ``height_agl_m`` (above
    the ground at its source), ``lat``/``lon`` under it, and no ground polygon;
    ``source_distance_m`` is metres from the source's mouth (in the air) or foot
    (on the ground).
    """

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    dedupe_key: str = Field(index=True, unique=True, max_length=255)
    capture_id: uuid.UUID = Field(foreign_key="capture.id", index=True)
    flight_id: uuid.UUID | None = Field(default=None, foreign_key="flight.id", index=True)
    group_id: str | None = Field(default=None, index=True, max_length=64)
    object_id: uuid.UUID | None = Field(default=None, foreign_key="detected_object.id", index=True)
    site_id: str | None = Field(default=None, index=True, max_length=128)
    source_id: str | None = Field(default=None, index=True, max_length=128)
    kind: str = Field(index=True, max_length=32)
    detector: str = Field(max_length=64)
    detector_version: str = Field(max_length=32)
    score: float = 0.0
    severity: str = Field(default="low", max_length=16)
    pixel_box: list[int] | None = _json()
    ground_polygon: dict[str, Any] | None = _json()
    lat: float = Field(index=True)
    lon: float = Field(index=True)
    utm_epsg: int | None = None
    utm_e: float | None = None
    utm_n: float | None = None
    area_m2: float | None = None
    position_error_m: float | None = None
    alt_amsl_m: float | None = None
    height_agl_m: float | None = None
    source_distance_m: float | None = None
    measurements: dict[str, Any] | None = _json()
    thumbnail_path: str | None = Field(default=None, max_length=1024)
    overlay_path: str | None = Field(default=None, max_length=1024)
    mask_path: str | None = Field(default=None, max_length=1024)
    status: FindingStatus = Field(default=FindingStatus.PENDING, index=True)
    created_at: datetime = _ts(index=True)


class Review(SQLModel, table=True):
    """An inspector's decision on an object (or, stored before objects, on one finding).

    Every decision is kept (the audit trail): one row per decision, however many
    captures the object has. ``reason`` is the short-list reason of a rejection.
    """

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    finding_id: uuid.UUID | None = Field(default=None, foreign_key="finding.id", index=True)
    object_id: uuid.UUID | None = Field(default=None, foreign_key="detected_object.id", index=True)
    user_id: uuid.UUID = Field(foreign_key="user.id", index=True)
    decision: ReviewDecision
    reason: str | None = Field(default=None, max_length=64)
    comment: str = Field(default="", max_length=4000)
    previous_status: FindingStatus | None = None
    duplicate_of: uuid.UUID | None = Field(default=None, foreign_key="finding.id")
    duplicate_of_object: uuid.UUID | None = Field(default=None, foreign_key="detected_object.id")
    created_at: datetime = _ts()


# The findings list pages by (created_at, id) or (score, id); with these the database walks an
# index instead of sorting every matching row, also after a status filter.
Index("ix_finding_created_at_id", col(Finding.created_at), col(Finding.id))
Index(
    "ix_finding_status_created_at_id",
    col(Finding.status),
    col(Finding.created_at),
    col(Finding.id),
)
Index("ix_finding_status_score_id", col(Finding.status), col(Finding.score), col(Finding.id))
Index("ix_finding_score_id", col(Finding.score), col(Finding.id))
# The review queue: pending objects by severity, then site.
Index(
    "ix_object_status_rank_site",
    col(DetectedObject.status),
    col(DetectedObject.severity_rank),
    col(DetectedObject.site_id),
    col(DetectedObject.id),
)


class Reading(SQLModel, table=True):
    """One station's value of one pollutant at one time: what ``store.readings`` ingests.

    ``station_id`` is the station's site id (no foreign key: readings outlive a
    station taken out of the sites file). ``value`` is in ``unit`` (µg/m³, or
    mg/m³ for CO). ``time`` is UTC. The wind, where the station reports it, is
    its speed in m/s and the direction it blows FROM, in degrees clockwise from
    true north (0 or 360: from the north; 90: from the east). The unique key
    makes ingest idempotent.
    """

    __table_args__ = (
        UniqueConstraint(
            "station_id", "pollutant", "time", name="uq_reading_station_pollutant_time"
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    station_id: str = Field(max_length=128)  # the unique key's index serves station look-ups
    pollutant: str = Field(max_length=16)
    value: float
    unit: str = Field(max_length=16)
    time: datetime = _ts(index=True)
    wind_speed_m_s: float | None = None
    wind_from_deg: float | None = None
    created_at: datetime = _ts()


class Alert(SQLModel, table=True):
    """An episode of one station's pollutant over its level (``store.alerts`` keeps the rules).

    ``reason`` is ``limit`` (over the ambient limit ``threshold``) or
    ``baseline`` (over the station's own recent level; ``threshold`` is that
    level when the alert opened). ``averaging_h`` is 1 when hourly values are
    compared, 24 for a rolling 24-h mean. Times are the readings' (UTC).
    ``open_key`` is ``station|pollutant`` while open and NULL once closed: the
    unique index keeps one open alert per station and pollutant, also between
    two writers. ``below_count`` counts consecutive readings under the closing
    level.
    """

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    station_id: str = Field(index=True, max_length=128)
    pollutant: str = Field(max_length=16)
    reason: str = Field(max_length=16)
    unit: str = Field(max_length=16)
    threshold: float
    averaging_h: int = 1
    over_limit: bool = False
    opened_at: datetime = _ts(index=True)
    last_seen_at: datetime = _ts()
    peak_value: float
    peak_at: datetime = _ts()
    closed_at: datetime | None = _ts(nullable=True, index=True)
    below_count: int = 0
    open_key: str | None = Field(default=None, unique=True, index=True, max_length=160)
    created_at: datetime = _ts()


class ScheduleKind(StrEnum):
    TIMES = "times"  # times of day (``times``), on every day or on ``days`` of the week
    INTERVAL = "interval"  # every ``interval_min`` minutes from ``anchor_at``


class ScheduleRunStatus(StrEnum):
    LAUNCHED = "launched"
    SKIPPED = "skipped"
    MISSED = "missed"
    FAILED = "failed"


class Schedule(SQLModel, table=True):
    """When a stored patrol (its missions sharing ``patrol_name``) flies by itself.

    ``times`` are local times of day ("07:30") in the IANA zone ``tz``; ``days``
    the weekdays they apply on ("mon" ... "sun", in that zone; None: every day).
    An interval schedule's slots are ``anchor_at`` (UTC) plus whole multiples of
    ``interval_min``. A slot is launched only with a wind at most ``max_wind_m_s``
    (m/s) known within the hour before it (``server.scheduler`` keeps the rules).
    """

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    patrol_name: str = Field(index=True, max_length=255)
    kind: str = Field(max_length=16)  # a ScheduleKind (plain text: no enum type in the schema)
    times: list[str] | None = _json()
    days: list[str] | None = _json()
    tz: str = Field(default="Asia/Shanghai", max_length=64)
    interval_min: int | None = None
    anchor_at: datetime | None = _ts(nullable=True)
    enabled: bool = True
    active_since: datetime = _ts()  # slots before are never due: its creation or last resume
    max_wind_m_s: float = 10.0
    created_by: uuid.UUID | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = _ts()


class ScheduleRun(SQLModel, table=True):
    """What became of one slot of a schedule; ``slot_at`` is the slot's time (UTC).

    The unique key claims a slot: a second row for the same slot (a restarted
    server, or a second process ticking at once) is refused by the database, so a
    patrol never flies twice for one slot. ``reason`` is one line for an operator;
    ``flight_ids`` the flights launched (as strings).
    """

    __tablename__ = "schedule_run"
    __table_args__ = (UniqueConstraint("schedule_id", "slot_at", name="uq_schedule_run_slot"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    schedule_id: uuid.UUID = Field(foreign_key="schedule.id")  # the unique key's index serves
    slot_at: datetime = _ts(index=True)
    status: str = Field(max_length=16)  # a ScheduleRunStatus
    reason: str = Field(default="", max_length=500)
    flight_ids: list[str] | None = _json()
    decided_at: datetime = _ts()
