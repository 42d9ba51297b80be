"""A scripted vehicle and a link to it, fresh for every test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.flight.link import MavLink
from missions.items import Mission, MissionItem, to_e7
from tests.flight.peer import ScriptedVehicle

FAST = 0.15  # item timeout for loopback tests, seconds


@pytest.fixture
async def peer() -> AsyncIterator[ScriptedVehicle]:
    vehicle = ScriptedVehicle()
    await vehicle.start()
    yield vehicle
    await vehicle.stop()


@pytest.fixture
async def link(peer: ScriptedVehicle) -> AsyncIterator[MavLink]:
    async with MavLink(peer.url, heartbeat_interval_s=0.1, link_timeout_s=1.0) as connected:
        yield connected


def survey_mission(n_waypoints: int = 5) -> Mission:
    """Home, take-off, a row of waypoints with a camera trigger, RTL."""
    lat, lon = 34.8, 113.55
    rel = mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT
    items = [
        MissionItem(0, mavlink.MAV_FRAME_GLOBAL_INT, mavlink.MAV_CMD_NAV_WAYPOINT,
                    x=to_e7(lat), y=to_e7(lon), z=110.0),
        MissionItem(1, rel, mavlink.MAV_CMD_NAV_TAKEOFF, z=40.0),
        MissionItem(2, mavlink.MAV_FRAME_MISSION, mavlink.MAV_CMD_DO_SET_CAM_TRIGG_DIST,
                    param1=12.5, param3=1),
    ]  # fmt: skip
    for i in range(n_waypoints):
        items.append(
            MissionItem(len(items), rel, mavlink.MAV_CMD_NAV_WAYPOINT,
                        x=to_e7(lat + 0.0003 * i), y=to_e7(lon + 0.0002 * (i % 2)), z=40.0)
        )  # fmt: skip
    items.append(MissionItem(len(items), rel, mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH))
    return Mission(items=tuple(items), name="hand-built")
