"""Flying one stored mission with ``missions.flight.Vehicle``, feeding a live FlightRun.

The steps are those of ``missions.flight.fly.fly_mission`` (upload and read
back, wait ready, pre-flight checks, AUTO, wait landed), taken one by one here
because the service must hold the vehicle to pause, resume, send home, land or
abort it while it flies. SITL, when asked for, is started at the sortie's dock
(as the target's MAVLink system id) and stopped after the flight whatever
happens. Besides the vehicle's events, the runner reads every message the
autopilot sends: its positions go to the run (and so to the separation guard),
and their sequence numbers measure the link (:class:`server.fleet.LinkQuality`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.flight.events import (
    Captured,
    CapturesMissed,
    FlightEvent,
    ItemReached,
    Landed,
    ModeChanged,
    Overdue,
    Progress,
    Stalled,
    StatusText,
)
from missions.flight.fleet import position_of
from missions.flight.fly import make_ready, outage_wait_s
from missions.flight.logs import recover_after_landing
from missions.flight.vehicle import FlightDeadline, Vehicle, reached_all
from missions.gas import GAS_NAME
from missions.manifest import MANIFEST_NAME, read_manifest
from server.fleet import LinkQuality
from server.flights import Fix
from server.planning import items_from_json
from store.models import FlightStatus, Mission

if TYPE_CHECKING:
    from server.flights import FlightManager, FlightRun, LaunchTarget

logger = logging.getLogger(__name__)


class VehiclePilot:
    """Pause/resume, send home or land a connected vehicle; an abort flies home (RTL).

    Each way of ending the mission early is remembered in ``ended_by`` (the flight
    then ends as aborted, saying so).
    """

    def __init__(self, vehicle: Vehicle) -> None:
        self.vehicle = vehicle
        self.ended_by: str | None = None

    async def pause(self) -> None:
        await self.vehicle.pause()

    async def resume(self) -> None:
        await self.vehicle.resume()

    async def abort(self) -> None:
        self.ended_by = "aborted by the operator; landed at home"
        await self.vehicle.return_to_launch()

    async def return_home(self) -> None:
        self.ended_by = "sent home by the operator; landed at home"
        await self.vehicle.return_to_launch()

    async def land(self) -> None:
        """Land where it is (ArduPilot LAND), not at home."""
        self.ended_by = "landed where it was, by the operator"
        await self.vehicle.set_mode("LAND")


def event_changes(event: FlightEvent) -> dict[str, Any]:
    """The live-state fields a flight event updates."""
    if isinstance(event, Progress):
        return {
            "lat": event.lat,
            "lon": event.lon,
            "alt_rel_m": round(event.alt_rel_m, 1),
            "current_item": event.current_seq,
            "item_count": event.total_items,
            "reached": event.reached,
            "distance_to_go_m": round(event.distance_to_go_m, 1),
            "eta_s": None if event.eta_s is None else round(event.eta_s),
            "groundspeed_m_s": round(event.groundspeed_m_s, 1),
            "battery_pct": event.battery_pct,
            "mode": event.mode,
        }
    if isinstance(event, ModeChanged):
        return {"mode": event.mode}
    if isinstance(event, Captured):
        return {"last_photo": event.pose.index}
    if isinstance(event, CapturesMissed):
        return {"message": f"photos {event.first_index}-{event.last_index} not reported"}
    if isinstance(event, StatusText):
        return {"message": event.text}
    if isinstance(event, ItemReached):
        return {"last_reached": event.seq}
    if isinstance(event, Landed):
        return {"lat": event.lat, "lon": event.lon, "message": "landed"}
    if isinstance(event, Overdue):
        left = "" if event.eta_s is None else f", about {event.eta_s:.0f} s left"
        return {
            "overdue_s": round(event.elapsed_s - event.estimate_s),
            "message": f"overdue, still flying: {event.to_go_m:.0f} m to go{left}",
        }
    if isinstance(event, Stalled):
        return {
            "message": f"stalled: no progress for {event.stalled_s:.0f} s in {event.mode} "
            f"at item {event.seq}; returning home"
        }
    return {}


@contextlib.asynccontextmanager
async def _endpoint(
    target: LaunchTarget, mission: Mission, speedup: int
) -> AsyncIterator[tuple[str, float]]:
    """(connection URL, GCS heartbeat period): the given link, or a SITL at the sortie's dock."""
    if not target.sitl:
        yield str(target.connection), 1.0
        return
    from sitl.instance import Home, start

    dock = (mission.plan or {}).get("dock") or {}
    if not {"lat", "lon"} <= dock.keys():
        raise ValueError(f"mission {mission.name!r} has no dock to start SITL at")
    home = Home(float(dock["lat"]), float(dock["lon"]), float(dock.get("ground_alt_m", 0.0)))
    sitl = await start(home=home, speedup=speedup, sysid=target.system_id)
    try:
        yield sitl.url, sitl.heartbeat_interval_s
    finally:
        await asyncio.to_thread(sitl.stop)


async def fly_mission(
    run: FlightRun, mission: Mission, target: LaunchTarget, manager: FlightManager
) -> FlightStatus:
    """Fly ``mission`` to the end; the returned status is what the flight ended as."""
    items = items_from_json(mission.plan or {}, name=mission.name)
    flight_dir = manager.settings.flights_dir / str(run.flight_id)
    manifest = flight_dir / MANIFEST_NAME
    flight_dir.mkdir(parents=True, exist_ok=True)
    run.publish(message="starting SITL" if target.sitl else f"connecting to {target.connection}")
    async with _endpoint(target, mission, manager.settings.sitl_speedup) as (url, heartbeat):
        vehicle = await Vehicle.connect(
            url,
            tlog_path=flight_dir / "flight.tlog",
            events_path=flight_dir / "events.jsonl",
            heartbeat_interval_s=heartbeat,
            forward=manager.settings.forward,
        )
        run.publish(system_id=vehicle.link.target_system)
        pilot = VehiclePilot(vehicle)
        quality = LinkQuality()
        pump = asyncio.create_task(
            _pump(vehicle, run, quality), name=f"flight-{run.flight_id}-events"
        )
        follow = asyncio.create_task(
            _follow(vehicle, run, quality), name=f"flight-{run.flight_id}-positions"
        )
        await asyncio.sleep(0)
        try:
            vehicle.record_captures(manifest)
            vehicle.record_gas(flight_dir / GAS_NAME)
            await make_ready(
                vehicle, items, ready_timeout_s=90.0, say=lambda text: run.publish(message=text)
            )
            run.pilot = pilot
            await vehicle.start_mission()
            manager.record(run, FlightStatus.FLYING, message="flying the mission")
            speedup = manager.settings.sitl_speedup if target.sitl else 1
            # failed only when it stops making progress, on the vehicle's clock
            deadline = FlightDeadline.for_mission(items)
            await vehicle.wait_landed(
                deadline=deadline, link_outage_s=outage_wait_s(items, deadline, 1 / speedup)
            )
            recovery = await recover_after_landing(vehicle, manifest)
            if recovery is not None:
                run.publish(message=f"{recovery.recovered} photos' poses recovered from the log")
        except BaseException:
            with contextlib.suppress(Exception):
                if vehicle.telemetry.armed:
                    await asyncio.shield(vehicle.return_to_launch())
            raise
        finally:
            run.pilot = None
            for task in (pump, follow):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await vehicle.close()
            photos = len(read_manifest(manifest)) if manifest.exists() else 0
            run.publish(distance_m=round(vehicle.distance_flown_m, 1), photos=photos)
    missed = reached_all(vehicle.telemetry.reached, items)
    if pilot.ended_by is not None:
        run.publish(message=pilot.ended_by)
        return FlightStatus.ABORTED
    if missed:
        run.publish(message=f"landed without reaching items {missed[:10]}")
        return FlightStatus.ABORTED
    run.publish(message=f"landed; {photos} photos")
    return FlightStatus.LANDED


async def _pump(vehicle: Vehicle, run: FlightRun, quality: LinkQuality) -> None:
    photos = 0
    async for event in vehicle.event_stream():
        changes = event_changes(event)
        if isinstance(event, Captured):
            photos += 1
            changes["photos"] = photos
        if isinstance(event, Progress):  # once a second: what the events do not carry
            changes["battery_v"] = vehicle.telemetry.battery_v
            changes["link_pct"] = quality.percent(time.monotonic())
        if changes:
            run.publish(**changes)


async def _follow(vehicle: Vehicle, run: FlightRun, quality: LinkQuality) -> None:
    """Every message the autopilot sends: its sequence numbers for the link quality, its
    positions (GLOBAL_POSITION_INT) for the run's fix."""
    link = vehicle.link
    with link.subscribe() as messages:
        async for msg in messages:
            if msg.get_srcComponent() != link.target_component:
                continue
            quality.heard(msg.get_seq(), time.monotonic())
            if isinstance(msg, mavlink.MAVLink_global_position_int_message):
                lat, lon, alt_amsl_m, v_enu_m_s = position_of(msg)
                t = vehicle.telemetry
                airborne = t.armed and t.landed_state != mavlink.MAV_LANDED_STATE_ON_GROUND
                run.observe(Fix(lat, lon, alt_amsl_m, v_enu_m_s, airborne))
