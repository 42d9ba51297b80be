"""Fixtures for the server tests: a fresh database (SQLite, and PostgreSQL where reachable),
an app bound to it, and a signed-in client per role."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from server.accounts import add_user
from server.main import create_app
from server.security import create_token
from server.settings import Settings
from store.db import make_engine, migrate
from store.models import Capture, Finding, FindingStatus, Flight, FlightStatus, Role, User

PASSWORD = "correct horse battery"
ROLES = (Role.ADMIN, Role.OPERATOR, Role.INSPECTOR)
SITES = Path(__file__).resolve().parents[2] / "examples" / "zhengzhou-hightech" / "sites.geojson"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ecopatrol.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        secret_key="test-secret-key-0123456789abcdef",
        upload_max_bytes=4 * 1024 * 1024,
    )


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.db_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def app(settings: Settings, engine: Engine):  # type: ignore[no-untyped-def]
    for role in ROLES:
        add_user(engine, role.value, PASSWORD, role=role, full_name=f"Test {role.value}")
    return create_app(settings)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app) as client:
        yield client


def token_for(client: TestClient, username: str, password: str = PASSWORD) -> str:
    r = client.post("/api/v1/login/access-token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    client.cookies.clear()
    token: str = r.json()["access_token"]
    return token


@pytest.fixture
def headers(engine: Engine, settings: Settings, app) -> dict[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    """Authorization headers per role name (tokens minted directly: sign-in has its own tests)."""
    with Session(engine) as session:
        users = {u.username: u.id for u in session.exec(select(User))}
    secret = settings.secret_key.get_secret_value()
    return {
        role.value: {
            "Authorization": "Bearer "
            + create_token(users[role.value], secret=secret, expires=timedelta(hours=1))
        }
        for role in ROLES
    }


def seed_findings(engine: Engine, n: int, *, flight_name: str = "seed") -> list[uuid.UUID]:
    """``n`` findings over one flight and capture, spread in place, kind, site and time."""
    kinds = ("thermal_hotspot", "water_discolouration", "smoke_plume")
    base = datetime(2026, 6, 1, tzinfo=UTC)
    with Session(engine) as session:
        flight = Flight(name=flight_name, status=FlightStatus.LANDED)
        session.add(flight)
        session.flush()
        capture = Capture(flight_id=flight.id, path="IMG_0001.JPG", lat=34.8, lon=113.52)
        session.add(capture)
        session.flush()
        ids = []
        for i in range(n):
            finding = Finding(
                dedupe_key=f"{flight_name}-{i}",
                capture_id=capture.id,
                flight_id=flight.id,
                site_id=f"ent-{i % 3 + 1:02d}",
                kind=kinds[i % 3],
                detector="test",
                detector_version="1",
                score=(i % 10) / 10,
                lat=34.80 + (i % 50) * 0.0005,
                lon=113.52 + (i // 50 % 50) * 0.0005,
                area_m2=10.0 + i,
                pixel_box=[10, 20, 60, 80],
                measurements={"delta_t_c": 12.5},
                status=FindingStatus.PENDING,
                created_at=base + timedelta(hours=i),
            )
            session.add(finding)
            ids.append(finding.id)
        session.commit()
    return ids
