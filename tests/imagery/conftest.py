"""Fixtures for the imagery tests: the real frames and the sample zone.

Real frames are looked up in the repository's own ``tests/data`` first (a small
set that every clone has), then in the larger shared set beside the repository
(``../shared/data/real``); a test whose frame is in neither skips with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA
from zone.sites import Sites, load_sites

REPO = Path(__file__).resolve().parents[2]
ZONE_SITES = REPO / "examples" / "zhengzhou-hightech" / "sites.geojson"
TEST_DATA = REPO / "tests" / "data"
REAL_DATA_DIRS = (TEST_DATA, SHARED_DATA / "real")


def find_real(relative: str) -> Path | None:
    """``group/file`` in the repository's test data, else in the shared set, else None."""
    for root in REAL_DATA_DIRS:
        if (root / relative).is_file():
            return root / relative
    return None


@pytest.fixture(scope="session")
def real_file() -> Callable[[str], Path]:
    """``real_file("group/file")``: a real frame's path, or a skip naming where it was sought."""

    def get(relative: str) -> Path:
        path = find_real(relative)
        if path is None:
            pytest.skip(f"{relative} is in none of {', '.join(map(str, REAL_DATA_DIRS))}")
        return path

    return get


@pytest.fixture(scope="session")
def zone_sites() -> Sites:
    if not ZONE_SITES.is_file():
        pytest.skip(f"sample zone sites not found at {ZONE_SITES}")
    return load_sites(ZONE_SITES)


@pytest.fixture(scope="session")
def brighton() -> Path:
    """The Brighton Beach DJI frames kept with the tests: DJI_0030 as shot, and quarter-size
    copies of DJI_0025, 0026 and 0031 with their EXIF and XMP byte for byte (``*_quarter.JPG``,
    see ``tests/data/SOURCES.md``)."""
    return TEST_DATA / "rgb_dji_fc300s_brighton_beach"


@pytest.fixture(scope="session")
def h20t() -> Path:
    """The four DJI H20T R-JPEGs kept with the tests (GPL-3.0, test data only)."""
    return TEST_DATA / "thermal_dji_zh20t_leipzig_GPL3"
