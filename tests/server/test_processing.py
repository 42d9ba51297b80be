"""Uploads queue processing jobs; the "process" action drains the queue; progress is polled."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from imagery.synthetic import Anomaly, SurveyLine, make_basemap, render_captures
from store.jobs import ProcessingJob
from store.models import Finding
from zone.sites import load_sites

from .conftest import SITES
from .test_workflow import _import_zone


def _progress(client: TestClient, flight_id: str, h: dict[str, str]) -> dict[str, Any]:
    r = client.get(f"/api/v1/flights/{flight_id}/processing", headers=h)
    assert r.status_code == 200, r.text
    return r.json()


def _wait(client: TestClient, flight_id: str, h: dict[str, str]) -> dict[str, Any]:
    """Progress once finished and the server's dispatcher has stopped."""
    deadline = time.monotonic() + 120
    state = _progress(client, flight_id, h)
    while time.monotonic() < deadline and (
        state["finished"] < state["total"] or state["local_dispatcher"]
    ):
        time.sleep(0.3)
        state = _progress(client, flight_id, h)
    return state


def _findings(engine: Engine, flight_id: str) -> int:
    with Session(engine) as session:
        return session.exec(
            select(func.count())
            .select_from(Finding)
            .where(col(Finding.flight_id) == uuid.UUID(flight_id))
        ).one()


def test_uploads_queue_jobs_and_process_drains_them_once(
    client: TestClient, headers, engine: Engine, tmp_path: Path
) -> None:
    op, insp = headers["operator"], headers["inspector"]
    _import_zone(client, op)
    stack = load_sites(SITES).stacks[0]
    bounds = (stack.lon - 0.002, stack.lat - 0.0015, stack.lon + 0.002, stack.lat + 0.0015)
    basemap = make_basemap(load_sites(SITES), bounds_lonlat=bounds, gsd_m=0.3)
    poses = SurveyLine(stack.lon - 0.0002, stack.lat, 90.0, 20.0, 3, alt_rel_m=120).poses()
    hot = Anomaly("hotspot", stack.lon - 0.0002, stack.lat + 0.0001, radius_m=2.5)
    shots = render_captures(
        poses, basemap=basemap, anomalies=[hot], kind="thermal", out_dir=tmp_path / "shots"
    )
    flight = client.post("/api/v1/flight-records", json={"name": "queued"}, headers=op).json()
    fid = flight["id"]
    assert _progress(client, fid, insp) == {
        "flight_id": fid,
        **dict(queued=0, running=0, done=0, failed=0, total=0, finished=0, fraction=1.0),
        "local_dispatcher": False,
        "error": "",
    }
    for path in shots:
        r = client.post(
            f"/api/v1/flights/{fid}/uploads",
            files={"file": (path.name, path.read_bytes(), "image/tiff")},
            headers=op,
        )
        assert r.status_code == 201, r.text
        assert r.json()["capture_id"]

    queued = _progress(client, fid, insp)
    assert (queued["total"], queued["queued"], queued["finished"]) == (len(shots), len(shots), 0)
    assert queued["fraction"] == 0.0
    # uploading a photo again records and queues nothing new
    client.post(
        f"/api/v1/flights/{fid}/uploads",
        files={"file": (shots[0].name, shots[0].read_bytes(), "image/tiff")},
        headers=op,
    )
    assert _progress(client, fid, insp)["total"] == len(shots)

    r = client.post(f"/api/v1/flights/{fid}/process", headers=op)
    assert r.status_code == 202, r.text
    state = _wait(client, fid, insp)
    assert (state["done"], state["failed"], state["finished"]) == (len(shots), 0, len(shots))
    assert state["fraction"] == 1.0 and state["error"] == ""
    found = _findings(engine, fid)
    assert found >= 1

    # processing again runs nothing twice and stores no finding twice
    assert client.post(f"/api/v1/flights/{fid}/process", headers=op).status_code == 202
    again = _wait(client, fid, insp)
    assert again["done"] == again["total"] == len(shots)
    assert _findings(engine, fid) == found
    with Session(engine) as session:
        query = select(ProcessingJob).where(col(ProcessingJob.flight_id) == uuid.UUID(fid))
        jobs = session.exec(query).all()
        assert len(jobs) == len(shots) and all(job.attempts == 1 for job in jobs)


def test_process_needs_photos(client: TestClient, headers) -> None:
    op = headers["operator"]
    flight = client.post("/api/v1/flight-records", json={"name": "empty"}, headers=op).json()
    r = client.post(f"/api/v1/flights/{flight['id']}/process", headers=op)
    assert r.status_code == 404 and "upload" in r.json()["detail"]
    missing = "00000000-0000-0000-0000-000000000000"
    assert client.get(f"/api/v1/flights/{missing}/processing", headers=op).status_code == 404
