"""Starting a mission and counting the items flown, over a link that loses frames."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.flight.vehicle import Vehicle, reached_all
from missions.items import Mission, MissionItem
from tests.flight.conftest import survey_mission
from tests.flight.peer import ScriptedVehicle

ACTIVE = mavlink.MISSION_STATE_ACTIVE
COMPLETE = mavlink.MISSION_STATE_COMPLETE
NOT_STARTED = mavlink.MISSION_STATE_NOT_STARTED


@pytest.fixture
async def vehicle(peer: ScriptedVehicle) -> AsyncIterator[Vehicle]:
    connected = await Vehicle.connect(peer.url, heartbeat_interval_s=0.1, timeout_s=5.0)
    yield connected
    await connected.close()


def mission_current(peer: ScriptedVehicle, seq: int, state: int, total: int) -> None:
    peer.send(peer.mav.mission_current_encode(seq, total, state, 1))


async def heard(vehicle: Vehicle, peer: ScriptedVehicle, total: int) -> None:
    """Wait until everything the peer sent so far has been taken in (a marker after it)."""
    marker = 1000 + vehicle.telemetry.current_seq % 1000 + 1
    mission_current(peer, marker, NOT_STARTED, total)
    await vehicle.wait_until(lambda: vehicle.telemetry.current_seq == marker, 2.0, "the marker")


def is_start(msg: mavlink.MAVLink_message) -> bool:
    return (
        isinstance(msg, mavlink.MAVLink_command_long_message)
        and msg.command == mavlink.MAV_CMD_MISSION_START
    )


async def test_a_start_that_arrives_after_the_vehicle_disarmed_is_made_again(
    peer: ScriptedVehicle, vehicle: Vehicle
) -> None:
    # the first MISSION_START is lost; its repeat, 1.5 s later, finds the vehicle
    # disarmed on the ground and switches it to AUTO all the same
    peer.disarm_after_s = 0.3
    starts: list[mavlink.MAVLink_message] = []

    def lose_the_first_start(msg: mavlink.MAVLink_message) -> bool:
        if is_start(msg):
            starts.append(msg)
        return is_start(msg) and len(starts) == 1

    peer.faults.drop_in = lose_the_first_start
    await vehicle.upload_mission(survey_mission())
    await vehicle.start_mission()
    assert vehicle.telemetry.mode == "AUTO"
    assert vehicle.telemetry.armed and peer.armed
    arms = [
        m
        for m in peer.received
        if isinstance(m, mavlink.MAVLink_command_long_message)
        and m.command == mavlink.MAV_CMD_COMPONENT_ARM_DISARM
        and m.param1 == 1
    ]
    assert len(starts) == 3  # lost, taken while disarmed, taken armed
    assert len(arms) == 2


async def test_a_start_whose_ack_is_lost_is_not_sent_again_once_the_vehicle_flies_it(
    peer: ScriptedVehicle, vehicle: Vehicle
) -> None:
    # seen in SITL with a DroneKit script forwarded on the same link: its parameter
    # download filled ArduCopter's send buffer, the ACKs of MISSION_START were dropped,
    # and the third start, 3 s later, undid the pilot's RTL and resumed the mission
    peer.faults.drop_out = lambda msg: (
        isinstance(msg, mavlink.MAVLink_command_ack_message)
        and msg.command == mavlink.MAV_CMD_MISSION_START
    )
    await vehicle.upload_mission(survey_mission())
    await vehicle.start_mission()
    assert vehicle.telemetry.mode == "AUTO" and peer.armed
    peer.custom_mode = 6  # the pilot's RTL, from another ground station
    await asyncio.sleep(3 * 1.5)  # as long as the ACK waits of two resends
    assert len([m for m in peer.received if is_start(m)]) == 1
    assert peer.custom_mode == 6


async def test_a_link_back_only_after_the_landing_counts_the_mission_complete(
    peer: ScriptedVehicle, vehicle: Vehicle
) -> None:
    mission = survey_mission()
    total = len(mission.items) - 1
    await vehicle.upload_mission(mission)
    mission_current(peer, 1, ACTIVE, total)
    mission_current(peer, 4, ACTIVE, total)
    await heard(vehicle, peer, total)
    assert vehicle.telemetry.reached == {3}
    # the link is cut; it is back once the vehicle has landed and disarmed (item 0)
    mission_current(peer, 0, COMPLETE, total)
    await heard(vehicle, peer, total)
    assert reached_all(vehicle.telemetry.reached, mission) == []


async def test_a_complete_mission_left_from_the_last_flight_counts_nothing(
    peer: ScriptedVehicle, vehicle: Vehicle
) -> None:
    mission = survey_mission()
    total = len(mission.items) - 1
    await vehicle.upload_mission(mission)
    mission_current(peer, 0, COMPLETE, total)  # before this mission was started
    await heard(vehicle, peer, total)
    assert vehicle.telemetry.reached == set()


async def test_items_past_a_jump_are_not_counted_from_the_current_item(
    peer: ScriptedVehicle, vehicle: Vehicle
) -> None:
    plain = survey_mission(6)
    # a DO_JUMP after the second waypoint (seq 5) may skip the waypoints after it
    jump = MissionItem(5, mavlink.MAV_FRAME_MISSION, mavlink.MAV_CMD_DO_JUMP, param1=9, param2=1)
    after = tuple(replace(item, seq=item.seq + 1) for item in plain.items[5:])
    mission = Mission(items=(*plain.items[:5], jump, *after), name="with a jump")
    total = len(mission.items) - 1
    await vehicle.upload_mission(mission)
    mission_current(peer, 3, ACTIVE, total)
    mission_current(peer, 9, ACTIVE, total)  # several items at once, over the jump
    await heard(vehicle, peer, total)
    assert vehicle.telemetry.reached == {3, 4}
    # ran to its end: item 9, the jump's target and current, was flown; 6 to 8 maybe not
    mission_current(peer, 0, COMPLETE, total)
    await heard(vehicle, peer, total)
    assert vehicle.telemetry.reached == {3, 4, 9}
