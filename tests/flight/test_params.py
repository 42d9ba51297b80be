"""The plan's vehicle parameters: set, read back, refused by name, checked before arming."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.flight.errors import ParameterError, PreflightError, RebootRequiredError
from missions.flight.fly import fly_mission
from missions.flight.vehicle import (
    Vehicle,
    describe_differences,
    param_differences,
    same_param,
    with_failsafe_options,
)
from missions.items import MissionType
from tests.flight.conftest import survey_mission
from tests.flight.peer import ScriptedVehicle

#: What a fresh ArduCopter holds (FENCE_TYPE 7, RTL_ALT 15 m, OA off...).
FIRMWARE_DEFAULTS = {
    "FENCE_ENABLE": 0.0,
    "FENCE_TYPE": 7.0,
    "FENCE_ALT_MAX": 100.0,
    "FENCE_ACTION": 1.0,
    "FENCE_MARGIN": 2.0,
    "RTL_ALT": 1500.0,
    "OA_TYPE": 0.0,
    "OA_MARGIN_MAX": 5.0,
    "FS_GCS_ENABLE": 0.0,
    "FS_OPTIONS": 16.0,  # ArduCopter's default: continue in pilot-controlled modes
}

PLAN = {
    "FENCE_TYPE": 5.0,
    "FENCE_ALT_MAX": 120.0,
    "FENCE_ACTION": 1.0,
    "FENCE_MARGIN": 0.1,  # not a float32: reads back as 0.100000001
    "RTL_ALT": 9500.0,
    "FS_GCS_ENABLE": 1.0,
    "FENCE_ENABLE": 1.0,
}


@pytest.fixture
async def vehicle(peer: ScriptedVehicle) -> AsyncIterator[Vehicle]:
    peer.params = dict(FIRMWARE_DEFAULTS)
    connected = await Vehicle.connect(peer.url, heartbeat_interval_s=0.1, link_timeout_s=1.0)
    yield connected
    await connected.close()


def sets(peer: ScriptedVehicle) -> list[str]:
    """The names of the PARAM_SETs the peer received, in order."""
    return [m.param_id for m in peer.received if isinstance(m, mavlink.MAVLink_param_set_message)]


def test_float32_read_back_counts_as_the_same_value() -> None:
    assert same_param(0.10000000149011612, 0.1)
    assert same_param(9500.0, 9500)
    assert not same_param(0.0, 1.0)
    assert not same_param(3000.0, 3001.0)


def test_differences_name_each_parameter_with_both_values() -> None:
    differences = param_differences(
        {"FENCE_ENABLE": 1, "RTL_ALT": 9500, "FENCE_TYPE": 5, "OA_TYPE": 2, "NO_SUCH": 1},
        {"FENCE_ENABLE": 0.0, "RTL_ALT": 3000.0, "FENCE_TYPE": 5.0, "OA_TYPE": 0.0},
    )
    assert differences == {
        "FENCE_ENABLE": (0.0, 1),
        "RTL_ALT": (3000.0, 9500),
        "OA_TYPE": (0.0, 2),
        "NO_SUCH": (None, 1),
    }
    text = describe_differences(differences)
    assert text.startswith("FENCE_ENABLE is 0, plan needs 1; RTL_ALT is 3000, plan needs 9500; ")
    assert "OA_TYPE is 0, plan needs 2 (read only at boot: set OA_TYPE to 2 and reboot" in text
    assert text.endswith("NO_SUCH did not answer, plan needs 1")


async def test_apply_sets_each_and_enables_the_fence_last(
    peer: ScriptedVehicle, vehicle: Vehicle
) -> None:
    await vehicle.apply_params(PLAN)
    for name, value in PLAN.items():
        assert same_param(peer.params[name], value), name
    written = sets(peer)
    assert written[-1] == "FENCE_ENABLE"
    # FENCE_ACTION is 1 already, and FS_OPTIONS 16 lacks the bit that would cancel the return
    assert sorted(written) == sorted(set(PLAN) - {"FENCE_ACTION"})
    fence_on = [
        m
        for m in peer.received
        if isinstance(m, mavlink.MAVLink_command_long_message)
        and m.command == mavlink.MAV_CMD_DO_FENCE_ENABLE
    ]
    # ArduPilot re-reads FENCE_TYPE only when FENCE_ENABLE changes: every type is switched on
    assert [(m.param1, m.param2) for m in fence_on] == [(1, 5)]


async def test_values_already_held_are_not_written_again(
    peer: ScriptedVehicle, vehicle: Vehicle
) -> None:
    await vehicle.apply_params(PLAN)
    peer.received.clear()
    await vehicle.apply_params(PLAN)
    assert sets(peer) == []


async def test_a_parameter_the_vehicle_keeps_is_refused_by_name(
    peer: ScriptedVehicle, vehicle: Vehicle
) -> None:
    peer.faults.read_only_params = frozenset({"FENCE_ENABLE", "RTL_ALT"})
    with pytest.raises(ParameterError) as info:
        await vehicle.apply_params(PLAN)
    message = str(info.value)
    assert "FENCE_ENABLE is 0, plan needs 1" in message
    assert "RTL_ALT is 1500, plan needs 9500" in message
    assert info.value.differences == {"FENCE_ENABLE": (0.0, 1.0), "RTL_ALT": (1500.0, 9500.0)}
    assert not isinstance(info.value, RebootRequiredError)
    assert isinstance(info.value, PreflightError)
    assert peer.params["FENCE_ALT_MAX"] == 120.0  # the others are set all the same


async def test_an_unknown_parameter_is_named_as_not_answering(
    peer: ScriptedVehicle, vehicle: Vehicle
) -> None:
    with pytest.raises(ParameterError, match="NOT_ON_BOARD did not answer, plan needs 3"):
        await vehicle.apply_params({"NOT_ON_BOARD": 3.0, "RTL_ALT": 9500.0}, timeout_s=0.1)
    assert peer.params["RTL_ALT"] == 9500.0


async def test_a_boot_time_parameter_is_never_written_and_asks_for_a_reboot(
    peer: ScriptedVehicle, vehicle: Vehicle
) -> None:
    with pytest.raises(RebootRequiredError) as info:
        await vehicle.apply_params({**PLAN, "OA_TYPE": 2.0})
    assert info.value.reboot == ("OA_TYPE",)
    assert "OA_TYPE is 0, plan needs 2 (read only at boot: set OA_TYPE to 2 and reboot" in str(
        info.value
    )
    assert "OA_TYPE" not in sets(peer)
    assert peer.params["OA_TYPE"] == 0.0
    assert peer.params["FENCE_ENABLE"] == 1.0

    # once set and rebooted, the same plan goes through
    peer.params["OA_TYPE"] = 2.0
    await vehicle.apply_params({**PLAN, "OA_TYPE": 2.0})


def test_the_gcs_failsafe_clears_only_the_bit_that_would_keep_a_mission_flying() -> None:
    # FS_OPTIONS bits (ArduCopter Parameters.cpp): 0 RC continue in AUTO, 1 GCS continue
    # in AUTO, 2 RC continue in GUIDED, 3 continue landing, 4 GCS continue under the
    # pilot, 5 release the gripper; 63 is every one, 63 - 2 = 61 all but bit 1
    on = {"FS_GCS_ENABLE": 1.0, "FS_GCS_TIMEOUT": 30.0}
    assert with_failsafe_options(on, {"FS_OPTIONS": 18.0}) == {**on, "FS_OPTIONS": 16.0}
    assert with_failsafe_options(on, {"FS_OPTIONS": 63.0})["FS_OPTIONS"] == 61.0
    assert with_failsafe_options(on, {"FS_OPTIONS": 0.0})["FS_OPTIONS"] == 0.0
    # the plan's own FS_OPTIONS is honoured, less that bit
    assert with_failsafe_options({**on, "FS_OPTIONS": 10.0}, {"FS_OPTIONS": 0.0}) == {
        **on,
        "FS_OPTIONS": 8.0,
    }
    # no GCS failsafe wanted, or a vehicle without FS_OPTIONS: nothing added
    off = {"FS_GCS_ENABLE": 0.0}
    assert with_failsafe_options(off, {"FS_OPTIONS": 18.0}) == off
    assert with_failsafe_options({"RTL_ALT": 9500.0}, {"FS_OPTIONS": 18.0}) == {"RTL_ALT": 9500.0}
    assert with_failsafe_options(on, {"FS_OPTIONS": None}) == on


async def test_a_vehicle_set_to_fly_on_through_a_lost_link_is_set_to_return(
    peer: ScriptedVehicle, vehicle: Vehicle
) -> None:
    peer.params["FS_OPTIONS"] = 1.0 + 2.0 + 16.0  # RC and GCS continue in AUTO, and the pilot's
    await vehicle.apply_params(PLAN)
    assert peer.params["FS_OPTIONS"] == 17.0
    assert "FS_OPTIONS" in sets(peer)


async def test_preflight_refuses_a_vehicle_set_back_to_fly_on_through_a_lost_link(
    peer: ScriptedVehicle, vehicle: Vehicle
) -> None:
    await _planned_and_ready(vehicle)
    peer.params["FS_OPTIONS"] = 18.0  # set after the upload, from another ground station
    with pytest.raises(PreflightError) as info:
        await vehicle.preflight(timeout_s=0)
    assert str(info.value) == "pre-flight checks failed: params: FS_OPTIONS is 18, plan needs 16"


async def _planned_and_ready(vehicle: Vehicle) -> None:
    """The survey uploaded with the plan's parameters set, and telemetry ready."""
    mission = replace(survey_mission(), params=dict(PLAN))
    await vehicle.upload_mission(mission)
    await vehicle.apply_params(mission.params)
    _ready(vehicle)


def _ready(vehicle: Vehicle) -> None:
    """Telemetry that passes every check but the ones under test."""
    t = vehicle.telemetry
    t.gps_fix, t.ekf_flags, t.battery_v, t.battery_pct, t.prearm_ok = 3, 0xFFFF, 16.0, 100.0, True


async def test_preflight_refuses_to_arm_on_a_parameter_changed_after_upload(
    peer: ScriptedVehicle, vehicle: Vehicle
) -> None:
    await _planned_and_ready(vehicle)
    report = await vehicle.preflight(timeout_s=0)
    assert report.checks["params"] is None

    peer.params["FENCE_ENABLE"] = 0.0  # someone switched the fence off
    peer.params["RTL_ALT"] = 3000.0
    with pytest.raises(PreflightError) as info:
        await vehicle.preflight(timeout_s=0)
    assert str(info.value) == (
        "pre-flight checks failed: params: RTL_ALT is 3000, plan needs 9500; "
        "FENCE_ENABLE is 0, plan needs 1"
    )


async def test_a_plan_without_parameters_checks_none(
    peer: ScriptedVehicle, vehicle: Vehicle
) -> None:
    await vehicle.upload_mission(survey_mission())
    await vehicle.apply_params({})
    _ready(vehicle)
    report = await vehicle.preflight(timeout_s=0)
    assert "params" not in report.checks
    assert sets(peer) == []


async def test_fly_sets_parameters_after_the_upload_and_stops_before_arming(
    peer: ScriptedVehicle, tmp_path: Path
) -> None:
    peer.params = dict(FIRMWARE_DEFAULTS)
    peer.faults.read_only_params = frozenset({"FENCE_ENABLE"})
    mission = replace(survey_mission(), params=dict(PLAN))
    with pytest.raises(ParameterError, match="FENCE_ENABLE is 0, plan needs 1"):
        await fly_mission(peer.url, mission, out_dir=tmp_path, timeout_s=30)
    kinds = [type(m).__name__ for m in peer.received]
    first_set = kinds.index("MAVLink_param_set_message")
    last_item = max(
        i
        for i, m in enumerate(peer.received)
        if isinstance(m, mavlink.MAVLink_mission_item_int_message)
        and m.mission_type == MissionType.MISSION
    )
    assert last_item < first_set  # parameters after the mission is on board
    arming = [
        m
        for m in peer.received
        if isinstance(m, mavlink.MAVLink_command_long_message)
        and m.command == mavlink.MAV_CMD_COMPONENT_ARM_DISARM
    ]
    assert arming == []
