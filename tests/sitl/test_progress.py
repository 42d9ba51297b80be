"""A flight's deadline follows its progress, on ArduCopter SITL (skipped without a binary).

A flight that outlasts its estimate while still getting somewhere lands and
returns with an ``Overdue`` event; one that stops getting anywhere fails after
its stall window, with an error naming the stall.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import replace
from pathlib import Path

import pytest

from missions.flight.errors import FlightError, LinkLostError
from missions.flight.events import FlightEvent, LinkLost, LinkRestored, Overdue, Stalled
from missions.flight.fly import fly_mission
from missions.flight.vehicle import STALL_FLOOR_S, Vehicle
from missions.items import Mission
from missions.plan import Sortie
from sitl.instance import Home, Sitl, gcs_port
from tests.sitl.missions import box_mission
from tests.sitl.proxy import LossyProxy

pytestmark = [pytest.mark.sitl, pytest.mark.timeout(400)]

#: The system id the test's second connection sends as: not the ground station's
#: (255), so ArduCopter's GCS failsafe never takes it for the one flying.
WATCHER_SYSID = 254


async def test_a_flight_past_its_estimate_is_overdue_not_failed(
    copter: Sitl, sample_sortie: Sortie, tmp_path: Path
) -> None:
    home = Home(*sample_sortie.home)
    events: list[FlightEvent] = []
    # the box: a 150 m square, 600 m of legs at WPNAV_SPEED (10 m/s) after a 12 s
    # climb to 30 m at 2.5 m/s, then the return and the descent: well over a minute
    # of the vehicle's clock, so an estimate of 40 s passes on the way round
    result = await fly_mission(
        copter,
        box_mission(home, side_m=150),
        out_dir=tmp_path,
        estimate_s=40.0,
        on_event=events.append,
    )
    overdue = [e for e in events if isinstance(e, Overdue)]
    assert len(overdue) == 1  # said once, and the flight carried on
    assert overdue[0].estimate_s == 40.0
    # announced at the first look past 40 s: the wait looks every 0.05 s of the wall
    # clock, 1 s of the vehicle's at speed-up 20, and a busy machine stretches that
    assert 40.0 < overdue[0].elapsed_s < 45.0
    kinds = [e.kind for e in events]
    assert "item_reached" in kinds[kinds.index("overdue") :]  # and it flew on
    # 600 m to go at the start (4 legs of 150 m); in 40 s at most 400 m were flown
    # (10 m/s), and some were: between 200 m and 590 m left
    assert 200.0 < overdue[0].to_go_m < 590.0
    # the remaining time at the ground speed seen so far: more than at full speed
    assert overdue[0].eta_s is not None
    assert overdue[0].eta_s > overdue[0].to_go_m / 10.0
    assert not [e for e in events if isinstance(e, Stalled)]
    assert result.items_missed == ()
    assert result.landed_from_home_m < 3.0


async def test_a_vehicle_that_stops_fails_after_the_stall_window(
    copter: Sitl, sample_sortie: Sortie, tmp_path: Path
) -> None:
    home = Home(*sample_sortie.home)
    events: list[FlightEvent] = []
    watcher = await Vehicle.connect(
        copter.url2,
        heartbeat_interval_s=copter.heartbeat_interval_s,
        source_system=WATCHER_SYSID,
    )
    braked_at: list[float] = []

    async def brake_on_the_second_leg() -> None:
        await watcher.wait_until(lambda: watcher.telemetry.current_seq >= 5, 120, "on leg 2")
        await watcher.set_mode("BRAKE")  # stops and holds where it is
        braked_at.append(boot_s(watcher))

    braking = asyncio.create_task(brake_on_the_second_leg())
    try:
        # the box has no holds or loiters: its stall window is the floor, 30 s
        with pytest.raises(FlightError, match=r"flight stalled: no progress for \d+ s") as error:
            await fly_mission(
                copter, box_mission(home, side_m=200), out_dir=tmp_path, on_event=events.append
            )
        failed_at = boot_s(watcher)
        await braking
        message = str(error.value)
        assert "stall window 30 s, vehicle clock" in message
        assert "in BRAKE at item 5" in message
        stalled = [e for e in events if isinstance(e, Stalled)]
        assert len(stalled) == 1
        assert stalled[0].mode == "BRAKE"
        assert stalled[0].window_s == STALL_FLOOR_S
        # a stall is declared at the first look past the window (every 1 s of the
        # vehicle's clock at speed-up 20, longer on a busy machine)
        assert STALL_FLOOR_S <= stalled[0].stalled_s < STALL_FLOOR_S + 5.0
        # and on the vehicle's clock as the watcher hears it: no sooner than the
        # window after the BRAKE was acknowledged (the watcher's latest position may
        # lag the flight's by one, 1 s of slack), and not long after it
        assert STALL_FLOOR_S - 1.0 <= failed_at - braked_at[0] < STALL_FLOOR_S + 10.0
        # fly_mission sent it home after the failure: leave the shared copter landed
        await watcher.wait_landed(timeout_s=120)
        assert watcher.telemetry.mode in ("RTL", "LAND")
    finally:
        braking.cancel()
        await watcher.close()


async def watch(copter: Sitl) -> Vehicle:
    """A second connection (serial 1) that reads the vehicle's clock and mode while the
    flight's own link (serial 2, through a proxy) is cut."""
    return await Vehicle.connect(
        copter.url2, heartbeat_interval_s=copter.heartbeat_interval_s, source_system=WATCHER_SYSID
    )


def no_gcs_failsafe(home: Home) -> Mission:
    """The 200 m box with ArduCopter's GCS failsafe off: a cut leaves it where it is."""
    return replace(box_mission(home, side_m=200), params={"FS_GCS_ENABLE": 0})


def boot_s(vehicle: Vehicle) -> float:
    """The vehicle's clock, seconds since boot, at its latest position."""
    assert vehicle.telemetry.position_time_boot_ms is not None
    return vehicle.telemetry.position_time_boot_ms / 1000


async def test_time_with_the_link_down_is_not_a_stall(
    copter: Sitl, sample_sortie: Sortie, tmp_path: Path
) -> None:
    home = Home(*sample_sortie.home)
    proxy = LossyProxy(gcs_port(copter.instance, 2), drop=0.0)
    await proxy.start()
    watcher = await watch(copter)
    clock: dict[str, float] = {}

    async def brake_then_cut() -> None:
        await watcher.wait_until(lambda: watcher.telemetry.current_seq >= 5, 120, "on leg 2")
        await watcher.set_mode("BRAKE")
        clock["braked"] = boot_s(watcher)
        await asyncio.sleep(0.3)  # the flight sees it stop (6 s of the vehicle's clock)
        proxy.cut(2.5)  # about 50 s of the vehicle's clock at speed-up 20

    def on_event(event: FlightEvent) -> None:
        if isinstance(event, LinkLost | LinkRestored | Stalled):
            clock[event.kind] = boot_s(watcher)

    cutting = asyncio.create_task(brake_then_cut())
    try:
        with pytest.raises(FlightError, match="flight stalled"):
            await fly_mission(
                proxy.url,
                no_gcs_failsafe(home),
                out_dir=tmp_path,
                speedup=copter.speedup,
                link_timeout_s=0.5,
                link_outage_s=30.0,
                on_event=on_event,
            )
        await cutting
        outage = clock["link_restored"] - clock["link_lost"]
        # the link was down longer than the stall window: counted, the flight would
        # have failed the moment it came back
        assert outage > STALL_FLOOR_S
        assert clock["braked"] < clock["link_lost"] < clock["link_restored"] < clock["stalled"]
        # it failed a whole window after the link came back instead (read on the
        # watcher's clock, which may lag the flight's by a position: 1 s of slack),
        # in BRAKE for the 0.3 s before the cut, the outage and the window at least
        assert clock["stalled"] - clock["link_restored"] >= STALL_FLOOR_S - 1.0
        assert clock["stalled"] - clock["braked"] >= outage + STALL_FLOOR_S
        await watcher.wait_landed(timeout_s=120)  # fly_mission sent it home
    finally:
        cutting.cancel()
        await watcher.close()
        await proxy.stop()


async def test_a_link_down_past_the_outage_limit_ends_the_wait(
    copter: Sitl, sample_sortie: Sortie, tmp_path: Path
) -> None:
    home = Home(*sample_sortie.home)
    proxy = LossyProxy(gcs_port(copter.instance, 2), drop=0.0)
    await proxy.start()
    watcher = await watch(copter)

    async def cut_on_leg_2() -> int:
        await watcher.wait_until(lambda: watcher.telemetry.current_seq >= 5, 120, "on leg 2")
        proxy.cut(5.0)
        return watcher.telemetry.current_seq

    cutting = asyncio.create_task(cut_on_leg_2())
    try:
        started = time.monotonic()
        with pytest.raises(
            LinkLostError, match="link to the vehicle down for more than 1 s in flight"
        ) as error:
            await fly_mission(
                proxy.url,
                no_gcs_failsafe(home),
                out_dir=tmp_path,
                speedup=copter.speedup,
                link_timeout_s=0.5,
                link_outage_s=1.0,
            )
        cut_at = await cutting
        # the item the flight last heard: the watcher's at the cut, or the one before when
        # the vehicle's MISSION_CURRENT was still on its way through the proxy (a busy host)
        heard = re.search(r"last heard in AUTO at item (\d+)", str(error.value))
        assert heard and int(heard[1]) in (cut_at - 1, cut_at), (cut_at, str(error.value))
        assert time.monotonic() - started < 60.0
        # the vehicle flew on without the ground station: let it finish and land
        await watcher.wait_landed(timeout_s=120)
        assert not watcher.telemetry.armed
    finally:
        cutting.cancel()
        await watcher.close()
        await proxy.stop()
