"""Flights the service is not flying: records from elsewhere, and flights left by a restart."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlmodel import Session

from server.main import create_app
from server.settings import Settings
from store.models import Flight, FlightStatus


def test_flights_left_flying_by_a_previous_process_are_closed(settings, engine) -> None:
    with Session(engine) as session:
        stale = Flight(name="left over", status=FlightStatus.FLYING)
        session.add(stale)
        session.commit()
        stale_id = stale.id
    with TestClient(create_app(settings)):
        pass
    with Session(engine) as session:
        flight = session.get(Flight, stale_id)
        assert flight is not None and flight.status is FlightStatus.FAILED and flight.ended_at


def test_control_of_a_flight_not_running_here_is_refused(client: TestClient, headers) -> None:
    op = headers["operator"]
    flight = client.post("/api/v1/flight-records", json={"name": "elsewhere"}, headers=op).json()
    for verb in ("pause", "resume", "abort"):
        r = client.post(f"/api/v1/flights/{flight['id']}/{verb}", headers=op)
        assert r.status_code == 404 and "not running" in r.json()["detail"]
    link = "udpin:0.0.0.0:14550"
    r = client.post(
        "/api/v1/flights", json={"mission_id": flight["id"], "connection": link}, headers=op
    )
    assert r.status_code == 404 and "mission" in r.json()["detail"]
    both = {"mission_id": flight["id"], "connection": link, "sitl": True}
    r = client.post("/api/v1/flights", json=both, headers=op)
    assert r.status_code == 422 and "exactly one" in r.json()["detail"]


def test_an_overdue_flight_is_shown_still_flying_and_a_stalled_one_why() -> None:
    from missions.flight.events import Overdue, Stalled
    from server.flying import event_changes

    late = event_changes(Overdue(estimate_s=520.0, elapsed_s=611.4, to_go_m=180.2, eta_s=36.0))
    assert late["overdue_s"] == 91  # 611.4 - 520.0, rounded
    assert late["message"] == "overdue, still flying: 180 m to go, about 36 s left"
    still = event_changes(Overdue(estimate_s=40.0, elapsed_s=41.0, to_go_m=5.0, eta_s=None))
    assert still["message"] == "overdue, still flying: 5 m to go"
    stalled = event_changes(
        Stalled(stalled_s=31.2, window_s=30.0, mode="BRAKE", seq=5, to_go_m=200.0)
    )
    assert stalled["message"] == "stalled: no progress for 31 s in BRAKE at item 5; returning home"


def test_the_ground_stations_flights_are_forwarded_to_are_read_and_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ECOPATROL_FORWARD", "udp:127.0.0.1:14550, udpin:0.0.0.0:14560")
    settings = Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    assert settings.forward == ["udp:127.0.0.1:14550", "udpin:0.0.0.0:14560"]
    monkeypatch.setenv("ECOPATROL_FORWARD", "tcp:127.0.0.1:5760")
    with pytest.raises(ValidationError, match=r"use udp:HOST:PORT .* or udpin:HOST:PORT"):
        Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
