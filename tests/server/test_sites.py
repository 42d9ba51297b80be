"""Sites: the zone's GeoJSON goes in and comes out the same; every write is checked by the
zone's one site model and refused with its message; old stored sites that model refuses are
listed with their problem, left out of processing, and stop planning by name."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from imagery.sites import assign
from server.planning import zone_geojson
from store.models import Site
from zone.errors import InvalidSiteError
from zone.sites import KINDS, check_site, parse_sites

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
        assert got["problem"] is None
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


YARD = [[[113.52, 34.80], [113.53, 34.80], [113.53, 34.81], [113.52, 34.81], [113.52, 34.80]]]
MAST = {"type": "Point", "coordinates": [113.525, 34.805]}
SQUARE = {"type": "Polygon", "coordinates": YARD}
BOWTIE = {
    "type": "Polygon",
    "coordinates": [
        [[113.5, 34.8], [113.51, 34.81], [113.51, 34.8], [113.5, 34.81], [113.5, 34.8]]
    ],
}
LINE = {"type": "LineString", "coordinates": [[113.52, 34.80], [113.53, 34.801]]}


def _feature(geometry: dict[str, Any], **properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": {"id": "x", **properties}}


def _zone_says(feature: dict[str, Any]) -> str | None:
    """The zone model's refusal of one site (``site 'x': ...``), or None when it reads it."""
    try:
        check_site(feature)
    except InvalidSiteError as exc:
        return str(exc)
    return None


# The probe's three sites, and what the planner says of each (written out by hand).
PROBE = [
    (
        _feature(MAST, kind="stack", height_m=30, enterprise="ent-01"),
        "a stack is not a site of its own; "
        "list it in its enterprise's 'stacks' (with coordinates and height_m)",
    ),
    (_feature(MAST, kind="dock"), "missing property 'ground_alt_m' (a number)"),
    (_feature(SQUARE, kind="no_fly"), "missing property 'reason'"),
]


@pytest.mark.parametrize(("feature", "reason"), PROBE)
def test_the_probes_sites_are_refused_at_the_api_with_the_planners_message(
    client: TestClient, headers, feature: dict[str, Any], reason: str
) -> None:
    op = headers["operator"]
    with pytest.raises(InvalidSiteError) as planner:
        parse_sites({"type": "FeatureCollection", "features": [feature]})
    assert str(planner.value) == f"feature #0 ('x'): {reason}"
    says = f"site 'x': {reason}"
    created = client.post("/api/v1/sites", json=feature, headers=op)
    assert created.status_code == 422 and created.json()["detail"] == f"request: {says}"
    imported = client.put("/api/v1/sites", json=_collection(feature), headers=op)
    assert imported.status_code == 422 and imported.json()["detail"] == f"features.0: {says}"
    dock = _feature(MAST, kind="dock", ground_alt_m=110)
    assert client.post("/api/v1/sites", json=dock, headers=op).status_code == 201
    replaced = client.put("/api/v1/sites/x", json=feature, headers=op)
    assert replaced.status_code == 422 and replaced.json()["detail"] == f"request: {says}"
    assert client.get("/api/v1/sites", headers=op).json()["features"][0]["properties"] == {
        "name": "",
        **dock["properties"],
    }


def _collection(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


STACK = {"id": "s1", "coordinates": [113.525, 34.805], "height_m": 35}
CASES = [
    _feature(MAST, kind="obstacle", radius_m=4, height_m=45, name="mast", ground_alt_m=110),
    _feature(SQUARE, kind="obstacle", height_m=60),
    _feature(MAST, kind="obstacle", height_m=45),
    _feature(SQUARE, kind="obstacle"),
    _feature(SQUARE, kind="obstacle", height_m=5000),
    _feature(SQUARE, kind="enterprise", stacks=[{**STACK, "radius_m": 2.5, "emitting": False}]),
    _feature(SQUARE, kind="enterprise", stacks=[{**STACK, "coordinates": [113.6, 34.805]}]),
    _feature(SQUARE, kind="enterprise", stacks=[{**STACK, "emitting": "yes"}]),
    _feature(SQUARE, kind="enterprise", stacks=[STACK, STACK]),
    _feature(BOWTIE, kind="enterprise"),
    _feature(SQUARE, kind="no_fly", reason="prison", floor_m=0, ceiling_m=60),
    _feature(SQUARE, kind="no_fly", reason="prison", floor_m=80, ceiling_m=60),
    _feature(SQUARE, kind="dock", ground_alt_m=110),
    _feature({"type": "Point", "coordinates": [34.8, 113.5]}, kind="dock", ground_alt_m=110),
    _feature(LINE, kind="river", width_m=25, flow="reverse"),
    _feature(LINE, kind="river"),
    _feature({"type": "LineString", "coordinates": [[113.52, 34.80]]}, kind="river", width_m=5),
    _feature({"type": "MultiLineString", "coordinates": [LINE["coordinates"]]}, kind="river"),
    _feature({"type": "Polygon", "coordinates": ["x"]}, kind="enterprise"),
    _feature(MAST, kind="outfall", enterprise="ent-01"),
    _feature(SQUARE, kind="outfall"),
    _feature(SQUARE, kind="lake"),
    *(feature for feature, _ in PROBE),
]


def test_the_cases_hold_both_answers() -> None:
    said = [_zone_says(f) for f in CASES]
    assert 0 < said.count(None) < len(CASES)


@pytest.mark.parametrize("feature", CASES)
def test_the_api_accepts_a_site_exactly_when_the_zone_model_reads_it(
    client: TestClient, headers, feature: dict[str, Any]
) -> None:
    op = headers["operator"]
    says = _zone_says(feature)
    r = client.post("/api/v1/sites", json=feature, headers=op)
    if says is None:
        assert r.status_code == 201, r.text
        got = client.get("/api/v1/sites/x", headers=op).json()
        assert got["properties"] == {"name": "", **feature["properties"]}
        assert got["geometry"] == feature["geometry"] and got["problem"] is None
    else:
        assert r.status_code == 422 and r.json()["detail"] == f"request: {says}", r.text
        imported = client.put("/api/v1/sites", json=_collection(feature), headers=op)
        assert imported.status_code == 422 and imported.json()["detail"] == f"features.0: {says}"
        assert client.get("/api/v1/sites", headers=op).json()["features"] == []


def test_an_id_twice_in_one_import_is_refused(client: TestClient, headers) -> None:
    dock = _feature(MAST, kind="dock", ground_alt_m=110)
    r = client.put("/api/v1/sites", json=_collection(dock, dock), headers=headers["admin"])
    assert r.status_code == 422 and r.json()["detail"] == "features: site 'x': duplicate id"
    assert client.get("/api/v1/sites", headers=headers["admin"]).json()["features"] == []


def _plan(client: TestClient, headers, name: str) -> Any:
    body = {"patrol_name": name, "targets": ["ent-07"], "altitude_m": 80}
    return client.post("/api/v1/plans", json=body, headers=headers["operator"])


def test_an_outfall_is_stored_planned_around_and_processed(
    client: TestClient, headers, engine
) -> None:
    # ent-07's outfall 0.0005 deg (about 46 m) east of its yard's south-east corner
    zone = json.loads(SITES.read_text())
    ent07 = next(f for f in zone["features"] if f["properties"]["id"] == "ent-07")
    east = max(p[0] for p in ent07["geometry"]["coordinates"][0])
    south = min(p[1] for p in ent07["geometry"]["coordinates"][0])
    outfall = _feature(
        {"type": "Point", "coordinates": [east + 0.0005, south]},
        kind="outfall",
        enterprise="ent-07",
    )
    outfall["properties"]["id"] = "ent-07-outfall"
    zone["features"].append(outfall)
    op = headers["operator"]
    assert client.put("/api/v1/sites", json=zone, headers=op).status_code == 200
    planned = _plan(client, headers, "with outfall")
    assert planned.status_code == 201, planned.text
    assert [m["targets"] for m in planned.json()["sorties"]] == [["ent-07"]]
    with Session(engine) as session:
        processed = parse_sites(zone_geojson(session))  # what the pipeline's workers read
    (got,) = processed.outfalls
    assert (got.id, got.site_id, got.lon, got.lat) == (
        "ent-07-outfall",
        "ent-07",
        east + 0.0005,
        south,
    )
    # a stain 0.00005 deg (4.6 m) east of the outfall belongs to ent-07 through it
    where = assign(processed, east + 0.00055, south, "water_discolouration")
    assert where["site_id"] == "ent-07" and 4.0 < where["distance_m"] < 5.0


def _old_rows() -> list[Site]:
    """Rows stored before the zone model checked writes, or written around the API."""
    odd = Site(site_id="zz-odd", kind="river", name="", geometry={})
    odd.properties = [1, 2]  # type: ignore[assignment]  # JSON of the wrong shape
    odd.geometry = []  # type: ignore[assignment]
    return [
        Site(site_id="dock-old", kind="dock", name="", geometry=MAST),
        Site(site_id="nfz-old", kind="no_fly", name="", geometry=SQUARE),
        Site(site_id="stk-old", kind="stack", name="", properties={"height_m": 30}, geometry=MAST),
        odd,
    ]


def test_old_sites_the_model_refuses_are_listed_skipped_in_processing_and_stop_planning(
    client: TestClient, headers, engine
) -> None:
    op = headers["operator"]
    assert (
        client.put("/api/v1/sites", json=json.loads(SITES.read_text()), headers=op).status_code
        == 200
    )
    with Session(engine) as session:
        session.add_all(_old_rows())
        session.commit()
    listed = client.get("/api/v1/sites", headers=headers["inspector"])
    assert listed.status_code == 200
    problems = {f["id"]: f["problem"] for f in listed.json()["features"] if f["problem"]}
    assert problems == {
        "dock-old": "site 'dock-old': missing property 'ground_alt_m' (a number)",
        "nfz-old": "site 'nfz-old': missing property 'reason'",
        "stk-old": "site 'stk-old': a stack is not a site of its own; "
        "list it in its enterprise's 'stacks' (with coordinates and height_m)",
        "zz-odd": "site 'zz-odd': missing geometry (expected LineString)",
    }
    one = client.get("/api/v1/sites/nfz-old", headers=op)
    assert one.status_code == 200 and one.json()["problem"] == problems["nfz-old"]
    with Session(engine) as session:
        processed = zone_geojson(session)
    kept = {f["properties"]["id"] for f in processed["features"]}
    assert kept == {f["properties"]["id"] for f in json.loads(SITES.read_text())["features"]}
    refused = _plan(client, headers, "blocked")
    assert refused.status_code == 422
    assert refused.json()["detail"] == (
        "stored site 'dock-old': missing property 'ground_alt_m' (a number); "
        "correct it (PUT /api/v1/sites/dock-old) or delete it before planning"
    )
    fixed = _feature(MAST, kind="dock", ground_alt_m=110)
    fixed["properties"]["id"] = "dock-old"
    assert client.put("/api/v1/sites/dock-old", json=fixed, headers=op).status_code == 200
    for site_id in ("nfz-old", "stk-old", "zz-odd"):
        assert client.delete(f"/api/v1/sites/{site_id}", headers=op).status_code == 200
    assert _plan(client, headers, "unblocked").status_code == 201


# storable values only (the API refuses NUL, lone surrogates and non-finite numbers anywhere)
TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=5)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2000, 2000) | st.floats(-2000, 2000) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
SAMPLE = [f for f in json.loads(SITES.read_text())["features"] if "stacks" not in f["properties"]]
BASES = [*SAMPLE, *(f for f in CASES if _zone_says(f) is None)]
KEYS = [
    "kind",
    "geometry.type",
    "coordinates",
    "width_m",
    "reason",
    "ground_alt_m",
    "height_m",
    "radius_m",
    "floor_m",
    "ceiling_m",
    "stacks",
    "enterprise",
    "flow",
    "drones",
    "name",
]


@st.composite
def site_features(draw: st.DrawFn) -> dict[str, Any]:
    """A site the API or the planner reads, with one property or its geometry drawn anew."""
    feature = json.loads(json.dumps(draw(st.sampled_from(BASES))))
    feature["properties"]["id"] = "x"
    key = draw(st.sampled_from(KEYS))
    value = draw(st.sampled_from([*KINDS, "stack"]) if key == "kind" else JSON_VALUES)
    if key == "geometry.type":
        feature["geometry"]["type"] = draw(st.sampled_from(["Point", "LineString", "Polygon"]))
    elif key == "coordinates":
        feature["geometry"]["coordinates"] = value
    else:
        feature["properties"][key] = value
    return feature


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(feature=site_features())
def test_every_site_the_api_accepts_is_the_one_the_planner_and_the_pipeline_read(
    client: TestClient, headers, feature: dict[str, Any]
) -> None:
    op = headers["operator"]
    says = _zone_says(feature)
    r = client.post("/api/v1/sites", json=feature, headers=op)
    event(f"status {r.status_code}")
    if r.status_code != 201:
        assert r.status_code == 422, r.text
        detail = r.json()["detail"]
        # refused with the zone model's message, or for an API limit on a readable site
        assert detail == f"request: {says}" if says else detail.startswith("properties."), detail
        return
    try:
        assert says is None
        stored = client.get("/api/v1/sites", headers=op).json()
        read = parse_sites(stored)  # what planning and processing both parse
        assert read == parse_sites(_collection(feature))
        assign(read, 113.525, 34.805, "hotspot")  # at the mast  # the pipeline's lookup runs on it
    finally:
        client.delete("/api/v1/sites/x", headers=op)
