"""Downloads of findings (confirmed by default) as GeoJSON, CSV or KML."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Response

from server.api.deps import CurrentUser, SessionDep
from server.api.routes.findings import FilterDep, query_findings
from server.exports import to_csv, to_geojson, to_kml
from store.models import FindingStatus

router = APIRouter(prefix="/exports", tags=["exports"])

MEDIA = {
    "geojson": "application/geo+json",
    "csv": "text/csv; charset=utf-8",
    "kml": "application/vnd.google-earth.kml+xml",
}
MAX_EXPORT = 100_000


@router.get(
    "/findings.{fmt}",
    response_class=Response,
    responses={200: {"content": {m.split(";")[0]: {} for m in MEDIA.values()}}},
)
def export_findings(
    session: SessionDep,
    _: CurrentUser,
    filters: FilterDep,
    fmt: Literal["geojson", "csv", "kml"],
) -> Response:
    """Findings matching the filters; ``status`` defaults to confirmed (for enforcement)."""
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
