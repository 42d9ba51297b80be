"""Reviews: the status follows the latest decision and every decision stays in the audit trail."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET

from fastapi.testclient import TestClient

from .conftest import seed_findings


def test_decisions_change_status_and_keep_history(client: TestClient, headers, engine) -> None:
    a, b, c = (str(i) for i in seed_findings(engine, 3))
    h = headers["inspector"]
    r = client.post(
        f"/api/v1/findings/{a}/reviews", json={"decision": "reject", "comment": "glint"}, headers=h
    )
    assert r.status_code == 201 and r.json()["previous_status"] == "pending"
    r = client.post(
        f"/api/v1/findings/{a}/reviews",
        json={"decision": "confirm", "comment": "second look"},
        headers=headers["admin"],
    )
    assert r.status_code == 201 and r.json()["previous_status"] == "rejected"
    assert client.get(f"/api/v1/findings/{a}", headers=h).json()["status"] == "confirmed"
    trail = client.get(f"/api/v1/findings/{a}/reviews", headers=h).json()
    assert [(t["username"], t["decision"], t["comment"]) for t in trail["data"]] == [
        ("inspector", "reject", "glint"),
        ("admin", "confirm", "second look"),
    ]
    assert trail["data"][0]["created_at"] <= trail["data"][1]["created_at"]
    everything = client.get("/api/v1/reviews?username=admin", headers=h).json()
    assert [(r["finding_id"], r["decision"]) for r in everything["data"]] == [(a, "confirm")]

    r = client.post(f"/api/v1/findings/{b}/reviews", json={"decision": "duplicate"}, headers=h)
    assert r.status_code == 422 and "duplicate_of" in r.json()["detail"]
    r = client.post(
        f"/api/v1/findings/{b}/reviews",
        json={"decision": "duplicate", "duplicate_of": b},
        headers=h,
    )
    assert r.status_code == 422
    r = client.post(
        f"/api/v1/findings/{b}/reviews",
        json={"decision": "duplicate", "duplicate_of": a},
        headers=h,
    )
    assert r.status_code == 201 and r.json()["duplicate_of"] == a
    r = client.post(
        f"/api/v1/findings/{c}/reviews", json={"decision": "confirm", "duplicate_of": a}, headers=h
    )
    assert r.status_code == 422
    r = client.post(f"/api/v1/findings/{c}/reviews", json={"decision": "maybe"}, headers=h)
    assert r.status_code == 422
    r = client.post(
        f"/api/v1/findings/{c}/reviews",
        json={"decision": "confirm", "comment": "x" * 4001},
        headers=h,
    )
    assert r.status_code == 422
    assert client.get(f"/api/v1/findings/{c}", headers=h).json()["status"] == "pending"


def test_exports_hold_exactly_the_confirmed(client: TestClient, headers, engine) -> None:
    ids = [str(i) for i in seed_findings(engine, 6)]
    h = headers["inspector"]
    for i in ids[:2]:
        client.post(
            f"/api/v1/findings/{i}/reviews",
            json={"decision": "confirm", "comment": "=HYPERLINK()"},
            headers=h,
        )
    client.post(f"/api/v1/findings/{ids[2]}/reviews", json={"decision": "reject"}, headers=h)
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
    coords = [c.text.strip() for c in kml.iterfind(".//k:Point/k:coordinates", ns)]
    assert len(coords) == 2

    rejected = client.get("/api/v1/exports/findings.csv?status=rejected", headers=h).text
    assert ids[2] in rejected and ids[0] not in rejected
    assert client.get("/api/v1/exports/findings.pdf", headers=h).status_code == 422
