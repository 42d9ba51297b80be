"""Objects: one per group of findings, kept in step with processing, decided once, split by hand.

Every expected value below is worked out from the seeded findings in the comments.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from store.db import migrate
from store.models import (
    Capture,
    DetectedObject,
    Finding,
    FindingStatus,
    Flight,
    Review,
    ReviewDecision,
    User,
)
from store.objects import ObjectError, decide, split, sync_flight

# group "g-hot": three captures of one hot roof; group "g-water": one capture of a discoloured reach
HOT = [  # (key, score, severity, position error m, rise K, lat)
    ("a-1", 0.6, "low", 2.0, 5.0, 34.80000),
    ("a-2", 0.9, "high", 3.0, 12.0, 34.80003),
    ("a-3", 0.7, "medium", 4.0, 8.0, 34.80006),
]


def _finding(flight: Flight, capture: Capture, key: str, group: str, **fields: object) -> Finding:
    values: dict[str, object] = {
        "kind": "thermal_hotspot",
        "detector": "test",
        "detector_version": "1",
        "lat": 34.8,
        "lon": 113.52,
        "site_id": "ent-01",
    }
    values.update(fields)
    return Finding(
        dedupe_key=key,
        capture_id=capture.id,
        flight_id=flight.id,
        group_id=group,
        **values,  # type: ignore[arg-type]
    )


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    migrate(engine)
    with Session(engine) as session:
        yield session


def _seed(session: Session) -> Flight:
    flight = Flight(name="patrol-1")
    session.add(flight)
    session.flush()
    for i, (key, score, severity, error, rise, lat) in enumerate(HOT):
        capture = Capture(flight_id=flight.id, path=f"IMG_{i}.JPG")
        session.add(capture)
        session.flush()
        session.add(
            _finding(
                flight,
                capture,
                key,
                "g-hot",
                score=score,
                severity=severity,
                position_error_m=error,
                lat=lat,
                measurements={"rise": rise, "calibrated": True},
            )
        )
    session.add(
        _finding(
            flight,
            capture,
            "b-1",
            "g-water",
            kind="water_discolouration",
            score=0.5,
            measurements={"delta_e_max": 24.0},
        )
    )
    session.flush()
    return flight


def _user(session: Session) -> uuid.UUID:
    user = User(username=f"insp-{uuid.uuid4().hex[:6]}", password_hash="x")
    session.add(user)
    session.flush()
    return user.id


def _groups(objects: list[DetectedObject]) -> dict[str, DetectedObject]:
    """Objects by their group within the flight (a key is "<flight id>/<group>")."""
    return {o.key.split("/", 1)[1]: o for o in objects}


def _members(session: Session, obj: DetectedObject) -> list[Finding]:
    return list(session.exec(select(Finding).where(col(Finding.object_id) == obj.id)))


def test_one_object_per_group_with_what_the_queue_shows(session: Session) -> None:
    flight = _seed(session)
    objects = _groups(sync_flight(session, flight))
    assert set(objects) == {"g-hot", "g-water"}
    hot = objects["g-hot"]
    best = session.exec(select(Finding).where(Finding.dedupe_key == "a-2")).one()
    assert hot.finding_count == 3
    assert hot.best_finding_id == best.id  # score 0.9 is the highest
    assert (hot.severity, hot.severity_rank) == ("high", 3)  # the highest member's
    assert hot.position_error_m == 3.0  # median of 2, 3, 4
    assert hot.lat == pytest.approx(34.80003)  # mean of .80000, .80003, .80006
    assert hot.summary is not None
    assert hot.summary["rise_max"] == 12.0 and hot.summary["rise_units"] == "K"
    assert hot.summary["captures"] == 3
    assert objects["g-water"].summary["delta_e_max"] == 24.0  # type: ignore[index]
    assert {f.object_id for f in _members(session, hot)} == {hot.id}


def test_processing_again_keeps_the_object_and_its_decision(session: Session) -> None:
    flight = _seed(session)
    hot = _groups(sync_flight(session, flight))["g-hot"]
    review = decide(session, hot, user_id=_user(session), decision=ReviewDecision.CONFIRM)
    assert review.previous_status == FindingStatus.PENDING
    assert {f.status for f in _members(session, hot)} == {FindingStatus.CONFIRMED}
    # a fourth capture of the same roof arrives with the next processing
    capture = Capture(flight_id=flight.id, path="IMG_9.JPG")
    session.add(capture)
    session.flush()
    session.add(_finding(flight, capture, "a-4", "g-hot", score=0.3, severity="low"))
    session.flush()
    again = _groups(sync_flight(session, flight))["g-hot"]
    assert again.id == hot.id
    assert again.finding_count == 4
    assert again.status == FindingStatus.CONFIRMED
    assert {f.status for f in _members(session, again)} == {FindingStatus.CONFIRMED}
    one_row = session.exec(select(Review).where(col(Review.object_id) == hot.id)).all()
    assert len(one_row) == 1  # one decision, four captures


def test_a_split_capture_keeps_its_own_object_through_processing(session: Session) -> None:
    flight = _seed(session)
    hot = _groups(sync_flight(session, flight))["g-hot"]
    wrong = session.exec(select(Finding).where(Finding.dedupe_key == "a-3")).one()
    new = split(session, hot, [wrong.id])
    assert new.split_from == hot.id and new.status == FindingStatus.PENDING
    assert [f.dedupe_key for f in _members(session, new)] == ["a-3"]
    assert hot.finding_count == 2 and hot.position_error_m == 2.5  # median of 2 and 3
    counts = {o.key: o.finding_count for o in sync_flight(session, flight)}
    assert counts == {hot.key: 2, f"{flight.id}/g-water": 1, new.key: 1}


def test_bad_decisions_and_splits_are_refused(session: Session) -> None:
    flight = _seed(session)
    objects = _groups(sync_flight(session, flight))
    hot, water = objects["g-hot"], objects["g-water"]
    user = _user(session)
    with pytest.raises(ObjectError, match="must name duplicate_of"):
        decide(session, hot, user_id=user, decision=ReviewDecision.DUPLICATE)
    with pytest.raises(ObjectError, match="cannot duplicate itself"):
        decide(session, hot, user_id=user, decision=ReviewDecision.DUPLICATE, duplicate_of=hot.id)
    with pytest.raises(ObjectError, match="only for a rejection"):
        decide(session, hot, user_id=user, decision=ReviewDecision.CONFIRM, reason="shadow")
    with pytest.raises(ObjectError, match="belong to this object"):
        split(session, hot, [water.best_finding_id])  # type: ignore[list-item]
    with pytest.raises(ObjectError, match="at least one finding"):
        split(session, water, [water.best_finding_id])  # type: ignore[list-item]
    decide(session, water, user_id=user, decision=ReviewDecision.DUPLICATE, duplicate_of=hot.id)
    assert water.status == FindingStatus.DUPLICATE


def test_the_previous_patrols_object_is_linked(session: Session) -> None:
    first = _seed(session)
    old = _groups(sync_flight(session, first))["g-hot"]
    second = Flight(name="patrol-2")
    session.add(second)
    session.flush()
    capture = Capture(flight_id=second.id, path="IMG_0.JPG")
    session.add(capture)
    session.flush()
    measurements = {
        "change": "recurring",
        "previous_group": "g-hot",
        "previous_flight": str(first.id),
    }
    session.add(_finding(second, capture, "c-1", "g-hot-2", measurements=measurements))
    session.flush()
    (now,) = sync_flight(session, second)
    assert now.change == "recurring" and now.previous_object_id == old.id


def test_migrate_gives_objects_to_findings_stored_before_them(engine: Engine) -> None:
    migrate(engine)
    with Session(engine) as session:
        flight = _seed(session)
        for f in session.exec(select(Finding)):
            f.status = FindingStatus.REJECTED  # decided one by one before objects existed
        session.commit()
        flight_id = flight.id
    migrate(engine)
    with Session(engine) as session:
        objects = session.exec(
            select(DetectedObject).where(DetectedObject.flight_id == flight_id)
        ).all()
        assert sorted(o.finding_count for o in objects) == [1, 3]
        assert {o.status for o in objects} == {FindingStatus.REJECTED}
        assert session.exec(select(Finding).where(col(Finding.object_id).is_(None))).all() == []


def test_the_same_group_on_two_flights_is_two_objects(session: Session) -> None:
    # group ids come from image content: the same photos filed as a second flight give
    # the first flight's group id (found by the browser test: a UNIQUE failure on key)
    first = _seed(session)
    second = Flight(name="patrol-1 again")
    session.add(second)
    session.flush()
    capture = Capture(flight_id=second.id, path="IMG_0.JPG")
    session.add(capture)
    session.flush()
    session.add(_finding(second, capture, "again-1", "g-hot", score=0.8, severity="high"))
    session.flush()
    before = _groups(sync_flight(session, first))["g-hot"]
    after = _groups(sync_flight(session, second))["g-hot"]
    assert before.id != after.id
    assert (before.finding_count, after.finding_count) == (3, 1)


def test_a_photo_filed_again_under_another_flight_leaves_its_old_object_summed_right(
    session: Session,
) -> None:
    # store.findings moves a finding to the flight its photo is filed under last
    first = _seed(session)
    hot = _groups(sync_flight(session, first))["g-hot"]
    moved = session.exec(select(Finding).where(Finding.dedupe_key == "a-2")).one()
    second = Flight(name="filed again")
    session.add(second)
    session.flush()
    moved.flight_id = second.id
    session.flush()
    sync_flight(session, second)
    session.refresh(hot)
    # a-1 (0.6, error 2) and a-3 (0.7, error 4) stay: best a-3, median error 3
    assert hot.finding_count == 2 and hot.position_error_m == 3.0
    assert hot.severity == "medium"
