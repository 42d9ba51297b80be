"""Flights over cellular links, on ArduCopter SITL (skipped without a binary).

Through :mod:`sitl.netem`'s profiles (good 5G, 4G at the cell edge, a handover), a
survey flies on through a 30 s drop-out in the middle, the ground station picks it
up again, every planned item is reached, and every photo the vehicle took has its
row: the ones whose CAMERA_FEEDBACK the drop-out swallowed come back from the
vehicle's log. And a vehicle set to fly on in AUTO whatever the link does is set
to come home after the plan's GCS-loss time, which the flown track then shows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from pymavlink import mavutil

from missions.flight.errors import FlightAbortedError
from missions.flight.events import Captured, FlightEvent, ModeChanged
from missions.flight.fly import fly_mission
from missions.flight.logs import read_cams
from missions.flight.vehicle import Vehicle
from missions.manifest import SOURCE_DATAFLASH, read_manifest
from missions.plan import Sortie
from sitl.instance import Home, Sitl, gcs_port
from sitl.netem import GOOD_5G, HANDOVER, LTE_CELL_EDGE, LinkEmulator, Profile
from tests.sitl.missions import box_mission
from tests.sitl.test_log_recovery import LOGGING
from tests.sitl.test_progress import watch

pytestmark = [pytest.mark.sitl, pytest.mark.timeout(400)]

SPEEDUP = 20.0
#: The drop-out, seconds of the vehicle's clock: 1.5 s of the wall at speed-up 20.
DROP_OUT_S = 30.0
#: The plan's GCS failsafe (missions.plan's default): fly on for two minutes, then RTL.
PLAN_FAILSAFE = {"FS_GCS_ENABLE": 1.0, "FS_GCS_TIMEOUT": 120.0}


@pytest.mark.parametrize("profile", [GOOD_5G, LTE_CELL_EDGE, HANDOVER], ids=lambda p: p.name)
def test_a_survey_flies_on_through_a_drop_out_and_loses_no_photo(
    profile: Profile,
    sitl_factory: Callable[..., Sitl],
    sample_sortie: Sortie,
    tmp_path: Path,
) -> None:
    # its own SITL, logging as a patrol vehicle should (the photos' poses come back
    # from the log); not a coroutine: the factory starts SITL with asyncio.run
    sitl = sitl_factory(Home(*sample_sortie.home), speedup=SPEEDUP, params=LOGGING)
    asyncio.run(_survey_through_a_drop_out(sitl, profile, tmp_path))


async def _survey_through_a_drop_out(sitl: Sitl, profile: Profile, tmp_path: Path) -> None:
    home = sitl.home
    # the network as the vehicle's clock meets it (at speed-up 20, 80 ms are 4 ms of
    # ours); the handover's own 4 s drop-out comes early, on the ground or in the climb
    link = LinkEmulator(gcs_port(sitl.instance, 2), profile.on_clock(SPEEDUP), seed=7)
    await link.start()
    events: list[FlightEvent] = []
    cut_after: list[int] = []

    def on_event(event: FlightEvent) -> None:
        events.append(event)
        if isinstance(event, Captured) and event.pose.index >= 5 and not cut_after:
            cut_after.append(event.pose.index)
            link.cut(DROP_OUT_S / SPEEDUP)  # mid-survey, between two photos

    mission = replace(box_mission(home, side_m=200, trigger_m=15), params=PLAN_FAILSAFE)
    try:
        result = await fly_mission(
            link.url,
            mission,
            out_dir=tmp_path,
            speedup=SPEEDUP,
            link_timeout_s=0.5,
            on_event=on_event,
        )
    finally:
        await link.stop()

    # the ground station lost the flight and picked it up again
    kinds = [e.kind for e in events]
    assert "link_lost" in kinds and "link_restored" in kinds[kinds.index("link_lost") :]
    assert cut_after, "no photo came before the drop-out was due"
    # the vehicle carried on in AUTO: no failsafe return, every item reached
    modes = [e.mode for e in events if isinstance(e, ModeChanged)]
    assert "RTL" not in modes and modes[-1] == "AUTO", modes
    assert result.items_missed == ()
    # a row for every photo the vehicle took, as its log lists them
    rows = read_manifest(result.manifest_path)
    (log,) = result.flight_dir.glob("dataflash-*.bin")
    cams = read_cams(log)
    assert [r.index for r in rows] == [c.index for c in cams]
    assert result.captures == len(cams) and result.captures_recovered > 0
    assert sum(r.source == SOURCE_DATAFLASH for r in rows) == result.captures_recovered


async def test_a_vehicle_set_to_fly_on_without_its_ground_station_returns_after_the_plans_time(
    copter: Sitl, sample_sortie: Sortie, tmp_path: Path
) -> None:
    home = Home(*sample_sortie.home)
    watcher = await watch(copter)
    # the owner's setting: carry on in AUTO on a GCS failsafe (bit 1), and under the
    # pilot (bit 4, ArduCopter's default)
    await watcher.set_param("FS_OPTIONS", 2 + 16)
    link = LinkEmulator(gcs_port(copter.instance, 2), seed=3)
    await link.start()
    modes: list[str] = []

    async def cut_on_the_second_side() -> None:
        await watcher.wait_until(lambda: watcher.telemetry.current_seq >= 5, 120, "on side 2")
        link.cut(40.0 / copter.speedup)  # 40 s of the vehicle's clock, the plan allows 10

    cutting = asyncio.create_task(cut_on_the_second_side())
    watching = asyncio.create_task(_modes(watcher, modes.append))
    mission = replace(
        box_mission(home, side_m=200), params={"FS_GCS_ENABLE": 1.0, "FS_GCS_TIMEOUT": 10.0}
    )
    try:
        with pytest.raises(FlightAbortedError, match="without reaching items"):
            await fly_mission(
                link.url,
                mission,
                out_dir=tmp_path,
                speedup=copter.speedup,
                link_timeout_s=0.5,
                recover_photos=False,
            )
        await cutting
        # the bit that kept it flying is cleared, the owner's other one kept
        assert await watcher.get_param("FS_OPTIONS") == 16
        assert "RTL" in modes[modes.index("AUTO") :], modes
        await watcher.wait_landed(timeout_s=120)
    finally:
        cutting.cancel()
        watching.cancel()
        await watcher.close()
        await link.stop()
    # what the flight's own tlog shows once the link was back: the vehicle coming home
    (tlog,) = tmp_path.glob("flight-*/flight.tlog")
    log = mavutil.mavlink_connection(str(tlog))
    seen: list[str] = []
    while (msg := log.recv_match(type="HEARTBEAT")) is not None:
        if msg.get_srcSystem() == 1 and msg.get_srcComponent() == 1:
            mode = mavutil.mode_string_v10(msg)
            if not seen or seen[-1] != mode:
                seen.append(mode)
    # (the shared copter may start in AUTO, left there by the last test's landing; the
    # mission's own return is its RTL item, flown in AUTO: RTL as a mode is the failsafe)
    assert "RTL" in seen and seen[seen.index("RTL") - 1] == "AUTO", seen


async def _modes(vehicle: Vehicle, on_mode: Callable[[str], None]) -> None:
    async for event in vehicle.event_stream():
        if isinstance(event, ModeChanged):
            on_mode(event.mode)
