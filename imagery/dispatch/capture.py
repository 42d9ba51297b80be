"""Capture processing as queue jobs: what to enqueue on ingest and what a worker runs.

A job carries paths and a pose, never pixels: :func:`process_job` runs on a
Dask worker, reads the image (on a filesystem every worker sees), and returns
the small :class:`~imagery.pipeline.CaptureResult`; the dispatcher hands
batches of them to :func:`imagery.persist.write_outcomes`, the single writer,
and, once all of a flight's jobs are done or failed, groups the flight with
:func:`finish_flight_jobs` in the same transaction.

:func:`ingest_flight` records a flight's captures (pending) and queues their
jobs in the caller's transaction: ``ecopatrol ingest``, for ``ecopatrol worker``.

The pipeline version names every detector and its version, so a new detector
version means new jobs (:func:`enqueue_flight_captures` again), while
enqueuing the same version twice changes nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlmodel import Session, col
from sqlmodel import select as sql_select

from imagery.detect.base import Detector, select
from imagery.ingest import Inputs
from imagery.limits import DEFAULT_MAX_PIXELS
from imagery.persist import finish_flight
from imagery.pipeline import DEFAULT_WORK_PX, CaptureResult, process_capture
from imagery.pose import LaserTarget, Pose
from store.findings import get_or_create_flight
from store.jobs import enqueue_flight
from store.models import Capture, Flight
from zone.sites import Sites, load_sites

logger = logging.getLogger(__name__)

TASK = "imagery.dispatch.capture:process_job"
WRITER = "imagery.persist:write_outcomes"
FINISHER = "imagery.dispatch.capture:finish_flight_jobs"
FINISHERS = {WRITER: FINISHER}
"""What the dispatcher runs once all of a flight's jobs with a writer are finished."""

_VERSION_CHARS = 64  # ProcessingJob.pipeline_version
_POSE_FIELDS = {f.name for f in dataclasses.fields(Pose)} - {"laser"}


def pipeline_version(detectors: Sequence[Detector] | None = None) -> str:
    """``"name@version+..."`` of the detectors a job runs (all registered ones by default).

    A list too long for the column keeps its start and ends in a hash of the whole.
    """
    chosen = select() if detectors is None else detectors
    version = "+".join(sorted(f"{d.name}@{d.version}" for d in chosen))
    if len(version) <= _VERSION_CHARS:
        return version
    digest = hashlib.sha256(version.encode()).hexdigest()[:16]
    return f"{version[: _VERSION_CHARS - 17]}~{digest}"


def pose_from_dict(raw: dict[str, Any]) -> Pose:
    """A pose from its stored form (:meth:`Pose.as_dict`); other keys are ignored."""
    laser = raw.get("laser")
    return Pose(
        **{k: v for k, v in raw.items() if k in _POSE_FIELDS and v is not None},
        laser=LaserTarget(**laser) if laser else None,
    )


def finish_flight_jobs(session: Session, flight_id: uuid.UUID, pipeline_version: str) -> None:
    """Dispatcher finisher: :func:`~imagery.persist.finish_flight` once every job is finished.

    The dispatcher runs it in the transaction that finished the flight's last
    job (done or failed), so a crash keeps both or neither; running it again
    changes nothing.
    """
    flight = session.get(Flight, flight_id)
    if flight is None:
        logger.warning("flight %s is gone; nothing to group", flight_id)
        return
    logger.info("flight %s: all %s jobs finished; grouping", flight_id, pipeline_version)
    finish_flight(session, flight)


@lru_cache(maxsize=4)
def _sites(path: str) -> Sites:
    """Sites parsed once per worker process, not once per capture."""
    return load_sites(Path(path))


def process_job(params: dict[str, Any]) -> CaptureResult:
    """Run :func:`~imagery.pipeline.process_capture` from a job's parameters (on a worker)."""
    pose = params.get("pose")
    return process_capture(
        Path(params["path"]),
        pose=pose_from_dict(pose) if pose else None,
        dem=Path(params["dem"]) if params.get("dem") else None,
        ground_alt_m=params.get("ground_alt_m"),
        sites=_sites(params["sites"]) if params.get("sites") else None,
        detectors=select(params["detectors"]) if params.get("detectors") else None,
        evidence_dir=Path(params["evidence_dir"]) if params.get("evidence_dir") else None,
        work_px=int(params.get("work_px", DEFAULT_WORK_PX)),
        index=params.get("index"),
        takeoff_ground_amsl_m=params.get("takeoff_ground_amsl_m"),
        max_pixels=int(params.get("max_pixels", DEFAULT_MAX_PIXELS)),
    )


def enqueue_flight_captures(
    session: Session,
    flight_id: uuid.UUID,
    *,
    detectors: Sequence[str] | None = None,
    dem: Path | None = None,
    ground_alt_m: float | None = None,
    takeoff_ground_amsl_m: float | None = None,
    sites: Path | None = None,
    evidence_dir: Path | None = None,
    work_px: int = DEFAULT_WORK_PX,
    max_attempts: int = 3,
    capture_ids: Sequence[uuid.UUID] | None = None,
) -> int:
    """Queue every capture of a flight (or only ``capture_ids``) for processing.

    In the caller's transaction.

    Paths must be readable by every Dask worker (a shared filesystem when the
    cluster spans machines). ``takeoff_ground_amsl_m`` (m AMSL) re-bases each camera
    height on the take-off ground, as in :func:`~imagery.pipeline.process_capture`.
    A job already queued keeps the options it was queued with. Returns how many
    jobs are new.
    """
    chosen = select(detectors)
    extra: dict[str, Any] = {
        "detectors": [d.name for d in chosen],
        "dem": str(dem) if dem else None,
        "ground_alt_m": ground_alt_m,
        "takeoff_ground_amsl_m": takeoff_ground_amsl_m,
        "sites": str(sites) if sites else None,
        "evidence_dir": str(evidence_dir) if evidence_dir else None,
        "work_px": work_px,
    }
    return enqueue_flight(
        session,
        flight_id,
        pipeline_version=pipeline_version(chosen),
        task=TASK,
        writer=WRITER,
        max_attempts=max_attempts,
        extra_params={k: v for k, v in extra.items() if v is not None},
        capture_ids=capture_ids,
    )


@dataclass(frozen=True, slots=True)
class IngestReport:
    """What :func:`ingest_flight` recorded."""

    flight_id: uuid.UUID
    captures_new: int
    queued: int


def ingest_flight(
    session: Session,
    inputs: Inputs,
    *,
    detectors: Sequence[str] | None = None,
    dem: Path | None = None,
    ground_alt_m: float | None = None,
    takeoff_ground_amsl_m: float | None = None,
    sites: Path | None = None,
    evidence_dir: Path | None = None,
    work_px: int = DEFAULT_WORK_PX,
    max_attempts: int = 3,
    first_index: int = 0,
    only_new: bool = False,
) -> IngestReport:
    """Record the flight and its captures (pending) and queue their jobs (caller's transaction).

    Captures already recorded for the flight are kept as they are and jobs
    already queued for this pipeline version are not queued again, so
    ingesting the same flight twice changes nothing. ``inputs`` may be a part
    of the flight (one uploaded photo): its images are numbered from
    ``first_index``, and with ``only_new`` only the captures recorded now are
    queued (the flight's others are not looked at). The recorded poses are the
    captures' own; with ``takeoff_ground_amsl_m`` (m AMSL, the ground the flight took
    off from) the worker re-bases each camera height on it.
    """
    flight = get_or_create_flight(
        session, directory=str(inputs.directory), name=inputs.directory.name
    )
    known = set(
        session.exec(sql_select(Capture.path).where(col(Capture.flight_id) == flight.id)).all()
    )
    new = []
    for index, image in enumerate(inputs.images, start=first_index):
        if str(image) in known:
            continue
        pose = inputs.poses.get(image)
        new.append(
            Capture(
                flight_id=flight.id,
                index=index,
                path=str(image),
                pose=pose.as_dict() if pose else None,
                lat=pose.lat if pose else None,
                lon=pose.lon if pose else None,
                alt_amsl_m=pose.alt_amsl_m if pose else None,
                alt_rel_m=pose.alt_rel_m if pose else None,
            )
        )
    session.add_all(new)
    session.flush()
    queued = enqueue_flight_captures(
        session,
        flight.id,
        detectors=detectors,
        dem=dem,
        ground_alt_m=ground_alt_m,
        takeoff_ground_amsl_m=takeoff_ground_amsl_m,
        sites=sites,
        evidence_dir=evidence_dir,
        work_px=work_px,
        max_attempts=max_attempts,
        capture_ids=[c.id for c in new] if only_new else None,
    )
    logger.info("flight %s: %d new captures, %d jobs queued", flight.id, len(new), queued)
    return IngestReport(flight.id, len(new), queued)
