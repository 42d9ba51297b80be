"""Processing a flight here and now: every capture through the pipeline, then the store.

:func:`process_flight` is ``ecopatrol process`` without the command line, for
any caller that wants a flight's findings at once (the demo, a notebook). It
processes the captures in this process or a local process pool, writes them
with the single writer (:func:`imagery.persist.write_results`) and groups them
(:func:`imagery.persist.finish_flight`) in one transaction, so running it
twice changes nothing. For many flights or many machines, queue them instead
(:func:`imagery.dispatch.capture.ingest_flight`) and run ``ecopatrol worker``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from sqlalchemy import Engine

from imagery.detect.base import Detector
from imagery.detect.change import Change
from imagery.ingest import Inputs
from imagery.persist import finish_flight, write_results
from imagery.pipeline import CaptureResult, process_capture
from store.db import session_scope
from store.findings import get_or_create_flight
from zone.sites import Sites

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BatchReport:
    """What :func:`process_flight` found and stored."""

    flight_id: uuid.UUID
    results: list[CaptureResult]
    changes: list[Change]
    """Every group, new or recurring, and every group of the previous patrol gone."""
    findings_inserted: int
    findings_removed: int

    @property
    def failed(self) -> list[CaptureResult]:
        return [r for r in self.results if not r.ok]


def process_flight(
    inputs: Inputs,
    *,
    engine: Engine,
    dem: Path | None = None,
    ground_alt_m: float | None = None,
    takeoff_ground_amsl_m: float | None = None,
    sites: Sites | None = None,
    detectors: Sequence[Detector] | None = None,
    evidence_dir: Path | None = None,
    geotiff_dir: Path | None = None,
    jobs: int = 1,
    on_capture: Callable[[CaptureResult], None] | None = None,
) -> BatchReport:
    """Process the captures of ``inputs`` (from :func:`imagery.ingest.gather`) and store them.

    Parameters
    ----------
    engine : the store, already migrated; written in one transaction at the end.
    takeoff_ground_amsl_m : ground height (m AMSL) where the flight took off: every
        capture's camera height AMSL becomes this plus its height above take-off
        (``alt_rel_m``, DJI ``RelativeAltitude``) instead of its recorded absolute
        altitude; a capture with no height above take-off then fails with that reason.
    jobs : local worker processes (1: this process).
    on_capture : called with each capture's result as it finishes (progress bars).

    The other options are those of :func:`imagery.pipeline.process_capture`;
    a capture that cannot be processed is stored as failed with its reason.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    run = partial(
        process_capture,
        dem=dem,
        ground_alt_m=ground_alt_m,
        takeoff_ground_amsl_m=takeoff_ground_amsl_m,
        sites=sites,
        detectors=detectors,
        evidence_dir=evidence_dir,
        geotiff_dir=geotiff_dir,
    )
    results: list[CaptureResult] = []

    def done(result: CaptureResult) -> None:
        results.append(result)
        if on_capture is not None:
            on_capture(result)

    images, poses = inputs.images, inputs.poses
    if jobs == 1:
        for i, image in enumerate(images):
            done(run(image, pose=poses.get(image), index=i))
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [
                pool.submit(run, image, pose=poses.get(image), index=i)
                for i, image in enumerate(images)
            ]
            for future in futures:
                done(future.result())

    with session_scope(engine) as session:
        flight = get_or_create_flight(
            session, directory=str(inputs.directory), name=inputs.directory.name
        )
        written = write_results(session, results, flight_id=flight.id)
        changes = finish_flight(session, flight)
        flight_id = flight.id
    logger.info(
        "flight %s: %d captures (%d failed), %d findings new, %d removed",
        flight_id,
        len(results),
        written.failed,
        written.findings_inserted,
        written.findings_removed,
    )
    return BatchReport(
        flight_id, results, changes, written.findings_inserted, written.findings_removed
    )
