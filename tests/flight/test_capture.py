"""Camera attitude from vehicle and gimbal angles, and the manifest writer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from missions.flight.capture import (
    ManifestWriter,
    camera_attitude,
    euler,
    feedback_time_utc,
    quaternion_to_euler,
    rotation,
)
from missions.manifest import CapturePose, read_manifest

roll = st.floats(-179, 179)
pitch = st.floats(-89, 89)
yaw = st.floats(-179, 179)


@given(roll, pitch, yaw)
def test_euler_inverts_rotation(r: float, p: float, y: float) -> None:
    assert np.allclose(rotation(*euler(rotation(r, p, y))), rotation(r, p, y), atol=1e-9)


@given(roll, pitch, yaw, roll, pitch, yaw)
def test_camera_attitude_is_the_composed_rotation(
    vr: float, vp: float, vy: float, gr: float, gp: float, gy: float
) -> None:
    vehicle, gimbal = (vr, vp, vy), (gr, gp, gy)
    composed = rotation(*camera_attitude(vehicle, gimbal))
    assert np.allclose(composed, rotation(*vehicle) @ rotation(*gimbal), atol=1e-9)


def test_level_vehicle_with_gimbal_down_looks_down_along_the_heading() -> None:
    r, p, y = camera_attitude((0.0, 0.0, 90.0), (0.0, -90.0, 0.0))
    assert (round(r, 6), round(p, 6), round(y, 6)) == (0.0, -90.0, 90.0)
    r, p, y = camera_attitude((3.0, -10.0, 45.0), (-3.0, -80.0, 0.0))
    assert p < -85 and abs((r + y - 45 + 180) % 360 - 180) < 10  # near nadir: roll + yaw


def test_quaternion_angles() -> None:
    half = np.sqrt(0.5)
    assert np.allclose(quaternion_to_euler((half, 0.0, -half, 0.0)), (0.0, -90.0, 0.0))
    turned = quaternion_to_euler((0.5, 0.5, -0.5, 0.5))  # nose east, camera down
    assert np.allclose(rotation(*turned), rotation(0.0, -90.0, 90.0), atol=1e-9)
    assert np.allclose(quaternion_to_euler((1.0, 0.0, 0.0, 0.0)), (0.0, 0.0, 0.0))


def test_feedback_time() -> None:
    assert feedback_time_utc(1_764_331_200_000_000).startswith("2025-11-28T12:00:00")
    assert feedback_time_utc(12_345).startswith("20")  # boot time: the receive time instead


def pose(index: int) -> CapturePose:
    return CapturePose(index, "2026-01-01T00:00:00Z", 34.8, 113.5, 160.0, 60.0,
                       0.0, 0.0, 90.0, 0.0, -90.0, 90.0)  # fmt: skip


def test_manifest_writer_appends_and_skips_repeats(tmp_path: Path) -> None:
    path = tmp_path / "captures.jsonl"
    writer = ManifestWriter(path)
    assert writer.write(pose(1)) and writer.write(pose(2))
    assert not writer.write(pose(2))
    writer.close()
    again = ManifestWriter(path)  # a reconnect continues the same file
    assert not again.write(pose(1)) and again.write(pose(3))
    again.close()
    assert [p.index for p in read_manifest(path)] == [1, 2, 3]
