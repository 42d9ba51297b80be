"""Fixtures for the dispatcher tests: a fresh, migrated database per test, SQLite or PostgreSQL.

The schema is migrated once per session into a template (a SQLite file that
each test copies, a PostgreSQL template database each test's database is
created from), so a test pays for a file copy, not for an Alembic run.
PostgreSQL tests use ``ECOPATROL_TEST_POSTGRES_URL`` (``tools/test.sh`` starts a
throwaway cluster on loopback) and skip without it.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from store.db import make_engine, migrate
from tests.dispatch.helpers import SyntheticViews, render_synthetic_views

POSTGRES_ENV = "ECOPATROL_TEST_POSTGRES_URL"


def _database(admin_url: str, name: str) -> str:
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[tuple[str, str]]:
    """(admin URL, template database name) with the store's schema migrated in."""
    admin_url = os.environ.get(POSTGRES_ENV)
    if not admin_url:
        pytest.skip(f"{POSTGRES_ENV} is not set (tools/test.sh starts a PostgreSQL for these)")
    name = f"ecopatrol_dispatch_tmpl_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # an unreachable server is an environment fault, not ours
        admin.dispose()
        pytest.skip(f"PostgreSQL at {POSTGRES_ENV} is not reachable: {exc}")
    engine = make_engine(_database(admin_url, name))
    migrate(engine)
    engine.dispose()
    try:
        yield admin_url, name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgres_url(postgres_template: tuple[str, str]) -> Iterator[str]:
    """A PostgreSQL database of this test's own, dropped after."""
    admin_url, template = postgres_template
    name = f"ecopatrol_dispatch_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    try:
        yield _database(admin_url, name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "ecopatrol.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A SQLite file of this test's own."""
    path = tmp_path / "ecopatrol.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each test that asks for it runs on SQLite and on PostgreSQL."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def synthetic_views(tmp_path_factory: pytest.TempPathFactory) -> SyntheticViews:
    """Synthetic captures over the example zone, rendered once per session."""
    return render_synthetic_views(tmp_path_factory.mktemp("views"))
