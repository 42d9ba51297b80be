"""SQLModel tables shared by the imagery pipeline, the dispatcher and the server.

Geometries are kept as GeoJSON (JSON columns) with plain latitude/longitude
columns beside them for indexed bounding-box filters, so the same schema runs
on SQLite and PostgreSQL without a spatial extension. Keys are UUIDs and
timestamps are timezone-aware UTC.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, UniqueConstraint
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
    """An inspector's decision on a finding; every decision is kept (audit trail)."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    finding_id: uuid.UUID = Field(foreign_key="finding.id", index=True)
    user_id: uuid.UUID = Field(foreign_key="user.id", index=True)
    decision: ReviewDecision
    comment: str = Field(default="", max_length=4000)
    previous_status: FindingStatus | None = None
    duplicate_of: uuid.UUID | None = Field(default=None, foreign_key="finding.id")
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
