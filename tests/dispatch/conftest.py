"""Fixtures for the dispatcher tests: a fresh, migrated database per test, SQLite or PostgreSQL.

The schema is migrated once per session into a template (a SQLite file that
each test copies, a PostgreSQL template database each test's database is
created from), so a test pays for a file copy, not for an Alembic run.
PostgreSQL tests use ``ECOPATROL_TEST_POSTGRES_URL`` (``tools/test.sh`` starts a
throwaway cluster on loopback) and skip without it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from store.db import make_engine, migrate
from tests.dispatch.helpers import SyntheticViews, render_synthetic_views


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
