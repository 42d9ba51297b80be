"""Fixtures for the imagery tests: the real frames beside the repository and the sample zone."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagery.sites import Sites, load_sites

REPO = Path(__file__).resolve().parents[2]
ZONE_SITES = REPO / "examples" / "zhengzhou-hightech" / "sites.geojson"


@pytest.fixture(scope="session")
def zone_sites() -> Sites:
    if not ZONE_SITES.is_file():
        pytest.skip(f"sample zone sites not found at {ZONE_SITES}")
    return load_sites(ZONE_SITES)


@pytest.fixture(scope="session")
def brighton(shared_data: Path) -> Path:
    return shared_data / "rgb_dji_fc300s_brighton_beach"


@pytest.fixture(scope="session")
def h20t(shared_data: Path) -> Path:
    """DJI H20T R-JPEGs (GPL-3.0): read in place, never copied into the package."""
    return shared_data / "thermal_dji_zh20t_leipzig_GPL3"
