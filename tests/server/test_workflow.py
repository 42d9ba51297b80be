"""The operator's and inspector's day through the API: plan the sample zone, take photos in,
process them, review what was found, export and report."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from imagery.synthetic import Anomaly, SurveyLine, make_basemap, render_captures
from server.planning import items_from_json
from store.models import Mission
from zone.sites import load_sites

from .conftest import SITES


def _import_zone(client: TestClient, h) -> None:
    r = client.put("/api/v1/sites", json=json.loads(SITES.read_text()), headers=h)
    assert r.status_code == 200, r.text


def test_an_operator_sets_how_long_a_vehicle_flies_on_without_the_ground_station(
    client: TestClient, headers, engine
) -> None:
    op = headers["operator"]
    _import_zone(client, op)
    quick = {"patrol_name": "q", "targets": ["ent-01"], "gcs_loss_return_s": 20}
    r = client.post("/api/v1/plans", json=quick, headers=op)
    assert r.status_code == 201, r.text
    with Session(engine) as session:
        (q,) = session.exec(select(Mission).where(Mission.patrol_name == "q")).all()
    assert items_from_json(q.plan or {}, name=q.name).params["FS_GCS_TIMEOUT"] == 20.0
    too_long = client.post("/api/v1/plans", json={**quick, "gcs_loss_return_s": 600}, headers=op)
    assert too_long.status_code == 422 and "gcs_loss_return_s" in too_long.text


@pytest.mark.slow
def test_plan_the_sample_zone(client: TestClient, headers, engine) -> None:
    op = headers["operator"]
    _import_zone(client, op)
    r = client.post(
        "/api/v1/plans", json={"patrol_name": "june", "targets": ["ent-01", "ent-02"]}, headers=op
    )
    assert r.status_code == 201, r.text
    plan = r.json()
    assert plan["sorties"] and plan["photo_count"] > 0
    assert {t for s in plan["sorties"] for t in s["targets"]} == {"ent-01", "ent-02"}
    # what a launch uploads carries the parameters the vehicle must hold (fence on...)
    with Session(engine) as session:
        stored = session.exec(select(Mission).where(Mission.patrol_name == "june")).all()
    uploads = [items_from_json(m.plan or {}, name=m.name) for m in stored]
    assert uploads and all(u.params["FENCE_ENABLE"] == 1 and u.fence for u in uploads)
    assert {u.params["FS_GCS_TIMEOUT"] for u in uploads} == {120.0}  # the default
    again = client.post("/api/v1/plans", json={"patrol_name": "june"}, headers=op)
    assert again.status_code == 409
    bad = client.post("/api/v1/plans", json={"patrol_name": "x", "targets": ["nope"]}, headers=op)
    assert bad.status_code == 422 and "nope" in bad.json()["detail"]

    fc = client.get("/api/v1/patrols/june/geojson", headers=headers["inspector"]).json()
    routes = [f for f in fc["features"] if f["properties"]["layer"] == "route"]
    assert len(routes) == len(plan["sorties"])
    assert all(len(f["geometry"]["coordinates"]) > 2 for f in routes)
    photos = sum(
        len(f["geometry"]["coordinates"])
        for f in fc["features"]
        if f["properties"]["layer"] == "photos"
    )
    assert photos == plan["photo_count"]
    patrols = client.get("/api/v1/patrols", headers=op).json()
    assert patrols[0]["name"] == "june" and patrols[0]["sorties"] == len(plan["sorties"])
    report = client.get("/api/v1/patrols/june/report", headers=headers["inspector"])
    assert report.status_code == 200 and "<svg" in report.text and "ent-01" in report.text


@pytest.mark.slow
def test_upload_process_review_export(client: TestClient, headers, engine, tmp_path: Path) -> None:
    op, insp = headers["operator"], headers["inspector"]
    _import_zone(client, op)
    zone = load_sites(SITES)
    stack = zone.stacks[0]
    bounds = (stack.lon - 0.002, stack.lat - 0.0015, stack.lon + 0.002, stack.lat + 0.0015)
    basemap = make_basemap(zone, bounds_lonlat=bounds, gsd_m=0.3)
    poses = SurveyLine(stack.lon - 0.0002, stack.lat, 90.0, 20.0, 2, alt_rel_m=120).poses()
    hot = Anomaly("hotspot", stack.lon - 0.0002, stack.lat + 0.0001, radius_m=2.5)
    shots = render_captures(
        poses, basemap=basemap, anomalies=[hot], kind="thermal", out_dir=tmp_path / "shots"
    )

    with Session(engine) as session:
        mission = Mission(name="yard pass", patrol_name="yard", targets=[stack.site_id])
        session.add(mission)
        session.commit()
        mission_id = str(mission.id)
    flight = client.post(
        "/api/v1/flight-records", json={"name": "synthetic", "mission_id": mission_id}, headers=op
    ).json()
    for path in shots:
        r = client.post(
            f"/api/v1/flights/{flight['id']}/uploads",
            files={"file": (path.name, path.read_bytes(), "image/jpeg")},
            headers=op,
        )
        assert r.status_code == 201, r.text
    assert client.post(f"/api/v1/flights/{flight['id']}/process", headers=insp).status_code == 403
    r = client.post(f"/api/v1/flights/{flight['id']}/process", headers=op)
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 120
    state = r.json()
    while time.monotonic() < deadline and state["finished"] < state["total"]:
        time.sleep(0.3)
        state = client.get(f"/api/v1/flights/{flight['id']}/processing", headers=op).json()
    assert state["done"] == state["total"] == len(shots), state

    found = client.get(
        f"/api/v1/findings?flight_id={flight['id']}&status=pending", headers=insp
    ).json()
    assert found["count"] >= 1
    finding = found["data"][0]
    assert abs(finding["lat"] - hot.lat) < 1e-4 and abs(finding["lon"] - hot.lon) < 1e-4
    image = client.get(f"/api/v1/captures/{finding['capture_id']}/image", headers=insp)
    assert image.status_code == 200 and image.content[:3] == b"\xff\xd8\xff"
    if finding["has_thumbnail"]:
        assert (
            client.get(f"/api/v1/findings/{finding['id']}/thumbnail", headers=insp).status_code
            == 200
        )
    # the inspector decides on the object, which covers every capture that saw the hot spot
    obj = client.get(f"/api/v1/objects/{finding['object_id']}", headers=insp).json()
    members = {f["id"] for f in obj["findings"]}
    assert finding["id"] in members
    r = client.post(
        f"/api/v1/objects/{obj['id']}/reviews",
        json={"decision": "confirm", "comment": "stack base leak"},
        headers=insp,
    )
    assert r.status_code == 201
    exported = client.get("/api/v1/exports/findings.geojson", headers=insp).json()
    assert {f["id"] for f in exported["features"]} == members
    report = client.get("/api/v1/patrols/yard/report", headers=insp).text
    # the report counts findings: every capture's finding of the confirmed object
    assert "stack base leak" in report and f"{len(members)} confirmed" in report
    assert 'src="data:image/' in report  # the evidence travels inside the file
