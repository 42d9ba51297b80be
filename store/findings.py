"""Idempotent writes of processing results: captures, their findings, groups.

Rows arrive as plain dictionaries whose keys are the model's columns (the
imagery pipeline's ``CaptureResult.capture_row()`` and ``FindingResult.row()``),
so this package does not depend on the pipeline. Writing the same capture
twice leaves one capture row and the same findings: findings are matched by
``dedupe_key``, updated in place (an inspector's status is kept), and the
ones a re-run no longer produces are removed unless someone reviewed them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from store.models import Capture, CaptureStatus, Finding, FindingStatus, Flight, Review

_FINDING_COLUMNS = set(Finding.model_fields) - {
    "id",
    "capture_id",
    "flight_id",
    "status",
    "created_at",
    "group_id",
}
_CAPTURE_COLUMNS = set(Capture.model_fields) - {"id", "flight_id", "created_at"}


def get_or_create_flight(session: Session, *, directory: str, name: str = "") -> Flight:
    """The flight recorded for a capture directory, created on first use."""
    flight = session.exec(select(Flight).where(col(Flight.directory) == directory)).first()
    if flight is None:
        flight = Flight(directory=directory, name=name or directory)
        session.add(flight)
        session.flush()
    return flight


def upsert_capture(
    session: Session,
    row: Mapping[str, Any],
    *,
    flight_id: uuid.UUID | None,
    capture_id: uuid.UUID | None = None,
) -> Capture:
    """Insert or update the capture (by id, else by flight and path)."""
    capture = session.get(Capture, capture_id) if capture_id is not None else None
    if capture is None:
        capture = session.exec(
            select(Capture).where(
                col(Capture.flight_id) == flight_id, col(Capture.path) == row["path"]
            )
        ).first()
    if capture is None:
        capture = Capture(flight_id=flight_id, path=row["path"])
        if capture_id is not None:
            capture.id = capture_id
        session.add(capture)
    for key, value in row.items():
        if key in _CAPTURE_COLUMNS:
            setattr(capture, key, CaptureStatus(value) if key == "status" else value)
    session.flush()
    return capture


def replace_findings(
    session: Session, capture: Capture, rows: Iterable[Mapping[str, Any]]
) -> tuple[int, int]:
    """Make the capture's findings those in ``rows``; returns (inserted, removed)."""
    existing = {
        f.dedupe_key: f
        for f in session.exec(select(Finding).where(col(Finding.capture_id) == capture.id))
    }
    inserted = 0
    seen: set[str] = set()
    for row in rows:
        key = row["dedupe_key"]
        seen.add(key)
        finding = existing.get(key)
        if finding is None:
            other = session.exec(select(Finding).where(col(Finding.dedupe_key) == key)).first()
            if other is not None:  # same file under another path: move it here
                finding = other
            else:
                finding = Finding(
                    capture_id=capture.id, **{c: v for c, v in row.items() if c in _FINDING_COLUMNS}
                )
                session.add(finding)
                inserted += 1
        finding.capture_id = capture.id
        finding.flight_id = capture.flight_id
        for column, value in row.items():
            if column in _FINDING_COLUMNS:
                setattr(finding, column, value)
    stale = [f for k, f in existing.items() if k not in seen]
    reviewed = (
        set(
            session.exec(
                select(col(Review.finding_id)).where(
                    col(Review.finding_id).in_([f.id for f in stale])
                )
            )
        )
        if stale
        else set()
    )
    removed = 0
    for finding in stale:
        if finding.id not in reviewed and finding.status == FindingStatus.PENDING:
            session.delete(finding)
            removed += 1
    session.flush()
    return inserted, removed


def flight_findings(session: Session, flight_id: uuid.UUID) -> list[Finding]:
    return list(session.exec(select(Finding).where(col(Finding.flight_id) == flight_id)))


def set_groups(session: Session, groups: Mapping[uuid.UUID, str]) -> None:
    """Set ``group_id`` of findings by id (findings of one object share one group)."""
    for finding_id, group_id in groups.items():
        finding = session.get(Finding, finding_id)
        if finding is not None:
            finding.group_id = group_id
    session.flush()


def update_measurements(session: Session, extra: Mapping[uuid.UUID, Mapping[str, Any]]) -> None:
    """Merge keys into findings' ``measurements`` (a new dict, so the JSON column is saved)."""
    for finding_id, values in extra.items():
        finding = session.get(Finding, finding_id)
        if finding is not None:
            finding.measurements = {**(finding.measurements or {}), **values}
    session.flush()


def previous_flight(session: Session, *, site_ids: Iterable[str], flight: Flight) -> Flight | None:
    """The latest other flight, created before ``flight``, with findings at any of the sites."""
    ids = list(site_ids)
    if not ids:
        return None
    created: datetime = flight.created_at
    row = session.exec(
        select(Flight)
        .join(Finding, col(Finding.flight_id) == col(Flight.id))
        .where(
            col(Flight.id) != flight.id,
            col(Flight.created_at) < created,
            col(Finding.site_id).in_(ids),
        )
        .order_by(col(Flight.created_at).desc())
        .limit(1)
    ).first()
    return row
