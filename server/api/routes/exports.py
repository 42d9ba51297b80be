"""Downloads: objects (confirmed by default) as GeoJSON, CSV or KML, one row per object;
findings the same way, one row per capture; a sortie as DJI WPML."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, HTTPException, Response, status

from missions.export.wpml import DRONES, kmz_bytes, limitations, wayline_from_mission
from server.api.deps import CurrentUser, SessionDep
from server.api.routes.findings import FilterDep, query_findings
from server.api.routes.objects import ObjectFilterDep, query_objects
from server.exports import (
    object_rows,
    objects_to_csv,
    objects_to_geojson,
    objects_to_kml,
    safe_file_name,
    to_csv,
    to_geojson,
    to_kml,
)
from server.planning import items_from_json
from server.schemas import Message
from store.models import FindingStatus, Mission
from store.readings import as_utc

router = APIRouter(prefix="/exports", tags=["exports"])

MEDIA = {
    "geojson": "application/geo+json",
    "csv": "text/csv; charset=utf-8",
    "kml": "application/vnd.google-earth.kml+xml",
}
MAX_EXPORT = 100_000
FORMATS: dict[str, dict[str, object]] = {m.split(";")[0]: {} for m in MEDIA.values()}


@router.get("/objects.{fmt}", response_class=Response, responses={200: {"content": FORMATS}})
def export_objects(
    session: SessionDep,
    _: CurrentUser,
    filters: ObjectFilterDep,
    fmt: Literal["geojson", "csv", "kml"],
) -> Response:
    """Objects matching the filters, one row or feature each (however many captures saw it),
    with peak measurements and the latest decision; ``status`` defaults to confirmed."""
    status = filters.status or FindingStatus.CONFIRMED
    filters = replace(filters, status=status)
    objects, _count = query_objects(session, filters, limit=MAX_EXPORT)
    rows = object_rows(session, objects)
    writer = {"geojson": objects_to_geojson, "csv": objects_to_csv, "kml": objects_to_kml}[fmt]
    body = writer(rows)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    filename = f"ecopatrol-objects-{status.value}-{stamp}.{fmt}"
    return Response(
        content=body,
        media_type=MEDIA[fmt],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/findings.{fmt}",
    response_class=Response,
    responses={200: {"content": FORMATS}},
)
def export_findings(
    session: SessionDep,
    _: CurrentUser,
    filters: FilterDep,
    fmt: Literal["geojson", "csv", "kml"],
) -> Response:
    """Findings matching the filters, one row per capture; ``status`` defaults to confirmed."""
    if filters.status is None:
        filters.status = FindingStatus.CONFIRMED
    findings, _count = query_findings(session, filters, limit=MAX_EXPORT, order="oldest")
    body = {"geojson": to_geojson, "csv": to_csv, "kml": to_kml}[fmt](findings)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    filename = f"ecopatrol-findings-{filters.status.value}-{stamp}.{fmt}"
    return Response(
        content=body,
        media_type=MEDIA[fmt],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


KMZ_MEDIA = "application/vnd.google-earth.kmz"
DjiAircraft = Literal["m30t", "m3td", "m4td", "m350-h20t", "m350-h30t"]


@router.get(
    "/missions/{mission_id}/wpml.kmz",
    response_class=Response,
    responses={200: {"content": {KMZ_MEDIA: {}}}, 404: {"model": Message}, 422: {"model": Message}},
)
def export_mission_kmz(
    session: SessionDep, _: CurrentUser, mission_id: uuid.UUID, aircraft: DjiAircraft = "m3td"
) -> Response:
    """A planned sortie as a DJI WPML KMZ, heights above the dock it takes off from.

    What WPML cannot express (the geofence, rally points...) is named in the
    ``X-WPML-Limits`` header, separated by ``;``.
    """
    mission = session.get(Mission, mission_id)
    if mission is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such mission")
    plan = mission.plan or {}
    try:
        items = items_from_json(plan, name=mission.name)
        home_alt_amsl_m = float(plan["dock"]["ground_alt_m"])
        line = wayline_from_mission(items, home_alt_amsl_m=home_alt_amsl_m, drone=DRONES[aircraft])
        body = kmz_bytes(line, time_ms=int(as_utc(mission.created_at).timestamp() * 1000))
    except (KeyError, TypeError) as exc:
        reason = f"mission {mission.name!r} has no dock altitude ({exc})"
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, reason) from None
    except ValueError as exc:  # MissionError refinements are ValueErrors too
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    limits = "; ".join(note.split(":", 1)[0] for note in limitations(items, line))
    patrol = safe_file_name(mission.patrol_name or "patrol")
    filename = f"{patrol}-sortie-{mission.sortie_index}.kmz"
    return Response(
        content=body,
        media_type=KMZ_MEDIA,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-WPML-Limits": limits,
        },
    )
