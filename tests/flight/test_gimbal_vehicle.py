"""A capture's pose from the messages ArduPilot sends, over a real MAVLink link.

The scripted peer sends what ArduCopter with a servo mount (MNT1_TYPE 1)
sends around a photo: SYSTEM_TIME, GIMBAL_DEVICE_ATTITUDE_STATUS from the
autopilot's component (gimbal_device_id 1, its flags), CAMERA_FEEDBACK with a
GPS-time stamp, and it answers the MNT1_TYPE read.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from missions.flight.vehicle import Vehicle
from missions.manifest import read_manifest
from tests.flight.peer import ScriptedVehicle
from tests.flight.test_gimbal import ARDUPILOT_FLAGS, from_euler

NAN = math.nan
UTC_AT_BOOT_1000_MS = 1_764_331_200_000_000  # us


def status(peer: ScriptedVehicle, time_boot_ms: int, q: tuple[float, ...]) -> None:
    peer.send(
        peer.mav.gimbal_device_attitude_status_encode(
            0, 0, time_boot_ms, ARDUPILOT_FLAGS, list(q), NAN, NAN, NAN, 0, NAN, NAN, 1
        )
    )


async def test_a_servo_mount_photo_is_recorded_straight_down(
    peer: ScriptedVehicle, tmp_path: Path
) -> None:
    peer.params["MNT1_TYPE"] = 1.0
    vehicle = await Vehicle.connect(peer.url, heartbeat_interval_s=0.1, timeout_s=5.0)
    try:
        manifest = tmp_path / "captures.jsonl"
        vehicle.record_captures(manifest)
        peer.send(peer.mav.system_time_encode(UTC_AT_BOOT_1000_MS, 1_000))
        # the mount's outputs as its statuses report them: roll -10, tilt -95 at 1_000 ms
        status(peer, 1_000, from_euler(-10.0, -95.0, 0.0))
        # the shutter at UTC + 40 ms = boot 1_040 ms: rolled 15 right, nose 10 up, heading 70
        peer.send(
            peer.mav.camera_feedback_encode(
                UTC_AT_BOOT_1000_MS + 40_000, 0, 0, 1, 348_000_000, 1_135_500_000,
                160.0, 60.0, 15.0, 10.0, 70.0, 0.0, 0, 1,
            )
        )  # fmt: skip
        # the next loops' statuses carry the outputs of the trigger's own mount update
        status(peer, 1_043, from_euler(-15.0, -100.0, 0.0))
        status(peer, 1_063, from_euler(-17.0, -102.0, 0.0))
        await vehicle.wait_until(lambda: vehicle.captures_written == 1, 5.0, "photo recorded")
    finally:
        await vehicle.close()
    (pose,) = read_manifest(manifest)
    # roll -15, tilt -100 cancel the vehicle's 15 and 10:
    # Rz(70) Ry(10) Rx(15) Rx(-15) Ry(-100) = Rz(70) Ry(-90)
    assert pose.time_boot_ms == 1_040 and pose.trigger_clock == "utc"
    assert pose.gimbal_frame == "body"
    assert (pose.gimbal_roll_deg, pose.gimbal_pitch_deg) == pytest.approx((-15.0, -100.0), abs=1e-3)
    assert pose.camera_pitch_deg == pytest.approx(-90.0, abs=1e-3)
    assert pose.camera_yaw_deg == pytest.approx(70.0, abs=1e-3)
    assert (pose.roll_deg, pose.pitch_deg, pose.yaw_deg) == (15.0, 10.0, 70.0)
