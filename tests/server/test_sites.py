"""Sites: the zone's GeoJSON goes in and comes out the same; bad geometry gets a reason."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from .conftest import SITES


def test_sample_zone_round_trips(client: TestClient, headers) -> None:
    zone = json.loads(SITES.read_text())
    r = client.put("/api/v1/sites", json=zone, headers=headers["operator"])
    assert r.status_code == 200, r.text
    assert r.json() == {"created": len(zone["features"]), "updated": 0}
    again = client.put("/api/v1/sites", json=zone, headers=headers["operator"]).json()
    assert again == {"created": 0, "updated": len(zone["features"])}

    out = client.get("/api/v1/sites", headers=headers["inspector"]).json()
    by_id = {f["properties"]["id"]: f for f in out["features"]}
    for feature in zone["features"]:
        got = by_id[feature["properties"]["id"]]
        assert got["geometry"] == feature["geometry"]
        assert got["properties"] == {"name": "", **feature["properties"]}
    rivers = client.get("/api/v1/sites?kind=river", headers=headers["inspector"]).json()
    assert {f["properties"]["kind"] for f in rivers["features"]} == {"river"}


def test_site_crud(client: TestClient, headers) -> None:
    op = headers["operator"]
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [113.52, 34.80]},
        "properties": {"id": "dock-x", "kind": "dock", "ground_alt_m": 110},
    }
    assert client.post("/api/v1/sites", json=feature, headers=op).status_code == 201
    assert client.post("/api/v1/sites", json=feature, headers=op).status_code == 409
    feature["properties"]["ground_alt_m"] = 111
    r = client.put("/api/v1/sites/dock-x", json=feature, headers=op)
    assert r.status_code == 200 and r.json()["properties"]["ground_alt_m"] == 111
    assert client.get("/api/v1/sites/dock-x", headers=op).json()["id"] == "dock-x"
    feature["properties"]["id"] = "other"
    assert client.put("/api/v1/sites/dock-x", json=feature, headers=op).status_code == 422
    assert client.delete("/api/v1/sites/dock-x", headers=op).status_code == 200
    assert client.get("/api/v1/sites/dock-x", headers=op).status_code == 404


def test_bad_geometry_is_refused_with_a_reason(client: TestClient, headers) -> None:
    bowtie = [[[113.5, 34.8], [113.51, 34.81], [113.51, 34.8], [113.5, 34.81], [113.5, 34.8]]]
    cases = {
        "self-intersect": {"type": "Polygon", "coordinates": bowtie},
        "lat out of range": {"type": "Point", "coordinates": [34.8, 113.5]},
        "too few points": {"type": "LineString", "coordinates": [[113.5, 34.8]]},
        "garbage": {"type": "Polygon", "coordinates": ["x"]},
    }
    for name, geometry in cases.items():
        feature = {
            "type": "Feature",
            "geometry": geometry,
            "properties": {"id": "bad", "kind": "river"},
        }
        r = client.post("/api/v1/sites", json=feature, headers=headers["admin"])
        assert r.status_code == 422, name
        assert "geometry" in r.json()["detail"], (name, r.json())
    dup = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [113.5, 34.8]},
                "properties": {"id": "same", "kind": "dock"},
            },
        ]
        * 2,
    }
    r = client.put("/api/v1/sites", json=dup, headers=headers["admin"])
    assert r.status_code == 422 and "twice" in r.json()["detail"]
    assert client.get("/api/v1/sites", headers=headers["admin"]).json()["features"] == []
