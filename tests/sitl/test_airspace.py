"""Three-dimensional airspace in ArduCopter SITL: the flown tracks keep the clearance rule.

Against the sample zone's first sortie, as `ecopatrol plan` writes it, with
the vehicle parameters the plan carries (``Mission.params``):

- the parameters are on the vehicle (read back) and the autopilot takes them;
- the whole sortie, flown, keeps every stack and obstacle clear by the rule
  that ``tests/clearance.py`` (an independent checker) holds plans to;
- a ground-station link lost mid-survey: the vehicle's own failsafe return
  keeps the rule too, and enters no no-fly area;
- sent in GUIDED straight through a no-fly area, the vehicle goes around it.

Every track is the vehicle's own GLOBAL_POSITION_INT, read from a ``.tlog``.
The copter is this module's own instance, so the parameters set here never
reach the session's shared one.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
import shapely
from pymavlink import mavutil
from pymavlink.dialects.v20 import ardupilotmega as mavlink
from shapely.geometry import LineString, Point

from missions.flight.errors import PreflightError, RebootRequiredError
from missions.flight.vehicle import Vehicle, same_param
from missions.geo import distance_m
from missions.items import Mission, MissionItem
from missions.plan import Sortie
from sitl.instance import Home, Sitl, launch, prepare
from tests.clearance import Zone, load_zone, track_clearance
from tests.sitl.fixtures import SAMPLE_SITES, FlownSortie

pytestmark = [pytest.mark.sitl, pytest.mark.timeout(300)]

logger = logging.getLogger(__name__)

#: What the issue asks to find on the vehicle, as the plan gives it.
FENCE_AND_RETURN = (
    "FENCE_ENABLE",
    "FENCE_TYPE",
    "FENCE_ALT_MAX",
    "FENCE_ACTION",
    "RTL_ALT",
    "OA_TYPE",
)

#: ArduCopter custom modes.
RTL, SMART_RTL = 6, 21

#: The system id of a watcher that must not count as the ground station.
OBSERVER_SYSID = 200

LatLonAlt = tuple[float, float, float]


@pytest.fixture(scope="module")
def zone() -> Zone:
    return load_zone(SAMPLE_SITES)


@pytest.fixture(scope="module")
def airspace_copter(sitl_binary: Path, sitl_home: Home) -> Iterator[Sitl]:
    """This module's own copter at the sortie's dock, speed-up 20."""
    sitl = launch(home=sitl_home, speedup=20.0, binary=sitl_binary)
    try:
        asyncio.run(prepare(sitl))
        yield sitl
    finally:
        sitl.stop()


@pytest.fixture
async def copter(airspace_copter: Sitl) -> Sitl:
    """The module's copter with a fresh battery, as after a swap at the dock."""
    vehicle = await connect(airspace_copter)
    try:
        await vehicle.command(mavlink.MAV_CMD_BATTERY_RESET, 0xFF, 100)
    finally:
        await vehicle.close()
    return airspace_copter


async def connect(
    sitl: Sitl, *, tlog: Path | None = None, url: str | None = None, source_system: int = 255
) -> Vehicle:
    return await Vehicle.connect(
        url or sitl.url,
        heartbeat_interval_s=sitl.heartbeat_interval_s,
        tlog_path=tlog,
        source_system=source_system,
    )


def read_track(tlog: Path) -> tuple[list[LatLonAlt], list[tuple[int, int]]]:
    """The vehicle's GLOBAL_POSITION_INT (lat, lon, alt AMSL m) and (track index, mode) changes."""
    log = mavutil.mavlink_connection(str(tlog))
    track: list[LatLonAlt] = []
    modes: list[tuple[int, int]] = []
    while (msg := log.recv_match(type=["GLOBAL_POSITION_INT", "HEARTBEAT"])) is not None:
        if msg.get_srcSystem() != 1 or msg.get_srcComponent() != 1:
            continue  # a ground station's own heartbeat, or another component
        if msg.get_type() == "HEARTBEAT":
            if not modes or modes[-1][1] != msg.custom_mode:
                modes.append((len(track), msg.custom_mode))
        elif msg.lat or msg.lon:
            track.append((msg.lat / 1e7, msg.lon / 1e7, msg.alt / 1000))
    return track, modes


def assert_keeps_the_rule(zone: Zone, track: Sequence[LatLonAlt], what: str) -> dict[str, float]:
    """Every obstacle kept clear by the rule; returns the closest approach to each."""
    assert len(track) > 10, f"{what}: only {len(track)} positions in the tlog"
    results = track_clearance(zone, track)
    assert {r.obstacle_id for r in results} == {o.id for o in zone.obstacles}
    broken = [v for r in results for v in r.violations]
    assert not broken, f"{what}: {len(broken)} breaches, first: {broken[0]}"
    return {r.obstacle_id: round(r.min_distance_m, 1) for r in results}


def no_fly_distances(zone: Zone, track: Sequence[LatLonAlt]) -> dict[str, float]:
    """Horizontal distance from the track to each no-fly area; -1 where a position is inside."""
    arr = np.asarray(track, float)
    xy = zone.frame.xy(arr[:, 1], arr[:, 0]).reshape(-1, 2)
    points = shapely.points(xy)
    out = {}
    for zid, area in zone.no_fly:
        inside = shapely.contains_xy(area, xy[:, 0], xy[:, 1])
        out[zid] = -1.0 if inside.any() else round(float(shapely.distance(points, area).min()), 1)
    return out


def assert_outside_no_fly(zone: Zone, track: Sequence[LatLonAlt], what: str) -> dict[str, float]:
    distances = no_fly_distances(zone, track)
    entered = [zid for zid, d in distances.items() if d < 0]
    assert not entered, f"{what}: positions inside no-fly area(s) {entered}"
    return distances


async def fly_ready(vehicle: Vehicle, mission: Mission) -> None:
    await vehicle.upload_mission(mission)
    await vehicle.apply_params(mission.params)
    await vehicle.wait_ready()
    await vehicle.preflight()


# -- (b) the parameters -------------------------------------------------------


async def test_the_plans_parameters_are_on_the_vehicle_and_taken(
    copter: Sitl, sample_sortie: Sortie
) -> None:
    mission = sample_sortie.mission
    missing = [n for n in FENCE_AND_RETURN if n not in mission.params]
    assert not missing, f"the plan sets no {missing} (Mission.params: {mission.params})"
    vehicle = await connect(copter)
    try:
        await fly_ready(vehicle, mission)
        held = await vehicle.read_params(FENCE_AND_RETURN)
        for name in FENCE_AND_RETURN:
            got = held[name]
            assert got is not None and same_param(got, mission.params[name]), (name, got)
        # the autopilot reports the fence on (SYS_STATUS: present, enabled, not breached)
        status = await vehicle.link.wait_for(mavlink.MAVLink_sys_status_message, timeout_s=5)
        fence = mavlink.MAV_SYS_STATUS_GEOFENCE
        assert status.onboard_control_sensors_present & fence
        assert status.onboard_control_sensors_enabled & fence
        assert status.onboard_control_sensors_health & fence
        # ...and its pre-arm checks passed: Dijkstra was set up at boot ("requires reboot" not)
        assert vehicle.telemetry.prearm_ok is True

        # a boot-time parameter is refused, never written
        with pytest.raises(RebootRequiredError, match="OA_TYPE is 2, plan needs 1"):
            await vehicle.apply_params({**mission.params, "OA_TYPE": 1})
        assert await vehicle.get_param("OA_TYPE") == mission.params["OA_TYPE"]

        # a parameter changed behind the plan's back stops the arming
        await vehicle.set_param("RTL_ALT", 3000)
        needed = f"RTL_ALT is 3000, plan needs {mission.params['RTL_ALT']:g}"
        with pytest.raises(PreflightError, match=f"params: {needed}"):
            await vehicle.preflight(timeout_s=1)
        await vehicle.apply_params(mission.params)
        await vehicle.preflight()
    finally:
        await vehicle.close()


# -- (a) the sortie, flown -----------------------------------------------------


def test_the_flown_sortie_keeps_every_obstacle_clear(
    flown_sortie: FlownSortie, zone: Zone, record_property: Callable[[str, object], None]
) -> None:
    result = flown_sortie.result
    assert result.items_missed == ()
    track, _ = read_track(result.tlog_path)
    closest = assert_keeps_the_rule(zone, track, "sortie 1")
    no_fly = assert_outside_no_fly(zone, track, "sortie 1")
    record_property("closest_m", closest)
    record_property("no_fly_m", no_fly)
    record_property("flight_s", result.duration_s)
    logger.info("sortie 1 in %.0f s: closest %s; no-fly %s", result.duration_s, closest, no_fly)


# -- (c) the ground station lost mid-survey -------------------------------------


def _cut_item(mission: Mission, zone: Zone) -> int:
    """The survey waypoint, in the middle half of the mission, whose straight line
    to the nearest rally point passes nearest a stack: where a failsafe return is
    hardest."""
    waypoints = [
        item
        for item in mission.items[1:]
        if item.command == mavlink.MAV_CMD_NAV_WAYPOINT and (item.x or item.y)
    ]
    middle = waypoints[len(waypoints) // 4 : 3 * len(waypoints) // 4]
    homes = [(mission.home.lat, mission.home.lon)] + [(r.lat, r.lon) for r in mission.rally]
    stacks = [Point(o.center) for o in zone.obstacles if o.center is not None]

    def squeeze(item: MissionItem) -> float:
        lat, lon = item.lat, item.lon
        dest = min(homes, key=lambda h: distance_m(lat, lon, *h))
        ends = zone.frame.xy([lon, dest[1]], [lat, dest[0]]).reshape(-1, 2)
        line = LineString(ends)
        return min(line.distance(s) for s in stacks) if stacks else 0.0

    return min(middle, key=squeeze).seq


async def test_ground_station_lost_mid_survey_the_failsafe_return_keeps_clear(
    copter: Sitl,
    sample_sortie: Sortie,
    zone: Zone,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    mission = sample_sortie.mission
    action = int(mission.params.get("FS_GCS_ENABLE", 0))
    assert action in (1, 3), (
        f"the plan must set FS_GCS_ENABLE to 1 (RTL) or 3 (SmartRTL or RTL), has {action or 'none'}"
    )
    cut_at = _cut_item(mission, zone)
    gcs = await connect(copter)
    # a watcher on the second port, under another system id: its heartbeats do not
    # keep ArduPilot's GCS failsafe quiet, and its tlog records the whole flight
    observer = await connect(
        copter, url=copter.url2, tlog=tmp_path / "observer.tlog", source_system=OBSERVER_SYSID
    )
    try:
        await fly_ready(gcs, mission)
        await gcs.start_mission()
        await gcs.wait_until(lambda: gcs.telemetry.current_seq >= cut_at, 240, f"at item {cut_at}")
        cut = gcs.telemetry.position
        await gcs.close()  # the link drops: no more heartbeats from the ground station
        await observer.wait_until(
            lambda: observer.telemetry.custom_mode in (RTL, SMART_RTL), 30, "returning"
        )
        assert "GCS Failsafe" in " ".join(observer.telemetry.status_texts[-10:])
        await observer.wait_landed(timeout_s=240)
        landed = observer.telemetry.position
    finally:
        await gcs.close()
        await observer.close()
    assert cut is not None and landed is not None

    track, modes = read_track(tmp_path / "observer.tlog")
    returning = next(k for k, mode in modes if mode in (RTL, SMART_RTL))
    back = track[returning:]
    closest = assert_keeps_the_rule(zone, back, "failsafe return")
    no_fly = assert_outside_no_fly(zone, back, "failsafe return")
    assert_keeps_the_rule(zone, track, "sortie 1 up to the return")
    # it landed at a dock (home or a rally point), not where the link was lost
    docks = [(mission.home.lat, mission.home.lon)] + [(r.lat, r.lon) for r in mission.rally]
    assert min(distance_m(landed.lat, landed.lon, *d) for d in docks) < 3.0
    assert distance_m(cut.lat, cut.lon, landed.lat, landed.lon) > 50.0
    record_property("cut_item", cut_at)
    record_property("return_closest_m", closest)
    record_property("return_no_fly_m", no_fly)
    logger.info("link cut at item %d: return closest %s; no-fly %s", cut_at, closest, no_fly)


# -- (d) GUIDED through a no-fly area -------------------------------------------


def _across(zone: Zone, start: tuple[float, float], beyond_m: float) -> tuple[str, float, float]:
    """The no-fly area nearest ``start`` (lat, lon) and a point ``beyond_m`` past its far
    side on the straight line from ``start`` through its centre."""
    here = zone.frame.xy(start[1], start[0]).reshape(2)
    zid, area = min(zone.no_fly, key=lambda za: za[1].distance(Point(here)))
    centre = np.array(area.centroid.coords[0])
    ahead = (centre - here) / np.linalg.norm(centre - here)
    exit_m = max(float(np.dot(np.array(p) - here, ahead)) for p in area.exterior.coords)
    target = here + ahead * (exit_m + beyond_m)
    lon, lat = zone.frame.lonlat(target[0], target[1]).reshape(2)
    assert LineString([here, target]).crosses(area)
    return zid, float(lat), float(lon)


async def test_guided_towards_a_no_fly_area_goes_around_it(
    copter: Sitl,
    sample_sortie: Sortie,
    zone: Zone,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    mission = sample_sortie.mission
    options = int(mission.params.get("GUID_OPTIONS", 0))
    assert options & 64, (
        "the plan must set GUID_OPTIONS bit 6 (64): without it GUIDED flies straight "
        f"into a fence exclusion and RTL then holds inside it (GUID_OPTIONS: {options})"
    )
    zid, lat, lon = _across(zone, (mission.home.lat, mission.home.lon), beyond_m=60.0)
    alt_m = mission.params["RTL_ALT"] / 100  # above every stack
    vehicle = await connect(copter, tlog=tmp_path / "guided.tlog")
    try:
        await fly_ready(vehicle, mission)
        await vehicle.takeoff(alt_m)
        await vehicle.goto(lat, lon, alt_m)

        def there() -> bool:
            p = vehicle.telemetry.position
            return p is not None and distance_m(p.lat, p.lon, lat, lon) < 3.0

        await vehicle.wait_until(there, 60, f"past {zid}")
        assert vehicle.telemetry.mode == "GUIDED"  # no fence breach, no RTL on the way
        await vehicle.return_to_launch()
        await vehicle.wait_landed(timeout_s=120)
    finally:
        await vehicle.close()
    track, _ = read_track(tmp_path / "guided.tlog")
    no_fly = assert_outside_no_fly(zone, track, "GUIDED across and back")
    straight_m = distance_m(mission.home.lat, mission.home.lon, lat, lon)
    flown = sum(distance_m(a[0], a[1], b[0], b[1]) for a, b in itertools.pairwise(track))
    assert flown > 2 * straight_m  # there and back, around the area both ways
    record_property("no_fly_m", no_fly)
    record_property("flown_m", round(flown))
    logger.info("GUIDED across %s and back: %.0f m flown; no-fly %s", zid, flown, no_fly)
