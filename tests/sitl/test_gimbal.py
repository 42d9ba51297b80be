"""The camera's recorded attitude in SITL: a servo gimbal holding nadir on a leaning copter.

ArduCopter's servo mount (MNT1_TYPE 1, sitl/params.py) is told to point
straight down (DO_MOUNT_CONTROL pitch -90) and subtracts the vehicle's lean
from its servo outputs. Flown fast, the copter leans well over, so each photo's
recorded camera attitude is right only if the servo angles are taken at the
trigger and composed in the body frame they are in.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from missions.flight.fly import fly_mission
from missions.manifest import read_manifest
from missions.plan import Sortie
from sitl.instance import Home, Sitl
from tests.sitl.missions import fast_survey_mission

pytestmark = [pytest.mark.sitl, pytest.mark.timeout(400)]


def tilt_deg(roll_deg: float, pitch_deg: float) -> float:
    """How far the vehicle's up axis leans from vertical: its body z axis in NED is
    (..., ..., cos(roll) cos(pitch)), so the lean is acos(cos(roll) cos(pitch))."""
    c = math.cos(math.radians(roll_deg)) * math.cos(math.radians(pitch_deg))
    return math.degrees(math.acos(min(1.0, c)))


def wrap180(angle_deg: float) -> float:
    return (angle_deg + 180.0) % 360.0 - 180.0


async def test_a_nadir_servo_gimbal_on_a_leaning_copter_is_recorded_at_nadir(
    copter: Sitl, sample_sortie: Sortie, tmp_path: Path
) -> None:
    home = Home(*sample_sortie.home)
    result = await fly_mission(copter, fast_survey_mission(home), out_dir=tmp_path)
    poses = read_manifest(result.manifest_path)
    assert len(poses) > 100

    # every photo placed on the autopilot's clock through SYSTEM_TIME, with the
    # servo's body-frame outputs
    assert {p.trigger_clock for p in poses} == {"utc"}
    assert {p.gimbal_frame for p in poses} == {"body"}

    # the optical axis in NED is (cp cy, cp sy, -sp): its angle from straight down
    # is 90 + camera pitch
    off_nadir = np.array([90.0 + p.camera_pitch_deg for p in poses])
    tilt = np.array([tilt_deg(p.roll_deg, p.pitch_deg) for p in poses])
    # a photo whose status SITL dropped (at speed-up 20 it drops telemetry now and then,
    # gaps of 0.3-2 s of its time in every stream) takes the camera's earth-frame
    # attitude from the photos around it whose status came, and says so (gimbal_gap_ms)
    seen = np.array([p.gimbal_gap_ms == 0 for p in poses])
    print(
        f"\n{len(poses)} photos, {seen.sum()} with their gimbal status; off nadir max "
        f"{off_nadir.max():.3f} median {np.median(off_nadir):.3f} deg "
        f"(in gaps: max {off_nadir[~seen].max(initial=0):.3f}); vehicle tilt max "
        f"{tilt.max():.1f} median {np.median(tilt):.1f} deg, {(tilt >= 5).sum()} at 5 or more"
    )
    # the copter really leaned: braking, speeding up and turning
    assert (tilt >= 5.0).sum() >= 10, f"vehicle tilt at most {tilt.max():.1f} deg"
    assert off_nadir.max() < 1.0, poses[int(off_nadir.argmax())]

    # looking straight down, roll and yaw turn the image alike (Z-Y-X at pitch -90
    # depends on roll + yaw only); with the pan at 0 the image's top is the heading
    image_heading = np.array(
        [wrap180(p.camera_yaw_deg + p.camera_roll_deg - p.yaw_deg) for p in poses]
    )
    assert np.abs(image_heading).max() < 1.0
