"""Sites: the zone's GeoJSON goes in and comes out the same; bad geometry gets a reason."""

from __future__ import annotations

import json
from typing import Any, get_args

import pytest
from fastapi.testclient import TestClient

from server.schemas import SiteKind
from zone.errors import InvalidSiteError
from zone.sites import KINDS, parse_sites

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
                "properties": {"id": "same", "kind": "dock", "ground_alt_m": 110},
            },
        ]
        * 2,
    }
    r = client.put("/api/v1/sites", json=dup, headers=headers["admin"])
    assert r.status_code == 422 and "twice" in r.json()["detail"]
    assert client.get("/api/v1/sites", headers=headers["admin"]).json()["features"] == []


YARD = [[[113.52, 34.80], [113.53, 34.80], [113.53, 34.81], [113.52, 34.81], [113.52, 34.80]]]
MAST = {"type": "Point", "coordinates": [113.525, 34.805]}
SQUARE = {"type": "Polygon", "coordinates": YARD}


def _feature(geometry: dict[str, Any], **properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": {"id": "x", **properties}}


# (feature, why the planner refuses it, or None when it reads it)
CASES = [
    (_feature(MAST, kind="obstacle", radius_m=4, height_m=45, name="mast", ground_alt_m=110), None),
    (_feature(SQUARE, kind="obstacle", height_m=60), None),
    (_feature(MAST, kind="obstacle", height_m=45), "radius_m"),
    (_feature(SQUARE, kind="obstacle"), "height_m"),
    (_feature(SQUARE, kind="obstacle", height_m=5000), "not a structure's height"),
    (
        _feature(
            SQUARE,
            kind="enterprise",
            stacks=[
                {
                    "id": "s1",
                    "coordinates": [113.525, 34.805],
                    "height_m": 35,
                    "radius_m": 2.5,
                    "emitting": False,
                    "ground_alt_m": 111,
                }
            ],
        ),
        None,
    ),
    (
        _feature(
            SQUARE,
            kind="enterprise",
            stacks=[{"id": "s1", "coordinates": [113.6, 34.805], "height_m": 35}],
        ),
        "outside the enterprise boundary",
    ),
    (
        _feature(
            SQUARE,
            kind="enterprise",
            stacks=[{"coordinates": [113.525, 34.805], "height_m": 35, "emitting": "yes"}],
        ),
        "'emitting' must be true or false",
    ),
    (_feature(SQUARE, kind="no_fly", reason="prison", floor_m=0, ceiling_m=60), None),
    (_feature(SQUARE, kind="no_fly", reason="prison", floor_m=80, ceiling_m=60), "not above"),
    (_feature(SQUARE, kind="no_fly"), "reason"),
    (_feature(MAST, kind="dock"), "ground_alt_m"),
    (_feature(SQUARE, kind="dock", ground_alt_m=110), "wrong geometry"),
    (_feature(SQUARE, kind="stack", height_m=30), "kind"),
]


def test_the_api_stores_exactly_the_kinds_the_planner_reads() -> None:
    assert get_args(SiteKind) == KINDS


@pytest.mark.parametrize(("feature", "refusal"), CASES)
def test_the_api_accepts_a_site_exactly_when_the_planner_reads_it(
    client: TestClient, headers, feature: dict[str, Any], refusal: str | None
) -> None:
    try:
        parse_sites({"type": "FeatureCollection", "features": [feature]})
        planner_reads = True
    except InvalidSiteError:
        planner_reads = False
    assert planner_reads == (refusal is None)
    op = headers["operator"]
    r = client.post("/api/v1/sites", json=feature, headers=op)
    if refusal is None:
        assert r.status_code == 201, r.text
        got = client.get("/api/v1/sites/x", headers=op).json()
        assert got["properties"] == {"name": "", **feature["properties"]}
        assert got["geometry"] == feature["geometry"]
    else:
        assert r.status_code == 422, r.text
        assert refusal in r.json()["detail"]
        imported = client.put(
            "/api/v1/sites", json={"type": "FeatureCollection", "features": [feature]}, headers=op
        )
        assert imported.status_code == 422 and refusal in imported.json()["detail"]
        assert client.get("/api/v1/sites", headers=op).json()["features"] == []
