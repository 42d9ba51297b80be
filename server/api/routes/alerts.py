"""Air-quality alerts (opened and closed by the readings, :mod:`store.alerts`): everyone
reads them, and the enterprises ranked as their source (:mod:`server.alerts`); an
alert's page carries its readings, the patrols planned from it and what they found.
Operators and admins plan a patrol to an alert's top candidates."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from shapely.geometry import mapping
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, func, select

from missions.errors import MissionError
from server.alerts import (
    AlertRanking,
    AlertRankingError,
    alert_findings,
    alert_patrols,
    plan_alert_patrol_from_store,
    rank_alert,
)
from server.api.deps import CurrentUser, OperatorUser, SessionDep
from server.errors import ConflictError
from server.schemas import (
    AlertCandidates,
    AlertDetail,
    AlertFindingPublic,
    AlertPatrolPublic,
    AlertPatrolRequest,
    AlertPatrolResult,
    AlertPublic,
    AlertsPublic,
    CandidateFeature,
    CandidateProperties,
    Message,
    MissionPublic,
    ReadingPublic,
    ReadingUsed,
    WindPublic,
)
from store.alerts import alert_readings
from store.models import Alert
from zone.errors import ZoneError

router = APIRouter(prefix="/alerts", tags=["alerts"])


@router.get("")
def list_alerts(
    session: SessionDep,
    _: CurrentUser,
    open_: Annotated[
        bool | None, Query(alias="open", description="true: open ones; false: closed ones")
    ] = None,
    station: Annotated[str | None, Query(max_length=128)] = None,
    pollutant: Annotated[str | None, Query(max_length=16)] = None,
    skip: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AlertsPublic:
    """Alerts, the latest opened first, and how many match."""
    clauses: list[ColumnElement[bool]] = []
    if open_ is not None:
        closed = col(Alert.closed_at)
        clauses.append(closed.is_(None) if open_ else closed.is_not(None))
    if station:
        clauses.append(col(Alert.station_id) == station)
    if pollutant:
        clauses.append(col(Alert.pollutant) == pollutant)
    rows = session.exec(
        select(Alert)
        .where(*clauses)
        .order_by(col(Alert.opened_at).desc(), col(Alert.id))
        .offset(skip)
        .limit(limit)
    ).all()
    count = session.exec(select(func.count()).select_from(Alert).where(*clauses)).one()
    return AlertsPublic(data=[AlertPublic.of(a) for a in rows], count=count)


def _alert(session: Session, alert_id: uuid.UUID) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such alert")
    return alert


@router.get("/{alert_id}", responses={404: {"model": Message}})
def read_alert(session: SessionDep, _: CurrentUser, alert_id: uuid.UUID) -> AlertDetail:
    """One alert with its readings (oldest first), the patrols planned from it and the
    findings of their flights (by when they were captured)."""
    alert = _alert(session, alert_id)
    readings = [ReadingPublic.of(r) for r in alert_readings(session, alert)]
    patrols = alert_patrols(session, alert.id)
    mission_ids = [m for ids in patrols.values() for m in ids]
    findings = [
        AlertFindingPublic(
            id=f.id, kind=f.kind, lon=f.lon, lat=f.lat, site_id=f.site_id, captured_at=taken
        )
        for f, taken in alert_findings(session, mission_ids)
    ]
    return AlertDetail(
        **AlertPublic.of(alert).model_dump(),
        readings=readings,
        patrols=[AlertPatrolPublic(name=n, mission_ids=ids) for n, ids in patrols.items()],
        findings=findings,
    )


@router.get("/{alert_id}/candidates", responses={404: {"model": Message}, 422: {"model": Message}})
def alert_candidates(
    session: SessionDep,
    _: CurrentUser,
    alert_id: uuid.UUID,
    top: Annotated[int, Query(ge=1, le=100, description="how many candidates, best first")] = 5,
) -> AlertCandidates:
    """The enterprises ranked as the source of the alert at its peak hour (a GeoJSON
    FeatureCollection of their footprints), with the wind, stability class and readings
    the ranking rests on and what it assumed; 422 says why an alert cannot be ranked."""
    alert = _alert(session, alert_id)
    try:
        ranking = rank_alert(session, alert, top=top)
    except (AlertRankingError, ZoneError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return _candidates(ranking)


def _candidates(ranking: AlertRanking) -> AlertCandidates:
    features = [
        CandidateFeature(
            geometry=mapping(c.footprint) if c.footprint is not None else None,
            properties=CandidateProperties(
                rank=rank,
                site_id=c.site_id,
                name=c.name,
                industry=c.industry,
                score=c.score,
                emission_g_s=c.emission_g_s,
                stacks=[[lon, lat] for lon, lat in ranking.stacks.get(c.site_id, ())],
            ),
        )
        for rank, c in enumerate(ranking.candidates, start=1)
    ]
    return AlertCandidates(
        features=features,
        alert_id=ranking.alert.id,
        pollutant=ranking.alert.pollutant,
        time=ranking.time,
        wind=WindPublic(from_deg=ranking.wind.from_deg, speed_m_s=ranking.wind.speed_m_s),
        stability=ranking.stability,
        assumptions=ranking.assumptions,
        readings=[
            ReadingUsed(
                station_id=r.station_id,
                lon=r.lon,
                lat=r.lat,
                value=r.value,
                background=r.background,
                unit=r.unit,
            )
            for r in ranking.readings
        ],
    )


@router.post(
    "/{alert_id}/patrol",
    status_code=status.HTTP_201_CREATED,
    responses={404: {"model": Message}, 409: {"model": Message}, 422: {"model": Message}},
)
def plan_patrol_for_alert(
    session: SessionDep, _: OperatorUser, alert_id: uuid.UUID, body: AlertPatrolRequest
) -> AlertPatrolResult:
    """Plan a patrol to the alert's ``top`` candidates from the docks with a drone free and
    keep its sorties (each mission remembers the alert). 409: the name is taken, or every
    drone is flying; 422: the alert cannot be ranked, or the planner refuses (its reason).

    A plain function: FastAPI runs it in a worker thread, so the CPU-bound ranking and
    route search do not hold the event loop.
    """
    alert = _alert(session, alert_id)
    try:
        planned = plan_alert_patrol_from_store(
            session, alert, top=body.top, name=body.name, time_limit_s=body.time_limit_s
        )
    except ConflictError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except (AlertRankingError, MissionError, ZoneError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    patrol = planned.patrol
    return AlertPatrolResult(
        patrol_name=planned.name,
        alert_id=alert.id,
        candidates=[c.site_id for c in planned.ranking.candidates],
        sorties=[MissionPublic.model_validate(m) for m in planned.missions],
        refused=dict(patrol.refused),
        length_m=patrol.length_m,
        duration_s=patrol.duration_s,
        photo_count=patrol.photo_count,
    )
