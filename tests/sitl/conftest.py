"""SITL fixtures: one shared copter at the sample zone's first dock."""

from __future__ import annotations

import asyncio

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.flight.vehicle import Vehicle
from missions.plan import Sortie, plan_patrol
from missions.sites import load_sites
from sitl.instance import Home, Sitl
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


@pytest.fixture
def copter(sitl_copter: Sitl) -> Sitl:  # noqa: F811 - the fixture, by name
    """The shared copter with a fresh battery, as after a swap at the dock."""

    async def swap() -> None:
        vehicle = await Vehicle.connect(
            sitl_copter.url, heartbeat_interval_s=sitl_copter.heartbeat_interval_s
        )
        try:
            await vehicle.command(mavlink.MAV_CMD_BATTERY_RESET, 0xFF, 100)
        finally:
            await vehicle.close()

    asyncio.run(swap())
    return sitl_copter
