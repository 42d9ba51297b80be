"""Air-quality alerts (opened and closed by the readings, :mod:`store.alerts`): everyone
reads them; an alert's page carries its readings."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, func, select

from server.api.deps import CurrentUser, SessionDep
from server.schemas import Message
from server.schemas_readings import AlertDetail, AlertPublic, AlertsPublic, ReadingPublic
from store.alerts import alert_readings
from store.models import Alert

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


@router.get("/{alert_id}", responses={404: {"model": Message}})
def read_alert(session: SessionDep, _: CurrentUser, alert_id: uuid.UUID) -> AlertDetail:
    """One alert with its readings, oldest first."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such alert")
    readings = [ReadingPublic.of(r) for r in alert_readings(session, alert)]
    return AlertDetail(**AlertPublic.of(alert).model_dump(), readings=readings)
