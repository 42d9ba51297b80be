"""Objects: the review queue's unit (a group of findings of one kind at one place on one
flight), its captures, its history, and the decisions and splits taken on it."""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pydantic import TypeAdapter
from sqlalchemy import Select, String, Table, Uuid, type_coerce
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, func, select

from server.api.deps import CurrentUser, InspectorUser, SessionDep
from server.api.routes.findings import bbox_clauses, finding_public, parse_bbox, review_public
from server.schemas import (
    Message,
    ObjectDetail,
    ObjectPrevious,
    ObjectPublic,
    ObjectReviewCreate,
    ObjectSplit,
    ObjectsPublic,
    ReviewPublic,
)
from store.models import DetectedObject, FindingStatus, Review, User
from store.objects import REJECT_REASONS, ObjectError, decide, members, objects_version, split

router = APIRouter(prefix="/objects", tags=["objects"])


@dataclass(frozen=True, slots=True)
class ObjectFilter:
    """Query parameters shared by the queue, the map's object layer and the exports."""

    site_id: str | None = None
    kind: str | None = None
    status: FindingStatus | None = None
    flight_id: uuid.UUID | None = None
    patrol: str | None = None
    bbox: tuple[float, float, float, float] | None = None

    @classmethod
    async def from_query(
        cls,
        site_id: Annotated[str | None, Query(max_length=128)] = None,
        kind: Annotated[str | None, Query(max_length=32)] = None,
        status_: Annotated[FindingStatus | None, Query(alias="status")] = None,
        flight_id: Annotated[uuid.UUID | None, Query()] = None,
        patrol: Annotated[str | None, Query(max_length=255, description="patrol name")] = None,
        bbox: Annotated[
            str | None,
            Query(
                max_length=200,
                description="min_lon,min_lat,max_lon,max_lat in degrees",
                examples=["113.5,34.7,113.7,34.9"],
            ),
        ] = None,
    ) -> ObjectFilter:
        """The filter from a request's query (a coroutine, so FastAPI runs it in the event
        loop instead of handing it to a worker thread: a third of a queue page's time)."""
        try:
            box = parse_bbox(bbox)
        except ValueError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
        return cls(site_id, kind, status_, flight_id, patrol, box)

    def clauses(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = [col(DetectedObject.finding_count) > 0]
        if self.site_id:
            out.append(col(DetectedObject.site_id) == self.site_id)
        if self.kind:
            out.append(col(DetectedObject.kind) == self.kind)
        if self.status:
            out.append(col(DetectedObject.status) == self.status)
        if self.flight_id:
            out.append(col(DetectedObject.flight_id) == self.flight_id)
        if self.patrol:
            out.append(col(DetectedObject.patrol_name) == self.patrol)
        if self.bbox:
            out += bbox_clauses(DetectedObject, self.bbox)
        return out


ObjectFilterDep = Annotated[ObjectFilter, Depends(ObjectFilter.from_query)]


_Query = TypeVar("_Query", bound=Select[Any])


def _page(query: _Query, filters: ObjectFilter, skip: int, limit: int | None) -> _Query:
    """Objects by severity (highest first), then site, then id: the queue's order."""
    query = (
        query.where(*filters.clauses())
        .order_by(
            col(DetectedObject.severity_rank).desc(),
            col(DetectedObject.site_id),
            col(DetectedObject.id),
        )
        .offset(skip)
    )
    return query.limit(limit) if limit is not None else query


def count_objects(session: Session, filters: ObjectFilter) -> int:
    return session.exec(
        select(func.count()).select_from(DetectedObject).where(*filters.clauses())
    ).one()


def query_objects(
    session: Session, filters: ObjectFilter, *, skip: int = 0, limit: int | None = None
) -> tuple[list[DetectedObject], int]:
    """A page of objects in the queue's order, and how many match."""
    page = session.exec(_page(select(DetectedObject), filters, skip, limit))
    return list(page.all()), count_objects(session, filters)


def get_object(session: Session, object_id: uuid.UUID) -> DetectedObject:
    obj = session.get(DetectedObject, object_id)
    if obj is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such object")
    return obj


def object_reviews(session: Session, object_id: uuid.UUID) -> list[ReviewPublic]:
    """Every decision on the object, oldest first."""
    rows = session.exec(
        select(Review, User.username)
        .join(User, col(User.id) == col(Review.user_id))
        .where(col(Review.object_id) == object_id)
        .order_by(col(Review.created_at), col(Review.id))
    ).all()
    return [review_public(r, name) for r, name in rows]


def object_detail(session: Session, obj: DetectedObject) -> ObjectDetail:
    previous = (
        session.get(DetectedObject, obj.previous_object_id) if obj.previous_object_id else None
    )
    return ObjectDetail.model_validate(
        {
            **ObjectPublic.model_validate(obj).model_dump(),
            "findings": [finding_public(f) for f in members(session, obj)],
            "reviews": object_reviews(session, obj.id),
            "previous": (
                ObjectPrevious(
                    object=ObjectPublic.model_validate(previous),
                    reviews=object_reviews(session, previous.id),
                )
                if previous
                else None
            ),
        }
    )


@router.get("", response_model=ObjectsPublic)
def list_objects(
    request: Request,
    session: SessionDep,
    _: CurrentUser,
    filters: ObjectFilterDep,
    skip: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> Response:
    """The review queue and the map's object layer: by severity, then site.

    Every inspector asks for the same first page of the queue: a page is kept
    (``PageCache``) and served again while the objects' change count
    (``store.objects.objects_version``, read first) is the one it was built at.
    """
    version = objects_version(session)
    pages: PageCache = request.app.state.object_pages
    key = (filters, skip, limit)
    body = pages.get(key, version)
    if body is None:
        body = _page_json(session, filters, skip, limit)
        pages.put(key, version, body)
    return Response(body, media_type="application/json")


def _page_json(session: Session, filters: ObjectFilter, skip: int, limit: int) -> bytes:
    """A page as JSON: read as rows and written by the model itself (FastAPI would dump
    the page to dicts and validate it again), the count a query of its own (counted over
    the page's query, every match would be read and sorted, where the queue's index lets
    the page stop at its end)."""
    query = _page(select(*_ROW_COLUMNS), filters, skip, limit)
    rows = [dict(r) for r in session.connection().execute(query).mappings()]
    # a page short of its limit is the last: the count is known (a map view, mostly)
    count = skip + len(rows) if 0 < len(rows) < limit else count_objects(session, filters)
    page = ObjectsPublic(data=_OBJECTS.validate_python(rows), count=count)
    return page.model_dump_json().encode()


class PageCache:
    """Pages of objects by (filter, skip, limit), each with the change count it was built
    at; the least recently used go first beyond ``size``. Shared by the worker threads."""

    def __init__(self, size: int = 256) -> None:
        self._pages: OrderedDict[Hashable, tuple[int, bytes]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: Hashable, version: int | None) -> bytes | None:
        if version is None:
            return None
        with self._lock:
            kept = self._pages.get(key)
            if kept is None or kept[0] != version:
                return None
            self._pages.move_to_end(key)
            return kept[1]

    def put(self, key: Hashable, version: int | None, body: bytes) -> None:
        if version is None:
            return
        with self._lock:
            self._pages[key] = (version, body)
            self._pages.move_to_end(key)
            while len(self._pages) > self._size:
                self._pages.popitem(last=False)


_TABLE: Table = DetectedObject.__table__  # type: ignore[attr-defined]
_ROW_COLUMNS = [
    type_coerce(c, String).label(c.name) if isinstance(c.type, Uuid) else c for c in _TABLE.c
]
"""The table's columns, ids left as the database's text: pydantic reads them into UUIDs
faster than SQLAlchemy does (a page is read as rows, not ORM objects, for the same reason)."""
_OBJECTS = TypeAdapter(list[ObjectPublic])


@router.get("/reject-reasons")
def reject_reasons(_: CurrentUser) -> list[str]:
    """The short list a rejection's reason is picked from (free text is also taken)."""
    return list(REJECT_REASONS)


@router.get("/{object_id}", responses={404: {"model": Message}})
def read_object(session: SessionDep, _: CurrentUser, object_id: uuid.UUID) -> ObjectDetail:
    """The object with every capture's finding, its decisions and the previous patrol's."""
    return object_detail(session, get_object(session, object_id))


@router.post(
    "/{object_id}/reviews",
    status_code=status.HTTP_201_CREATED,
    responses={404: {"model": Message}, 422: {"model": Message}},
)
def review_object(
    session: SessionDep, inspector: InspectorUser, object_id: uuid.UUID, body: ObjectReviewCreate
) -> ReviewPublic:
    """Confirm, reject (with a reason) or mark a duplicate: one decision for every capture."""
    obj = get_object(session, object_id)
    try:
        review = decide(
            session,
            obj,
            user_id=inspector.id,
            decision=body.decision,
            reason=body.reason,
            comment=body.comment,
            duplicate_of=body.duplicate_of,
        )
    except ObjectError as exc:
        session.rollback()
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    session.commit()
    session.refresh(review)
    return review_public(review, inspector.username)


@router.post(
    "/{object_id}/split",
    status_code=status.HTTP_201_CREATED,
    responses={404: {"model": Message}, 422: {"model": Message}},
)
def split_object(
    session: SessionDep, _: InspectorUser, object_id: uuid.UUID, body: ObjectSplit
) -> ObjectPublic:
    """Move captures the grouping got wrong to a new, pending object of their own."""
    obj = get_object(session, object_id)
    try:
        new = split(session, obj, body.finding_ids)
    except ObjectError as exc:
        session.rollback()
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    session.commit()
    session.refresh(new)
    return ObjectPublic.model_validate(new)
