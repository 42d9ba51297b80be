"""Flights: launch a mission against a vehicle or SITL, watch it live, pause/resume/abort."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, WebSocket, WebSocketDisconnect, status
from pydantic import Field
from sqlmodel import col, func, select

from server.api.deps import CurrentUser, OperatorUser, SessionDep, websocket_user
from server.flights import FlightManager, LaunchTarget
from server.schemas import FlightLaunch, FlightPublic, FlightsPublic, Message, RequestModel
from store.models import Flight, FlightStatus, Mission

router = APIRouter(prefix="/flights", tags=["flights"])
ws_router = APIRouter(prefix="/flights", tags=["flights"])
records_router = APIRouter(prefix="/flight-records", tags=["flights"])


class FlightRecordCreate(RequestModel):
    """A flight flown outside the service (photos uploaded afterwards)."""

    name: str = Field(min_length=1, max_length=255)
    mission_id: uuid.UUID | None = None


def _manager(request: Request) -> FlightManager:
    manager: FlightManager = request.app.state.flights
    return manager


def _public(flight: Flight, manager: FlightManager) -> FlightPublic:
    public = FlightPublic.model_validate(flight)
    public.live = manager.live(flight.id)
    return public


@router.get("")
def list_flights(
    session: SessionDep,
    request: Request,
    _: CurrentUser,
    status_: Annotated[FlightStatus | None, Query(alias="status")] = None,
    mission_id: uuid.UUID | None = None,
    skip: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> FlightsPublic:
    clauses = []
    if status_:
        clauses.append(col(Flight.status) == status_)
    if mission_id:
        clauses.append(col(Flight.mission_id) == mission_id)
    count = session.exec(select(func.count()).select_from(Flight).where(*clauses)).one()
    rows = session.exec(
        select(Flight)
        .where(*clauses)
        .order_by(col(Flight.created_at).desc())
        .offset(skip)
        .limit(limit)
    ).all()
    manager = _manager(request)
    return FlightsPublic(data=[_public(f, manager) for f in rows], count=count)


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    responses={404: {"model": Message}, 409: {"model": Message}},
)
async def launch_flight(
    session: SessionDep, request: Request, _: OperatorUser, body: FlightLaunch
) -> FlightPublic:
    """Upload the mission to the vehicle (or a fresh SITL) and fly it; returns at once."""
    mission = session.get(Mission, body.mission_id)
    if mission is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such mission")
    session.expunge(mission)
    manager = _manager(request)
    flight = manager.launch(mission, LaunchTarget(connection=body.connection, sitl=body.sitl))
    return _public(flight, manager)


@records_router.post("", status_code=status.HTTP_201_CREATED, responses={404: {"model": Message}})
def create_flight_record(
    session: SessionDep, request: Request, _: OperatorUser, body: FlightRecordCreate
) -> FlightPublic:
    """Record a flight flown elsewhere, to upload its photos and manifest into."""
    if body.mission_id and session.get(Mission, body.mission_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such mission")
    flight = Flight(name=body.name, mission_id=body.mission_id, status=FlightStatus.LANDED)
    flight.directory = str(request.app.state.settings.flights_dir / str(flight.id))
    session.add(flight)
    session.commit()
    session.refresh(flight)
    return _public(flight, _manager(request))


@router.get("/{flight_id}", responses={404: {"model": Message}})
def read_flight(
    session: SessionDep, request: Request, _: CurrentUser, flight_id: uuid.UUID
) -> FlightPublic:
    flight = session.get(Flight, flight_id)
    if flight is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such flight")
    return _public(flight, _manager(request))


_CONTROL_RESPONSES: dict[int | str, dict[str, object]] = {
    404: {"model": Message},
    409: {"model": Message, "description": "the flight is not in a state to take it"},
}


@router.post("/{flight_id}/pause", responses=_CONTROL_RESPONSES)
async def pause_flight(request: Request, _: OperatorUser, flight_id: uuid.UUID) -> Message:
    """Hold position (ArduPilot BRAKE/LOITER) until resumed."""
    await _manager(request).pause(flight_id)
    return Message(message="paused")


@router.post("/{flight_id}/resume", responses=_CONTROL_RESPONSES)
async def resume_flight(request: Request, _: OperatorUser, flight_id: uuid.UUID) -> Message:
    await _manager(request).resume(flight_id)
    return Message(message="resumed")


@router.post("/{flight_id}/abort", responses=_CONTROL_RESPONSES)
async def abort_flight(request: Request, _: OperatorUser, flight_id: uuid.UUID) -> Message:
    """Return to launch and land; the flight ends as aborted."""
    await _manager(request).abort(flight_id)
    return Message(message="aborting")


@ws_router.websocket("/{flight_id}/telemetry")
async def telemetry(websocket: WebSocket, flight_id: uuid.UUID) -> None:
    """Live state as JSON messages: first a snapshot with the track so far, then every change."""
    if websocket_user(websocket) is None:
        await websocket.close(code=4401, reason="not signed in")
        return
    manager: FlightManager = websocket.app.state.flights
    snapshot = manager.live(flight_id)
    if snapshot is None:
        await websocket.close(code=4404, reason="this flight is not running in this service")
        return
    queue = manager.subscribe(flight_id)
    await websocket.accept()
    try:
        await websocket.send_json({"type": "snapshot", "flight_id": str(flight_id), **snapshot})
        while True:
            message = await queue.get()
            await websocket.send_json(message)
            if message.get("status") in {"landed", "aborted", "failed"}:
                await asyncio.sleep(0)
                await websocket.close()
                return
    except WebSocketDisconnect:
        pass
    finally:
        manager.unsubscribe(flight_id, queue)
