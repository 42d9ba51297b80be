"""Objects: what inspectors review, one per thing seen, however many captures saw it.

The pipeline groups a flight's findings (``Finding.group_id``, see
``imagery.grouping``); :func:`sync_flight` turns each group into one
:class:`DetectedObject` and keeps it in step when the flight is processed
again. A decision is taken on the object (one ``Review`` row) and sets every
member's status, so finding-level exports and counts agree with it. A capture
the grouping got wrong is split off into an object of its own, which keeps its
findings through later processing.
"""

from __future__ import annotations

import statistics
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlmodel import Session, col, select

from store.models import (
    SEVERITY_RANK,
    ChangeCounter,
    DetectedObject,
    Finding,
    FindingStatus,
    Flight,
    Mission,
    Review,
    ReviewDecision,
)

DECISION_STATUS = {
    ReviewDecision.CONFIRM: FindingStatus.CONFIRMED,
    ReviewDecision.REJECT: FindingStatus.REJECTED,
    ReviewDecision.DUPLICATE: FindingStatus.DUPLICATE,
}

REJECT_REASONS = (
    "steam, not smoke",
    "sun-heated surface",
    "reflection or glint",
    "vehicle or equipment",
    "shadow",
    "outside the site",
    "duplicate of a known source",
    "image fault",
)
"""The short list an inspector picks a rejection's reason from (free text is also taken)."""


class ObjectError(ValueError):
    """A decision or split that cannot apply (the message says why, for a 4xx answer)."""


def _most_common(values: Iterable[str | None]) -> str | None:
    counted = Counter(v for v in values if v)
    return counted.most_common(1)[0][0] if counted else None


def _peak(findings: Sequence[Finding], key: str) -> float | None:
    values = [
        float(v)
        for f in findings
        if isinstance(v := (f.measurements or {}).get(key), int | float) and v == v
    ]
    return max(values) if values else None


def summarise(findings: Sequence[Finding]) -> dict[str, Any]:
    """The measurements across captures the queue shows beside an object (peaks)."""
    areas = [f.area_m2 for f in findings if f.area_m2 is not None]
    first = findings[0].measurements or {}
    summary: dict[str, Any] = {
        "captures": len({f.capture_id for f in findings}),
        "score_max": round(max(f.score for f in findings), 3),
        "area_m2_max": round(max(areas), 1) if areas else None,
    }
    rise = _peak(findings, "rise")
    if rise is not None:
        summary["rise_max"] = rise
        summary["rise_units"] = "K" if first.get("calibrated") else "raw"
    if (delta_e := _peak(findings, "delta_e_max")) is not None:
        summary["delta_e_max"] = delta_e
    if colours := [c for f in findings if (c := (f.measurements or {}).get("colour"))]:
        summary["colour"] = Counter(colours).most_common(1)[0][0]
    return summary


def _position_error(findings: Sequence[Finding]) -> float | None:
    """The members' median error: captures of one pass share most of their pose bias,
    so averaging their positions does not shrink it."""
    errors = [f.position_error_m for f in findings if f.position_error_m is not None]
    return round(statistics.median(errors), 2) if errors else None


def _fill(obj: DetectedObject, findings: Sequence[Finding]) -> None:
    """Set what the object shows from its members (all of one kind)."""
    best = max(findings, key=lambda f: (f.score, -(f.position_error_m or 0.0), str(f.id)))
    in_air = [f for f in findings if f.alt_amsl_m is not None]
    obj.kind = best.kind
    obj.site_id = _most_common(f.site_id for f in findings)
    obj.source_id = _most_common(f.source_id for f in findings)
    obj.severity = max((f.severity for f in findings), key=lambda s: SEVERITY_RANK.get(s, 0))
    obj.severity_rank = SEVERITY_RANK.get(obj.severity, 0)
    obj.score = best.score
    obj.lat = statistics.fmean(f.lat for f in findings)
    obj.lon = statistics.fmean(f.lon for f in findings)
    obj.position_error_m = _position_error(findings)
    obj.alt_amsl_m = statistics.fmean(f.alt_amsl_m for f in in_air) if in_air else None  # type: ignore[misc]
    heights = [f.height_agl_m for f in in_air if f.height_agl_m is not None]
    obj.height_agl_m = statistics.fmean(heights) if heights else None
    obj.finding_count = len(findings)
    obj.best_finding_id = best.id
    obj.summary = summarise(findings)
    obj.change = _most_common((f.measurements or {}).get("change") for f in findings)


def _patrol_name(session: Session, flight: Flight) -> str:
    mission = session.get(Mission, flight.mission_id) if flight.mission_id else None
    return mission.patrol_name if mission and mission.patrol_name else flight.name


def _groups(session: Session, findings: Sequence[Finding]) -> dict[str, list[Finding]]:
    """Members by object key: the pipeline's group, except captures split off by hand."""
    split_ids = {f.object_id for f in findings if f.object_id is not None}
    kept = {
        o.id: o.key
        for o in session.exec(
            select(DetectedObject).where(
                col(DetectedObject.id).in_(split_ids), col(DetectedObject.split_from).is_not(None)
            )
        )
    }
    groups: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        key = kept.get(f.object_id) if f.object_id else None
        groups[key or object_key(f.flight_id, f.group_id or f.dedupe_key)].append(f)
    return groups


def object_key(flight_id: uuid.UUID | None, group_id: str) -> str:
    """An object's key: its group within its flight (group ids come from image content,
    so the same photos filed under another flight make the same group id)."""
    return f"{flight_id}/{group_id}"[:255]


def _previous_key(finding: Finding) -> str | None:
    """The key of the previous patrol's object that ``imagery.persist`` matched it to."""
    m = finding.measurements or {}
    group, flight = m.get("previous_group"), m.get("previous_flight")
    return f"{flight}/{group}"[:255] if group and flight else None


def _previous_objects(session: Session, findings: Sequence[Finding]) -> dict[str, uuid.UUID]:
    keys = {k for f in findings if (k := _previous_key(f))}
    if not keys:
        return {}
    rows = session.exec(select(DetectedObject).where(col(DetectedObject.key).in_(keys)))
    return {o.key: o.id for o in rows}


def sync_flight(session: Session, flight: Flight) -> list[DetectedObject]:
    """Make the flight's objects match its findings' groups; returns them.

    An object keeps its id, status and reviews across processing; findings new
    to a decided object take its status. Objects left without findings are
    removed unless someone decided on them.
    """
    findings = list(session.exec(select(Finding).where(col(Finding.flight_id) == flight.id)))
    existing = {
        o.key: o
        for o in session.exec(
            select(DetectedObject).where(col(DetectedObject.flight_id) == flight.id)
        )
    }
    previous = _previous_objects(session, findings)
    patrol = _patrol_name(session, flight)
    ours = {o.id for o in existing.values()}
    # the same photo filed under this flight moves its finding here (store.findings)
    left_behind = {f.object_id for f in findings if f.object_id and f.object_id not in ours}
    out = []
    for key, members in _groups(session, findings).items():
        obj = existing.pop(key, None)
        if obj is None:
            obj = DetectedObject(key=key, flight_id=flight.id, kind=members[0].kind, lat=0, lon=0)
            obj.status = _status_of(members)
            session.add(obj)
        obj.patrol_name = patrol
        _fill(obj, members)
        obj.previous_object_id = previous.get(_most_common(map(_previous_key, members)) or "")
        for f in members:  # obj.id is set on construction: one flush for the flight, below
            if f.object_id != obj.id and obj.status != FindingStatus.PENDING:
                f.status = obj.status
            f.object_id = obj.id
        out.append(obj)
    _drop_empty(session, existing.values())
    session.flush()
    _refill(session, left_behind - {o.id for o in out})
    return out


def _refill(session: Session, object_ids: Iterable[uuid.UUID]) -> None:
    """Summarise again objects of other flights whose findings moved away."""
    for obj in session.exec(
        select(DetectedObject).where(col(DetectedObject.id).in_(list(object_ids)))
    ):
        if rest := members(session, obj):
            _fill(obj, rest)
        else:
            _drop_empty(session, [obj])
    session.flush()


def _status_of(members: Sequence[Finding]) -> FindingStatus:
    """A new object's status: its members' when they all agree (decided one by one before
    objects existed), else pending."""
    statuses = {f.status for f in members}
    return statuses.pop() if len(statuses) == 1 else FindingStatus.PENDING


def _drop_empty(session: Session, objects: Iterable[DetectedObject]) -> None:
    for obj in objects:
        decided = session.exec(select(Review.id).where(col(Review.object_id) == obj.id)).first()
        if decided is None:
            session.delete(obj)
        else:
            obj.finding_count = 0


def members(session: Session, obj: DetectedObject) -> list[Finding]:
    """The object's findings, best first."""
    rows = session.exec(select(Finding).where(col(Finding.object_id) == obj.id))
    return sorted(rows, key=lambda f: (f.id != obj.best_finding_id, -f.score, str(f.id)))


def decide(
    session: Session,
    obj: DetectedObject,
    *,
    user_id: uuid.UUID,
    decision: ReviewDecision,
    reason: str | None = None,
    comment: str = "",
    duplicate_of: uuid.UUID | None = None,
) -> Review:
    """Record one decision on the object and set its status and every member's."""
    if decision is ReviewDecision.DUPLICATE:
        if duplicate_of is None:
            raise ObjectError("a duplicate must name duplicate_of (another object)")
        if duplicate_of == obj.id:
            raise ObjectError("an object cannot duplicate itself")
        if session.get(DetectedObject, duplicate_of) is None:
            raise ObjectError("duplicate_of: no such object")
    elif duplicate_of is not None:
        raise ObjectError("duplicate_of is only for a duplicate decision")
    if reason is not None and decision is not ReviewDecision.REJECT:
        raise ObjectError("a reason is only for a rejection")
    review = Review(
        object_id=obj.id,
        user_id=user_id,
        decision=decision,
        reason=reason,
        comment=comment,
        previous_status=obj.status,
        duplicate_of_object=duplicate_of,
    )
    obj.status = DECISION_STATUS[decision]
    for finding in members(session, obj):
        finding.status = obj.status
    session.add(review)
    session.flush()
    return review


def split(
    session: Session, obj: DetectedObject, finding_ids: Sequence[uuid.UUID]
) -> DetectedObject:
    """Move some of the object's findings (the captures the grouping got wrong) to a new,
    pending object of their own; both objects are summarised again."""
    wanted = set(finding_ids)
    found = members(session, obj)
    chosen = [f for f in found if f.id in wanted]
    if len(chosen) != len(wanted):
        raise ObjectError("every finding to split off must belong to this object")
    rest = [f for f in found if f.id not in wanted]
    if not rest:
        raise ObjectError("a split must leave at least one finding in the object")
    new = DetectedObject(
        key=f"{obj.key}/{min(f.dedupe_key for f in chosen)}"[:255],
        flight_id=obj.flight_id,
        patrol_name=obj.patrol_name,
        kind=obj.kind,
        lat=0,
        lon=0,
        split_from=obj.id,
    )
    session.add(new)
    for f in chosen:
        f.object_id = new.id
        f.status = FindingStatus.PENDING
    _fill(new, chosen)
    _fill(obj, rest)
    session.flush()
    return new


def backfill(session: Session) -> int:
    """Objects for every flight with findings that have none (stored before objects
    existed); returns how many flights were done."""
    flight_ids = set(
        session.exec(
            select(Finding.flight_id).where(
                col(Finding.object_id).is_(None), col(Finding.flight_id).is_not(None)
            )
        )
    )
    for flight_id in flight_ids:
        flight = session.get(Flight, flight_id)
        if flight is not None:
            sync_flight(session, flight)
    return len(flight_ids)


def objects_version(session: Session) -> int | None:
    """How many times the objects have changed (``ChangeCounter``), or None in a database
    without the counter, where nothing may be served from a cache."""
    return session.exec(
        select(ChangeCounter.value).where(ChangeCounter.name == DetectedObject.__tablename__)
    ).first()
