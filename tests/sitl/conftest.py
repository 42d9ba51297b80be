"""SITL fixtures: one shared copter at the sample zone's first dock."""

from __future__ import annotations

import pytest

from missions.plan import Sortie, plan_patrol
from missions.sites import load_sites
from sitl.instance import Home
from sitl.pytest_plugin import (  # noqa: F401 - fixtures used by the tests here
    sitl_binary,
    sitl_copter,
    sitl_factory,
)
from tests.conftest import EXAMPLES

SAMPLE_SITES = EXAMPLES / "zhengzhou-hightech" / "sites.geojson"


@pytest.fixture(scope="session")
def sample_sortie() -> Sortie:
    """The sample zone's first planned sortie (what `ecopatrol plan` writes as sortie-1)."""
    return plan_patrol(load_sites(SAMPLE_SITES)).sorties[0]


@pytest.fixture(scope="session")
def sitl_home(sample_sortie: Sortie) -> Home:
    lat, lon, alt = sample_sortie.home
    return Home(lat, lon, alt, 0.0)


@pytest.fixture(scope="session")
def sitl_speedup() -> float:
    return 20.0
