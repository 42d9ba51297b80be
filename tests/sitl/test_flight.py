"""Flights against ArduCopter SITL (skipped where no binary is found)."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import numpy as np
import pytest
from pymavlink import mavutil
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.flight import transfer
from missions.flight.errors import CommandTimeoutError, NoSpaceError, PreflightError
from missions.flight.events import Captured, FlightEvent, LinkLost, LinkRestored, ModeChanged
from missions.flight.fly import fly_mission
from missions.flight.transfer import TransferSettings
from missions.flight.vehicle import Vehicle
from missions.geo import distance_m
from missions.items import MissionType
from missions.manifest import read_manifest
from missions.plan import Sortie
from sitl.instance import Sitl
from tests.sitl.fixtures import FlownSortie
from tests.sitl.missions import box_mission, long_mission
from tests.sitl.proxy import LossyProxy

pytestmark = [pytest.mark.sitl, pytest.mark.timeout(400)]

#: The plan's ground-station failsafe parameters (Mission.params).
GCS_FAILSAFE = ("FS_GCS_ENABLE", "FS_GCS_TIMEOUT")
#: The modes ArduCopter's GCS failsafe switches to (FS_GCS_ENABLE 1 to 7).
FAILSAFE_MODES = frozenset({"RTL", "SMART_RTL", "AUTO_RTL", "LAND", "BRAKE"})


def metres(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) distances between (N, 2) and (M, 2) lat/lon arrays, equirectangular."""
    k = 111_320.0
    dy = (a[:, None, 0] - b[None, :, 0]) * k
    dx = (a[:, None, 1] - b[None, :, 1]) * k * np.cos(np.radians(a[:, None, 0]))
    return np.hypot(dx, dy)


async def connect(sitl: Sitl, url: str | None = None) -> Vehicle:
    return await Vehicle.connect(url or sitl.url, heartbeat_interval_s=sitl.heartbeat_interval_s)


def test_sortie_1_flies_end_to_end(flown_sortie: FlownSortie, sample_sortie: Sortie) -> None:
    result, kinds = flown_sortie.result, flown_sortie.kinds
    mission = sample_sortie.mission
    # every waypoint reached, landed and disarmed at the dock
    assert result.items_missed == ()
    assert result.landed_from_home_m < 3.0
    dock = sample_sortie.dock
    assert distance_m(result.landed_lat, result.landed_lon, dock.lat, dock.lon) < 3.0
    assert {"mission_uploaded", "armed", "item_reached", "landed", "disarmed"} <= set(kinds)
    assert result.distance_flown_m == pytest.approx(sample_sortie.length_m, rel=0.1)

    # the manifest: one line per photo, each within a few metres of a planned photo point
    poses = read_manifest(result.manifest_path)
    assert len(poses) == result.captures
    assert [p.index for p in poses] == sorted({p.index for p in poses})
    planned = np.array([(p.lat, p.lon) for p in sample_sortie.photo_points])
    taken = np.array([(p.lat, p.lon) for p in poses])
    d = metres(taken, planned)
    far = int(np.argmax(d.min(axis=1)))
    assert d.min(axis=1).max() < 5.0, f"photo {poses[far]} is away from every planned point"
    covered = (d.min(axis=0) < 5.0).mean()
    assert covered > 0.9, f"only {covered:.0%} of the planned photo points were photographed"
    nearest = d.argmin(axis=1)
    assert [p.planned_index for p in poses] == [int(i) for i in nearest]
    planned_alt = np.array([sample_sortie.photo_points[i].alt_m for i in nearest])
    alt_error = np.abs(np.array([p.alt_rel_m for p in poses]) - planned_alt)
    # a photo fired at the start of a leg may still be on the climb between two heights
    assert (alt_error < 3.0).mean() > 0.97, sorted(alt_error)[-5:]
    # nadir patterns look straight down (orbits look at the stack instead): the
    # optical axis is 90 + camera pitch from straight down, for every photo. Each nadir
    # leg's first photo is the distance trigger's, one trigger distance after the
    # camera is switched on, in steady flight; a photo whose gimbal status SITL dropped
    # (gimbal_gap_ms > 0) takes the camera's earth-frame attitude from the photos
    # around it. A photo's pattern is its nearest planned point's in 3-D: an orbit
    # ring passes under a survey lane's photo points, 15 m lower.
    planned_alt = np.array([p.alt_m for p in sample_sortie.photo_points])
    alt_gap = np.array([p.alt_rel_m for p in poses])[:, None] - planned_alt[None, :]
    nearest_3d = np.hypot(d, alt_gap).argmin(axis=1)
    nadir = [
        pose
        for pose, i in zip(poses, nearest_3d, strict=True)
        if sample_sortie.photo_points[i].pattern in ("survey", "corridor")
    ]
    assert len(nadir) > 50
    off_nadir = np.array([90.0 + pose.camera_pitch_deg for pose in nadir])
    gaps = sum(1 for pose in nadir if pose.gimbal_gap_ms)
    worst = int(np.argmax(d.min(axis=1)))
    print(
        f"\n{len(poses)} photos; farthest from its planned point {d.min(axis=1).max():.2f} m "
        f"(photo {poses[worst].index}, planned {int(nearest[worst])}); {len(nadir)} nadir, "
        f"off nadir max {off_nadir.max():.3f} deg, {gaps} in gimbal-status gaps"
    )
    assert off_nadir.max() < 1.0, nadir[int(off_nadir.argmax())]

    # the tlog holds both directions and every CAMERA_FEEDBACK of the manifest
    tlog = mavutil.mavlink_connection(str(result.tlog_path))
    counts: dict[str, int] = {}
    while (msg := tlog.recv_match()) is not None:
        counts[msg.get_type()] = counts.get(msg.get_type(), 0) + 1
    live = [p for p in poses if p.source == "camera_feedback"]
    assert counts["CAMERA_FEEDBACK"] == len(live)
    assert len(poses) - len(live) == result.captures_recovered  # rebuilt from the log
    assert counts["MISSION_ITEM_INT"] >= 2 * len(mission.items) - 1  # sent and read back
    assert result.summary_path.is_file()


async def test_capacity_limit_is_no_space_and_keeps_the_old_mission(
    copter: Sitl, sample_sortie: Sortie
) -> None:
    from sitl.instance import Home

    home = Home(*sample_sortie.home)
    vehicle = await connect(copter)
    try:
        await vehicle.upload_mission(long_mission(home, 650))
        with pytest.raises(NoSpaceError, match="NO_SPACE"):
            await transfer.upload(vehicle.link, long_mission(home, 651).items)
        held = await vehicle.download_mission()
        assert len(held) == 650
    finally:
        await vehicle.close()


async def test_pause_resume_and_abort_to_rtl(copter: Sitl, sample_sortie: Sortie) -> None:
    from sitl.instance import Home

    home = Home(*sample_sortie.home)
    vehicle = await connect(copter)
    try:
        await vehicle.upload_mission(box_mission(home, side_m=200))
        await vehicle.wait_ready()
        await vehicle.preflight()
        await vehicle.start_mission()
        await vehicle.wait_until(
            lambda: vehicle.telemetry.current_seq >= 5, 60, "on the second leg"
        )
        await vehicle.pause()
        await asyncio.sleep(0.5)
        here = vehicle.telemetry.position
        assert here is not None
        await asyncio.sleep(1.0)  # 20 s simulated
        there = vehicle.telemetry.position
        assert there is not None
        assert distance_m(here.lat, here.lon, there.lat, there.lon) < 2.0
        paused_at = vehicle.telemetry.current_seq
        await vehicle.resume()
        assert vehicle.telemetry.mode == "AUTO"
        await vehicle.wait_until(
            lambda: vehicle.telemetry.current_seq > paused_at, 60, "past the paused item"
        )
        await vehicle.return_to_launch()
        assert vehicle.telemetry.mode == "RTL"
        await vehicle.wait_landed(timeout_s=90)
        pos = vehicle.telemetry.position
        assert pos is not None
        assert distance_m(pos.lat, pos.lon, home.lat, home.lon) < 3.0
        assert not vehicle.telemetry.armed
    finally:
        await vehicle.close()


async def test_preflight_names_a_missing_fence(copter: Sitl, sample_sortie: Sortie) -> None:
    vehicle = await connect(copter)
    try:
        await vehicle.upload_mission(sample_sortie.mission)
        await vehicle.apply_params(sample_sortie.mission.params)
        await vehicle.preflight()
        await transfer.clear(vehicle.link, MissionType.FENCE)
        planned = len(sample_sortie.mission.fence)
        assert planned > 0
        with pytest.raises(
            PreflightError, match=f"fence: 0 fence items on board, mission has {planned}$"
        ):
            await vehicle.preflight(timeout_s=1)
    finally:
        await vehicle.close()


async def test_signing_refuses_unsigned_commands(copter: Sitl) -> None:
    key = bytes(range(32))
    try:
        signed = await connect(copter, copter.url2)
        try:
            await signed.setup_signing(key)
            await signed.get_param("RTL_ALT")  # the signed link is still obeyed
        finally:
            await signed.close()

        unsigned = await connect(copter, copter.url2)
        try:
            with pytest.raises(CommandTimeoutError):
                await unsigned.command(mavlink.MAV_CMD_REQUEST_MESSAGE, 0, timeout_s=0.3, retries=2)
            with pytest.raises(CommandTimeoutError):
                await unsigned.set_param("RTL_ALT", 4321, timeout_s=0.3)
        finally:
            await unsigned.close()

        first_port = await connect(copter)  # serial 0 always takes unsigned traffic
        try:
            assert await first_port.get_param("RTL_ALT") != 4321
        finally:
            await first_port.close()

        signed = await Vehicle.connect(
            copter.url2, heartbeat_interval_s=copter.heartbeat_interval_s, signing_key=key
        )
        try:
            await signed.command(
                mavlink.MAV_CMD_REQUEST_MESSAGE, mavlink.MAVLINK_MSG_ID_HOME_POSITION
            )
        finally:
            await signed.close()
    finally:
        first_port = await connect(copter)  # leave the shared copter unsigned
        try:
            await first_port.disable_signing()
        finally:
            await first_port.close()

    unsigned = await connect(copter, copter.url2)
    try:  # obeyed again
        await unsigned.command(
            mavlink.MAV_CMD_REQUEST_MESSAGE, mavlink.MAVLINK_MSG_ID_HOME_POSITION
        )
    finally:
        await unsigned.close()


async def test_lossy_link_uploads_verifies_and_survives_a_cut(
    copter: Sitl, sample_sortie: Sortie, tmp_path: Path
) -> None:
    from sitl.instance import Home, gcs_port

    home = Home(*sample_sortie.home)
    proxy = LossyProxy(gcs_port(copter.instance, 2), drop=0.2)
    await proxy.start()
    lost: list[str] = []
    cut: list[int] = []
    modes: list[str] = []
    cut_s = 3.0
    # flown with the plan's GCS failsafe (set over the first serial port, not the lossy
    # link): the vehicle returns once it has heard no heartbeat from the ground station
    # for FS_GCS_TIMEOUT simulated seconds. The cut lasts at most cut_s * speed-up of
    # them (SITL runs at most at its speed-up) and the heartbeats resume as the link
    # comes back: the mission flies through it in AUTO
    failsafe = {name: sample_sortie.mission.params[name] for name in GCS_FAILSAFE}
    assert failsafe["FS_GCS_ENABLE"] == 1
    assert cut_s * copter.speedup <= failsafe["FS_GCS_TIMEOUT"] / 2
    setup = await connect(copter)
    try:
        await setup.apply_params(failsafe)
    finally:
        await setup.close()

    async def on_event(event: FlightEvent) -> None:
        if isinstance(event, LinkLost | LinkRestored):
            lost.append(event.kind)
        if isinstance(event, ModeChanged):
            modes.append(event.mode)
        if isinstance(event, Captured) and event.pose.index >= 6 and not cut:
            cut.append(event.pose.index)
            proxy.cut(cut_s)  # mid-flight, between photos

    try:
        vehicle = await Vehicle.connect(
            proxy.url,
            heartbeat_interval_s=0.05,
            link_timeout_s=2.0,
            timeout_s=30,
            tlog_path=tmp_path / "upload.tlog",
        )
        try:
            settings = TransferSettings(item_timeout_s=0.25, retries=20)
            await vehicle.upload_mission(sample_sortie.mission, settings=settings)
        finally:
            await vehicle.close()
        result = await fly_mission(
            proxy.url,
            box_mission(home, side_m=150, trigger_m=12),
            out_dir=tmp_path,
            speedup=copter.speedup,
            link_timeout_s=2.0,
            transfer_settings=TransferSettings(item_timeout_s=0.25, retries=20),
            on_event=on_event,
            # the log download that gives back the photos lost on this link is
            # tests/sitl/test_log_recovery.py's; at 20 % loss each way it takes minutes
            recover_photos=False,
        )
    finally:
        await proxy.stop()
    for direction in ("up", "down"):
        total = proxy.sent[direction] + proxy.dropped[direction]
        assert proxy.dropped[direction] / total > 0.15, direction
    assert lost[:2] == ["link_lost", "link_restored"]
    assert proxy.connections >= 3  # upload, flight, and the reconnection after the cut
    assert result.items_missed == ()
    assert not FAILSAFE_MODES & set(modes), f"a failsafe: {modes}"
    assert result.landed_from_home_m < 3.0
    poses = read_manifest(result.manifest_path)
    # the camera counts photos since boot; the manifest has some from before and after the cut
    assert poses[0].index <= cut[0] < poses[-1].index - 5
    assert len({p.index for p in poses}) == len(poses)
    assert math.isclose(result.captures, len(poses))
