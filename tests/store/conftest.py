"""An empty database of each kind the store supports, for the migration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from store.db import make_engine
from tests.pg import scratch_database


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a fresh, unmigrated database (SQLite file or a scratch PostgreSQL one)."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'migrate.db'}")
        yield engine
        engine.dispose()
    else:
        with scratch_database("ecopatrol_migrate") as url:
            engine = make_engine(url)
            yield engine
            engine.dispose()
