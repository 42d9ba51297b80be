"""The /objects API: the queue's order and filters, one decision for every capture, splits,
and refusals with a reason (never a 500)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from server.main import create_app
from server.settings import Settings
from store.models import Capture, DetectedObject, Finding, Flight, FlightStatus
from store.objects import members, objects_version, split, sync_flight

# (group, kind, site, severity, captures): four objects, nine findings
OBJECTS = (
    ("g-roof", "thermal_hotspot", "ent-02", "high", 4),
    ("g-stack", "smoke_plume", "ent-01", "high", 3),
    ("g-river", "water_discolouration", "riv-01", "medium", 1),
    ("g-pipe", "thermal_hotspot", "ent-01", "low", 1),
)


def seed_objects(engine: Engine) -> uuid.UUID:
    """One flight whose findings form the objects above (each capture its own file)."""
    with Session(engine) as session:
        flight = Flight(name="patrol-A", status=FlightStatus.LANDED)
        session.add(flight)
        session.flush()
        for group, kind, site, severity, captures in OBJECTS:
            for i in range(captures):
                capture = Capture(flight_id=flight.id, path=f"{group}-{i}.jpg", sha256=f"{i:064x}")
                session.add(capture)
                session.flush()
                session.add(
                    Finding(
                        dedupe_key=f"{group}-{i}",
                        group_id=group,
                        capture_id=capture.id,
                        flight_id=flight.id,
                        site_id=site,
                        kind=kind,
                        detector="test",
                        detector_version="1",
                        score=0.5 + i / 10,
                        severity=severity,
                        lat=34.80 + i * 1e-5,
                        lon=113.52,
                        position_error_m=2.0,
                    )
                )
        session.flush()
        sync_flight(session, flight)
        session.commit()
        return flight.id


def _queue(client: TestClient, h: dict[str, str], **params: str) -> list[dict[str, Any]]:
    r = client.get("/api/v1/objects", params=params, headers=h)
    assert r.status_code == 200, r.text
    data: list[dict[str, Any]] = r.json()["data"]
    return data


def test_the_queue_lists_objects_by_severity_then_site(
    client: TestClient, headers: dict[str, dict[str, str]], engine: Engine
) -> None:
    seed_objects(engine)
    queue = _queue(client, headers["inspector"], status="pending")
    # high: ent-01 (stack) before ent-02 (roof); then medium; then low
    assert [(o["site_id"], o["severity"], o["finding_count"]) for o in queue] == [
        ("ent-01", "high", 3),
        ("ent-02", "high", 4),
        ("riv-01", "medium", 1),
        ("ent-01", "low", 1),
    ]
    page = client.get("/api/v1/objects?limit=3&skip=2", headers=headers["operator"]).json()
    assert (len(page["data"]), page["count"]) == (2, 4)  # the count is of every match
    beyond = client.get("/api/v1/objects?skip=10", headers=headers["operator"]).json()
    assert (beyond["data"], beyond["count"]) == ([], 4)
    assert len(_queue(client, headers["operator"], kind="thermal_hotspot")) == 2
    assert len(_queue(client, headers["operator"], site_id="ent-01")) == 2
    assert _queue(client, headers["operator"], bbox="0,0,1,1") == []
    r = client.get("/api/v1/objects?bbox=1,2,3", headers=headers["operator"])
    assert r.status_code == 422 and "bbox" in r.json()["detail"]


def test_one_decision_covers_every_capture_and_is_recorded_once(
    client: TestClient, headers: dict[str, dict[str, str]], engine: Engine
) -> None:
    flight_id = seed_objects(engine)
    h = headers["inspector"]
    roof = next(o for o in _queue(client, h) if o["site_id"] == "ent-02")
    reasons = client.get("/api/v1/objects/reject-reasons", headers=h).json()
    r = client.post(
        f"/api/v1/objects/{roof['id']}/reviews",
        json={"decision": "reject", "reason": reasons[1], "comment": "tar roof in the sun"},
        headers=h,
    )
    assert r.status_code == 201, r.text
    detail = client.get(f"/api/v1/objects/{roof['id']}", headers=h).json()
    assert detail["status"] == "rejected"
    assert [f["status"] for f in detail["findings"]] == ["rejected"] * 4
    assert [(v["decision"], v["reason"]) for v in detail["reviews"]] == [("reject", reasons[1])]
    trail = client.get("/api/v1/reviews", headers=h).json()
    assert trail["count"] == 1 and trail["data"][0]["object_id"] == roof["id"]
    findings = client.get(
        f"/api/v1/findings?flight_id={flight_id}&status=rejected", headers=h
    ).json()
    assert findings["count"] == 4
    # each of its findings lists the one decision that covered it
    one = detail["findings"][2]["id"]
    assert client.get(f"/api/v1/findings/{one}/reviews", headers=h).json()["count"] == 1


def test_a_split_moves_a_capture_to_a_new_object(
    client: TestClient, headers: dict[str, dict[str, str]], engine: Engine
) -> None:
    seed_objects(engine)
    h = headers["inspector"]
    stack = next(o for o in _queue(client, h) if o["kind"] == "smoke_plume")
    members = client.get(f"/api/v1/objects/{stack['id']}", headers=h).json()["findings"]
    r = client.post(
        f"/api/v1/objects/{stack['id']}/split",
        json={"finding_ids": [members[-1]["id"]]},
        headers=h,
    )
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["split_from"] == stack["id"] and new["finding_count"] == 1
    assert new["status"] == "pending"
    assert client.get(f"/api/v1/objects/{stack['id']}", headers=h).json()["finding_count"] == 2
    assert len(_queue(client, h)) == 5


def test_bad_requests_get_a_reason(
    client: TestClient, headers: dict[str, dict[str, str]], engine: Engine
) -> None:
    seed_objects(engine)
    h = headers["inspector"]
    river, pipe = (o["id"] for o in _queue(client, h) if o["finding_count"] == 1)
    cases = [
        ({"decision": "duplicate"}, 422, "duplicate_of"),
        ({"decision": "duplicate", "duplicate_of": river}, 422, "itself"),
        ({"decision": "duplicate", "duplicate_of": str(uuid.uuid4())}, 422, "no such object"),
        ({"decision": "confirm", "reason": "shadow"}, 422, "only for a rejection"),
        ({"decision": "confirm", "duplicate_of": pipe}, 422, "only for a duplicate"),
    ]
    for body, code, words in cases:
        r = client.post(f"/api/v1/objects/{river}/reviews", json=body, headers=h)
        assert (r.status_code, words in r.json()["detail"]) == (code, True), (body, r.text)
    r = client.post(f"/api/v1/objects/{river}/split", json={"finding_ids": []}, headers=h)
    assert r.status_code == 422
    r = client.post(
        f"/api/v1/objects/{river}/split", json={"finding_ids": [str(uuid.uuid4())]}, headers=h
    )
    assert r.status_code == 422 and "belong to this object" in r.json()["detail"]
    assert client.get(f"/api/v1/objects/{uuid.uuid4()}", headers=h).status_code == 404
    r = client.post(
        f"/api/v1/objects/{river}/reviews",
        json={"decision": "confirm"},
        headers=headers["operator"],
    )
    assert r.status_code == 403  # operators fly; inspectors decide
    assert client.get("/api/v1/reviews", headers=h).json()["count"] == 0  # nothing half-written


def test_a_kept_page_gives_way_to_a_change_made_by_another_worker(
    client: TestClient, headers: dict[str, dict[str, str]], engine: Engine, settings: Settings
) -> None:
    """The queue's page is kept in memory (``PageCache``); a decision taken through a second
    app on the same database (another uvicorn worker) and a split in a plain session (a
    processing worker) are both in the next page this one serves."""
    seed_objects(engine)
    h = headers["inspector"]
    first = _queue(client, h, status="pending")
    assert _queue(client, h, status="pending") == first  # served again, unchanged
    with Session(engine) as session:
        before = objects_version(session)
    with TestClient(create_app(settings)) as other:
        r = other.post(
            f"/api/v1/objects/{first[0]['id']}/reviews", json={"decision": "confirm"}, headers=h
        )
        assert r.status_code == 201, r.text
    after = _queue(client, h, status="pending")
    assert [o["id"] for o in after] == [o["id"] for o in first[1:]]
    with Session(engine) as session:
        assert objects_version(session) == (before or 0) + 1  # one flush, one change
        roof = session.get(DetectedObject, uuid.UUID(after[0]["id"]))
        assert roof is not None
        new = split(session, roof, [members(session, roof)[-1].id])
        session.commit()
        split_off = str(new.id)
    again = _queue(client, h, status="pending")
    assert split_off in {o["id"] for o in again} and len(again) == len(after) + 1
