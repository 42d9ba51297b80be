"""Findings (one per capture that saw something): filtered, paginated lists, images, and the
audit trail. Decisions are taken on objects (``server.api.routes.objects``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import FileResponse
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, func, or_, select

from server.api.deps import CurrentUser, SessionDep
from server.schemas import (
    FindingPublic,
    FindingsPublic,
    Message,
    ReviewPublic,
    ReviewsPublic,
)
from store.models import Finding, FindingStatus, Review, ReviewDecision, User

router = APIRouter(prefix="/findings", tags=["findings"])


def parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    """``min_lon,min_lat,max_lon,max_lat`` in degrees, as GeoJSON and OGC order it."""
    if value is None or value == "":
        return None
    parts = value.split(",")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise ValueError("bbox must be four numbers: min_lon,min_lat,max_lon,max_lat") from None
    if len(numbers) != 4 or any(n != n for n in numbers):
        raise ValueError("bbox must be four numbers: min_lon,min_lat,max_lon,max_lat")
    min_lon, min_lat, max_lon, max_lat = numbers
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise ValueError(
            "bbox must be min_lon<=max_lon within ±180 and min_lat<=max_lat within ±90"
        )
    return min_lon, min_lat, max_lon, max_lat


def parse_time(value: str | None, name: str) -> datetime | None:
    """An ISO 8601 date or date-time (UTC when no zone is given); not epoch numbers."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} must be an ISO 8601 date or date-time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def bbox_clauses(table: Any, bbox: tuple[float, float, float, float]) -> list[ColumnElement[bool]]:
    """Rows of ``table`` (a model with ``lat``/``lon`` columns) inside ``bbox``, an index scan."""
    min_lon, min_lat, max_lon, max_lat = bbox
    return [
        col(table.lon) >= min_lon,
        col(table.lon) <= max_lon,
        col(table.lat) >= min_lat,
        col(table.lat) <= max_lat,
    ]


class FindingFilter:
    """Query parameters shared by the list, the exports and the report."""

    def __init__(
        self,
        site_id: Annotated[str | None, Query(max_length=128)] = None,
        kind: Annotated[str | None, Query(max_length=32)] = None,
        status_: Annotated[FindingStatus | None, Query(alias="status")] = None,
        flight_id: Annotated[uuid.UUID | None, Query()] = None,
        date_from: Annotated[
            str | None,
            Query(
                max_length=64,
                description="created at or after (ISO 8601; UTC when no zone is given)",
                json_schema_extra={"format": "date-time"},
            ),
        ] = None,
        date_to: Annotated[
            str | None,
            Query(
                max_length=64,
                description="created before (ISO 8601; UTC when no zone is given)",
                json_schema_extra={"format": "date-time"},
            ),
        ] = None,
        bbox: Annotated[
            str | None,
            Query(
                max_length=200,
                description="min_lon,min_lat,max_lon,max_lat in degrees",
                examples=["113.5,34.7,113.7,34.9"],
            ),
        ] = None,
        min_score: Annotated[float | None, Query(ge=0, le=1e9)] = None,
    ) -> None:
        try:
            self.bbox = parse_bbox(bbox)
            self.date_from = parse_time(date_from, "date_from")
            self.date_to = parse_time(date_to, "date_to")
        except ValueError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
        if self.date_from and self.date_to and self.date_to < self.date_from:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, "date_to is before date_from"
            )
        self.site_id, self.kind, self.status, self.flight_id = site_id, kind, status_, flight_id
        self.min_score = min_score

    def clauses(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.site_id:
            out.append(col(Finding.site_id) == self.site_id)
        if self.kind:
            out.append(col(Finding.kind) == self.kind)
        if self.status:
            out.append(col(Finding.status) == self.status)
        if self.flight_id:
            out.append(col(Finding.flight_id) == self.flight_id)
        if self.date_from:
            out.append(col(Finding.created_at) >= self.date_from)
        if self.date_to:
            out.append(col(Finding.created_at) < self.date_to)
        if self.min_score is not None:
            out.append(col(Finding.score) >= self.min_score)
        if self.bbox:
            out += bbox_clauses(Finding, self.bbox)
        return out


FilterDep = Annotated[FindingFilter, Depends()]


def finding_public(finding: Finding) -> FindingPublic:
    public = FindingPublic.model_validate(finding)
    public.has_thumbnail = bool(finding.thumbnail_path)
    public.has_overlay = bool(finding.overlay_path)
    return public


def query_findings(
    session: Session,
    filters: FindingFilter,
    *,
    skip: int = 0,
    limit: int | None = None,
    order: str = "newest",
) -> tuple[list[Finding], int]:
    clauses = filters.clauses()
    count = session.exec(select(func.count()).select_from(Finding).where(*clauses)).one()
    query = select(Finding).where(*clauses)
    # id breaks ties in the same direction, so one index serves the whole ORDER BY
    if order == "score":
        query = query.order_by(col(Finding.score).desc(), col(Finding.id).desc())
    elif order == "oldest":
        query = query.order_by(col(Finding.created_at), col(Finding.id))
    else:
        query = query.order_by(col(Finding.created_at).desc(), col(Finding.id).desc())
    query = query.offset(skip)
    if limit is not None:
        query = query.limit(limit)
    return list(session.exec(query).all()), count


def get_finding(session: Session, finding_id: uuid.UUID) -> Finding:
    finding = session.get(Finding, finding_id)
    if finding is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such finding")
    return finding


@router.get("")
def list_findings(
    session: SessionDep,
    _: CurrentUser,
    filters: FilterDep,
    skip: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    order: Literal["newest", "oldest", "score"] = "newest",
) -> FindingsPublic:
    findings, count = query_findings(session, filters, skip=skip, limit=limit, order=order)
    return FindingsPublic(data=[finding_public(f) for f in findings], count=count)


@router.get("/{finding_id}", responses={404: {"model": Message}})
def read_finding(session: SessionDep, _: CurrentUser, finding_id: uuid.UUID) -> FindingPublic:
    return finding_public(get_finding(session, finding_id))


def _image(path: str | None, what: str) -> FileResponse:
    if not path or not Path(path).is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"this finding has no {what} image")
    return FileResponse(path)


@router.get(
    "/{finding_id}/thumbnail",
    response_class=FileResponse,
    responses={200: {"content": {"image/*": {}}}, 404: {"model": Message}},
)
def finding_thumbnail(session: SessionDep, _: CurrentUser, finding_id: uuid.UUID) -> Any:
    return _image(get_finding(session, finding_id).thumbnail_path, "thumbnail")


@router.get(
    "/{finding_id}/overlay",
    response_class=FileResponse,
    responses={200: {"content": {"image/*": {}}}, 404: {"model": Message}},
)
def finding_overlay(session: SessionDep, _: CurrentUser, finding_id: uuid.UUID) -> Any:
    return _image(get_finding(session, finding_id).overlay_path, "overlay")


def review_public(review: Review, username: str) -> ReviewPublic:
    return ReviewPublic.model_validate({**review.model_dump(), "username": username})


@router.get("/{finding_id}/reviews", responses={404: {"model": Message}})
def list_reviews(session: SessionDep, _: CurrentUser, finding_id: uuid.UUID) -> ReviewsPublic:
    """Every decision that covered the finding, oldest first: on the finding itself (before
    objects existed) and on the object it belongs to."""
    finding = get_finding(session, finding_id)
    rows = session.exec(
        select(Review, User.username)
        .join(User, col(User.id) == col(Review.user_id))
        .where(
            or_(
                col(Review.finding_id) == finding_id,
                col(Review.object_id) == finding.object_id,
            )
        )
        .order_by(col(Review.created_at), col(Review.id))
    ).all()
    return ReviewsPublic(data=[review_public(r, name) for r, name in rows], count=len(rows))


audit_router = APIRouter(prefix="/reviews", tags=["findings"])


@audit_router.get("")
def audit_trail(
    session: SessionDep,
    _: CurrentUser,
    username: Annotated[str | None, Query(max_length=64)] = None,
    decision: ReviewDecision | None = None,
    skip: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ReviewsPublic:
    """Every review decision, newest first: who decided what on which finding, and when."""
    clauses: list[ColumnElement[bool]] = []
    if username:
        clauses.append(col(User.username) == username)
    if decision:
        clauses.append(col(Review.decision) == decision)
    base = select(Review, User.username).join(User, col(User.id) == col(Review.user_id))
    count = session.exec(
        select(func.count())
        .select_from(Review)
        .join(User, col(User.id) == col(Review.user_id))
        .where(*clauses)
    ).one()
    rows = session.exec(
        base.where(*clauses)
        .order_by(col(Review.created_at).desc(), col(Review.id).desc())
        .offset(skip)
        .limit(limit)
    ).all()
    return ReviewsPublic(data=[review_public(r, name) for r, name in rows], count=count)
