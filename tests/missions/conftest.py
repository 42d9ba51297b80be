"""Fixtures for the planner tests: the sample zone and one patrol planned from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from missions.plan import Patrol, plan_patrol
from zone.sites import Sites, load_sites

ZONE = Path(__file__).resolve().parents[2] / "examples" / "zhengzhou-hightech" / "sites.geojson"


@pytest.fixture(scope="session")
def zone_path() -> Path:
    return ZONE


@pytest.fixture(scope="session")
def zone() -> Sites:
    return load_sites(ZONE)


@pytest.fixture(scope="session")
def patrol(zone: Sites) -> Patrol:
    """The whole sample zone, planned once for every test that inspects a full patrol."""
    return plan_patrol(zone)  # to the solution limit: the same plan however loaded the machine
