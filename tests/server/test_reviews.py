"""Reviews: an object's status follows its latest decision, every capture's finding with it,
and every decision stays in the audit trail, once however many captures it covers."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET

from fastapi.testclient import TestClient

from .conftest import object_of, seed_findings


def test_decisions_change_status_and_keep_history(client: TestClient, headers, engine) -> None:
    # nine findings in groups of three: objects a (findings 0-2), b (3-5), c (6-8)
    ids = seed_findings(engine, 9, group_size=3)
    a, b, c = (str(object_of(engine, ids[i])) for i in (0, 3, 6))
    h = headers["inspector"]
    r = client.post(
        f"/api/v1/objects/{a}/reviews",
        json={"decision": "reject", "reason": "glint off a wet roof", "comment": "glint"},
        headers=h,
    )
    assert r.status_code == 201 and r.json()["previous_status"] == "pending"
    assert r.json()["reason"] == "glint off a wet roof"  # free text, not from the short list
    r = client.post(
        f"/api/v1/objects/{a}/reviews",
        json={"decision": "confirm", "comment": "second look"},
        headers=headers["admin"],
    )
    assert r.status_code == 201 and r.json()["previous_status"] == "rejected"
    detail = client.get(f"/api/v1/objects/{a}", headers=h).json()
    assert detail["status"] == "confirmed"
    assert sorted(f["id"] for f in detail["findings"]) == sorted(str(i) for i in ids[:3])
    assert {f["status"] for f in detail["findings"]} == {"confirmed"}
    expected = [("inspector", "reject", "glint"), ("admin", "confirm", "second look")]
    assert [(t["username"], t["decision"], t["comment"]) for t in detail["reviews"]] == expected
    assert detail["reviews"][0]["created_at"] <= detail["reviews"][1]["created_at"]
    # every capture's finding lists the same two decisions, each recorded once
    for finding in ids[:3]:
        trail = client.get(f"/api/v1/findings/{finding}/reviews", headers=h).json()["data"]
        assert [(t["username"], t["decision"], t["comment"]) for t in trail] == expected
    everything = client.get("/api/v1/reviews?username=admin", headers=h).json()
    assert [(r["object_id"], r["decision"]) for r in everything["data"]] == [(a, "confirm")]

    r = client.post(
        f"/api/v1/objects/{b}/reviews", json={"decision": "duplicate", "duplicate_of": a}, headers=h
    )
    assert r.status_code == 201 and r.json()["duplicate_of_object"] == a
    for body in (
        {"decision": "maybe"},
        {"decision": "confirm", "comment": "x" * 4001},
        {"decision": "reject", "reason": "x" * 65},
        {"decision": "reject", "reason": ""},
    ):
        r = client.post(f"/api/v1/objects/{c}/reviews", json=body, headers=h)
        assert r.status_code == 422, body
    assert client.get(f"/api/v1/objects/{c}", headers=h).json()["status"] == "pending"
    assert client.get(f"/api/v1/findings/{ids[6]}", headers=h).json()["status"] == "pending"
    assert client.get("/api/v1/reviews", headers=h).json()["count"] == 3


def test_exports_hold_exactly_the_confirmed(client: TestClient, headers, engine) -> None:
    # six findings in pairs: objects of findings 0-1, 2-3 and 4-5
    ids = [str(i) for i in seed_findings(engine, 6, group_size=2)]
    first, second = (object_of(engine, ids[i]) for i in (0, 2))
    h = headers["inspector"]
    client.post(
        f"/api/v1/objects/{first}/reviews",
        json={"decision": "confirm", "comment": "=HYPERLINK()"},
        headers=h,
    ).raise_for_status()
    client.post(
        f"/api/v1/objects/{second}/reviews", json={"decision": "reject"}, headers=h
    ).raise_for_status()
    confirmed = set(ids[:2])

    r = client.get("/api/v1/exports/findings.geojson", headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    assert "attachment" in r.headers["content-disposition"]
    fc = json.loads(r.text)
    assert {f["id"] for f in fc["features"]} == confirmed
    assert all(f["geometry"]["type"] == "Point" for f in fc["features"])

    rows = list(
        csv.DictReader(io.StringIO(client.get("/api/v1/exports/findings.csv", headers=h).text))
    )
    assert {row["id"] for row in rows} == confirmed
    assert all(row["status"] == "confirmed" for row in rows)

    kml = ET.fromstring(client.get("/api/v1/exports/findings.kml", headers=h).content)
    ns = {"k": "http://www.opengis.net/kml/2.2"}
    coords = [(c.text or "").strip() for c in kml.iterfind(".//k:Point/k:coordinates", ns)]
    assert len(coords) == 2

    rejected = client.get("/api/v1/exports/findings.csv?status=rejected", headers=h).text
    assert ids[2] in rejected and ids[3] in rejected and ids[0] not in rejected
    assert client.get("/api/v1/exports/findings.pdf", headers=h).status_code == 422
