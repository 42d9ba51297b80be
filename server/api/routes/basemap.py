"""The map's base layers from local files (MBTiles, XYZ tile folders, GeoTIFF orthophotos)
and the georeferenced captures as image layers: nothing is fetched from off the host."""

from __future__ import annotations

import hashlib
import logging
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy import and_, func, or_
from sqlmodel import col, select

from imagery.errors import UnreadableImageError
from imagery.limits import ImageTooLargeError, image_size
from server.api.deps import CurrentUser, SessionDep, SettingsDep
from server.api.routes.captures import capture_file
from server.api.routes.missions import PatrolName
from server.basemap import MEDIA_TYPES, BasemapError, Basemaps, basemaps
from server.capture_overlay import FootprintError, footprint_bounds, footprint_digest, overlay_png
from server.errors import NotFoundError, UploadRejectedError
from server.schemas import Message
from server.settings import Settings
from store.models import Capture, Flight, Mission

logger = logging.getLogger(__name__)
router = APIRouter(tags=["map"])
CACHE = "private, max-age=86400"  # behind sign-in: the browser may keep it, shared caches not
MAX_OVERLAYS = 5000


class BaseLayer(BaseModel):
    id: str
    name: str
    kind: Literal["mbtiles", "xyz", "geotiff"] = Field(
        description="mbtiles and xyz are tile maps (one at a time); geotiff an orthophoto over them"
    )
    format: str = Field(description="the tiles' file type: png, jpg or webp")
    bounds: tuple[float, float, float, float] = Field(
        description="west, south, east, north in degrees WGS84"
    )
    minzoom: int
    maxzoom: int
    attribution: str
    tiles: str = Field(description="URL template of its web-mercator tiles, XYZ-numbered")


class CaptureOverlay(BaseModel):
    capture_id: uuid.UUID
    flight_id: uuid.UUID | None
    kind: str
    bounds: tuple[tuple[float, float], tuple[float, float]] = Field(
        description="[[south, west], [north, east]] in degrees WGS84, as Leaflet takes them"
    )
    url: str = Field(description="the image on its footprint: RGBA PNG, linear in web mercator")


def _layers(settings: Settings) -> Basemaps:
    try:
        return basemaps(settings.basemap)
    except BasemapError as exc:  # checked at start-up; a file changed or went since
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None


@router.get("/basemap")
def list_base_layers(settings: SettingsDep, _: CurrentUser) -> list[BaseLayer]:
    """The base layers configured (``ECOPATROL_BASEMAP``), in their configured order."""
    return [
        BaseLayer(
            id=info.id,
            name=info.name,
            kind=info.kind,
            format=info.format,
            bounds=info.bounds,
            minzoom=info.minzoom,
            maxzoom=info.maxzoom,
            attribution=info.attribution,
            tiles=f"/api/v1/basemap/{info.id}/{{z}}/{{x}}/{{y}}.{info.format}",
        )
        for info in _layers(settings).layers
    ]


@router.get(
    "/basemap/{layer_id}/{z}/{x}/{y}.{ext}",
    response_class=Response,
    responses={
        200: {"content": {media: {} for media in MEDIA_TYPES.values()}},
        304: {"description": "the tile the browser has (ETag) is current"},
        404: {"model": Message, "description": "no such layer, or no tile there"},
    },
)
def base_layer_tile(
    request: Request,
    settings: SettingsDep,
    _: CurrentUser,
    layer_id: Annotated[str, PathParam(max_length=128)],
    z: Annotated[int, PathParam(ge=0, le=30)],
    x: Annotated[int, PathParam(ge=0)],
    y: Annotated[int, PathParam(ge=0)],
    ext: Annotated[str, PathParam(max_length=8)],
) -> Response:
    """One web-mercator tile (XYZ numbering: ``y`` counted from the north), as Leaflet asks."""
    source = _layers(settings).get(layer_id)
    if source is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no base layer {layer_id!r}")
    fmt = source.info.format
    if ext.lower().replace("jpeg", "jpg") != fmt:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"layer {layer_id!r} serves .{fmt} tiles")
    data = source.tile(z, x, y)
    if data is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"layer {layer_id!r} has no tile {z}/{x}/{y}"
        )
    etag = f'"{hashlib.blake2b(data, digest_size=12).hexdigest()}"'
    headers = {"Cache-Control": CACHE, "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(data, media_type=MEDIA_TYPES[fmt], headers=headers)


@router.get("/patrols/{patrol_name}/capture-layer")
def capture_layer(
    session: SessionDep,
    _: CurrentUser,
    patrol_name: str = PatrolName,
    kind: Annotated[Literal["rgb", "thermal"], Query()] = "rgb",
) -> list[CaptureOverlay]:
    """The patrol's georeferenced captures of one kind, each an image to lay on the map.

    A patrol's flights are those of its planned sorties, and a flight recorded
    without a plan under the patrol's name (objects name their patrol the same
    way). Captures without a footprint (not processed yet, or seeing no ground)
    are left out. Draw each with ``L.imageOverlay(url, bounds)``.
    """
    flights = (
        select(Flight.id)
        .outerjoin(Mission, col(Flight.mission_id) == col(Mission.id))
        .where(
            or_(
                col(Mission.patrol_name) == patrol_name,
                and_(
                    func.coalesce(col(Mission.patrol_name), "") == "",
                    col(Flight.name) == patrol_name,
                ),
            )
        )
    )
    rows = session.exec(
        select(Capture)
        .where(col(Capture.flight_id).in_(flights), col(Capture.kind) == kind)
        .order_by(col(Capture.flight_id), col(Capture.index), col(Capture.path))
        .limit(MAX_OVERLAYS)
    ).all()
    out = []
    for capture in rows:
        if not capture.footprint:
            continue
        try:
            west, south, east, north = footprint_bounds(capture.footprint)
        except FootprintError as exc:
            logger.info("capture %s left off the capture layer: %s", capture.id, exc)
            continue
        version = footprint_digest(capture.footprint)  # a new footprint is a new URL
        out.append(
            CaptureOverlay(
                capture_id=capture.id,
                flight_id=capture.flight_id,
                kind=capture.kind,
                bounds=((south, west), (north, east)),
                url=f"/api/v1/captures/{capture.id}/overlay.png?v={version}",
            )
        )
    return out


@router.get(
    "/captures/{capture_id}/overlay.png",
    response_class=FileResponse,
    responses={
        200: {"content": {"image/png": {}}},
        404: {"model": Message, "description": "no such capture, no footprint, or no image"},
        413: {"model": Message, "description": "the image has too many pixels to draw"},
        422: {"model": Message, "description": "the image or its footprint cannot be drawn"},
    },
)
def capture_overlay(
    session: SessionDep, settings: SettingsDep, _: CurrentUser, capture_id: uuid.UUID
) -> Any:
    """The capture's image warped onto its ground footprint (RGBA PNG, 512 px on its long
    side), its pixel grid linear in web mercator over the footprint's box, row 0 north."""
    capture = session.get(Capture, capture_id)
    if capture is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such capture")
    if not capture.footprint:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, "the capture has no footprint (not processed yet?)"
        )
    source = capture_file(session, capture, settings)
    if not source.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"image file {source.name} is missing")
    try:
        size = (
            (capture.width, capture.height)
            if capture.width and capture.height
            else image_size(source)
        )
        path = overlay_png(
            source,
            settings.data_dir,
            key=str(capture.id),
            footprint=capture.footprint,
            source_size=size,
            max_pixels=settings.max_image_pixels,
        )
    except NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except ImageTooLargeError as exc:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, str(exc)) from None
    except (UploadRejectedError, UnreadableImageError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": CACHE})
