"""Air-quality readings: operators and admins ingest them (one or a batch), everyone reads.

A batch is checked reading by reading (:mod:`store.readings`): the good ones
are stored, with the alerts they open or close, and the others are answered
with their index and reason. The answer is 422 only when nothing in the body
was valid, or the body is not a reading or a list of them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query, status
from fastapi.responses import JSONResponse
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, func, select

from server.api.deps import CurrentUser, OperatorUser, SessionDep
from server.api.routes.findings import parse_time
from server.readings import record_readings, station_catalogue
from server.schemas import (
    ReadingPublic,
    ReadingsIngested,
    ReadingsPublic,
    RefusedReading,
)
from store.models import Reading

router = APIRouter(prefix="/readings", tags=["readings"])
MAX_BATCH = 10_000


def _batch(body: Any) -> list[Any]:
    """The readings in a body: one object, or a list of up to :data:`MAX_BATCH`."""
    if isinstance(body, dict):
        return [body]
    if not isinstance(body, list):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "the body must be a reading (an object) or a list of readings",
        )
    if not body:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "the list holds no readings")
    if len(body) > MAX_BATCH:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"{len(body)} readings in one request; send at most {MAX_BATCH} at a time",
        )
    return body


@router.post(
    "",
    response_model=ReadingsIngested,
    responses={422: {"description": "no reading in the body was valid, or it is malformed"}},
)
def post_readings(
    session: SessionDep,
    _: OperatorUser,
    body: Annotated[
        Any,
        Body(
            description=(
                "A reading or a list of readings: station, pollutant, value, unit (µg/m³; "
                "mg/m³ for CO), time (ISO 8601 with its zone), and optionally wind_speed_m_s "
                "and wind_from_deg (where the wind blows FROM, degrees clockwise from true "
                "north). See docs/readings.md."
            ),
            examples=[
                {
                    "station": "stn-mic-03",
                    "pollutant": "NO2",
                    "value": 231.0,
                    "unit": "µg/m³",
                    "time": "2026-06-15T14:00:00+08:00",
                }
            ],
        ),
    ],
) -> ReadingsIngested | JSONResponse:
    """Store the valid readings (the same reading again changes nothing; a different value
    for a stored station, pollutant and time is refused) and update the alerts."""
    raws = _batch(body)
    result, changes = record_readings(session, raws, stations=station_catalogue(session))
    answer = ReadingsIngested(
        stored=len(result.stored),
        unchanged=result.unchanged,
        refused=[RefusedReading(index=r.index, reason=r.reason) for r in result.refused],
        late=changes.late,
        alerts_opened=[a.id for a in changes.opened],
        alerts_closed=[a.id for a in changes.closed],
    )
    if result.stored or result.unchanged:
        return answer
    first = result.refused[0]
    more = f" (and {len(result.refused) - 1} more)" if len(result.refused) > 1 else ""
    answer.detail = f"no valid reading: #{first.index}: {first.reason}{more}"
    return JSONResponse(answer.model_dump(mode="json"), status_code=422)


def _when(value: str | None, name: str) -> datetime | None:
    try:
        parsed = parse_time(value, name)
        return parsed.astimezone(UTC) if parsed else None
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    except OverflowError:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"{name} is out of range in UTC"
        ) from None


@router.get("")
def list_readings(
    session: SessionDep,
    _: CurrentUser,
    station: Annotated[str | None, Query(max_length=128)] = None,
    pollutant: Annotated[str | None, Query(max_length=16)] = None,
    since: Annotated[
        str | None,
        Query(
            max_length=64,
            description="at or after (ISO 8601; UTC without a zone)",
            json_schema_extra={"format": "date-time"},
        ),
    ] = None,
    until: Annotated[
        str | None,
        Query(
            max_length=64,
            description="at or before (ISO 8601; UTC without a zone)",
            json_schema_extra={"format": "date-time"},
        ),
    ] = None,
    skip: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_BATCH)] = 1000,
) -> ReadingsPublic:
    """Readings in time order (then station, pollutant), and how many match."""
    start, end = _when(since, "since"), _when(until, "until")
    if start and end and end < start:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "until is before since")
    clauses: list[ColumnElement[bool]] = []
    if station:
        clauses.append(col(Reading.station_id) == station)
    if pollutant:
        clauses.append(col(Reading.pollutant) == pollutant)
    if start:
        clauses.append(col(Reading.time) >= start)
    if end:
        clauses.append(col(Reading.time) <= end)
    rows = session.exec(
        select(Reading)
        .where(*clauses)
        .order_by(col(Reading.time), col(Reading.station_id), col(Reading.pollutant))
        .offset(skip)
        .limit(limit)
    ).all()
    count = session.exec(select(func.count()).select_from(Reading).where(*clauses)).one()
    return ReadingsPublic(data=[ReadingPublic.of(r) for r in rows], count=count)
