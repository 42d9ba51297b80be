"""Photo poses: the camera's attitude at the shutter, written to the capture manifest.

What the vehicle says, and in which frame (read from ArduPilot's source and
MAVLink's common.xml):

- CAMERA_FEEDBACK carries the *vehicle's* attitude (AHRS roll, pitch, yaw; yaw
  from true north), not the camera's. Without a feedback pin ArduPilot fills it
  in ``AP_Camera_Backend::log_picture`` at the moment it fires the shutter,
  together with ``time_usec = AP::gps().time_epoch_usec()`` (UTC microseconds;
  0 before GPS time is known). With a feedback pin ``time_usec`` is the pin's
  edge in *boot* microseconds (``AP_HAL::micros()``, 32 bits, so it wraps
  every 71.6 minutes) and the attitude is read at the next 50 Hz camera update.
- GIMBAL_DEVICE_ATTITUDE_STATUS carries the gimbal's attitude as a quaternion
  stamped ``time_boot_ms`` on the sender's boot clock. A MAVLink gimbal device
  (gimbal protocol v2) reports it relative to the horizon: roll and pitch from
  the horizon, yaw from the vehicle heading (flag YAW_IN_VEHICLE_FRAME) or from
  north (YAW_IN_EARTH_FRAME); with neither flag, YAW_LOCK means north.
  ArduPilot's own mount backends send it from the autopilot with
  ``gimbal_device_id`` = instance + 1 and always set ROLL_LOCK, PITCH_LOCK and
  YAW_IN_VEHICLE_FRAME (``AP_Mount_Backend::get_gimbal_device_flags``), which
  holds for the stabilising ones; but the servo backend (MNTn_TYPE 1,
  ``AP_Mount_Servo::get_attitude_quaternion``) packs its *body-frame* servo
  outputs into the quaternion with ``from_euler(roll, tilt, pan)``: the vehicle's
  lean is already subtracted from them. BrushlessPWM (MNTn_TYPE 7) shares that
  backend without the subtraction, so its angles are horizon-relative.
- MOUNT_STATUS (ArduPilot before 4.3) carries the same angles in centidegrees,
  without a time stamp.

Putting them on one clock: SYSTEM_TIME pairs the autopilot's UTC clock (its
RTC, set from GPS time and held while armed) with its boot clock, so a UTC
``time_usec`` becomes a boot time; a boot ``time_usec`` only needs unwrapping;
without either the trigger is taken as the latest boot time heard when the
feedback arrives (:class:`BootClock`). The gimbal's attitude at that time
is then read from the statuses around it (:class:`GimbalTrack`): for
ArduPilot's servo mount the status that reports the mount update the photo
was taken with (:func:`servo_sample_at`), for a gimbal device the two
statuses around it interpolated (:func:`sample_at`). It is composed with the
vehicle's attitude from the same CAMERA_FEEDBACK, in the frame its sender
uses (:func:`camera_matrix`). The result is stored as NED
Euler angles (Z-Y-X: yaw from true north, then pitch, then roll).
"""

from __future__ import annotations

import bisect
import logging
import math
import os
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TextIO

import numpy as np
from numpy.typing import NDArray
from scipy.spatial.transform import Rotation, Slerp

from missions.manifest import CapturePose

logger = logging.getLogger(__name__)

#: CAMERA_FEEDBACK times before this are boot-relative, not UTC.
_YEAR_2001_US = 978_307_200_000_000
#: A feedback pin's boot time is 32-bit microseconds: it wraps after this many ms.
_MICROS32_WRAP_MS = 2**32 / 1000.0

#: GIMBAL_DEVICE_FLAGS (common.xml) that say in which frame the yaw is.
YAW_LOCK = 16
YAW_IN_VEHICLE_FRAME = 32
YAW_IN_EARTH_FRAME = 64

#: MNTn_TYPE of ArduPilot's servo mount, whose angles are body-frame servo outputs.
MOUNT_TYPE_SERVO = 1

#: |cos(tilt)| below this: the servo quaternion cannot tell roll from pan (see servo_angles).
_GIMBAL_LOCK_COS = 1e-3

#: When ArduPilot's servo mount moves. ArduCopter's scheduler table (Copter.cpp) runs,
#: in each 400 Hz loop and in this order: the flight mode (a FAST_TASK; AUTO runs the
#: mission there, so DO_SET_CAM_TRIGG_DIST's "trigger now" fires there), telemetry (GCS
#: update_send, priority 105), the mount (AP_Mount update, 50 Hz, 108), the camera
#: (AP_Camera update, 50 Hz, 111: distance triggers). So the servo demand steps once
#: every MOUNT_UPDATE_MS; a distance-triggered photo is taken in a mount update's loop,
#: after it, with its outputs; a mission-command photo with the outputs of the update
#: before its loop; and a status stamped S reports the last update of a loop before
#: S's. The first status stamped more than a loop after an update and at most one
#: update period (and a loop) after it reports that update. The trigger time is good
#: to under a millisecond (SYSTEM_TIME and GPS time), the stamps to a millisecond:
#: half a 2.5 ms loop is the margin.
MOUNT_UPDATE_MS = 20.0
_LOOP_MARGIN_MS = 1.25
#: Without that status (statuses sent more seldom than the mount moves) a status is
#: taken at its stamp less half an update period, its average age.
SERVO_STATUS_AGE_MS = MOUNT_UPDATE_MS / 2


def rotation(roll_deg: float, pitch_deg: float, yaw_deg: float) -> NDArray[np.float64]:
    """Body-to-NED rotation matrix (3, 3) for Z-Y-X Euler angles in degrees."""
    r, p, y = (math.radians(a) for a in (roll_deg, pitch_deg, yaw_deg))
    cr, sr, cp, sp, cy, sy = (
        math.cos(r),
        math.sin(r),
        math.cos(p),
        math.sin(p),
        math.cos(y),
        math.sin(y),
    )
    return np.array(
        [
            [cp * cy, sr * sp * cy - cr * sy, cr * sp * cy + sr * sy],
            [cp * sy, sr * sp * sy + cr * cy, cr * sp * sy - sr * cy],
            [-sp, sr * cp, cr * cp],
        ]
    )


def euler(
    matrix: NDArray[np.float64], *, nadir_within_deg: float = 0.0
) -> tuple[float, float, float]:
    """Z-Y-X Euler angles (roll, pitch, yaw) in degrees; yaw in [0, 360).

    Looking straight down (pitch -90) roll and yaw describe the same turn; the
    turn is then put in yaw (roll 0, pitch exactly -90), so yaw is where the
    image's top points. ``nadir_within_deg``: how close to straight down counts
    as straight down (angles rounded to 0.01 degrees, as a log keeps them, leave a
    nadir camera a little off, where roll and yaw would swing to -55 and 55).
    """
    # atan2, not asin(-m20): asin loses half the digits near straight down
    pitch = math.atan2(-matrix[2, 0], math.hypot(matrix[2, 1], matrix[2, 2]))
    if math.cos(pitch) > max(1e-6, math.sin(math.radians(nadir_within_deg))):
        roll = math.atan2(matrix[2, 1], matrix[2, 2])
        yaw = math.atan2(matrix[1, 0], matrix[0, 0])
        return math.degrees(roll), math.degrees(pitch), math.degrees(yaw) % 360.0
    yaw = math.atan2(-matrix[0, 1], matrix[1, 1])
    return 0.0, math.copysign(90.0, pitch), math.degrees(yaw) % 360.0


def quaternion_matrix(q: tuple[float, float, float, float]) -> NDArray[np.float64]:
    """Rotation matrix (3, 3) of a (w, x, y, z) quaternion, normalised first."""
    w, x, y, z = q
    norm = math.sqrt(w * w + x * x + y * y + z * z) or 1.0
    w, x, y, z = w / norm, x / norm, y / norm, z / norm
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def quaternion_to_euler(q: tuple[float, float, float, float]) -> tuple[float, float, float]:
    """(w, x, y, z) quaternion to roll, pitch, yaw in degrees (via :func:`euler`)."""
    return euler(quaternion_matrix(q))


def _wrap180(angle_deg: float) -> float:
    return (angle_deg + 180.0) % 360.0 - 180.0


class GimbalFrame(StrEnum):
    """What a gimbal's reported angles are relative to.

    NONE: no gimbal reported; the camera is fixed to the body, looking forward.
    BODY: servo joint angles relative to the vehicle body (ArduPilot's servo
    mount): pan on the body, roll on the pan, tilt on the roll carrying the camera.
    VEHICLE: roll and pitch from the horizon, yaw from the vehicle's heading.
    EARTH: roll and pitch from the horizon, yaw from true north.
    """

    NONE = "none"
    BODY = "body"
    VEHICLE = "vehicle"
    EARTH = "earth"


def device_frame(flags: int) -> GimbalFrame:
    """The frame of a gimbal protocol v2 device's quaternion, from its GIMBAL_DEVICE_FLAGS.

    common.xml, GIMBAL_DEVICE_ATTITUDE_STATUS: YAW_IN_VEHICLE_FRAME or
    YAW_IN_EARTH_FRAME say it; with neither (older devices) YAW_LOCK means earth
    frame, its absence vehicle frame. Roll and pitch are from the horizon in both.
    """
    if flags & YAW_IN_EARTH_FRAME:
        return GimbalFrame.EARTH
    if flags & YAW_IN_VEHICLE_FRAME:
        return GimbalFrame.VEHICLE
    return GimbalFrame.EARTH if flags & YAW_LOCK else GimbalFrame.VEHICLE


def servo_matrix(roll_deg: float, tilt_deg: float, pan_deg: float) -> NDArray[np.float64]:
    """Camera-to-body rotation (3, 3) of a servo mount: pan, then roll, then tilt.

    ``AP_Mount_Servo::update_angle_outputs`` sets roll = target - vehicle roll and
    tilt = target - vehicle pitch. For a mount built pan (on the body), roll,
    tilt (carrying the camera) that gives exactly the target: Rz(yaw) Ry(p) Rx(r)
    Rx(-r) Ry(target - p) = Rz(yaw) Ry(target). That is the mount it drives.
    """
    return rotation(0.0, 0.0, pan_deg) @ rotation(roll_deg, 0.0, 0.0) @ rotation(0.0, tilt_deg, 0.0)


def servo_angles(
    q: tuple[float, float, float, float], *, pan_hint_deg: float = 0.0
) -> tuple[float, float, float]:
    """ArduPilot's servo outputs (roll, tilt, pan; degrees, body frame) from its quaternion.

    ``AP_Mount_Servo`` packs them with ``Quaternion::from_euler(roll, tilt, pan)``
    (Z-Y-X), so they come back as Z-Y-X Euler angles, taking the solution with
    |roll| <= 90 (a tilt past straight down, -100 when the nose is up 10
    degrees, otherwise comes back as tilt -80 with roll and pan turned 180).
    At tilt -90 (or +90) exactly the quaternion holds only roll + pan (roll -
    pan): pan is then taken as ``pan_hint_deg`` (the pan before, which a
    mount moves slowly) and roll as the rest.
    """
    matrix = quaternion_matrix(q)
    roll, tilt, pan = euler(matrix)
    if abs(math.cos(math.radians(tilt))) < _GIMBAL_LOCK_COS:
        # only roll + pan (looking down) or pan - roll (looking up) is known
        turn = pan + roll if tilt < 0 else pan - roll
        pan = pan_hint_deg
        roll = turn - pan if tilt < 0 else pan - turn
        return _wrap180(roll), tilt, _wrap180(pan)
    if abs(roll) > 90.0:
        roll, tilt, pan = roll - 180.0, math.copysign(180.0, tilt) - tilt, pan + 180.0
    return _wrap180(roll), tilt, _wrap180(pan)


@dataclass(frozen=True, slots=True)
class GimbalSample:
    """The gimbal's attitude at one moment on the autopilot's boot clock.

    ``angles_deg`` are roll, pitch, yaw in ``frame``: servo joint angles for
    BODY, Z-Y-X Euler angles of ``matrix`` otherwise. ``matrix`` (3, 3) turns
    camera axes into the frame's axes (body, heading-aligned horizon, or NED).
    ``gap_ms`` says how directly it was seen: 0 when a status reported it, else
    the time between the two statuses it was interpolated from, or to the one
    held.
    """

    time_boot_ms: float
    frame: GimbalFrame
    angles_deg: tuple[float, float, float]
    matrix: NDArray[np.float64]
    gap_ms: float = 0.0


def body_sample(
    time_boot_ms: float, angles_deg: tuple[float, float, float], *, gap_ms: float = 0.0
) -> GimbalSample:
    """A servo mount's sample from its joint angles (roll, tilt, pan)."""
    matrix = servo_matrix(*angles_deg)
    return GimbalSample(time_boot_ms, GimbalFrame.BODY, angles_deg, matrix, gap_ms)


def horizon_sample(
    time_boot_ms: float, frame: GimbalFrame, matrix: NDArray[np.float64], *, gap_ms: float = 0.0
) -> GimbalSample:
    """A horizon-relative (VEHICLE or EARTH) sample from its rotation matrix."""
    return GimbalSample(time_boot_ms, frame, euler(matrix), matrix, gap_ms)


def interpolate(before: GimbalSample, after: GimbalSample, time_boot_ms: float) -> GimbalSample:
    """The gimbal at ``time_boot_ms`` between two samples of the same frame.

    Servo joint angles move linearly between the two; a horizon-relative
    attitude turns along the shortest arc (slerp), which Euler angles near
    straight down would not.
    """
    span = after.time_boot_ms - before.time_boot_ms
    share = 0.0 if span <= 0 else min(1.0, max(0.0, (time_boot_ms - before.time_boot_ms) / span))
    if before.frame is GimbalFrame.BODY:
        angles = tuple(
            a + share * _wrap180(b - a)
            for a, b in zip(before.angles_deg, after.angles_deg, strict=True)
        )
        return body_sample(time_boot_ms, (angles[0], angles[1], angles[2]), gap_ms=span)
    slerp = Slerp([0.0, 1.0], Rotation.from_matrix(np.stack([before.matrix, after.matrix])))
    return horizon_sample(time_boot_ms, before.frame, slerp([share]).as_matrix()[0], gap_ms=span)


def sample_at(samples: list[GimbalSample], time_boot_ms: float) -> GimbalSample | None:
    """The gimbal at ``time_boot_ms`` from samples in time order.

    Interpolated between the two around it when they share a frame; otherwise
    the nearer one held (the first or last one outside their span).
    """
    if not samples:
        return None
    times = [s.time_boot_ms for s in samples]
    i = bisect.bisect_left(times, time_boot_ms)
    if 0 < i < len(samples) and samples[i - 1].frame is samples[i].frame:
        return interpolate(samples[i - 1], samples[i], time_boot_ms)
    around = samples[max(0, i - 1) : i + 1]
    nearer = min(around, key=lambda s: abs(s.time_boot_ms - time_boot_ms))
    return replace(nearer, gap_ms=abs(nearer.time_boot_ms - time_boot_ms))


def mount_update_before(trigger_ms: float, mount_phase_ms: float | None) -> float:
    """When the mount update a photo was taken with ran (boot ms).

    ``mount_phase_ms``: the updates' times modulo :data:`MOUNT_UPDATE_MS`, None
    if unknown. A trigger in an update's loop (a distance trigger) has that
    update's outputs; one between updates (a mission command), the one before.
    Unknown phase: the trigger is taken to be in an update's loop.
    """
    if mount_phase_ms is None:
        return trigger_ms
    since = (trigger_ms - mount_phase_ms) % MOUNT_UPDATE_MS
    if since <= _LOOP_MARGIN_MS or since >= MOUNT_UPDATE_MS - _LOOP_MARGIN_MS:
        return trigger_ms
    return trigger_ms - since


def mount_phase(trigger_ms: Sequence[float]) -> float | None:
    """The mount updates' phase (ms modulo :data:`MOUNT_UPDATE_MS`) from trigger times.

    Distance triggers fire in update loops, so most triggers share one phase;
    mission-command ones scatter. The phase held (within a loop) by the most
    triggers, when they are at least 3 and at least half of them; else None.
    """
    phases = np.asarray(trigger_ms, dtype=float) % MOUNT_UPDATE_MS
    if len(phases) < 3:
        return None
    gap = np.abs(phases[:, None] - phases[None, :])
    near = np.minimum(gap, MOUNT_UPDATE_MS - gap) <= _LOOP_MARGIN_MS
    best = int(near.sum(axis=1).argmax())
    members = near[best]
    if members.sum() < max(3, len(phases) / 2):
        return None
    # circular mean of the cluster, about its own centre so it does not wrap
    offsets = (phases[members] - phases[best] + MOUNT_UPDATE_MS / 2) % MOUNT_UPDATE_MS
    return float((phases[best] + offsets.mean() - MOUNT_UPDATE_MS / 2) % MOUNT_UPDATE_MS)


def servo_sample_at(
    samples: list[GimbalSample], trigger_ms: float, *, mount_phase_ms: float | None = None
) -> GimbalSample | None:
    """ArduPilot's servo mount at a trigger, from its statuses (stamps, in time order).

    The status that reports the mount update the photo was taken with
    (:func:`mount_update_before`) if there is one; otherwise the statuses taken
    :data:`SERVO_STATUS_AGE_MS` before their stamps and interpolated.
    """
    update_ms = mount_update_before(trigger_ms, mount_phase_ms)
    after = next((s for s in samples if s.time_boot_ms > update_ms + _LOOP_MARGIN_MS), None)
    if after is not None and after.time_boot_ms <= update_ms + MOUNT_UPDATE_MS + _LOOP_MARGIN_MS:
        return body_sample(trigger_ms, after.angles_deg)
    aged = [body_sample(s.time_boot_ms - SERVO_STATUS_AGE_MS, s.angles_deg) for s in samples]
    return sample_at(aged, trigger_ms)


def camera_matrix(
    vehicle_rpy_deg: tuple[float, float, float], gimbal: GimbalSample | None
) -> NDArray[np.float64]:
    """Camera-to-NED rotation (3, 3) from the vehicle's attitude and the gimbal's, same moment.

    ``vehicle_rpy_deg`` is the vehicle's NED attitude (Z-Y-X, yaw from true
    north). BODY: vehicle then mount; VEHICLE: the heading (vehicle yaw alone)
    then the gimbal, the vehicle's lean playing no part; EARTH: the gimbal alone.
    """
    if gimbal is None or gimbal.frame is GimbalFrame.NONE:
        return rotation(*vehicle_rpy_deg)
    if gimbal.frame is GimbalFrame.BODY:
        return rotation(*vehicle_rpy_deg) @ gimbal.matrix
    if gimbal.frame is GimbalFrame.VEHICLE:
        return rotation(0.0, 0.0, vehicle_rpy_deg[2]) @ gimbal.matrix
    return gimbal.matrix


def camera_attitude(
    vehicle_rpy_deg: tuple[float, float, float], gimbal: GimbalSample | None
) -> tuple[float, float, float]:
    """Camera roll, pitch, yaw in NED (Z-Y-X, degrees) from :func:`camera_matrix`."""
    return euler(camera_matrix(vehicle_rpy_deg, gimbal))


#: A servo-mount photo whose update no status reported (SITL at speed-up 20 drops
#: telemetry under load: 0.3-2 s of its time in every stream) takes its camera's
#: earth-frame attitude from the photos within this much autopilot time, before and
#: after, whose updates a status did report (:func:`earth_between`).
EARTH_ANCHOR_MS = 3000.0


def servo_joint_angles(matrix: NDArray[np.float64]) -> tuple[float, float, float]:
    """The servo mount's joint angles (roll, tilt, pan; degrees) of a camera-to-body matrix.

    The inverse of :func:`servo_matrix`: ``Rz(pan) Rx(roll) Ry(tilt)`` has the
    bottom row ``(-cos(roll) sin(tilt), sin(roll), cos(roll) cos(tilt))``
    whatever the pan; the pan is what is left, ``M (Rx(roll) Ry(tilt))^T``.
    """
    roll = math.degrees(math.asin(max(-1.0, min(1.0, float(matrix[2, 1])))))
    tilt = math.degrees(math.atan2(-float(matrix[2, 0]), float(matrix[2, 2])))
    rest = matrix @ (rotation(roll, 0.0, 0.0) @ rotation(0.0, tilt, 0.0)).T
    pan = math.degrees(math.atan2(float(rest[1, 0]), float(rest[0, 0])))
    return roll, tilt, pan


def earth_between(
    before: tuple[float, NDArray[np.float64]] | None,
    after: tuple[float, NDArray[np.float64]] | None,
    time_ms: float,
) -> tuple[NDArray[np.float64], float] | None:
    """The camera's earth-frame (NED) attitude at ``time_ms`` from two photos around it.

    ``before``/``after``: (boot ms, camera-to-NED matrix (3, 3)) of photos whose
    gimbal was seen. A stabilised gimbal holds the camera steady in the earth
    frame while the airframe moves under it (``AP_Mount_Servo`` subtracts the
    vehicle's roll and pitch from the earth-frame target at every update), so
    it is the earth-frame attitude that moves smoothly between them: turned
    along the shortest arc between the two, or the one there is held. Returns
    the matrix and the time between the photos it came from (to the one held).
    """
    if before is not None and after is not None:
        span = after[0] - before[0]
        share = 0.0 if span <= 0 else (time_ms - before[0]) / span
        slerp = Slerp([0.0, 1.0], Rotation.from_matrix(np.stack([before[1], after[1]])))
        return slerp([min(1.0, max(0.0, share))]).as_matrix()[0], span
    one = before or after
    return None if one is None else (one[1], abs(time_ms - one[0]))


@dataclass(frozen=True, slots=True)
class _Status:
    """One gimbal status as received: a quaternion, or MOUNT_STATUS's Euler angles."""

    time_boot_ms: float
    flags: int
    q: tuple[float, float, float, float] | None = None
    euler_deg: tuple[float, float, float] | None = None


class GimbalTrack:
    """The recent statuses of one gimbal sender, read back at a trigger time.

    Kept raw, because whether they are servo angles or a device's attitude may
    be learnt (the mount type parameter) only after they arrive.
    """

    def __init__(self, keep: int = 64) -> None:
        self._statuses: deque[_Status] = deque(maxlen=keep)
        self._offsets_ms: deque[float] = deque(maxlen=keep)

    @property
    def offset_ms(self) -> float:
        """Sender's boot clock to the autopilot's: 0 for the autopilot itself.

        A gimbal device on its own component stamps its own boot time. Each of
        its statuses is paired with the autopilot's latest boot time heard when
        it arrived; the median of those differences is the offset (good to
        the spacing of the autopilot's messages, a few tens of ms).
        """
        return float(np.median(self._offsets_ms)) if self._offsets_ms else 0.0

    @property
    def latest_ms(self) -> float | None:
        """The newest status's time on the autopilot's boot clock."""
        return self._statuses[-1].time_boot_ms + self.offset_ms if self._statuses else None

    def add_quaternion(
        self,
        time_boot_ms: float,
        flags: int,
        q: tuple[float, float, float, float],
        *,
        autopilot_ms: float | None = None,
    ) -> None:
        """A GIMBAL_DEVICE_ATTITUDE_STATUS (``q`` as w, x, y, z).

        ``autopilot_ms``: the autopilot's latest boot time when it arrived, for
        a sender with a clock of its own; None when the autopilot sent it.
        """
        self._add(_Status(time_boot_ms, flags, q=q), autopilot_ms)

    def add_euler(
        self, time_boot_ms: float, roll_deg: float, pitch_deg: float, yaw_deg: float
    ) -> None:
        """A MOUNT_STATUS (flags 0: yaw from the vehicle heading), stamped on arrival."""
        self._add(_Status(time_boot_ms, 0, euler_deg=(roll_deg, pitch_deg, yaw_deg)), None)

    def _add(self, status: _Status, autopilot_ms: float | None) -> None:
        if self._statuses and status.time_boot_ms < self._statuses[-1].time_boot_ms:
            self._statuses.clear()  # the sender rebooted: its clock started again
            self._offsets_ms.clear()
        self._statuses.append(status)
        if autopilot_ms is not None:
            self._offsets_ms.append(autopilot_ms - status.time_boot_ms)

    def samples(self, *, servo: bool) -> list[GimbalSample]:
        """Every kept status as a sample; ``servo``: ArduPilot's servo mount sent them."""
        return self._servo_samples() if servo else self._horizon_samples()

    def _servo_samples(self) -> list[GimbalSample]:
        """Joint angles at their stamps, each pan the hint for the next (see servo_sample_at)."""
        out: list[GimbalSample] = []
        pan = 0.0
        for status in self._statuses:
            if status.q is not None:
                angles = servo_angles(status.q, pan_hint_deg=pan)
            else:
                angles = status.euler_deg or (0.0, 0.0, 0.0)
            pan = angles[2]
            out.append(body_sample(status.time_boot_ms + self.offset_ms, angles))
        return out

    def _horizon_samples(self) -> list[GimbalSample]:
        out: list[GimbalSample] = []
        offset = self.offset_ms
        for status in self._statuses:
            if status.q is not None:
                matrix = quaternion_matrix(status.q)
            else:
                matrix = rotation(*(status.euler_deg or (0.0, 0.0, 0.0)))
            frame = device_frame(status.flags)
            out.append(horizon_sample(status.time_boot_ms + offset, frame, matrix))
        return out


class BootClock:
    """The autopilot's boot clock, and CAMERA_FEEDBACK's ``time_usec`` put on it.

    ``observe_system_time`` takes SYSTEM_TIME (UTC and boot time from the same
    instant: ArduPilot's ``send_system_time``), ``observe_boot_ms`` any
    message's ``time_boot_ms``. ``trigger_ms`` says how it placed the trigger:
    ``"utc"`` (through SYSTEM_TIME, to 1 ms), ``"boot"`` (a feedback pin's
    boot microseconds, unwrapped) or ``"arrival"`` (the latest boot time heard
    when the feedback came: a few milliseconds late).
    """

    def __init__(self) -> None:
        self.latest_ms: float | None = None
        self._utc_minus_boot_us: int | None = None

    def observe_boot_ms(self, time_boot_ms: float) -> None:
        if (
            self.latest_ms is None
            or time_boot_ms > self.latest_ms
            or time_boot_ms < self.latest_ms - 60_000
        ):
            self.latest_ms = float(time_boot_ms)  # (a big step back is a reboot)

    def observe_system_time(self, time_unix_usec: int, time_boot_ms: int) -> None:
        self.observe_boot_ms(time_boot_ms)
        if time_unix_usec > _YEAR_2001_US:
            self._utc_minus_boot_us = time_unix_usec - time_boot_ms * 1000

    def trigger_ms(self, time_usec: int) -> tuple[float | None, str]:
        """Boot time (ms) of a CAMERA_FEEDBACK ``time_usec``, and how it was found."""
        if time_usec > _YEAR_2001_US and self._utc_minus_boot_us is not None:
            return (time_usec - self._utc_minus_boot_us) / 1000.0, "utc"
        if 0 < time_usec <= _YEAR_2001_US and self.latest_ms is not None:
            pin_ms = (time_usec % 2**32) / 1000.0
            wraps = round((self.latest_ms - pin_ms) / _MICROS32_WRAP_MS)
            return pin_ms + wraps * _MICROS32_WRAP_MS, "boot"
        return self.latest_ms, "arrival"


@dataclass(frozen=True, slots=True)
class Feedback:
    """What one CAMERA_FEEDBACK says: the vehicle's NED attitude (degrees, Z-Y-X,
    yaw from true north) and position at the trigger, and the trigger's time."""

    index: int
    time_usec: int
    lat: float
    lon: float
    alt_amsl_m: float
    alt_rel_m: float
    vehicle_rpy_deg: tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class GimbalSender:
    """Who sent gimbal statuses: the autopilot for one of its mounts (``device_id``
    = gimbal_device_id, instance + 1), or a gimbal device component (``device_id`` 0)."""

    component: int
    device_id: int
    from_autopilot: bool


@dataclass(frozen=True, slots=True)
class _Waiting:
    feedback: Feedback
    trigger_ms: float | None
    clock: str
    since_s: float


#: MNTn_TYPE asked for and not answered (yet): statuses wait for it.
_ASKED = -2
#: MNTn_TYPE never answered: the statuses are taken at their flags' word.
_NO_ANSWER = -1


class PoseRecorder:
    """CAMERA_FEEDBACKs in, capture poses out once the gimbal around each trigger is known.

    A feedback waits until a gimbal status after its trigger (after the
    trigger's loop, for the servo mount) has come, so the gimbal is read from
    the statuses around it, not the last one before held, and, for the
    autopilot's own mount, until its MNTn_TYPE is known (servo or not); at
    most :attr:`WAIT_BOOT_MS` of the autopilot's time or :attr:`WAIT_S` of
    ours, then the pose is made from what there is. Statuses of a gimbal
    device's own component are preferred to the autopilot's copy of them
    (ArduPilot's Gremsy backend resends the device's quaternion under its own,
    vehicle-frame flags).
    """

    WAIT_BOOT_MS = 1000.0
    WAIT_S = 10.0

    def __init__(self) -> None:
        self.clock = BootClock()
        self._tracks: dict[GimbalSender, GimbalTrack] = {}
        self._mount_types: dict[int, int] = {}
        self._waiting: deque[_Waiting] = deque()
        self._triggers_ms: deque[float] = deque(maxlen=64)
        #: (boot ms, camera-to-NED matrix) of recent servo photos whose gimbal was seen
        self._anchors: deque[tuple[float, NDArray[np.float64]]] = deque(maxlen=8)
        #: (trigger, in a status gap) of the photo at the head of the queue, once known
        self._in_gap: tuple[float, bool] | None = None

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def _track(self, sender: GimbalSender) -> GimbalTrack:
        return self._tracks.setdefault(sender, GimbalTrack())

    def gimbal_status(
        self,
        sender: GimbalSender,
        time_boot_ms: float,
        flags: int,
        q: tuple[float, float, float, float],
    ) -> None:
        """A GIMBAL_DEVICE_ATTITUDE_STATUS (``time_boot_ms`` on the sender's clock)."""
        autopilot_ms = None if sender.from_autopilot else self.clock.latest_ms
        if not sender.from_autopilot and autopilot_ms is None:
            return  # its clock cannot be placed yet
        self._track(sender).add_quaternion(time_boot_ms, flags, q, autopilot_ms=autopilot_ms)

    def mount_status(
        self, sender: GimbalSender, roll_deg: float, pitch_deg: float, yaw_deg: float
    ) -> None:
        """A MOUNT_STATUS: no time of its own, stamped with the latest boot time heard."""
        if self.clock.latest_ms is not None:
            self._track(sender).add_euler(self.clock.latest_ms, roll_deg, pitch_deg, yaw_deg)

    def mount_types_to_ask(self) -> list[int]:
        """The autopilot's mounts (device ids) whose MNTn_TYPE nobody asked for yet."""
        ids = sorted(
            {s.device_id for s in self._tracks if s.from_autopilot} - set(self._mount_types)
        )
        for device_id in ids:
            self._mount_types[device_id] = _ASKED
        return ids

    def set_mount_type(self, device_id: int, mount_type: float | None) -> None:
        """MNTn_TYPE of the autopilot's mount ``device_id``; None: it never answered."""
        self._mount_types[device_id] = _NO_ANSWER if mount_type is None else int(mount_type)

    def feedback(self, feedback: Feedback, *, now_s: float) -> None:
        """A new CAMERA_FEEDBACK (``now_s``: a monotonic clock of ours)."""
        trigger_ms, clock = self.clock.trigger_ms(feedback.time_usec)
        self._waiting.append(_Waiting(feedback, trigger_ms, clock, now_s))
        if trigger_ms is not None and clock != "arrival":
            self._triggers_ms.append(trigger_ms)

    def ready(self, *, now_s: float, flush: bool = False) -> list[CapturePose]:
        """The poses that can be made now, in trigger order (all of them with ``flush``)."""
        out: list[CapturePose] = []
        while self._waiting and (flush or self._can_make(self._waiting[0], now_s)):
            out.append(self._pose(self._waiting.popleft()))
        return out

    def _sender(self) -> GimbalSender | None:
        if not self._tracks:
            return None
        return min(self._tracks, key=lambda s: (s.from_autopilot, s.device_id, s.component))

    def _servo(self, sender: GimbalSender) -> bool:
        return sender.from_autopilot and self._mount_types.get(sender.device_id) == MOUNT_TYPE_SERVO

    def _can_make(self, waiting: _Waiting, now_s: float) -> bool:
        sender = self._sender()
        if sender is None or now_s - waiting.since_s >= self.WAIT_S:
            return True
        if sender.from_autopilot and self._mount_types.get(sender.device_id, _ASKED) == _ASKED:
            return False
        latest = self._tracks[sender].latest_ms
        if latest is not None and self._servo(sender):
            latest -= _LOOP_MARGIN_MS  # the status after the trigger's loop decides
        if waiting.trigger_ms is None or (latest is not None and latest > waiting.trigger_ms):
            at = waiting.trigger_ms
            return at is None or not self._servo(sender) or self._anchored(at)
        boot = self.clock.latest_ms
        return boot is not None and boot >= waiting.trigger_ms + self.WAIT_BOOT_MS

    def _anchored(self, trigger_ms: float) -> bool:
        """A servo photo in a status gap waits for a later photo whose gimbal was seen
        (:data:`EARTH_ANCHOR_MS` of the autopilot's time at most). Whether it is in a
        gap is worked out once: it is asked on every message while it waits."""
        if self._in_gap is None or self._in_gap[0] != trigger_ms:
            gimbal = self._gimbal_at(trigger_ms)
            self._in_gap = (trigger_ms, gimbal is not None and gimbal.gap_ms > 0)
        if not self._in_gap[1]:
            return True
        boot = self.clock.latest_ms
        if boot is not None and boot >= trigger_ms + EARTH_ANCHOR_MS:
            return True
        return self._anchor_after(trigger_ms) is not None

    def _anchor_after(self, trigger_ms: float) -> tuple[float, NDArray[np.float64]] | None:
        """The first waiting photo after ``trigger_ms`` whose mount update a status reported:
        its time and camera-to-NED matrix."""
        sender = self._sender()
        latest = None if sender is None else self._tracks[sender].latest_ms
        for later in self._waiting:
            at = later.trigger_ms
            if at is None or at <= trigger_ms:
                continue
            if at > trigger_ms + EARTH_ANCHOR_MS or latest is None or latest <= at:
                break
            gimbal = self._gimbal_at(at)
            if gimbal is not None and gimbal.gap_ms == 0:
                return at, camera_matrix(later.feedback.vehicle_rpy_deg, gimbal)
        return None

    def _earth_anchored(self, feedback: Feedback, trigger_ms: float) -> GimbalSample | None:
        """The servo joint angles of a photo in a status gap, from the earth-frame attitude
        of the seen photos around it (:func:`earth_between`) and the vehicle's own attitude
        at the trigger (CAMERA_FEEDBACK's): camera = vehicle · mount, so mount =
        vehicle^T · camera."""
        before = next(
            (a for a in reversed(self._anchors) if 0 <= trigger_ms - a[0] <= EARTH_ANCHOR_MS),
            None,
        )
        earth = earth_between(before, self._anchor_after(trigger_ms), trigger_ms)
        if earth is None:
            return None
        body = rotation(*feedback.vehicle_rpy_deg).T @ earth[0]
        return GimbalSample(
            trigger_ms, GimbalFrame.BODY, servo_joint_angles(body), body, gap_ms=earth[1]
        )

    def _gimbal_at(self, trigger_ms: float | None) -> GimbalSample | None:
        sender = self._sender()
        if sender is None:
            return None
        track = self._tracks[sender]
        servo = self._servo(sender)
        samples = track.samples(servo=servo)
        at = trigger_ms if trigger_ms is not None else track.latest_ms
        if at is None:
            return None
        if not servo:
            return sample_at(samples, at)
        return servo_sample_at(samples, at, mount_phase_ms=mount_phase(self._triggers_ms))

    def _pose(self, waiting: _Waiting) -> CapturePose:
        fb = waiting.feedback
        gimbal = self._gimbal_at(waiting.trigger_ms)
        at = waiting.trigger_ms
        if gimbal is not None and gimbal.frame is GimbalFrame.BODY and at is not None:
            if gimbal.gap_ms > 0:
                # interpolating body-frame servo outputs across a gap would follow the
                # airframe's wobble; the camera held still in the earth frame
                gimbal = self._earth_anchored(fb, at) or gimbal
            else:
                self._anchors.append((at, camera_matrix(fb.vehicle_rpy_deg, gimbal)))
        cam_roll, cam_pitch, cam_yaw = camera_attitude(fb.vehicle_rpy_deg, gimbal)
        raw: tuple[float | None, ...] = (None, None, None)
        if gimbal is not None:
            raw = tuple(round(a, 3) for a in gimbal.angles_deg)
        return CapturePose(
            index=fb.index,
            time_utc=feedback_time_utc(fb.time_usec),
            lat=fb.lat,
            lon=fb.lon,
            alt_amsl_m=fb.alt_amsl_m,
            alt_rel_m=fb.alt_rel_m,
            roll_deg=fb.vehicle_rpy_deg[0],
            pitch_deg=fb.vehicle_rpy_deg[1],
            yaw_deg=fb.vehicle_rpy_deg[2] % 360.0,
            camera_roll_deg=round(cam_roll, 3),
            camera_pitch_deg=round(cam_pitch, 3),
            camera_yaw_deg=round(cam_yaw, 3),
            time_boot_ms=None if waiting.trigger_ms is None else round(waiting.trigger_ms),
            gimbal_frame=(gimbal.frame if gimbal is not None else GimbalFrame.NONE).value,
            gimbal_roll_deg=raw[0],
            gimbal_pitch_deg=raw[1],
            gimbal_yaw_deg=raw[2],
            gimbal_gap_ms=None if gimbal is None else round(gimbal.gap_ms, 1),
            trigger_clock=waiting.clock,
        )


def feedback_time_utc(time_usec: int) -> str:
    """CAMERA_FEEDBACK's timestamp as ISO UTC; the receive time if it is not UTC."""
    if time_usec > _YEAR_2001_US:
        moment = datetime.fromtimestamp(time_usec / 1e6, UTC)
    else:
        moment = datetime.now(UTC)
    return moment.isoformat(timespec="milliseconds")


class ManifestWriter:
    """Appends one JSON line per capture and flushes it at once.

    Opened in append mode, so a reconnect or a second writer on the same
    flight directory continues the file; indices already written are skipped.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._seen: set[int] = set()
        if path.exists():
            from missions.manifest import read_manifest

            self._seen = {pose.index for pose in read_manifest(path)}
        self._fh: TextIO | None = path.open("a", encoding="utf-8")

    @property
    def count(self) -> int:
        return len(self._seen)

    def write(self, pose: CapturePose) -> bool:
        """Append ``pose``; False when its index is already in the manifest."""
        if pose.index in self._seen or self._fh is None:
            return False
        self._fh.write(pose.to_json() + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._seen.add(pose.index)
        return True

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
