"""Captures: uploads into a flight's folder, listing, and browser-ready previews."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, UploadFile, status
from fastapi.responses import FileResponse
from pydantic import BaseModel
from sqlmodel import Session, col, func, select

from imagery.limits import ImageTooLargeError
from server.api.deps import CurrentUser, OperatorUser, SessionDep, SettingsDep
from server.errors import NotFoundError, UploadRejectedError, UploadTooLargeError
from server.previews import preview
from server.processing import LocalProcessing, ingest_upload, ingest_uploads, require_photos
from server.schemas import CapturePublic, CapturesPublic, FlightProcessing, Message
from server.settings import Settings
from server.uploads import save_upload
from store.jobs import JobStatus, flight_progress
from store.models import Capture, CaptureStatus, Flight

router = APIRouter(tags=["captures"])


class UploadResult(BaseModel):
    name: str
    size: int
    sha256: str
    media_type: str
    capture_id: uuid.UUID | None


def flight_directory(flight: Flight, settings: Settings) -> Path:
    """The flight's folder (manifest and images), made on first use."""
    return Path(flight.directory) if flight.directory else settings.flights_dir / str(flight.id)


def _ingest_dirs(settings: Settings) -> dict[str, Path]:
    """Where workers write finding evidence and read the zone (files every worker must see)."""
    data = settings.data_dir
    return {"evidence_dir": data / "evidence", "sites_dir": data / "zones"}


def _flight(session: Session, flight_id: uuid.UUID) -> Flight:
    flight = session.get(Flight, flight_id)
    if flight is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such flight")
    return flight


@router.post(
    "/flights/{flight_id}/uploads",
    status_code=status.HTTP_201_CREATED,
    responses={
        404: {"model": Message},
        413: {"model": Message, "description": "larger than the size or pixel limit"},
        415: {"model": Message, "description": "not a JPEG/PNG/TIFF image or a manifest"},
    },
)
async def upload_capture(
    session: SessionDep,
    settings: SettingsDep,
    _: OperatorUser,
    flight_id: uuid.UUID,
    file: UploadFile,
) -> UploadResult:
    """Add a photo (JPEG, PNG, TIFF/DNG) or the flight's ``captures.jsonl`` manifest."""
    flight = _flight(session, flight_id)
    directory = flight_directory(flight, settings)
    try:
        saved = await save_upload(
            file,
            file.filename,
            directory,
            max_bytes=settings.upload_max_bytes,
            max_pixels=settings.max_image_pixels,
        )
    except UploadTooLargeError as exc:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, str(exc)) from None
    except UploadRejectedError as exc:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, str(exc)) from None
    # recorded and queued in this transaction: the photo is in the queue once the upload answers
    capture_id = None
    if saved.media_type.startswith("image/"):
        report = ingest_upload(session, flight, saved.path, **_ingest_dirs(settings))
        # the absolute path, as the imagery pipeline keys captures (flight, path)
        stored = str(saved.path.resolve())
        capture = session.exec(
            select(Capture).where(Capture.flight_id == report.flight_id, Capture.path == stored)
        ).one()
        capture.sha256 = saved.sha256
        capture.kind = "thermal" if saved.media_type == "image/tiff" else "rgb"
        session.add(capture)
        capture_id = capture.id
    elif flight.directory != str(directory.resolve()):
        flight.directory = str(directory.resolve())  # the manifest's folder is the flight's
        session.add(flight)
    session.commit()
    return UploadResult(
        name=saved.path.name,
        size=saved.size,
        sha256=saved.sha256,
        media_type=saved.media_type,
        capture_id=capture_id,
    )


@router.get("/captures")
def list_captures(
    session: SessionDep,
    _: CurrentUser,
    flight_id: uuid.UUID | None = None,
    status_: Annotated[CaptureStatus | None, Query(alias="status")] = None,
    skip: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> CapturesPublic:
    clauses = []
    if flight_id:
        clauses.append(col(Capture.flight_id) == flight_id)
    if status_:
        clauses.append(col(Capture.status) == status_)
    count = session.exec(select(func.count()).select_from(Capture).where(*clauses)).one()
    rows = session.exec(
        select(Capture)
        .where(*clauses)
        .order_by(col(Capture.index), col(Capture.path))
        .offset(skip)
        .limit(limit)
    ).all()
    return CapturesPublic(data=[CapturePublic.model_validate(c) for c in rows], count=count)


def _capture(session: Session, capture_id: uuid.UUID) -> Capture:
    capture = session.get(Capture, capture_id)
    if capture is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such capture")
    return capture


@router.get("/captures/{capture_id}", responses={404: {"model": Message}})
def read_capture(session: SessionDep, _: CurrentUser, capture_id: uuid.UUID) -> CapturePublic:
    return CapturePublic.model_validate(_capture(session, capture_id))


def capture_file(session: Session, capture: Capture, settings: Settings) -> Path:
    """Where a capture's image is: absolute as the pipeline stored it, or in its flight folder."""
    path = Path(capture.path)
    if path.is_absolute() or capture.flight_id is None:
        return path
    flight = session.get(Flight, capture.flight_id)
    return flight_directory(flight, settings) / path if flight else path


@router.get(
    "/captures/{capture_id}/image",
    response_class=FileResponse,
    responses={
        200: {"content": {"image/jpeg": {}}},
        404: {"model": Message},
        413: {"model": Message, "description": "the image has too many pixels to preview"},
    },
)
def capture_image(
    session: SessionDep,
    settings: SettingsDep,
    _: CurrentUser,
    capture_id: uuid.UUID,
    max_px: Annotated[int, Query(ge=64, le=8192)] = 1600,
) -> Any:
    """A JPEG preview (thermal frames stretched to 8 bits), at most ``max_px`` on the long side.

    Served at the smallest of the sizes 256, 512, 1024, 1600 and 2048 px that is
    at least ``max_px`` (2048 for anything larger).
    """
    capture = _capture(session, capture_id)
    try:
        path = preview(
            capture_file(session, capture, settings),
            settings.data_dir / "previews",
            key=str(capture.id),
            max_px=max_px,
            max_pixels=settings.max_image_pixels,
        )
    except NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except ImageTooLargeError as exc:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, str(exc)) from None
    except UploadRejectedError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return FileResponse(path, media_type="image/jpeg")


def _progress(session: Session, flight_id: uuid.UUID, local: LocalProcessing) -> FlightProcessing:
    progress = flight_progress(session, flight_id)
    return FlightProcessing(
        flight_id=flight_id,
        **{status_.value: progress.counts.get(status_, 0) for status_ in JobStatus},
        total=progress.total,
        finished=progress.finished,
        fraction=progress.fraction,
        local_dispatcher=local.running,
        error=local.error,
    )


@router.post(
    "/flights/{flight_id}/process",
    status_code=status.HTTP_202_ACCEPTED,
    responses={404: {"model": Message}},
)
def process_flight(
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    _: OperatorUser,
    flight_id: uuid.UUID,
) -> FlightProcessing:
    """Process the flight's photos on this server: queue any not queued yet and drain the queue.

    The jobs are the ones uploads queued, so an ``ecopatrol worker`` elsewhere
    may take some of them; each result is recorded once either way.
    """
    flight = _flight(session, flight_id)
    try:
        directory = require_photos(flight)
    except NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    if ingest_uploads(session, flight, directory, **_ingest_dirs(settings)) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the flight has no photos yet")
    session.commit()
    local: LocalProcessing = request.app.state.processing
    local.start()
    return _progress(session, flight_id, local)


@router.get("/flights/{flight_id}/processing", responses={404: {"model": Message}})
def flight_processing(
    session: SessionDep, request: Request, _: CurrentUser, flight_id: uuid.UUID
) -> FlightProcessing:
    """How far the flight's processing has gone: its jobs by status (poll while unfinished)."""
    _flight(session, flight_id)
    return _progress(session, flight_id, request.app.state.processing)
