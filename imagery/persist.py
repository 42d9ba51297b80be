"""Writing pipeline results to the store, the only place imagery touches the database.

:func:`write_results` is the single writer: captures upserted by (flight,
path), findings by dedupe key, so writing a flight twice changes nothing.
:func:`finish_flight` then groups the flight's findings across overlapping
captures and compares them with the previous patrol of the same sites.
:func:`write_outcomes` is the same writer in the shape the Dask dispatcher
calls (``imagery.persist:write_outcomes``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from imagery.detect.change import NAME as CHANGE_NAME
from imagery.detect.change import VERSION as CHANGE_VERSION
from imagery.detect.change import Change, GroupSummary, compare_patrols
from imagery.grouping import Located, group
from imagery.pipeline import CaptureResult
from store.findings import (
    flight_findings,
    previous_flight,
    replace_findings,
    set_groups,
    update_measurements,
    upsert_capture,
)
from store.models import Finding, Flight

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WriteSummary:
    captures: int
    failed: int
    findings_inserted: int
    findings_removed: int


def write_results(
    session: Session, results: Sequence[CaptureResult], *, flight_id: uuid.UUID | None
) -> WriteSummary:
    """Store captures and their findings idempotently (one transaction is the caller's)."""
    inserted = removed = failed = 0
    for result in results:
        capture = upsert_capture(session, result.capture_row(), flight_id=flight_id)
        if not result.ok:
            failed += 1
        ins, rem = replace_findings(session, capture, [f.row() for f in result.findings])
        inserted, removed = inserted + ins, removed + rem
    return WriteSummary(len(results), failed, inserted, removed)


def write_outcomes(session: Session, outcomes: Sequence[Any]) -> None:
    """Dispatcher writer: each outcome has ``job`` (capture_id, flight_id) and a CaptureResult."""
    for outcome in outcomes:
        result: CaptureResult = outcome.result
        capture = upsert_capture(
            session,
            result.capture_row(),
            flight_id=outcome.job.flight_id,
            capture_id=outcome.job.capture_id,
        )
        replace_findings(session, capture, [f.row() for f in result.findings])


def _summary(groups: dict[str, list[Finding]]) -> list[GroupSummary]:
    out = []
    for gid, members in groups.items():
        best = max(members, key=lambda f: f.score)
        out.append(
            GroupSummary(gid, best.kind, best.site_id, best.lat, best.lon, best.position_error_m)
        )
    return out


def _by_group(findings: Sequence[Finding]) -> dict[str, list[Finding]]:
    groups: dict[str, list[Finding]] = {}
    for f in findings:
        groups.setdefault(f.group_id or str(f.id), []).append(f)
    return groups


def finish_flight(session: Session, flight: Flight) -> list[Change]:
    """Group the flight's findings and mark each group new or recurring against the
    previous patrol of the same sites; returns every change, the gone ones included."""
    findings = flight_findings(session, flight.id)
    ids = group([Located.of(f, f.id) for f in findings])
    set_groups(session, {k: v for k, v in ids.items() if isinstance(k, uuid.UUID)})
    current = _by_group(findings)
    sites = {f.site_id for f in findings if f.site_id}
    before = previous_flight(session, site_ids=sites, flight=flight)
    previous: dict[str, list[Finding]] = {}
    if before is not None:
        previous = _by_group([f for f in flight_findings(session, before.id) if f.site_id in sites])
    changes = compare_patrols(_summary(current), _summary(previous))
    extra: dict[uuid.UUID, dict[str, Any]] = {}
    for change in changes:
        if change.current_group is None:
            continue
        for f in current[change.current_group]:
            extra[f.id] = {
                "change": change.status,
                "change_detector": f"{CHANGE_NAME} {CHANGE_VERSION}",
                "previous_group": change.previous_group,
                "previous_flight": str(before.id) if before else None,
                "group_size": len(current[change.current_group]),
            }
    update_measurements(session, extra)
    logger.info("flight %s: %d findings in %d groups", flight.id, len(findings), len(current))
    return changes
