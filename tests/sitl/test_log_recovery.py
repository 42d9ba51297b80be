"""No photo without its pose: rows taken out of a flight's manifest come back from the
vehicle's dataflash log, downloaded over a link that loses 5 % of its datagrams."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from missions.flight.capture import rotation
from missions.flight.fly import fly_mission
from missions.flight.logs import (
    RECOMMENDED_LOGGING,
    NoLogError,
    read_cams,
    recover_missing_captures,
)
from missions.flight.vehicle import Vehicle
from missions.geo import distance_m
from missions.manifest import SOURCE_DATAFLASH, SOURCE_FEEDBACK, read_manifest, write_manifest
from missions.plan import Sortie
from sitl.instance import Home, Sitl, gcs_port
from tests.sitl.missions import box_mission
from tests.sitl.proxy import LossyProxy

pytestmark = [pytest.mark.sitl, pytest.mark.timeout(400)]

#: The download's link: 5 % of the datagrams lost each way.
LOSS = 0.05


def turn_deg(a: np.ndarray, b: np.ndarray) -> float:
    """The angle (degrees) of the rotation between two camera-to-NED matrices (3, 3)."""
    return math.degrees(math.acos(max(-1.0, min(1.0, (np.trace(a.T @ b) - 1.0) / 2.0))))


#: Dataflash logging as a patrol vehicle needs it for this (sitl/copter.parm leaves it
#: off for the shared copter: ArduCopter SITL's logger opens a new short log after each
#: download, and the other flight tests ran worse beside it).
LOGGING = RECOMMENDED_LOGGING


def test_rows_lost_from_the_manifest_come_back_from_the_log(
    sitl_factory: Callable[..., Sitl], sample_sortie: Sortie, tmp_path: Path
) -> None:
    # not a coroutine: the factory starts SITL with asyncio.run
    sitl = sitl_factory(Home(*sample_sortie.home), speedup=20, params=LOGGING)
    asyncio.run(_rows_lost(sitl, sample_sortie, tmp_path))


async def _rows_lost(copter: Sitl, sample_sortie: Sortie, tmp_path: Path) -> None:
    home = Home(*sample_sortie.home)
    # the flight's own recovery is off: this test takes rows out and recovers them
    # itself (a download made before leaves SITL's logger opening empty logs after it)
    result = await fly_mission(
        copter,
        box_mission(home, side_m=150, trigger_m=15),
        out_dir=tmp_path,
        recover_photos=False,
    )
    live = read_manifest(result.manifest_path)
    # 600 m of box at one photo per 15 m and one at the start: 41; SITL at speed-up 20
    # under load loses CAMERA_FEEDBACKs even on a local link (a loaded machine's run
    # had 17 rows), which the log recovers too
    assert len(live) >= 10
    # the 4th to 8th photos and the last, as a drop-out and a lost message would take
    # them. Not the first: it is the "trigger now" of DO_SET_CAM_TRIGG_DIST in the
    # mission's loop right after DO_MOUNT_CONTROL, where the log's MNT (the servo
    # outputs at the shutter) and the live status the recorder picks can differ
    taken = {p.index: p for p in [*live[3:8], live[-1]]}
    write_manifest(result.manifest_path, [p for p in live if p.index not in taken])

    proxy = LossyProxy(gcs_port(copter.instance, 2), drop=LOSS)
    await proxy.start()
    try:
        vehicle = await Vehicle.connect(
            proxy.url, heartbeat_interval_s=copter.heartbeat_interval_s, timeout_s=30
        )
        try:
            await vehicle.wait_until(lambda: not vehicle.telemetry.armed, 30, "disarmed")
            report = await recover_missing_captures(vehicle, result.manifest_path)
        finally:
            await vehicle.close()
    finally:
        await proxy.stop()
    # the download did cross a lossy link: its holes were asked for again
    assert proxy.dropped["down"] / (proxy.sent["down"] + proxy.dropped["down"]) > LOSS / 2

    cams = read_cams(result.manifest_path.with_name(f"dataflash-{report.log_id}.bin"))
    poses = read_manifest(result.manifest_path)
    # every photo the vehicle logged has a row, and no other
    assert [p.index for p in poses] == [c.index for c in cams]
    assert [c.index for c in cams] == list(range(cams[0].index, cams[-1].index + 1))
    assert (report.expected, report.still_missing) == (len(cams), ())
    assert (report.present, report.recovered) == (len(live) - 6, len(cams) - len(live) + 6)
    came_live = {p.index for p in live} - set(taken)
    for pose in poses:
        if pose.index not in taken:
            assert pose.source == (SOURCE_FEEDBACK if pose.index in came_live else SOURCE_DATAFLASH)
            continue
        was = taken[pose.index]
        assert pose.source == SOURCE_DATAFLASH
        assert distance_m(was.lat, was.lon, pose.lat, pose.lon) < 0.5
        assert abs(was.alt_amsl_m - pose.alt_amsl_m) < 0.5
        assert abs(was.alt_rel_m - pose.alt_rel_m) < 0.5
        # CAM logs the vehicle's attitude in centidegrees; CAMERA_FEEDBACK in floats
        assert (
            turn_deg(
                rotation(was.roll_deg, was.pitch_deg, was.yaw_deg),
                rotation(pose.roll_deg, pose.pitch_deg, pose.yaw_deg),
            )
            < 0.05
        )
        # the camera: compared as rotations, since straight down roll and yaw share a turn
        assert (
            turn_deg(
                rotation(was.camera_roll_deg, was.camera_pitch_deg, was.camera_yaw_deg),
                rotation(pose.camera_roll_deg, pose.camera_pitch_deg, pose.camera_yaw_deg),
            )
            < 0.5
        )
        assert was.time_boot_ms is not None and pose.time_boot_ms is not None
        assert abs(was.time_boot_ms - pose.time_boot_ms) <= 1


def test_a_vehicle_without_logs_says_so(
    sitl_factory: Callable[..., Sitl], sample_sortie: Sortie, tmp_path: Path
) -> None:
    # dataflash logging off, as the SITL defaults had it: the listing is one LOG_ENTRY
    # with num_logs 0 (AP_Logger::handle_log_request_list). Not a coroutine: the
    # factory starts SITL with asyncio.run
    sitl = sitl_factory(Home(*sample_sortie.home), speedup=20, params={"LOG_BACKEND_TYPE": 0})
    manifest = tmp_path / "captures.jsonl"
    manifest.write_text("", encoding="utf-8")

    async def recover() -> None:
        vehicle = await Vehicle.connect(sitl.url, heartbeat_interval_s=sitl.heartbeat_interval_s)
        try:
            await recover_missing_captures(vehicle, manifest)
        finally:
            await vehicle.close()

    with pytest.raises(NoLogError, match="no dataflash log"):
        asyncio.run(recover())
    assert manifest.read_text(encoding="utf-8") == ""
