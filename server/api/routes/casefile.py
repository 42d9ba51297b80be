"""The case file (one PDF per site and patrol, for an enforcement notice) and a site's
history (every patrol that covered it, its objects by status, each against the last)."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime
from functools import partial
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from pydantic import BaseModel
from sqlmodel import Session, col, select

from server.api.deps import CurrentUser, SessionDep, SettingsDep
from server.basemap import extract
from server.casefile import case_file, get_site, patrol_flights
from server.errors import NotFoundError
from server.exports import safe_file_name
from server.schemas import Message, UTCDateTime
from store.models import DetectedObject, FindingStatus, Mission
from store.readings import as_utc

router = APIRouter(tags=["case files"])

SiteId = Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
PDF = "application/pdf"


@router.get(
    "/sites/{site_id}/case-file",
    response_class=Response,
    responses={
        200: {"content": {PDF: {}}, "description": "The case file (A4 PDF)."},
        404: {"model": Message, "description": "No such site, or no such patrol."},
    },
)
def read_case_file(
    session: SessionDep,
    settings: SettingsDep,
    _: CurrentUser,
    patrol: Annotated[
        str,
        Query(
            min_length=1,
            max_length=255,
            description="The patrol's name (a flight recorded without a plan: the flight's name)",
        ),
    ],
    site_id: str = SiteId,
) -> Response:
    """The site's case file for one patrol, as a PDF to attach to an enforcement notice.

    Holds the site, the patrol's flights, a map extract, every confirmed object
    (position, attribution, measurements, evidence crops, the inspectors'
    decisions and comments) and the SHA-256 of each original image used.
    """
    try:
        # the map extract over the configured base layers (ECOPATROL_BASEMAP), if any
        basemap = partial(extract, settings.basemap) if settings.basemap else None
        body = case_file(session, site_id, patrol, basemap=basemap)
    except NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    filename = f"case-file-{safe_file_name(site_id)}-{safe_file_name(patrol)}.pdf"
    return Response(
        content=body,
        media_type=PDF,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


class HistoryObject(BaseModel):
    """One object of the site on one patrol, with its previous patrol's counterpart."""

    id: uuid.UUID
    kind: str
    status: FindingStatus
    severity: str
    best_finding_id: uuid.UUID | None
    change: str | None
    """Against the site's previous patrol: new or recurring."""
    previous_object_id: uuid.UUID | None
    previous_best_finding_id: uuid.UUID | None
    previous_patrol_name: str | None


class HistoryFlight(BaseModel):
    id: uuid.UUID
    name: str
    started_at: UTCDateTime | None
    ended_at: UTCDateTime | None


class HistoryPatrol(BaseModel):
    """One patrol that covered the site: planned to (a sortie's target) or found something."""

    name: str
    started_at: UTCDateTime | None
    """The first take-off (or record) of its flights; None when not flown."""
    flights: list[HistoryFlight]
    counts: dict[FindingStatus, int]
    """Objects at the site by status (every status present, zeros included)."""
    objects: list[HistoryObject]


class SiteHistory(BaseModel):
    site_id: str
    name: str
    kind: str
    patrols: list[HistoryPatrol]
    """Oldest first."""


def _patrol_names(session: Session, site_id: str) -> set[str]:
    """Patrols that planned a sortie over the site or filed an object at it."""
    names = set(
        session.exec(
            select(DetectedObject.patrol_name)
            .where(col(DetectedObject.site_id) == site_id, col(DetectedObject.finding_count) > 0)
            .distinct()
        )
    )
    for name, targets in session.exec(select(Mission.patrol_name, Mission.targets)):
        if name and site_id in (targets or []):
            names.add(name)
    return {n for n in names if n}


def _patrol(session: Session, site_id: str, name: str) -> HistoryPatrol:
    _missions, flights = patrol_flights(session, name)
    objects = list(
        session.exec(
            select(DetectedObject)
            .where(
                col(DetectedObject.site_id) == site_id,
                col(DetectedObject.patrol_name) == name,
                col(DetectedObject.finding_count) > 0,
            )
            .order_by(col(DetectedObject.severity_rank).desc(), col(DetectedObject.id))
        )
    )
    previous_ids = [o.previous_object_id for o in objects if o.previous_object_id]
    previous = (
        {
            p.id: p
            for p in session.exec(
                select(DetectedObject).where(col(DetectedObject.id).in_(previous_ids))
            )
        }
        if previous_ids
        else {}
    )
    counts = Counter(o.status for o in objects)
    starts = [as_utc(f.started_at or f.created_at) for f in flights]
    return HistoryPatrol(
        name=name,
        started_at=min(starts) if starts else None,
        flights=[
            HistoryFlight(id=f.id, name=f.name, started_at=f.started_at, ended_at=f.ended_at)
            for f in flights
        ],
        counts={s: counts.get(s, 0) for s in FindingStatus},
        objects=[
            _history_object(o, previous.get(o.previous_object_id) if o.previous_object_id else None)
            for o in objects
        ],
    )


def _history_object(obj: DetectedObject, previous: DetectedObject | None) -> HistoryObject:
    return HistoryObject(
        id=obj.id,
        kind=obj.kind,
        status=obj.status,
        severity=obj.severity,
        best_finding_id=obj.best_finding_id,
        change=obj.change,
        previous_object_id=obj.previous_object_id,
        previous_best_finding_id=previous.best_finding_id if previous else None,
        previous_patrol_name=previous.patrol_name if previous else None,
    )


@router.get("/sites/{site_id}/history", responses={404: {"model": Message}})
def read_site_history(session: SessionDep, _: CurrentUser, site_id: str = SiteId) -> SiteHistory:
    """Every patrol that covered the site, oldest first, with its objects there by status."""
    try:
        site = get_site(session, site_id)
    except NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    patrols = [_patrol(session, site_id, name) for name in _patrol_names(session, site_id)]
    patrols.sort(key=lambda p: (p.started_at is None, p.started_at or datetime.min, p.name))
    return SiteHistory(site_id=site.site_id, name=site.name, kind=site.kind, patrols=patrols)
