"""Flights: launch a mission against a vehicle or SITL, watch it live, pause/resume/abort;
a flight's gas track and the source it points to (:mod:`server.gas`)."""

from __future__ import annotations

import asyncio
import math
import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, WebSocket, WebSocketDisconnect, status
from pydantic import Field
from sqlalchemy import and_, or_
from sqlmodel import Session, col, func, select
from sqlmodel.sql.expression import SelectOfScalar

from missions.gas import GasReading
from server.api.deps import CurrentUser, OperatorUser, SessionDep, SettingsDep, websocket_user
from server.api.routes.captures import flight_directory
from server.flights import FlightManager, LaunchTarget
from server.gas import (
    GasError,
    TransectWind,
    alert_wind,
    estimate_source,
    gas_track,
    read_flight_gas,
    stored_zone,
    transect_samples,
    transect_stability,
    zone_ground,
)
from server.schemas import (
    FlightLaunch,
    FlightPublic,
    FlightsPublic,
    GasSourcePublic,
    GasTrack,
    Message,
    RequestModel,
)
from store.models import Flight, FlightStatus, Mission
from zone.dispersion import Stability, Terrain, Wind
from zone.sites import Sites

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
    patrol: Annotated[
        str | None,
        Query(
            max_length=255,
            description="a patrol's flights: its sorties', and any recorded without a plan "
            "under its name",
        ),
    ] = None,
    skip: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> FlightsPublic:
    clauses = []
    if status_:
        clauses.append(col(Flight.status) == status_)
    if mission_id:
        clauses.append(col(Flight.mission_id) == mission_id)
    if patrol:
        clauses.append(col(Flight.id).in_(_patrol_flights(patrol)))
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


def _patrol_flights(patrol: str) -> SelectOfScalar[uuid.UUID]:
    """The ids of a patrol's flights: its planned sorties', and a flight recorded without a
    plan under the patrol's name (the capture layer and objects name patrols the same way)."""
    return (
        select(Flight.id)
        .outerjoin(Mission, col(Flight.mission_id) == col(Mission.id))
        .where(
            or_(
                col(Mission.patrol_name) == patrol,
                and_(func.coalesce(col(Mission.patrol_name), "") == "", col(Flight.name) == patrol),
            )
        )
    )


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


def _flight(session: Session, flight_id: uuid.UUID) -> Flight:
    flight = session.get(Flight, flight_id)
    if flight is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such flight")
    return flight


_GAS_RESPONSES: dict[int | str, dict[str, object]] = {
    404: {"model": Message},
    422: {"model": Message, "description": "the flight's gas.jsonl cannot be read"},
}


@router.get("/{flight_id}/gas", responses=_GAS_RESPONSES)
def flight_gas(
    session: SessionDep,
    settings: SettingsDep,
    _: CurrentUser,
    flight_id: uuid.UUID,
    max_points: Annotated[
        int | None,
        Query(ge=1, le=1_000_000, description="draw at most this many (each run's highest)"),
    ] = None,
) -> GasTrack:
    """The flight's gas readings (its ``gas.jsonl``) as GeoJSON Points at lon, lat.

    Each carries its value, unit, pollutant, UTC time, altitude above mean sea
    level and height above the ground under it (the stored zone's surveyed
    ground; clamped at 0). A flight that heard no gas sensor has no features.
    """
    flight = _flight(session, flight_id)
    try:
        readings = read_flight_gas(flight_directory(flight, settings))
    except GasError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    ground = zone_ground(stored_zone(session)) if readings else None
    return GasTrack.model_validate(gas_track(flight.id, readings, ground, max_points=max_points))


@router.get(
    "/{flight_id}/gas/source",
    responses={
        404: {"model": Message},
        422: {"model": Message, "description": "no wind, too few readings, or no fit"},
    },
)
def flight_gas_source(
    session: SessionDep,
    settings: SettingsDep,
    _: CurrentUser,
    flight_id: uuid.UUID,
    pollutant: Annotated[
        str | None, Query(max_length=16, description="needed when the flight read several")
    ] = None,
    unit: Annotated[str | None, Query(max_length=16)] = None,
    wind_from_deg: Annotated[
        float | None,
        Query(ge=0, le=360, description="where the wind blows FROM, degrees from true north"),
    ] = None,
    wind_speed_m_s: Annotated[
        float | None, Query(gt=0, le=60, description="at 10 m above ground")
    ] = None,
    stability: Annotated[
        Stability | None,
        Query(description="Pasquill-Gifford class; default Turner's key (see below)"),
    ] = None,
    terrain: Terrain = "rural",
) -> GasSourcePublic:
    """Where the transect's source is: the point upwind that best explains the readings
    (``zone.sources.locate_source``), attributed to the nearest stack or site within 50 m.

    Give the wind (both ``wind_from_deg`` and ``wind_speed_m_s``); without it, a
    flight whose mission answers an alert takes the alert station's reading with
    a wind nearest the transect's time (within 2 h), else the wind and class the
    alert was ranked under (its patrol was planned for them). Without a stability
    class, Turner's key gives it from the wind's speed and day or night at the
    transect, assuming moderate sunshine and half the sky clouded, as the alert
    ranking does.
    """
    flight = _flight(session, flight_id)
    try:
        readings = read_flight_gas(flight_directory(flight, settings))
        sites = stored_zone(session)
        wind = _wind(session, flight, readings, sites, wind_from_deg, wind_speed_m_s)
        stability_source = "query" if stability else "alert peak" if wind.stability else "turner"
        stability = stability or wind.stability or transect_stability(wind.wind, readings, flight)
        samples, gas, gas_unit = transect_samples(
            readings, zone_ground(sites), pollutant=pollutant, unit=unit
        )
        found = estimate_source(
            samples,
            wind=wind.wind,
            stability=stability,
            sites=sites,
            unit=gas_unit,
            pollutant=gas,
            terrain=terrain,
        )
    except GasError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    cov = [list(row) for row in found.covariance_en_m2]
    return GasSourcePublic(
        flight_id=flight.id,
        pollutant=gas,
        unit=gas_unit,
        lon=found.lon,
        lat=found.lat,
        height_m=found.height_m,
        height_sigma_m=_finite(found.height_sigma_m),
        uncertainty_m=_finite(found.uncertainty_m),
        covariance_en_m2=cov if all(math.isfinite(v) for row in cov for v in row) else None,
        emission_g_s=found.emission_g_s,
        stack_id=found.stack_id,
        site_id=found.site_id,
        distance_m=found.distance_m,
        n_samples=found.n_samples,
        rms_residual=found.rms_residual,
        wind_from_deg=wind.wind.from_deg,
        wind_speed_m_s=wind.wind.speed_m_s,
        wind_turn_deg=found.wind_turn_deg,
        stability=stability,
        stability_source=stability_source,
        stability_fitted=found.stability,
        wind_source=wind.source,
        alert_id=wind.alert_id,
        station_id=wind.station_id,
    )


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _wind(
    session: Session,
    flight: Flight,
    readings: list[GasReading],
    sites: Sites | None,
    from_deg: float | None,
    speed_m_s: float | None,
) -> TransectWind:
    """The wind given in the query, else the mission's alert's; a GasError when neither."""
    if (from_deg is None) != (speed_m_s is None):
        raise GasError("give the wind: both wind_from_deg and wind_speed_m_s")
    if from_deg is not None and speed_m_s is not None:
        try:
            return TransectWind(Wind(from_deg % 360.0, speed_m_s), "query")
        except ValueError as exc:
            raise GasError(str(exc)) from None
    found = alert_wind(session, flight, readings, sites)
    if found is None:
        raise GasError(
            "give the wind (wind_from_deg, wind_speed_m_s): the flight's mission answers no alert"
        )
    return found


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


@router.post("/{flight_id}/home", responses=_CONTROL_RESPONSES)
async def send_flight_home(request: Request, _: OperatorUser, flight_id: uuid.UUID) -> Message:
    """Fly home now (ArduPilot RTL) and land there; the flight ends as aborted."""
    await _manager(request).return_home(flight_id)
    return Message(message="returning home")


@router.post("/{flight_id}/land", responses=_CONTROL_RESPONSES)
async def land_flight(request: Request, _: OperatorUser, flight_id: uuid.UUID) -> Message:
    """Land where it is (ArduPilot LAND), not at home; the flight ends as aborted."""
    await _manager(request).land(flight_id)
    return Message(message="landing")


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
