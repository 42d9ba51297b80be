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

from server.main import create_app
from server.security import create_token, hash_password
from server.settings import Settings
from store.db import make_engine, migrate
from store.models import Capture, Finding, FindingStatus, Flight, FlightStatus, Role, User
from store.objects import sync_flight

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


@pytest.fixture(scope="session")
def password_hash() -> str:
    """PASSWORD hashed once: argon2 takes a tenth of a second by design, and every test
    would otherwise hash it for each of its three users (``add_user`` has its own tests)."""
    return hash_password(PASSWORD)


@pytest.fixture
def app(settings: Settings, engine: Engine, password_hash: str):  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        session.add_all(
            User(
                username=role.value,
                full_name=f"Test {role.value}",
                role=role,
                password_hash=password_hash,
            )
            for role in ROLES
        )
        session.commit()
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


def seed_findings(
    engine: Engine, n: int, *, flight_name: str = "seed", group_size: int = 1
) -> list[uuid.UUID]:
    """``n`` findings over one flight, spread in place, kind, site and time, and their objects
    (``store.objects.sync_flight``, as processing does at the end of a flight).

    With ``group_size`` k > 1, findings ``k*g`` to ``k*g + k - 1`` are one group (one object)
    of one kind at one site, each member on its own capture (k captures); with 1, every finding
    is an object of its own and all share one capture.
    """
    kinds = ("thermal_hotspot", "water_discolouration", "smoke_plume")
    base = datetime(2026, 6, 1, tzinfo=UTC)
    with Session(engine) as session:
        flight = Flight(name=flight_name, status=FlightStatus.LANDED)
        session.add(flight)
        session.flush()
        captures = [
            Capture(flight_id=flight.id, path=f"IMG_{j + 1:04d}.JPG", lat=34.8, lon=113.52)
            for j in range(group_size)
        ]
        session.add_all(captures)
        session.flush()
        ids = []
        for i in range(n):
            group = i // group_size
            finding = Finding(
                dedupe_key=f"{flight_name}-{i}",
                group_id=f"{flight_name}-g{group}" if group_size > 1 else None,
                capture_id=captures[i % group_size].id,
                flight_id=flight.id,
                site_id=f"ent-{group % 3 + 1:02d}",
                kind=kinds[group % 3],
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
        session.flush()
        sync_flight(session, flight)
        session.commit()
    return ids


def object_of(engine: Engine, finding_id: uuid.UUID | str) -> uuid.UUID:
    """The object a finding belongs to."""
    with Session(engine) as session:
        finding = session.get(Finding, uuid.UUID(str(finding_id)))
        assert finding is not None and finding.object_id is not None
        return finding.object_id
