"""Patrol plans (the planner's sorties, stored as missions) and per-patrol reports."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, UploadFile, status
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, func, select

from missions.errors import MissionError
from missions.export.wpml_check import check_kmz
from missions.plan import GCS_LOSS_RETURN_RANGE_S, GCS_LOSS_RETURN_S, Patrol
from server.api.deps import CurrentUser, OperatorUser, SessionDep
from server.errors import NotFoundError
from server.fleet import WaveError, launch_patrol
from server.flights import FlightManager
from server.planning import dock_of, plan_from_store, store_patrol, zone_from_store
from server.report import patrol_report
from server.schemas import (
    FlightPublic,
    Message,
    MissionPublic,
    MissionsPublic,
    PatrolLaunch,
    PatrolLaunchPublic,
    RequestModel,
    SortieLaunchPublic,
    UTCDateTime,
    as_utc,
)
from store.models import Flight, Mission
from zone.errors import ZoneError

router = APIRouter(tags=["missions"])

PatrolName = Path(min_length=1, max_length=255)


class PatrolSummary(BaseModel):
    name: str
    sorties: int
    length_m: float
    photo_count: int
    planned_at: UTCDateTime


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
    """Every planned patrol, the most recently planned first."""
    planned = func.max(Mission.created_at)
    rows = session.execute(
        sa_select(
            col(Mission.patrol_name),
            func.count(),
            func.sum(Mission.length_m),
            func.sum(Mission.photo_count),
            planned,
        )
        .group_by(col(Mission.patrol_name))
        .order_by(planned.desc(), col(Mission.patrol_name))
    ).all()
    return [
        PatrolSummary(
            name=name,
            sorties=n,
            length_m=float(length or 0),
            photo_count=int(photos or 0),
            planned_at=as_utc(when),
        )
        for name, n, length, photos, when in rows
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


Pattern = Literal["survey", "orbit", "corridor", "perimeter"]
DEFAULT_PATTERNS: tuple[Pattern, ...] = ("survey", "orbit", "corridor")


class PlanRequest(RequestModel):
    """What to plan; every option has the planner's default."""

    patrol_name: str = Field(min_length=1, max_length=200, pattern=r"^[^/\\]+$")
    targets: list[str] | None = Field(
        default=None, max_length=500, description="enterprise and river ids; all when omitted"
    )
    camera: Literal["wide-20mp", "thermal-640"] = "wide-20mp"
    altitude_m: float | None = Field(default=None, gt=0, le=500)
    gsd_cm: float | None = Field(default=None, gt=0, le=100)
    front_overlap: float = Field(default=0.8, ge=0, lt=1)
    side_overlap: float = Field(default=0.7, ge=0, lt=1)
    patterns: list[Pattern] = Field(
        default_factory=lambda: list(DEFAULT_PATTERNS), min_length=1, max_length=4
    )
    gcs_loss_return_s: float = Field(
        default=GCS_LOSS_RETURN_S,
        ge=GCS_LOSS_RETURN_RANGE_S[0],
        le=GCS_LOSS_RETURN_RANGE_S[1],
        description="seconds the vehicle flies on without the ground station before it returns",
    )


class PlanResult(BaseModel):
    patrol_name: str
    sorties: list[MissionPublic]
    refused: dict[str, str]
    length_m: float
    duration_s: float
    photo_count: int


@router.post(
    "/plans",
    status_code=status.HTTP_201_CREATED,
    responses={409: {"model": Message}, 422: {"model": Message}},
)
async def create_plan(session: SessionDep, _: OperatorUser, body: PlanRequest) -> PlanResult:
    """Plan a patrol over the stored sites (``missions.plan.plan_patrol``) and keep its sorties."""
    if session.exec(select(Mission.id).where(Mission.patrol_name == body.patrol_name)).first():
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"a patrol named {body.patrol_name!r} already exists"
        )
    if body.altitude_m is not None and body.gsd_cm is not None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "give altitude_m or gsd_cm, not both"
        )
    options = body.model_dump(exclude={"patrol_name", "targets"})
    try:
        # the routing solver is CPU-bound: keep the event loop free for telemetry
        patrol = await asyncio.to_thread(
            _plan_in_new_session, session.get_bind(), body.targets, options
        )
    except (MissionError, ZoneError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    rows = store_patrol(session, patrol, body.patrol_name)
    return PlanResult(
        patrol_name=body.patrol_name,
        sorties=[MissionPublic.model_validate(r) for r in rows],
        refused=dict(patrol.refused),
        length_m=patrol.length_m,
        duration_s=patrol.duration_s,
        photo_count=patrol.photo_count,
    )


@router.post(
    "/patrols/{patrol_name}/launch",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        404: {"model": Message},
        409: {"model": Message, "description": "a dock's drone is flying"},
        422: {"model": Message, "description": "no safe launch delays, or no link to a drone"},
    },
)
async def launch_patrol_wave(
    request: Request, _: OperatorUser, body: PatrolLaunch, patrol_name: str = PatrolName
) -> PatrolLaunchPublic:
    """Launch the patrol's first wave together: one sortie per free drone of each dock, each
    on its own link and checked, armed and flown on its own, the later ones after the
    delays that keep them apart (``missions.deconflict``; a waiting sortie has no flight
    yet). Every flight is then watched by the service's separation guard."""
    manager: FlightManager = request.app.state.flights
    try:
        done = launch_patrol(manager, patrol_name, sitl=body.sitl, connections=body.connections)
    except WaveError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    flights = dict(
        zip(
            [s.mission.id for s in done.wave.sorties if s.delay_s <= 0],
            done.launched.flights,
            strict=True,
        )
    )
    public = []
    for flight_id in done.launched.flights:
        run = FlightPublic.model_validate(_flight_row(request, flight_id))
        run.live = manager.live(flight_id)
        public.append(run)
    return PatrolLaunchPublic(
        patrol=patrol_name,
        flights=public,
        sorties=[
            SortieLaunchPublic(
                sortie=s.mission.sortie_index,
                mission_id=s.mission.id,
                dock=dock_of(s.mission) or "",
                connection=s.target.connection or "sitl",
                delay_s=s.delay_s,
                flight_id=flights.get(s.mission.id),
            )
            for s in done.wave.sorties
        ],
        notes=list(done.wave.notes),
        not_in_wave=done.not_in_wave,
    )


def _flight_row(request: Request, flight_id: uuid.UUID) -> Flight:
    with Session(request.app.state.engine) as session:
        flight = session.get(Flight, flight_id)
        assert flight is not None  # launched just now
        return flight


def _plan_in_new_session(bind: Any, targets: list[str] | None, options: dict[str, Any]) -> Patrol:
    with Session(bind) as session:
        return plan_from_store(session, targets=targets, **options)


MAX_KMZ_BYTES = 5_000_000


class RouteCheck(BaseModel):
    """A DJI route that passed every check, flown from ``dock_id``."""

    dock_id: str
    waypoints: int
    length_m: float
    max_agl_m: float
    not_checked: list[str]


@router.post("/missions/wpml-check", responses={413: {"model": Message}, 422: {"model": Message}})
async def check_wpml_route(
    session: SessionDep,
    _: CurrentUser,
    file: UploadFile,
    dock_id: Annotated[str | None, Query(max_length=255)] = None,
) -> RouteCheck:
    """Check a DJI WPML route (a KMZ from FlightHub 2 or Pilot 2) against the stored zone
    before a Dock flies it: ceiling, no-fly areas, obstacles, endurance; 422 names the
    first rule it breaks."""
    data = await file.read(MAX_KMZ_BYTES + 1)
    if len(data) > MAX_KMZ_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "the KMZ is over 5 MB")
    try:
        sites = zone_from_store(session)
        line, report = await asyncio.to_thread(check_kmz, data, sites, dock_id=dock_id)
    except (MissionError, ZoneError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return RouteCheck(
        dock_id=report.dock_id,
        waypoints=report.waypoints,
        length_m=report.length_m,
        max_agl_m=report.max_agl_m,
        not_checked=list(line.unsupported),
    )
