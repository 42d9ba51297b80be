"""SITL fixtures: one shared copter at the sample zone's first dock, and sortie 1 flown once.

A plugin of the whole test session (``tests/conftest.py`` names it), not a conftest of
``tests/sitl``: the end-to-end demo (``tests/e2e``) renders the same flight of sortie 1
that the flight tests read, instead of flying it a second time.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.flight.fly import FlightResult, fly_mission
from missions.flight.vehicle import REBOOT_PARAMS, Vehicle
from missions.plan import Sortie, plan_patrol
from sitl.instance import Home, Sitl
from sitl.pytest_plugin import (  # noqa: F401 - fixtures used by the tests here
    sitl_binary,
    sitl_copter,
    sitl_factory,
)
from tests.conftest import EXAMPLES
from zone.sites import load_sites

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


#: Parameters plans set (``Mission.params``) besides the sample sortie's own.
PLAN_PARAMS = (
    "FENCE_ENABLE",
    "FENCE_TYPE",
    "FENCE_ALT_MAX",
    "FENCE_ACTION",
    "FENCE_MARGIN",
    "RTL_ALT",
    "RTL_CONE_SLOPE",
    "FS_GCS_ENABLE",
    "FS_GCS_TIMEOUT",
    "FS_OPTIONS",
    "GUID_OPTIONS",
    "OA_MARGIN_MAX",
    "OA_OPTIONS",
    "RALLY_INCL_HOME",
)


@pytest.fixture(scope="session")
def booted_params(sitl_copter: Sitl, sample_sortie: Sortie) -> dict[str, float]:  # noqa: F811
    """The shared copter's plan parameters as it booted (boot-time ones left out)."""
    names = sorted((set(PLAN_PARAMS) | set(sample_sortie.mission.params)) - REBOOT_PARAMS)

    async def read() -> dict[str, float]:
        vehicle = await Vehicle.connect(
            sitl_copter.url, heartbeat_interval_s=sitl_copter.heartbeat_interval_s
        )
        try:
            held = await vehicle.read_params(names)
        finally:
            await vehicle.close()
        return {name: value for name, value in held.items() if value is not None}

    return asyncio.run(read())


@pytest.fixture
def copter(sitl_copter: Sitl, booted_params: dict[str, float]) -> Sitl:  # noqa: F811
    """The shared copter with a fresh battery, as after a swap at the dock, and the
    parameters as it booted: one test's plan (its fence, its GCS failsafe) never
    flies the next test's mission."""

    asyncio.run(_swap(sitl_copter, booted_params))
    return sitl_copter


async def _swap(sitl: Sitl, booted_params: dict[str, float]) -> None:
    """A fresh battery and the parameters the copter booted with, on the ground.

    A test that failed mid-flight leaves the copter flying home (its flight sent
    it there): the next test starts once it has landed and disarmed, instead of
    flying into the last one's return."""
    vehicle = await Vehicle.connect(sitl.url, heartbeat_interval_s=sitl.heartbeat_interval_s)
    try:
        await vehicle.wait_until(lambda: not vehicle.telemetry.armed, 180, "landed and disarmed")
        await vehicle.command(mavlink.MAV_CMD_BATTERY_RESET, 0xFF, 100)
        await vehicle.apply_params(booted_params)
    finally:
        await vehicle.close()


@dataclass(frozen=True)
class FlownSortie:
    """Sortie 1's flight record and the kinds of the events it published, in order."""

    result: FlightResult
    kinds: tuple[str, ...]


@pytest.fixture(scope="session")
def flown_sortie(
    sitl_copter: Sitl,  # noqa: F811
    booted_params: dict[str, float],
    sample_sortie: Sortie,
    tmp_path_factory: pytest.TempPathFactory,
) -> FlownSortie:
    """Sample sortie 1 flown once on the shared copter, for every test that reads its
    record (the end-to-end checks, the obstacle clearances): a minute of SITL each."""
    kinds: list[str] = []

    async def fly() -> FlightResult:
        await _swap(sitl_copter, booted_params)
        return await fly_mission(
            sitl_copter,
            sample_sortie.mission,
            out_dir=tmp_path_factory.mktemp("sortie-1"),
            on_event=lambda e: kinds.append(e.kind),
            photo_points=[(p.lat, p.lon) for p in sample_sortie.photo_points],
        )

    return FlownSortie(asyncio.run(fly()), tuple(kinds))
