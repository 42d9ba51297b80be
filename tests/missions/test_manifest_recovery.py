"""Finding a manifest's gaps and filling them from the dataflash log's CAM records,
on small cases worked out by hand (no vehicle: missions.flight.logs' pure steps)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from missions.flight.capture import GimbalFrame, euler, rotation
from missions.flight.logs import (
    CAM_RESOLUTION_DEG,
    LOG_DATA_BYTES,
    CamRecord,
    LogBlocks,
    LogDownloadError,
    ReplyWait,
    logging_advice,
    merge_captures,
    mount_sample,
    next_requests,
    recovered_pose,
)
from missions.manifest import (
    SOURCE_DATAFLASH,
    SOURCE_FEEDBACK,
    CapturePose,
    read_manifest,
    write_manifest,
)

LAT, LON = 34.8, 113.5
#: metres per degree of latitude (equirectangular, enough over 100 m)
M_PER_DEG = 111_320.0


def live(index: int, north_m: float = 0.0, **extra: object) -> CapturePose:
    """A live row 10 m further north per image number; level, camera straight down."""
    return CapturePose(
        index=index,
        time_utc="2026-12-03T08:00:00.000+00:00",
        lat=LAT + (north_m or 10.0 * index) / M_PER_DEG,
        lon=LON,
        alt_amsl_m=150.0,
        alt_rel_m=30.0,
        roll_deg=0.0,
        pitch_deg=0.0,
        yaw_deg=0.0,
        camera_roll_deg=0.0,
        camera_pitch_deg=-90.0,
        camera_yaw_deg=0.0,
        **extra,  # type: ignore[arg-type]
    )


def cam(index: int, north_m: float | None = None, **extra: object) -> CamRecord:
    """The log's CAM for the same photo: same place as :func:`live`, boot ms = 1000 x index."""
    values: dict[str, object] = {
        "index": index,
        "time_boot_ms": 1000.0 * index,
        "gps_utc": None,
        "lat": LAT + (10.0 * index if north_m is None else north_m) / M_PER_DEG,
        "lon": LON,
        "alt_amsl_m": 150.0,
        "alt_rel_m": 30.0,
        "vehicle_rpy_deg": (0.0, 0.0, 0.0),
    }
    values.update(extra)
    return CamRecord(**values)  # type: ignore[arg-type]


def test_an_old_manifest_reads_as_live_rows_and_a_recovered_row_says_so(tmp_path: Path) -> None:
    path = tmp_path / "captures.jsonl"
    row = json.loads(live(1).to_json())
    del row["source"]  # written before the field existed
    recovered = CapturePose(**{**row, "index": 2, "source": SOURCE_DATAFLASH})
    path.write_text(json.dumps(row) + "\n" + recovered.to_json() + "\n", encoding="utf-8")
    assert [p.source for p in read_manifest(path)] == [SOURCE_FEEDBACK, SOURCE_DATAFLASH]
    write_manifest(path, read_manifest(path)[::-1])
    assert [p.index for p in read_manifest(path)] == [2, 1]
    assert not path.with_name(path.name + ".partial").exists()


def test_gaps_are_filled_from_the_log_and_live_rows_kept() -> None:
    # rows 3, 4, 6, 9 came live; the log has photos 3 to 9: 5, 7 and 8 are recovered,
    # 9 - 3 + 1 = 7 photos expected, none left without a row
    present = [live(i, image=f"IMG_{i}.JPG") for i in (3, 4, 6, 9)]
    merged, report = merge_captures(present, [cam(i) for i in range(3, 10)])
    assert [p.index for p in merged] == [3, 4, 5, 6, 7, 8, 9]
    assert (report.expected, report.present, report.recovered) == (7, 4, 3)
    assert report.still_missing == ()
    by_index = {p.index: p for p in merged}
    assert [by_index[i].source for i in (3, 5, 7, 8)] == [SOURCE_FEEDBACK] + [SOURCE_DATAFLASH] * 3
    assert by_index[3] is present[0]  # a live row is kept as it was
    # photo 7 was 70 m north of (LAT, LON): 70 / 111320 deg
    assert by_index[7].lat == pytest.approx(LAT + 70.0 / M_PER_DEG, abs=1e-12)
    assert (by_index[7].alt_amsl_m, by_index[7].alt_rel_m) == (150.0, 30.0)
    assert by_index[7].time_boot_ms == 7000
    assert by_index[7].trigger_clock == "boot"


def test_a_photo_in_neither_the_manifest_nor_the_log_is_still_missing() -> None:
    # live 3, 4 and 10; the log ends at 8 (its last pages lost): 3..10 is 8 photos,
    # 5 to 8 recovered (4), 9 in neither
    present = [live(i) for i in (3, 4, 10)]
    merged, report = merge_captures(present, [cam(i) for i in range(3, 9)])
    assert (report.expected, report.present, report.recovered) == (8, 3, 4)
    assert report.still_missing == (9,)
    assert [p.index for p in merged] == [3, 4, 5, 6, 7, 8, 10]


def test_another_flights_log_is_refused() -> None:
    # the camera counts from boot: after a reboot photo 4 is somewhere else, 500 m north
    present = [live(i) for i in (3, 4)]
    with pytest.raises(LogDownloadError, match="another flight"):
        merge_captures(present, [cam(4, north_m=500.0), cam(5)])
    with pytest.raises(LogDownloadError, match="none of the manifest's"):
        merge_captures(present, [cam(7), cam(8)])


def test_servo_mount_camera_attitude_from_mnt() -> None:
    # vehicle nose down 10 deg heading east; servo mount roll 0, tilt -80, pan 0 (body):
    # camera = Rz(90) Ry(-10) . Rz(0) Rx(0) Ry(-80) = Rz(90) Ry(-90): straight down, and
    # looking down the turn is put in yaw: the image top points east (90)
    gimbal = mount_sample(5000.0, 0.0, -80.0, 0.0, mount_type=1)
    assert gimbal is not None and gimbal.frame is GimbalFrame.BODY
    pose = recovered_pose(
        cam(5, vehicle_rpy_deg=(0.0, -10.0, 90.0)), gimbal, "", planned_index=None
    )
    assert pose.camera_pitch_deg == pytest.approx(-90.0, abs=1e-3)
    assert pose.camera_yaw_deg == pytest.approx(90.0, abs=1e-3)
    assert (pose.gimbal_frame, pose.gimbal_pitch_deg) == ("body", -80.0)
    assert (pose.roll_deg, pose.pitch_deg, pose.yaw_deg) == (0.0, -10.0, 90.0)  # the vehicle's


def test_stabilised_mount_camera_attitude_ignores_the_vehicles_lean() -> None:
    # a non-servo mount (MNT1_TYPE 6): roll, pitch from the horizon, yaw 30 from the
    # heading; vehicle heading 90, leaning (roll 5, pitch -10): camera = Rz(90) Rz(30)
    # Ry(-45): pitch -45, yaw 90 + 30 = 120, roll 0
    gimbal = mount_sample(5000.0, 0.0, -45.0, 30.0, mount_type=6)
    assert gimbal is not None and gimbal.frame is GimbalFrame.VEHICLE
    pose = recovered_pose(cam(5, vehicle_rpy_deg=(5.0, -10.0, 90.0)), gimbal, "", None)
    assert (pose.camera_roll_deg, pose.camera_pitch_deg, pose.camera_yaw_deg) == pytest.approx(
        (0.0, -45.0, 120.0), abs=1e-3
    )


def test_a_mount_without_attitude_logs_nan_and_gives_no_gimbal() -> None:
    assert mount_sample(0.0, math.nan, math.nan, math.nan, mount_type=1) is None


def test_cam_without_mnt_takes_the_earth_frame_between_live_photos() -> None:
    # live photos at boot 4000 and 6000 ms: camera pitch -60, yaw 0 then yaw 20 (servo
    # mount, seen). Slerp from R1 = Rz(0) Ry(-60) to R2 = Rz(20) Ry(-60): R1^T R2 =
    # Ry(60) Rz(20) Ry(-60), a 20 deg turn about Ry(60) z, so halfway is
    # R1 Ry(60) Rz(10) Ry(-60) = Rz(10) Ry(-60): pitch -60, yaw 10. The vehicle is level
    # heading north, so the servo joints equal it: roll 0, tilt -60, pan 10
    seen = {"gimbal_frame": "body", "gimbal_gap_ms": 0.0, "camera_pitch_deg": -60.0}
    present = [
        CapturePose(**{**json.loads(live(4).to_json()), **seen, "time_boot_ms": 4000}),
        CapturePose(
            **{**json.loads(live(6).to_json()), **seen, "time_boot_ms": 6000, "camera_yaw_deg": 20}
        ),
    ]
    merged, report = merge_captures(present, [cam(4), cam(5), cam(6)])
    assert report.recovered == 1
    five = merged[1]
    assert (five.camera_roll_deg, five.camera_pitch_deg, five.camera_yaw_deg) == pytest.approx(
        (0.0, -60.0, 10.0), abs=1e-3
    )
    assert (five.gimbal_roll_deg, five.gimbal_pitch_deg, five.gimbal_yaw_deg) == pytest.approx(
        (0.0, -60.0, 10.0), abs=1e-3
    )
    assert five.gimbal_gap_ms == 2000.0  # from the two photos 2 s apart


def test_log_blocks_find_holes_and_a_short_end() -> None:
    # listed 300 bytes: blocks of 90 at 0, 90, 180, 270 (the last 30 bytes)
    blocks = LogBlocks(300)
    assert blocks.add(0, 90, bytes(range(90)))
    assert not blocks.add(0, 90, bytes(90))  # a repeat
    assert not blocks.add(45, 90, bytes(90))  # not on a block boundary
    assert blocks.holes(max_blocks=2) == [(1, 2), (3, 1)]
    assert blocks.span(3, 1) == (270, 30)
    # the file turns out to end at 200: block 2 holds 20 bytes, block 3 is gone. A short
    # answer is also how ArduPilot reports a read error, so it is the end once said
    # three times; until then block 2 stays a hole
    assert not blocks.add(180, 20, bytes([7] * 20) + bytes(70))
    assert not blocks.add(180, 20, bytes([7] * 20) + bytes(70))
    assert blocks.size == 300 and blocks.holes(max_blocks=8) == [(1, 3)]
    assert blocks.add(180, 20, bytes([7] * 20) + bytes(70))
    assert blocks.size == 200
    assert blocks.holes(max_blocks=8) == [(1, 1)]
    assert blocks.received == 90 + 20
    assert blocks.add(90, 90, bytes([1] * 90))
    assert blocks.holes(max_blocks=8) == []
    assert bytes(blocks.data) == bytes(range(90)) + bytes([1] * 90) + bytes([7] * 20)
    assert blocks.received == 200
    assert LOG_DATA_BYTES == 90


def test_a_read_error_mid_log_is_asked_again_not_taken_for_its_end() -> None:
    # seen in SITL right after disarm: LOG_DATA count 0 at 15 kB of a 331 kB log
    blocks = LogBlocks(900)
    for ofs in range(0, 450, 90):
        assert blocks.add(ofs, 90, bytes([ofs // 90] * 90))
    assert not blocks.add(450, 0, bytes(90))  # the error, as ArduPilot sends it
    assert blocks.size == 900 and blocks.holes(max_blocks=8) == [(5, 5)]
    for ofs in range(450, 900, 90):  # asked again: the rest comes
        assert blocks.add(ofs, 90, bytes([ofs // 90] * 90))
    assert blocks.holes(max_blocks=8) == [] and blocks.received == 900
    # the true end, where the listing said, is taken at once
    end = LogBlocks(100)
    assert end.add(0, 90, bytes(90)) and end.add(90, 10, bytes(90))
    assert end.holes(max_blocks=8) == [] and end.received == 100


def test_holes_are_asked_for_one_range_or_many_single_blocks() -> None:
    # a range of blocks is asked for alone (the vehicle drops requests while it sends
    # one); single blocks, sent whole in their request's handler, several at once
    assert next_requests([(0, 128), (130, 1)], window=16) == [(0, 128)]
    assert next_requests([(3, 1), (9, 1), (12, 1), (20, 128)], window=2) == [(3, 1), (9, 1)]
    assert next_requests([(3, 1), (9, 1), (20, 128)], window=16) == [(3, 1), (9, 1)]
    assert next_requests([], window=16) == []


def test_reply_wait_follows_the_smoothed_reply_time() -> None:
    wait = ReplyWait(ceiling_s=1.0)
    assert wait.timeout_s == 1.0  # nothing timed yet
    wait.observe(0.2)
    assert wait.timeout_s == pytest.approx(0.8)  # 4 x 0.2
    wait.observe(0.04)
    # smoothed 0.2 + (0.04 - 0.2) / 8 = 0.18, times 4 = 0.72
    assert wait.timeout_s == pytest.approx(0.72)
    wait.observe(0.5)
    # 0.18 + (0.5 - 0.18) / 8 = 0.22, times 4 = 0.88
    assert wait.timeout_s == pytest.approx(0.88)
    for _ in range(40):
        wait.observe(0.001)
    assert wait.timeout_s == 0.1  # never below the floor
    slow = ReplyWait(ceiling_s=1.0)
    slow.observe(2.0)
    assert slow.timeout_s == 1.0  # nor above the ceiling


def logged(matrix: NDArray[np.float64]) -> tuple[float, float, float]:
    """Euler angles as a recovered row gets them: nadir within CAM's rounding."""
    return euler(matrix, nadir_within_deg=CAM_RESOLUTION_DEG)


def test_a_camera_within_the_logs_rounding_of_nadir_reads_as_straight_down() -> None:
    # at pitch -90 Rz(y) Ry(-90) Rx(r) turns the image by r + y: roll -55, yaw 85 is
    # an image top at 30 deg; 0.003 deg off nadir (under CAM's 0.01 deg) reads so
    assert euler(
        rotation(-55.0, -89.997, 85.0), nadir_within_deg=CAM_RESOLUTION_DEG
    ) == pytest.approx((0.0, -90.0, 30.0), abs=0.01)
    assert euler(
        rotation(0.0, -89.995, 30.0), nadir_within_deg=CAM_RESOLUTION_DEG
    ) == pytest.approx((0.0, -90.0, 30.0))
    # 0.02 deg off is more than the rounding: left as it is
    assert logged(rotation(0.0, -89.98, 30.0)) == pytest.approx((0.0, -89.98, 30.0))


def test_a_vehicle_whose_log_cannot_recover_photos_is_told_so() -> None:
    # ArduCopter's default LOG_BITMASK (DEFAULT_LOG_BITMASK in ArduCopter/config.h):
    # bits 1 to 13, 15 (the camera) and 17, 2^14 - 2 + 2^15 + 2^17 = 180222; 32768 is
    # the camera bit alone
    assert logging_advice({"LOG_BACKEND_TYPE": 1, "LOG_BITMASK": 180222}) is None
    assert logging_advice({"LOG_BACKEND_TYPE": 3, "LOG_BITMASK": 32768}) is None
    off = logging_advice({"LOG_BACKEND_TYPE": 0, "LOG_BITMASK": 180222})
    assert off is not None and "LOG_BACKEND_TYPE is 0, no file log" in off
    no_cam = logging_advice({"LOG_BACKEND_TYPE": 1, "LOG_BITMASK": 180222 - 32768})
    assert no_cam is not None and "lacks the camera's records (32768)" in no_cam
    # a vehicle that answers for neither (not ArduPilot's logger): nothing to say
    assert logging_advice({"LOG_BACKEND_TYPE": None, "LOG_BITMASK": None}) is None
