"""Camera attitude from vehicle and gimbal angles, and the manifest writer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from missions.flight.capture import (
    ManifestWriter,
    body_sample,
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
    # a servo mount: vehicle, then pan (yaw), roll, tilt (pitch) on the body
    vehicle = (vr, vp, vy)
    composed = rotation(*camera_attitude(vehicle, body_sample(0.0, (gr, gp, gy))))
    mount = rotation(0, 0, gy) @ rotation(gr, 0, 0) @ rotation(0, gp, 0)
    assert np.allclose(composed, rotation(*vehicle) @ mount, atol=1e-9)


def test_level_vehicle_with_gimbal_down_looks_down_along_the_heading() -> None:
    r, p, y = camera_attitude((0.0, 0.0, 90.0), body_sample(0.0, (0.0, -90.0, 0.0)))
    assert (round(r, 6), round(p, 6), round(y, 6)) == (0.0, -90.0, 90.0)


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


def test_a_manifest_from_before_the_gimbal_fields_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "captures.jsonl"
    path.write_text(
        '{"index":1,"time_utc":"2026-01-01T00:00:00Z","lat":34.8,"lon":113.5,'
        '"alt_amsl_m":160.0,"alt_rel_m":60.0,"roll_deg":0.0,"pitch_deg":0.0,"yaw_deg":90.0,'
        '"camera_roll_deg":0.0,"camera_pitch_deg":-90.0,"camera_yaw_deg":90.0,'
        '"time_boot_ms":null,"planned_index":null,"image":null}\n',
        encoding="utf-8",
    )
    (old,) = read_manifest(path)
    assert old.camera_pitch_deg == -90.0
    assert old.gimbal_frame is None and old.gimbal_pitch_deg is None and old.trigger_clock is None


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
