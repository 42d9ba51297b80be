"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# the SITL fixtures serve the flight tests and the end-to-end demo alike
pytest_plugins = ("tests.sitl.fixtures",)

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
EXAMPLES = REPO / "examples"

# Hypothesis profiles. Every profile prints the ``@reproduce_failure`` blob of a failing
# example. "ci" (loaded when CI=true) draws the same examples on every run, so a red
# CI run fails the same way again here; "dev" draws more examples where a test does
# not set its own count. Pick one with HYPOTHESIS_PROFILE=NAME (or --hypothesis-profile).
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("dev", max_examples=500, print_blob=True)
settings.register_profile("local", print_blob=True)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") == "true" else "local")
)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real drone frames beside the repo; tests that need them skip without."""
    real = SHARED_DATA / "real"
    if not real.is_dir():
        pytest.skip(f"shared data not found at {real} (it lies beside the repository)")
    return real


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """Name of a database migrated to head once per session; tests copy it, which is fast."""
    from sqlalchemy.engine import make_url

    from store.db import make_engine, migrate
    from tests.pg import scratch_database

    with scratch_database("ecopatrol_template") as url:
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
        name = make_url(url).database
        assert name is not None
        yield name


@pytest.fixture
def postgres_url(postgres_template: str) -> Iterator[str]:
    """A migrated PostgreSQL database of this test's own, dropped after."""
    from tests.pg import scratch_database

    with scratch_database("ecopatrol_test", template=postgres_template) as url:
        yield url
