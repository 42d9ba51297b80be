"""Processing uploaded photos through the job queue, and running it on a single machine.

Uploads are ingested as they arrive (:func:`ingest_uploads`): the flight's
captures are recorded and their jobs queued in the upload's transaction, with
:func:`imagery.dispatch.capture.ingest_flight`, the same call ``ecopatrol
ingest`` makes. Any ``ecopatrol worker`` pointed at the database then does the
work; for a single-machine install the "process" action starts
:class:`LocalProcessing`, a thread that runs the same
:class:`~imagery.dispatch.Dispatcher` on a local Dask cluster until the queue is
drained. Either way results land once, through the queue's leases.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, func, select

from imagery.dispatch import Dispatcher, open_client
from imagery.dispatch.capture import IngestReport, ingest_flight
from imagery.ingest import Inputs, collect_images, gather, match_manifest
from imagery.pose import Pose, pose_from_manifest
from missions.manifest import MANIFEST_NAME, read_manifest
from server.errors import NotFoundError
from server.planning import zone_geojson
from store.models import Capture, Flight

logger = logging.getLogger(__name__)


def _zone_file(session: Session, sites_dir: Path) -> Path | None:
    """The stored zone as a GeoJSON file the workers read, named by its content (None if empty).

    Named by content so a worker's cache of parsed sites never serves an old zone.
    """
    zone = zone_geojson(session)
    if not zone["features"]:
        return None
    text = json.dumps(zone, sort_keys=True)
    path = sites_dir / f"zone-{hashlib.sha256(text.encode()).hexdigest()[:16]}.geojson"
    if not path.is_file():
        sites_dir.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        partial.write_text(text)
        partial.replace(path)
    return path


def _inputs(directory: Path) -> Inputs | None:
    """The folder's images and manifest poses; None while it holds no image yet."""
    try:
        return gather([directory])
    except FileNotFoundError:
        return None
    except ValueError as exc:  # a manifest matching none of the photos (yet)
        logger.warning("%s: manifest not used (%s); photos keep their own poses", directory, exc)
        images, manifest = collect_images([directory])
        return Inputs([i.resolve() for i in images], {}, manifest, directory.resolve())


def ingest_uploads(
    session: Session,
    flight: Flight,
    directory: Path,
    *,
    evidence_dir: Path,
    sites_dir: Path,
) -> IngestReport | None:
    """Record the flight folder's photos and queue their jobs (in the caller's transaction).

    Idempotent: photos already recorded and jobs already queued are kept. A
    photo's pose is taken when it is first recorded, from the manifest if one
    was uploaded before it, else from its own EXIF/XMP. None while the folder
    holds no photo.
    """
    inputs = _inputs(directory)
    if inputs is None:
        return None
    # ingest_flight finds the flight by its (resolved) folder
    if flight.directory != str(inputs.directory):
        flight.directory = str(inputs.directory)
        session.add(flight)
        session.flush()
    return ingest_flight(
        session, inputs, sites=_zone_file(session, sites_dir), evidence_dir=evidence_dir
    )


def _manifest_pose(image: Path, manifest: Path) -> Pose | None:
    """The uploaded manifest's pose of ``image``; None leaves the photo its own EXIF/XMP pose."""
    try:
        matched = match_manifest([image], read_manifest(manifest))
    except ValueError:  # an unreadable manifest, or no record of this photo
        return None
    record = matched.get(image)
    return pose_from_manifest(record) if record else None


def ingest_upload(
    session: Session,
    flight: Flight,
    image: Path,
    *,
    evidence_dir: Path,
    sites_dir: Path,
) -> IngestReport:
    """Record one uploaded photo and queue its job (in the caller's transaction).

    Only this photo is looked at (never the rest of the folder), so each upload
    costs the same however many came before. Its pose comes from the manifest
    if one was uploaded before it, else from its own EXIF/XMP; it is numbered
    in order of arrival.
    """
    image = image.resolve()
    directory = image.parent
    if flight.directory != str(directory):
        flight.directory = str(directory)  # ingest_flight finds the flight by its folder
        session.add(flight)
        session.flush()
    manifest = directory / MANIFEST_NAME
    pose = _manifest_pose(image, manifest) if manifest.is_file() else None
    inputs = Inputs([image], {image: pose} if pose else {}, manifest, directory)
    recorded = session.exec(
        select(func.count()).select_from(Capture).where(Capture.flight_id == flight.id)
    ).one()
    return ingest_flight(
        session,
        inputs,
        sites=_zone_file(session, sites_dir),
        evidence_dir=evidence_dir,
        first_index=recorded,
        only_new=True,
    )


class LocalProcessing:
    """Runs the queued jobs on this machine: one dispatcher thread until the queue is empty.

    :meth:`start` while the thread runs only asks it for one more pass, so
    jobs queued at any moment are picked up and there is never more than one
    local dispatcher.
    """

    def __init__(self, engine: Engine, *, n_workers: int | None = 1) -> None:
        self.engine = engine
        self.n_workers = n_workers
        self.error = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._again = False

    @property
    def running(self) -> bool:
        with self._lock:
            return self._thread is not None

    def start(self) -> None:
        """Drain the queue in the background (another pass if already draining)."""
        with self._lock:
            self._again = True
            if self._thread is not None or self._stop.is_set():
                return
            self.error = ""
            self._thread = threading.Thread(target=self._run, name="local-dispatcher", daemon=True)
            self._thread.start()

    def _more(self) -> bool:
        with self._lock:
            again, self._again = self._again and not self._stop.is_set(), False
            if not again:
                self._thread = None
            return again

    def _run(self) -> None:
        try:
            with open_client(n_workers=self.n_workers) as client:
                dispatcher = Dispatcher(self.engine, client)
                while self._more():
                    report = dispatcher.run(drain=True, should_stop=self._stop.is_set)
                    logger.info(
                        "local processing: %d jobs written, %d failed in %.1f s",
                        report.written,
                        report.failed,
                        report.seconds,
                    )
        except Exception as exc:  # reported to the operator; the queue keeps the work
            logger.exception("local processing stopped")
            with self._lock:
                self.error = str(exc) or type(exc).__name__
                self._thread = None

    async def shutdown(self) -> None:
        """Stop after the results in hand are written; unfinished jobs go back to the queue."""
        self._stop.set()
        with self._lock:
            thread = self._thread
        if thread is not None:
            await asyncio.to_thread(thread.join, 30.0)


def require_photos(flight: Flight) -> Path:
    """The flight's folder, or NotFoundError when nothing was uploaded to it."""
    if not flight.directory or not Path(flight.directory).is_dir():
        raise NotFoundError("the flight has no photos yet; upload them first")
    return Path(flight.directory)
