"""Processing a flight's photos with the imagery pipeline, in the background of the service.

The same steps as ``ecopatrol process`` (match the manifest, georeference and
detect per capture, write captures and findings idempotently, group against
the previous patrol), run in a worker thread so the service keeps answering.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from imagery.ingest import collect_images, match_manifest
from imagery.persist import finish_flight, write_results
from imagery.pipeline import process_capture
from imagery.pose import pose_from_manifest
from imagery.sites import parse_sites
from missions.manifest import read_manifest
from server.errors import ConflictError, NotFoundError
from server.planning import zone_geojson
from store.db import session_scope
from store.models import Flight

logger = logging.getLogger(__name__)


@dataclass
class ProcessingState:
    """What the service knows of one flight's processing run."""

    state: str = "queued"  # queued | running | done | failed
    images: int = 0
    processed: int = 0
    failed: int = 0
    findings_new: int = 0
    message: str = ""
    started_at: str = ""
    finished_at: str = ""

    def public(self) -> dict[str, Any]:
        return asdict(self)


def process_flight_directory(
    engine: Engine,
    flight_id: uuid.UUID,
    directory: Path,
    evidence_dir: Path,
    state: ProcessingState,
) -> None:
    """Process every image in ``directory`` into the store under ``flight_id`` (blocking)."""
    images, manifest = collect_images([directory])
    if not images:
        raise NotFoundError(f"no images in the flight folder {directory.name}; upload them first")
    poses = {}
    if manifest is not None:
        poses = {
            k: pose_from_manifest(v)
            for k, v in match_manifest(images, read_manifest(manifest)).items()
        }
    with Session(engine) as session:
        zone = parse_sites(zone_geojson(session))
    state.images = len(images)
    results = []
    for index, image in enumerate(images):
        result = process_capture(
            image, pose=poses.get(image), sites=zone, evidence_dir=evidence_dir, index=index
        )
        results.append(result)
        state.processed += 1
        state.failed += 0 if result.ok else 1
    with session_scope(engine) as session:
        flight = session.get(Flight, flight_id)
        if flight is None:
            raise NotFoundError("the flight was deleted while processing")
        written = write_results(session, results, flight_id=flight_id)
        finish_flight(session, flight)
    state.findings_new = written.findings_inserted


class ProcessingQueue:
    """One processing run per flight at a time; state kept for the UI to poll."""

    def __init__(self, engine: Engine, evidence_dir: Path, flights_dir: Path) -> None:
        self.engine = engine
        self.evidence_dir = evidence_dir
        self.flights_dir = flights_dir
        self.states: dict[uuid.UUID, ProcessingState] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, flight: Flight) -> ProcessingState:
        current = self.states.get(flight.id)
        if current is not None and current.state in ("queued", "running"):
            raise ConflictError("this flight is already being processed")
        directory = (
            Path(flight.directory) if flight.directory else self.flights_dir / str(flight.id)
        )
        if not directory.is_dir():
            raise NotFoundError("the flight has no folder yet; upload its photos first")
        state = ProcessingState(state="queued", started_at=datetime.now(UTC).isoformat())
        self.states[flight.id] = state
        task = asyncio.get_running_loop().create_task(self._run(flight.id, directory, state))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return state

    async def _run(self, flight_id: uuid.UUID, directory: Path, state: ProcessingState) -> None:
        state.state = "running"
        try:
            await asyncio.to_thread(
                process_flight_directory,
                self.engine,
                flight_id,
                directory,
                self.evidence_dir,
                state,
            )
            state.state = "done"
            state.message = f"{state.processed} photos, {state.findings_new} new findings"
        except Exception as exc:  # reported to the operator, the service goes on
            logger.warning("processing flight %s failed: %s", flight_id, exc)
            state.state, state.message = "failed", str(exc) or type(exc).__name__
        state.finished_at = datetime.now(UTC).isoformat()

    async def shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
