"""The camera's attitude at the trigger: gimbal frames, interpolation, clocks.

Quaternions are built here with ArduPilot's own ``Quaternion::from_euler``
written out (libraries/AP_Math/quaternion.cpp), as its mount backends build
them, not with the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from missions.flight.capture import (
    SERVO_STATUS_AGE_MS,
    YAW_IN_EARTH_FRAME,
    YAW_IN_VEHICLE_FRAME,
    YAW_LOCK,
    BootClock,
    Feedback,
    GimbalFrame,
    GimbalSender,
    GimbalTrack,
    PoseRecorder,
    body_sample,
    camera_attitude,
    device_frame,
    mount_phase,
    mount_update_before,
    sample_at,
    servo_angles,
    servo_joint_angles,
    servo_matrix,
    servo_sample_at,
)

#: GIMBAL_DEVICE_FLAGS ArduPilot always sends: ROLL_LOCK | PITCH_LOCK | YAW_IN_VEHICLE_FRAME
ARDUPILOT_FLAGS = 4 | 8 | 32
SERVO = 1  # MNTn_TYPE of ArduPilot's servo mount
AUTOPILOT = GimbalSender(component=1, device_id=1, from_autopilot=True)
DEVICE = GimbalSender(component=154, device_id=0, from_autopilot=False)


def from_euler(
    roll_deg: float, pitch_deg: float, yaw_deg: float
) -> tuple[float, float, float, float]:
    """ArduPilot's Quaternion::from_euler (3-2-1), as (w, x, y, z)."""
    cr2, sr2 = math.cos(math.radians(roll_deg) / 2), math.sin(math.radians(roll_deg) / 2)
    cp2, sp2 = math.cos(math.radians(pitch_deg) / 2), math.sin(math.radians(pitch_deg) / 2)
    cy2, sy2 = math.cos(math.radians(yaw_deg) / 2), math.sin(math.radians(yaw_deg) / 2)
    return (
        cr2 * cp2 * cy2 + sr2 * sp2 * sy2,
        sr2 * cp2 * cy2 - cr2 * sp2 * sy2,
        cr2 * sp2 * cy2 + sr2 * cp2 * sy2,
        cr2 * cp2 * sy2 - sr2 * sp2 * cy2,
    )


def off_nadir_deg(camera_pitch_deg: float) -> float:
    """Angle between the optical axis and straight down: the axis is (cp cy, cp sy, -sp)
    in NED, so its down component is -sin(pitch) and the angle is 90 + pitch."""
    return 90.0 + camera_pitch_deg


def feedback(time_usec: int, vehicle_rpy_deg: tuple[float, float, float]) -> Feedback:
    return Feedback(7, time_usec, 34.8, 113.55, 160.0, 60.0, vehicle_rpy_deg)


# -- ArduPilot's servo mount: body-frame joint angles --------------------------


def test_servo_compensating_15_roll_and_10_pitch_looks_straight_down() -> None:
    # Vehicle rolled 15 right, nose 10 up, heading 40. AP_Mount_Servo's outputs for a
    # nadir target: roll 0 - 15 = -15, tilt -90 - 10 = -100, pan 0 (body frame).
    q = from_euler(-15.0, -100.0, 0.0)
    # the quaternion's own Z-Y-X angles are tilt -80, roll 165, pan 180 (the same
    # rotation); the servo's are the solution with |roll| <= 90
    assert np.allclose(servo_angles(q), (-15.0, -100.0, 0.0), atol=1e-9)
    # camera = Rz(40) Ry(10) Rx(15) . Rx(-15) Ry(-100) = Rz(40) Ry(-90): straight down,
    # the image's top along the heading
    _, pitch, yaw = camera_attitude((15.0, 10.0, 40.0), body_sample(0.0, servo_angles(q)))
    assert off_nadir_deg(pitch) == pytest.approx(0.0, abs=1e-6)
    assert yaw == pytest.approx(40.0, abs=1e-6)


def test_servo_in_forward_flight_nose_down() -> None:
    # nose 12 down, rolled 5 left, heading 250: roll 0 + 5 = 5, tilt -90 + 12 = -78
    q = from_euler(5.0, -78.0, 0.0)
    assert np.allclose(servo_angles(q), (5.0, -78.0, 0.0), atol=1e-9)
    _, pitch, yaw = camera_attitude((-5.0, -12.0, 250.0), body_sample(0.0, servo_angles(q)))
    assert off_nadir_deg(pitch) == pytest.approx(0.0, abs=1e-6)
    assert yaw == pytest.approx(250.0, abs=1e-6)


def test_servo_straight_down_keeps_roll_and_pan_apart_by_the_pan_before() -> None:
    # Level nose (tilt exactly -90) and rolled 8 left: the outputs are roll 8, tilt -90,
    # pan 0, and from_euler(8, -90, 0) is the rotation of any roll + pan = 8. The pan
    # before (0) settles it: roll 8, and the camera is straight down.
    q = from_euler(8.0, -90.0, 0.0)
    roll, tilt, pan = servo_angles(q, pan_hint_deg=0.0)
    assert (roll, tilt, pan) == pytest.approx((8.0, -90.0, 0.0), abs=1e-4)
    _, pitch, _ = camera_attitude((-8.0, 0.0, 0.0), body_sample(0.0, (roll, tilt, pan)))
    assert off_nadir_deg(pitch) == pytest.approx(0.0, abs=1e-4)


def test_servo_track_takes_the_pan_before_at_straight_down() -> None:
    # pan 30 with tilt -80, then tilt exactly -90 (roll 8): the second quaternion holds
    # only roll + pan = 38; the track's pan before (30) leaves roll 8
    track = GimbalTrack()
    track.add_quaternion(0.0, ARDUPILOT_FLAGS, from_euler(5.0, -80.0, 30.0))
    track.add_quaternion(62.5, ARDUPILOT_FLAGS, from_euler(8.0, -90.0, 30.0))
    first, second = track.samples(servo=True)
    assert first.angles_deg == pytest.approx((5.0, -80.0, 30.0))
    assert second.angles_deg == pytest.approx((8.0, -90.0, 30.0), abs=1e-4)


@given(
    st.floats(-60, 60),
    st.floats(-135, 20).filter(lambda t: abs(abs(t) - 90) > 0.5),
    st.floats(-170, 170),
)
def test_servo_angles_come_back_from_ardupilots_quaternion(
    roll: float, tilt: float, pan: float
) -> None:
    assert np.allclose(servo_angles(from_euler(roll, tilt, pan)), (roll, tilt, pan), atol=1e-6)


@given(st.floats(-45, 45), st.floats(-45, 45), st.floats(0, 359))
def test_a_servo_that_compensates_any_lean_gives_nadir(
    vehicle_roll: float, vehicle_pitch: float, heading: float
) -> None:
    # AP_Mount_Servo::update_angle_outputs, pan 0: subtract the lean from the target
    assume(abs(vehicle_pitch) > 0.5)  # tilt exactly -90: see the pan-before test
    q = from_euler(-vehicle_roll, -90.0 - vehicle_pitch, 0.0)
    sample = body_sample(0.0, servo_angles(q))
    _, pitch, _ = camera_attitude((vehicle_roll, vehicle_pitch, heading), sample)
    assert off_nadir_deg(pitch) < 1e-5


# -- a gimbal protocol v2 device: horizon-relative ----------------------------


def device_track(flags: int, q: tuple[float, float, float, float]) -> GimbalTrack:
    track = GimbalTrack()
    track.add_quaternion(0.0, flags, q)
    return track


def test_device_with_yaw_in_vehicle_frame_turns_with_the_heading() -> None:
    # pitch -45 from the horizon, yaw 30 right of the nose; vehicle rolled 10, nose 5
    # down, heading 100. Its lean plays no part: camera roll 0, pitch -45, yaw 100 + 30.
    q = from_euler(0.0, -45.0, 30.0)
    for flags in (YAW_IN_VEHICLE_FRAME | 4 | 8, 0):  # 0: an older device, no YAW_LOCK
        (sample,) = device_track(flags, q).samples(servo=False)
        assert sample.frame is GimbalFrame.VEHICLE
        assert camera_attitude((10.0, -5.0, 100.0), sample) == pytest.approx((0.0, -45.0, 130.0))


def test_device_with_yaw_in_earth_frame_ignores_the_heading() -> None:
    # the same quaternion with yaw from north: camera yaw 30 whatever the heading
    q = from_euler(0.0, -45.0, 30.0)
    for flags in (YAW_IN_EARTH_FRAME, YAW_LOCK, YAW_LOCK | YAW_IN_EARTH_FRAME):
        (sample,) = device_track(flags, q).samples(servo=False)
        assert sample.frame is GimbalFrame.EARTH
        assert camera_attitude((10.0, -5.0, 100.0), sample) == pytest.approx((0.0, -45.0, 30.0))


def test_device_frame_follows_the_v2_flags() -> None:
    assert device_frame(YAW_IN_VEHICLE_FRAME | YAW_LOCK) is GimbalFrame.VEHICLE
    assert device_frame(YAW_IN_EARTH_FRAME) is GimbalFrame.EARTH
    assert device_frame(YAW_LOCK) is GimbalFrame.EARTH
    assert device_frame(ARDUPILOT_FLAGS) is GimbalFrame.VEHICLE


# -- interpolation at the trigger ---------------------------------------------


def test_servo_status_after_the_triggers_loop_gives_the_triggers_own_outputs() -> None:
    # The mount updates every 20 ms; a photo at 1040.4 ms (UTC through SYSTEM_TIME) is
    # taken in a mount update's loop with its outputs. A status of that same loop
    # (stamped 1041: telemetry goes before the mount) still has the update before
    # (roll -12, tilt -97); the next one, 1044 (a loop or more later, at most one update
    # period and a loop after), has the trigger's: roll -15, tilt -100, which cancel a
    # lean of 15 right and 10 nose up: Ry(10) Rx(15) Rx(-15) Ry(-100) = Ry(-90).
    track = GimbalTrack()
    for stamp, roll, tilt in (
        (1020, -12, -97),
        (1041, -12, -97),
        (1044, -15, -100),
        (1064, -22, -107),
    ):
        track.add_quaternion(stamp, ARDUPILOT_FLAGS, from_euler(roll, tilt, 0.0))
    at = servo_sample_at(track.samples(servo=True), 1040.4)
    assert at is not None and at.time_boot_ms == 1040.4 and at.gap_ms == 0.0
    assert at.angles_deg == pytest.approx((-15.0, -100.0, 0.0))
    assert off_nadir_deg(camera_attitude((15.0, 10.0, 0.0), at)[1]) == pytest.approx(0, abs=1e-6)


def test_a_mission_command_photo_has_the_outputs_of_the_update_before() -> None:
    # Distance triggers at 1000.5, 1020.4, 1040.6 ms: the mount updates at phase 0.5 of
    # 20 ms (1040.5 and so on). DO_SET_CAM_TRIGG_DIST's "now" fires at 1052.0, in the
    # flight-mode task, between updates: the photo has the 1040.5 update's outputs,
    # which the first status a loop after it reports (stamped 1043: roll -15, tilt -100)
    # and not the next one (stamped 1063, after the 1060.5 update).
    phase = mount_phase([1000.5, 1020.4, 1040.6, 1052.0])
    assert phase == pytest.approx(0.5, abs=0.01)
    assert mount_update_before(1052.0, phase) == pytest.approx(1040.5, abs=0.01)
    assert mount_update_before(1060.7, phase) == 1060.7  # in an update's own loop
    track = GimbalTrack()
    for stamp, roll, tilt in ((1043, -15, -100), (1063, -18, -103)):
        track.add_quaternion(stamp, ARDUPILOT_FLAGS, from_euler(roll, tilt, 0.0))
    at = servo_sample_at(track.samples(servo=True), 1052.0, mount_phase_ms=phase)
    assert at is not None and at.angles_deg == pytest.approx((-15.0, -100.0, 0.0))
    # without the phase the trigger is taken for a distance trigger: the 1063 status
    plain = servo_sample_at(track.samples(servo=True), 1052.0)
    assert plain is not None and plain.angles_deg == pytest.approx((-18.0, -103.0, 0.0))


def test_mount_phase_needs_most_triggers_to_agree() -> None:
    assert mount_phase([1000.5, 1020.4]) is None  # too few
    assert mount_phase([1000.5, 1007.0, 1013.0, 1020.4, 1034.0]) is None  # 2 of 5 agree
    # phases 19.6, 0.4 and 19.9 agree across the wrap: mean 19.97
    assert mount_phase([1019.6, 1040.4, 1059.9]) == pytest.approx(19.966, abs=0.01)


def test_servo_angles_interpolated_when_no_status_reports_the_triggers_update() -> None:
    # statuses 100 ms apart, stamped 1000 ms (roll -10, tilt -95) and 1100 ms (roll -20,
    # tilt -105), report updates on average SERVO_STATUS_AGE_MS (10 ms) before: 990 and
    # 1090 ms. The trigger at 1040 ms is half way: roll -15, tilt -100, nadir for a lean
    # of 15 right and 10 nose up.
    assert SERVO_STATUS_AGE_MS == 10.0
    track = GimbalTrack()
    track.add_quaternion(1000.0, ARDUPILOT_FLAGS, from_euler(-10.0, -95.0, 0.0))
    track.add_quaternion(1100.0, ARDUPILOT_FLAGS, from_euler(-20.0, -105.0, 0.0))
    samples = track.samples(servo=True)
    at = servo_sample_at(samples, 1040.0)
    assert at is not None and at.gap_ms == 100.0  # from two statuses 100 ms apart
    assert at.angles_deg == pytest.approx((-15.0, -100.0, 0.0))
    assert off_nadir_deg(camera_attitude((15.0, 10.0, 0.0), at)[1]) == pytest.approx(0, abs=1e-6)
    # holding the status before instead: Ry(10) Rx(5) Ry(-95) e_x =
    # Ry(10) Rx(5) (-0.087156, 0, 0.996195) = Ry(10) (-0.087156, -0.086824, 0.992404)
    # = (0.086497, -0.086824, 0.992461): acos(0.992461) = 7.04 degrees off nadir
    held = camera_attitude((15.0, 10.0, 0.0), samples[0])
    assert off_nadir_deg(held[1]) == pytest.approx(7.04, abs=0.01)


def test_device_attitude_slerped_between_statuses() -> None:
    # earth frame, yaw 20 at 0 ms and 40 at 100 ms, pitch -45 both; at 25 ms:
    # Rz(20) Ry(-45) (Ry(45) Rz(20) Ry(-45))^0.25 = Rz(20) Ry(-45) Ry(45) Rz(5) Ry(-45)
    # = Rz(25) Ry(-45)
    track = GimbalTrack()
    track.add_quaternion(0.0, YAW_IN_EARTH_FRAME, from_euler(0.0, -45.0, 20.0))
    track.add_quaternion(100.0, YAW_IN_EARTH_FRAME, from_euler(0.0, -45.0, 40.0))
    at = sample_at(track.samples(servo=False), 25.0)
    assert at is not None
    assert camera_attitude((0.0, 0.0, 300.0), at) == pytest.approx((0.0, -45.0, 25.0))


def test_device_on_its_own_clock_is_placed_on_the_autopilots() -> None:
    # a device stamps 50_000 and 50_100 ms of its own; they arrive when the autopilot
    # has said 700_000 and 700_100 ms: offset 650_000, so they stand at 700_000 and
    # 700_100 on the autopilot's clock
    track = GimbalTrack()
    track.add_quaternion(
        50_000.0, YAW_IN_EARTH_FRAME, from_euler(0, -45, 20), autopilot_ms=700_000.0
    )
    track.add_quaternion(
        50_100.0, YAW_IN_EARTH_FRAME, from_euler(0, -45, 40), autopilot_ms=700_100.0
    )
    assert track.latest_ms == pytest.approx(700_100.0)
    at = sample_at(track.samples(servo=False), 700_025.0)
    assert at is not None and at.angles_deg[2] == pytest.approx(25.0)


# -- one clock ------------------------------------------------------------------


def test_trigger_time_on_the_boot_clock() -> None:
    clock = BootClock()
    # no time heard yet, GPS time unknown (time_usec 0): nothing to place it by
    assert clock.trigger_ms(0) == (None, "arrival")
    # SYSTEM_TIME: UTC 1_764_331_200_000_000 us at boot 600_000 ms, so UTC - boot =
    # 1_764_330_600_000_000 us; a UTC trigger 1_764_331_201_234_500 us is boot
    # (1_764_331_201_234_500 - 1_764_330_600_000_000) / 1000 = 601_234.5 ms
    clock.observe_system_time(1_764_331_200_000_000, 600_000)
    assert clock.trigger_ms(1_764_331_201_234_500) == (601_234.5, "utc")
    # a feedback pin: boot microseconds in 32 bits. At boot 4_300_000 ms the counter has
    # wrapped once (2^32 us = 4_294_967.296 ms): 5_032_704 us is 5_032.704 + 4_294_967.296
    clock.observe_boot_ms(4_300_000)
    assert clock.trigger_ms(5_032_704) == (pytest.approx(4_300_000.0), "boot")
    assert clock.trigger_ms(0) == (4_300_000.0, "arrival")


# -- the recorder: waits for the status after the trigger and the mount type -----


def test_recorder_waits_for_the_status_after_the_trigger_and_the_mount_type() -> None:
    recorder = PoseRecorder()
    recorder.clock.observe_system_time(1_764_331_200_000_000, 1_000)  # UTC - boot = ...199_000_000
    recorder.gimbal_status(AUTOPILOT, 1_000.0, ARDUPILOT_FLAGS, from_euler(-10.0, -95.0, 0.0))
    assert recorder.mount_types_to_ask() == [1]
    assert recorder.mount_types_to_ask() == []  # asked once
    # trigger at UTC ...200_040_000 us = boot 1_040 ms, vehicle rolled 15, nose 10 up
    recorder.feedback(feedback(1_764_331_200_040_000, (15.0, 10.0, 70.0)), now_s=0.0)
    assert recorder.ready(now_s=0.1) == []  # MNT1_TYPE not known yet
    recorder.set_mount_type(1, SERVO)
    assert recorder.ready(now_s=0.1) == []  # no status after 1_040 ms yet
    # stamped 1_040 ms: the trigger's own loop, sent before the mount update
    recorder.gimbal_status(AUTOPILOT, 1_040.0, ARDUPILOT_FLAGS, from_euler(-12.5, -97.5, 0.0))
    assert recorder.ready(now_s=0.1) == []
    # stamped 1_043 ms: the next loop, with the trigger's update: roll -15, tilt -100,
    # which cancel the vehicle's 15 and 10: Rz(70) Ry(10) Rx(15) Rx(-15) Ry(-100) = Rz(70) Ry(-90)
    recorder.gimbal_status(AUTOPILOT, 1_043.0, ARDUPILOT_FLAGS, from_euler(-15.0, -100.0, 0.0))
    (pose,) = recorder.ready(now_s=0.1)
    assert pose.time_boot_ms == 1_040 and pose.trigger_clock == "utc"
    assert pose.gimbal_frame == "body" and pose.gimbal_gap_ms == 0.0
    assert (pose.gimbal_roll_deg, pose.gimbal_pitch_deg, pose.gimbal_yaw_deg) == pytest.approx(
        (-15.0, -100.0, 0.0), abs=1e-3
    )
    assert off_nadir_deg(pose.camera_pitch_deg) < 1e-3
    assert pose.camera_yaw_deg == pytest.approx(70.0, abs=1e-3)
    assert (pose.roll_deg, pose.pitch_deg, pose.yaw_deg) == (15.0, 10.0, 70.0)


def test_recorder_without_a_gimbal_records_the_vehicles_attitude_at_once() -> None:
    recorder = PoseRecorder()
    recorder.feedback(feedback(0, (2.0, -3.0, 45.0)), now_s=0.0)
    (pose,) = recorder.ready(now_s=0.0)
    assert pose.gimbal_frame == "none" and pose.gimbal_pitch_deg is None
    assert (pose.camera_roll_deg, pose.camera_pitch_deg, pose.camera_yaw_deg) == pytest.approx(
        (2.0, -3.0, 45.0)
    )


def test_recorder_stops_waiting_for_a_status_that_never_comes() -> None:
    recorder = PoseRecorder()
    recorder.clock.observe_system_time(1_764_331_200_000_000, 1_000)
    recorder.gimbal_status(DEVICE, 30.0, YAW_IN_EARTH_FRAME, from_euler(0.0, -90.0, 0.0))
    recorder.feedback(feedback(1_764_331_200_040_000, (0.0, 0.0, 0.0)), now_s=0.0)
    assert recorder.ready(now_s=1.0) == []
    recorder.clock.observe_boot_ms(2_040)  # a second of the autopilot's time later
    (pose,) = recorder.ready(now_s=1.0)
    assert pose.gimbal_frame == "earth" and off_nadir_deg(pose.camera_pitch_deg) < 1e-6
    assert pose.gimbal_gap_ms == 40.0  # the status held was 40 ms before the trigger


def test_servo_joint_angles_undo_the_servo_matrix() -> None:
    # roll -15, tilt -100 (past straight down), pan 30: the mount's own joint angles back
    matrix = servo_matrix(-15.0, -100.0, 30.0)
    assert servo_joint_angles(matrix) == pytest.approx((-15.0, -100.0, 30.0), abs=1e-9)


def test_a_photo_in_a_status_gap_keeps_the_cameras_earth_frame_attitude() -> None:
    # UTC - boot = 1_764_331_199_000_000 us. Photos at boot 1_000, 1_500 and 2_000 ms,
    # all distance triggers (mount phase 0). The servo holds nadir: at 1_000 ms the
    # vehicle is nose up 10 and the servo tilts -100 (-90 - 10), at 2_000 ms nose down
    # 10 and tilt -80. At 1_500 ms the vehicle is rolled 5 right, level in pitch, and no
    # status came between 1_003 and 2_003 ms (a gap). Interpolating the servo outputs
    # would give roll 0, tilt -90 on a vehicle rolled 5: a camera 5 degrees off nadir.
    # The camera held nadir in the earth frame at both neighbours, so it held it
    # between: the servo's roll was -5 (0 - 5), its tilt -90.
    recorder = PoseRecorder()
    recorder.clock.observe_system_time(1_764_331_200_000_000, 1_000)
    recorder.gimbal_status(AUTOPILOT, 980.0, ARDUPILOT_FLAGS, from_euler(0.0, -100.0, 0.0))
    assert recorder.mount_types_to_ask() == [1]
    recorder.set_mount_type(1, SERVO)
    base_us = 1_764_331_199_000_000
    for boot_ms, rpy in ((1_000, (0.0, 10.0, 0.0)), (1_500, (5.0, 0.0, 0.0))):
        recorder.feedback(feedback(base_us + boot_ms * 1000, rpy), now_s=0.0)
    recorder.gimbal_status(AUTOPILOT, 1_003.0, ARDUPILOT_FLAGS, from_euler(0.0, -100.0, 0.0))
    recorder.feedback(feedback(base_us + 2_000_000, (0.0, -10.0, 0.0)), now_s=0.0)
    recorder.clock.observe_boot_ms(2_003)
    (first,) = recorder.ready(now_s=0.0)  # the gap photo waits for the one after it
    assert first.time_boot_ms == 1_000 and first.gimbal_gap_ms == 0.0
    recorder.gimbal_status(AUTOPILOT, 2_003.0, ARDUPILOT_FLAGS, from_euler(0.0, -80.0, 0.0))
    gap, last = recorder.ready(now_s=0.0)
    assert last.gimbal_gap_ms == 0.0 and off_nadir_deg(last.camera_pitch_deg) < 1e-6
    assert gap.gimbal_gap_ms == 1_000.0  # between the two photos whose status came
    assert off_nadir_deg(gap.camera_pitch_deg) < 1e-6
    assert (gap.gimbal_roll_deg, gap.gimbal_pitch_deg) == pytest.approx((-5.0, -90.0), abs=1e-3)
