"""Patrol plans (the planner's sorties, stored as missions) and per-patrol reports."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, status
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from sqlmodel import col, func, select

from server.api.deps import CurrentUser, SessionDep
from server.errors import NotFoundError
from server.report import patrol_report
from server.schemas import Message, MissionPublic, MissionsPublic
from store.models import Mission

router = APIRouter(tags=["missions"])

PatrolName = Path(min_length=1, max_length=255)


class PatrolSummary(BaseModel):
    name: str
    sorties: int
    length_m: float
    photo_count: int


@router.get("/missions")
def list_missions(
    session: SessionDep,
    _: CurrentUser,
    patrol_name: Annotated[str | None, Query(max_length=255)] = None,
    skip: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> MissionsPublic:
    clauses = [col(Mission.patrol_name) == patrol_name] if patrol_name else []
    count = session.exec(select(func.count()).select_from(Mission).where(*clauses)).one()
    rows = session.exec(
        select(Mission)
        .where(*clauses)
        .order_by(col(Mission.created_at).desc(), col(Mission.sortie_index))
        .offset(skip)
        .limit(limit)
    ).all()
    return MissionsPublic(data=[MissionPublic.model_validate(m) for m in rows], count=count)


@router.get("/missions/{mission_id}", responses={404: {"model": Message}})
def read_mission(session: SessionDep, _: CurrentUser, mission_id: uuid.UUID) -> MissionPublic:
    mission = session.get(Mission, mission_id)
    if mission is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such mission")
    return MissionPublic.model_validate(mission)


@router.get("/patrols")
def list_patrols(session: SessionDep, _: CurrentUser) -> list[PatrolSummary]:
    rows = session.exec(
        select(
            Mission.patrol_name,
            func.count(),
            func.sum(Mission.length_m),
            func.sum(Mission.photo_count),
        )
        .group_by(col(Mission.patrol_name))
        .order_by(col(Mission.patrol_name))
    ).all()
    return [
        PatrolSummary(
            name=name, sorties=n, length_m=float(length or 0), photo_count=int(photos or 0)
        )
        for name, n, length, photos in rows
    ]


@router.get(
    "/patrols/{patrol_name}/report",
    response_class=HTMLResponse,
    responses={200: {"content": {"text/html": {}}}, 404: {"model": Message}},
)
def patrol_report_html(
    session: SessionDep, _: CurrentUser, patrol_name: str = PatrolName
) -> HTMLResponse:
    """A self-contained HTML report (map, images, findings, reviews); print it to PDF."""
    try:
        html = patrol_report(session, patrol_name)
    except NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    return HTMLResponse(
        html,
        headers={"Content-Disposition": 'inline; filename="patrol-report.html"'},
    )


@router.get(
    "/patrols/{patrol_name}/geojson",
    responses={404: {"model": Message}},
)
def patrol_geojson(
    session: SessionDep, _: CurrentUser, patrol_name: str = PatrolName
) -> dict[str, Any]:
    """Every sortie's route (LineString) and photo points (MultiPoint) as one FeatureCollection."""
    missions = session.exec(
        select(Mission)
        .where(Mission.patrol_name == patrol_name)
        .order_by(col(Mission.sortie_index))
    ).all()
    if not missions:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no patrol named {patrol_name!r}")
    features = []
    for mission in missions:
        plan = mission.plan or {}
        for key in ("route", "photos"):
            geometry = plan.get(key)
            if isinstance(geometry, dict) and geometry.get("coordinates"):
                features.append(
                    {
                        "type": "Feature",
                        "geometry": geometry,
                        "properties": {
                            "layer": key,
                            "mission_id": str(mission.id),
                            "mission_name": mission.name,
                            "sortie_index": mission.sortie_index,
                        },
                    }
                )
    return {"type": "FeatureCollection", "features": features}
