"""Fixtures for the dispatcher tests: a fresh database per test, SQLite or PostgreSQL.

PostgreSQL tests use ``ECOPATROL_TEST_POSTGRES_URL`` (``tools/test.sh`` starts a
throwaway cluster on loopback) and get a database of their own, dropped after.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from store.db import make_engine, migrate
from tests.dispatch.helpers import SyntheticViews, render_synthetic_views

POSTGRES_ENV = "ECOPATROL_TEST_POSTGRES_URL"


def _postgres_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set (tools/test.sh starts a PostgreSQL for these)")
    return url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test."""
    admin_url = _postgres_url()
    name = f"ecopatrol_dispatch_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # an unreachable server is an environment fault, not ours
        admin.dispose()
        pytest.skip(f"PostgreSQL at {POSTGRES_ENV} is not reachable: {exc}")
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ecopatrol.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each test that asks for it runs on SQLite and on PostgreSQL."""
    return str(request.getfixturevalue(f"{request.param}_url"))


def prepare(url: str) -> Engine:
    """An engine on ``url`` with the store's schema (Alembic, ``processing_job`` included)."""
    engine = make_engine(url)
    migrate(engine)
    return engine


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = prepare(db_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def synthetic_views(tmp_path_factory: pytest.TempPathFactory) -> SyntheticViews:
    """Synthetic captures over the example zone, rendered once per session."""
    return render_synthetic_views(tmp_path_factory.mktemp("views"))
