"""A flight launched through the API against ArduCopter SITL: live telemetry over the
WebSocket, pause, resume, abort, and the record the flight leaves."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pymavlink.dialects.v20 import ardupilotmega as mavlink
from sqlmodel import Session

from missions.items import Mission as ItemMission
from missions.items import MissionItem, to_e7
from server.accounts import add_user
from server.main import create_app
from server.planning import items_to_json
from server.settings import Settings
from sitl.instance import find_binary
from store.db import make_engine, migrate
from store.models import Mission, Role

from .conftest import PASSWORD, token_for

HOME = (34.8062, 113.5267, 112.0)
REL = mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT

pytestmark = [pytest.mark.sitl, pytest.mark.slow]


def _short_mission() -> ItemMission:
    lat, lon, alt = HOME
    items = [
        MissionItem(
            0,
            mavlink.MAV_FRAME_GLOBAL,
            mavlink.MAV_CMD_NAV_WAYPOINT,
            x=to_e7(lat),
            y=to_e7(lon),
            z=alt,
        ),
        MissionItem(1, REL, mavlink.MAV_CMD_NAV_TAKEOFF, x=to_e7(lat), y=to_e7(lon), z=20),
        MissionItem(
            2, REL, mavlink.MAV_CMD_NAV_WAYPOINT, x=to_e7(lat + 0.0012), y=to_e7(lon), z=20
        ),
        MissionItem(
            3, REL, mavlink.MAV_CMD_NAV_WAYPOINT, x=to_e7(lat + 0.0012), y=to_e7(lon + 0.0012), z=20
        ),
        MissionItem(4, REL, mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH),
    ]
    return ItemMission(items=tuple(items), name="short")


def _until(ws, predicate, what: str, timeout_s: float = 120) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        message = ws.receive_json()
        if predicate(message):
            return message
        if message.get("status") in ("failed",):
            raise AssertionError(f"flight failed while waiting for {what}: {message}")
    raise AssertionError(f"no {what} within {timeout_s} s")


@pytest.mark.timeout(400)
def test_launch_watch_pause_resume_abort(tmp_path: Path) -> None:
    try:
        find_binary()
    except Exception as exc:
        pytest.skip(str(exc))
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
        secret_key="sitl-test-secret-0123456789abcdef",
        sitl_speedup=10,
    )
    engine = make_engine(settings.db_url)
    migrate(engine)
    add_user(engine, "operator", PASSWORD, role=Role.OPERATOR)
    with Session(engine) as session:
        row = Mission(
            name="short",
            patrol_name="sitl",
            length_m=400,
            plan={
                "dock": {"id": "d", "lat": HOME[0], "lon": HOME[1], "ground_alt_m": HOME[2]},
                "mission": items_to_json(_short_mission()),
            },
        )
        session.add(row)
        session.commit()
        mission_id = str(row.id)

    with TestClient(create_app(settings)) as client:
        token = token_for(client, "operator")
        h = {"Authorization": f"Bearer {token}"}
        r = client.post("/api/v1/flights", json={"mission_id": mission_id, "sitl": True}, headers=h)
        assert r.status_code == 202, r.text
        flight_id = r.json()["id"]
        busy = client.post(
            "/api/v1/flights", json={"mission_id": mission_id, "sitl": True}, headers=h
        )
        assert busy.status_code == 409
        with client.websocket_connect(f"/api/v1/flights/{flight_id}/telemetry", headers=h) as ws:
            first = ws.receive_json()
            assert first["type"] == "snapshot" and "track" in first
            _until(ws, lambda m: m.get("status") == "flying", "take-off")
            _until(ws, lambda m: (m.get("last_reached") or 0) >= 2, "the first waypoint")
            assert client.post(f"/api/v1/flights/{flight_id}/pause", headers=h).status_code == 200
            _until(ws, lambda m: m.get("mode") == "GUIDED", "pause (GUIDED)", 30)
            assert client.post(f"/api/v1/flights/{flight_id}/resume", headers=h).status_code == 200
            _until(ws, lambda m: m.get("mode") == "AUTO", "resume (AUTO)", 30)
            assert client.post(f"/api/v1/flights/{flight_id}/abort", headers=h).status_code == 200
            final = _until(ws, lambda m: m.get("status") in ("landed", "aborted"), "landing", 300)
        assert final["status"] == "aborted"
        flight = client.get(f"/api/v1/flights/{flight_id}", headers=h).json()
        assert flight["status"] == "aborted" and flight["ended_at"] and flight["started_at"]
        assert flight["distance_m"] > 20
        assert len(flight["live"]["track"]) > 5
        again = client.post(f"/api/v1/flights/{flight_id}/pause", headers=h)
        assert again.status_code == 409 and "ended" in again.json()["detail"]
        flight_dir = settings.flights_dir / flight_id
        assert (flight_dir / "flight.tlog").stat().st_size > 0
    engine.dispose()
