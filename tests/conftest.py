"""Fixtures shared by every test package."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
EXAMPLES = REPO / "examples"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real drone frames beside the repo; tests that need them skip without."""
    real = SHARED_DATA / "real"
    if not real.is_dir():
        pytest.skip(f"shared data not found at {real} (it lies beside the repository)")
    return real
