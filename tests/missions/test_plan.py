"""Whole patrols: ArduPilot item conventions, safety rules and refusals on the sample zone."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pymavlink.dialects.v20 import ardupilotmega as mavlink
from pyproj import Geod
from shapely.geometry import LineString

from missions.camera import Aircraft
from missions.errors import (
    AltitudeLimitError,
    InfeasibleError,
    InvalidProfileError,
    NoFlyViolationError,
    RangeError,
)
from missions.geo import LocalFrame, autopilot_distance_m
from missions.plan import plan_patrol
from zone.sites import Enterprise, NoFly, Sites

M = mavlink


def test_every_target_is_covered_once(zone, patrol) -> None:
    covered = [t for s in patrol.sorties for t in s.targets]
    assert set(covered) == set(zone.targets)
    assert not patrol.refused
    tasks = [t for s in patrol.sorties for t in s.tasks]
    assert len(tasks) == len(set(tasks))
    stacks = sum(len(e.stacks) for e in zone.enterprises)
    assert sum(t.startswith("orbit") for t in tasks) == stacks


def test_items_follow_ardupilot_conventions(patrol) -> None:
    for sortie in patrol.sorties:
        items = sortie.mission.items
        assert [i.seq for i in items] == list(range(len(items)))
        home, takeoff = items[0], items[1]
        assert home.command == M.MAV_CMD_NAV_WAYPOINT and home.frame == M.MAV_FRAME_GLOBAL
        assert home.z == sortie.dock.ground_alt_m
        assert (home.lat, home.lon) == pytest.approx((sortie.dock.lat, sortie.dock.lon), abs=1e-7)
        assert takeoff.command == M.MAV_CMD_NAV_TAKEOFF and takeoff.z > 0
        assert items[2].command == M.MAV_CMD_DO_CHANGE_SPEED
        assert items[-1].command == M.MAV_CMD_NAV_RETURN_TO_LAUNCH
        commands = [i.command for i in items]
        # trigger distance switched on at each leg start and off at its end, in pairs
        triggers = [i.param1 for i in items if i.command == M.MAV_CMD_DO_SET_CAM_TRIGG_DIST]
        assert triggers[0::2] and all(d > 0 for d in triggers[0::2])
        assert all(d == 0 for d in triggers[1::2]) and len(triggers) % 2 == 0
        # every ROI is cleared again
        rois = [
            c for c in commands if c in (M.MAV_CMD_DO_SET_ROI_LOCATION, M.MAV_CMD_DO_SET_ROI_NONE)
        ]
        assert rois == [M.MAV_CMD_DO_SET_ROI_LOCATION, M.MAV_CMD_DO_SET_ROI_NONE] * (len(rois) // 2)
        for item in items:
            assert all(
                math.isfinite(v)
                for v in (item.param1, item.param2, item.param3, item.param4, item.z)
            )
            if item.command == M.MAV_CMD_DO_MOUNT_CONTROL:
                assert item.param1 == -90
        assert len(items) <= patrol.aircraft.mission_capacity


def test_photo_points_follow_the_trigger_legs(patrol) -> None:
    sortie = patrol.sorties[0]
    items = sortie.mission.items
    seqs = {i.seq: i for i in items}
    for photo in sortie.photo_points:
        trig = seqs[photo.trigger_seq]
        assert trig.command == M.MAV_CMD_DO_SET_CAM_TRIGG_DIST and trig.param1 > 0
    first_by_seq: dict[int, tuple[float, float]] = {}
    for photo in sortie.photo_points:
        first_by_seq.setdefault(photo.trigger_seq, (photo.lat, photo.lon))
    # as ArduPilot measures it (Location::get_distance: LATLON_TO_M, 0.011131884502145034 m
    # per 1e-7 degree, longitude times the cosine of the latitude), not as the ground is
    k = 0.011131884502145034 * 1e7
    for seq, (lat, lon) in first_by_seq.items():
        trig = seqs[seq]
        on = next(i for i in reversed(items[:seq]) if i.command == M.MAV_CMD_NAV_WAYPOINT)
        if trig.param3 == 1:
            # an orbit: "trigger now" at the waypoint the camera is switched on at
            assert (lat, lon) == pytest.approx((on.lat, on.lon), abs=2e-7)
            continue
        # a nadir leg: the distance trigger's first photo, one trigger distance from where
        # the camera is switched on (the distance commanded is shorter by the half 50 Hz
        # check a photo fires late: speed at most 15 m/s, so by at most 0.075 m)
        east = (lon - on.lon) * k * math.cos(math.radians(lat))
        gap_m = math.hypot((lat - on.lat) * k, east)
        assert trig.param1 <= gap_m <= trig.param1 + 0.08
    assert sortie.photo_count == len(sortie.photo_points) > 0


def test_the_autopilot_measures_on_its_sphere_not_on_the_ground() -> None:
    # by hand: 0.01 degree of latitude is 1113.188 m to ArduPilot (LATLON_TO_M times 1e5);
    # on WGS84 at 34.8 N it is 1109.37 m (the meridian's radius of curvature there,
    # a(1-e2)/(1-e2 sin2)^1.5 = 6,356,217 m, times 0.01 pi/180); east, 0.01 degree is
    # 914.094 m to ArduPilot (times cos 34.8 = 0.82115) and 915.10 m on the ellipsoid
    # (the prime vertical's radius, a/(1-e2 sin2)^0.5 = 6,385,102 m, times the same)
    north = np.array([[113.55, 34.795], [113.55, 34.805]])
    east = np.array([[113.545, 34.8], [113.555, 34.8]])
    assert autopilot_distance_m(north) == pytest.approx(1113.188, abs=1e-3)
    assert autopilot_distance_m(east) == pytest.approx(914.094, abs=1e-3)
    geod = Geod(ellps="WGS84")
    assert geod.line_length(*north.T) == pytest.approx(1109.37, abs=0.02)
    assert geod.line_length(*east.T) == pytest.approx(915.10, abs=0.02)


def test_a_north_south_leg_is_told_the_distance_as_the_autopilot_counts_it(zone) -> None:
    # ArduPilot counts 0.34 % too much north-south at 35 N: told the ground's 12 m it
    # would fire every 11.96 m, 1.7 m short at the end of a 500 m leg
    patrol = plan_patrol(zone, targets=["ent-01"], patterns=("survey",), angle_deg=0.0)
    items = patrol.sorties[0].mission.items
    trigger = next(i for i in items if i.command == M.MAV_CMD_DO_SET_CAM_TRIGG_DIST and i.param1)
    photos = [p for p in patrol.sorties[0].photo_points if p.trigger_seq == trigger.seq]
    frame = LocalFrame(photos[0].lon, photos[0].lat)
    xy = np.array([frame.xy(p.lon, p.lat) for p in photos])
    grid_m = float(np.median(np.hypot(*np.diff(xy, axis=0).T)))  # the planned spacing
    speed = next(
        i.param2 for i in reversed(items[: trigger.seq]) if i.command == M.MAV_CMD_DO_CHANGE_SPEED
    )
    late_m = speed * 0.01  # half a 50 Hz check
    assert grid_m == pytest.approx(11.22, abs=0.01)
    assert trigger.param1 == pytest.approx((grid_m - late_m) * 1.00344, rel=3e-4)


def test_no_route_enters_a_no_fly_area(zone, patrol) -> None:
    for sortie in patrol.sorties:
        route = LineString(sortie.route[:, :2])
        for nf in zone.no_fly:
            assert not route.intersects(nf.area), f"sortie {sortie.number} enters {nf.id}"
        assert float(np.max(sortie.route[:, 2])) <= 120


def test_sorties_fit_endurance_with_reserve_and_return_to_a_dock(patrol) -> None:
    usable = patrol.aircraft.usable_endurance_s
    for sortie in patrol.sorties:
        assert 0 < sortie.duration_s <= usable
        assert tuple(sortie.route[0, :2]) == pytest.approx(tuple(sortie.route[-1, :2]))
    assert {s.dock.id for s in patrol.sorties} == {"dock-south", "dock-north"}


def test_geofence_includes_every_route_and_excludes_no_fly(zone, patrol) -> None:
    inclusion = shapely.Polygon([(lon, lat) for lat, lon in patrol.fence_inclusion])
    for sortie in patrol.sorties:
        assert inclusion.covers(LineString(sortie.route[:, :2]))
        fence = sortie.mission.fence
        kinds = {i.command for i in fence}
        assert M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION in kinds
        assert M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION in kinds
        rally = sortie.mission.rally
        assert {(round(r.lat, 6), round(r.lon, 6)) for r in rally} == {
            (round(d.lat, 6), round(d.lon, 6)) for d in zone.docks
        }


def test_target_inside_no_fly_is_refused_with_the_reason(zone) -> None:
    ent = zone.target("ent-04")
    covered = replace(
        zone,
        no_fly=(*zone.no_fly, NoFly("nfz-test", "police operation", ent.boundary.buffer(0.001))),
    )
    with pytest.raises(
        NoFlyViolationError,
        match="ent-04 lies inside no-fly area 'nfz-test' \\(police operation\\)",
    ):
        plan_patrol(covered, targets=["ent-04"], time_limit_s=0.2)
    # planning everything skips it and says why
    patrol = plan_patrol(covered, targets=None, time_limit_s=0.2, patterns=("survey",))
    assert "police operation" in patrol.refused["ent-04"]
    assert all("ent-04" not in s.targets for s in patrol.sorties)


def test_target_beyond_range_is_refused(zone) -> None:
    short = Aircraft(endurance_s=120)
    with pytest.raises(RangeError, match=r"round trip .*takes .* more than the usable"):
        plan_patrol(zone, targets=["ent-01"], aircraft=short, time_limit_s=0.2)


def test_altitude_over_ceiling_and_conflicting_options_are_refused(zone) -> None:
    with pytest.raises(AltitudeLimitError, match="above the 120 m ceiling"):
        plan_patrol(zone, targets=["ent-01"], altitude_m=150)
    with pytest.raises(AltitudeLimitError, match=r"needed for 5\.0 cm/px"):
        plan_patrol(zone, targets=["ent-01"], gsd_cm=5.0)
    with pytest.raises(InvalidProfileError, match="not both"):
        plan_patrol(zone, targets=["ent-01"], gsd_cm=2.0, altitude_m=60)
    with pytest.raises(AltitudeLimitError, match="stack ent-07-s1"):
        plan_patrol(zone, targets=["ent-07"], max_agl_m=85)


def test_item_capacity_splits_sorties(zone) -> None:
    small = Aircraft(mission_capacity=120)
    patrol = plan_patrol(
        zone, targets=["ent-04", "ent-07", "ent-12"], aircraft=small, time_limit_s=0.5
    )
    assert all(len(s.mission.items) <= 120 for s in patrol.sorties)
    assert len(patrol.sorties) >= 3


def test_gsd_sets_the_altitude_and_thermal_camera_plans(zone) -> None:
    patrol = plan_patrol(zone, targets=["ent-01"], gsd_cm=2.0, time_limit_s=0.2)
    assert patrol.gsd_cm == pytest.approx(2.0, abs=0.01)
    assert patrol.altitude_m == pytest.approx(72.96, abs=0.01)
    thermal = plan_patrol(zone, targets=["ent-01"], camera="thermal-640", time_limit_s=0.2)
    assert thermal.lane_spacing_m < patrol.lane_spacing_m
    assert thermal.photo_count > 0


def test_perimeter_pattern_follows_the_boundary(zone) -> None:
    patrol = plan_patrol(zone, targets=["ent-01"], patterns=("perimeter",), time_limit_s=0.2)
    (sortie,) = patrol.sorties
    ((_, pattern, leg),) = sortie.camera_legs
    assert pattern == "perimeter"
    boundary = zone.target("ent-01").boundary.exterior
    assert LineString(leg).hausdorff_distance(boundary) < 1e-6


@st.composite
def no_fly_layouts(draw: st.DrawFn, zone) -> tuple[NoFly, ...]:
    """Random rectangles over the west of the sample zone, clear of the docks."""
    zones = []
    for k in range(draw(st.integers(1, 5))):
        lon = draw(st.floats(113.518, 113.532))
        lat = draw(st.floats(34.802, 34.814))
        w, h = draw(st.floats(0.0003, 0.003)), draw(st.floats(0.0003, 0.003))
        zones.append(NoFly(f"r{k}", "random", shapely.box(lon, lat, lon + w, lat + h)))
    return tuple(zones)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_random_no_fly_layouts_are_never_crossed_by_a_patrol(zone, data) -> None:
    no_fly = data.draw(no_fly_layouts(zone))
    docks = tuple(
        d
        for d in zone.docks
        if not any(z.area.buffer(0.0003).covers(shapely.Point(d.lon, d.lat)) for z in no_fly)
    )
    assume(docks)
    west = replace(
        zone,
        enterprises=tuple(
            e for e in zone.enterprises if e.id in {"ent-01", "ent-02", "ent-06", "ent-07"}
        ),
        rivers=tuple(r for r in zone.rivers if r.id == "river-suoxu"),
        no_fly=no_fly,
        docks=docks,
    )
    try:
        patrol = plan_patrol(west, time_limit_s=0.1, patterns=("survey", "corridor", "orbit"))
    except InfeasibleError:
        return  # everything refused: nothing flies, nothing crosses
    for sortie in patrol.sorties:
        route = LineString(sortie.route[:, :2])
        for nf in no_fly:
            assert not route.intersects(nf.area), f"sortie {sortie.number} enters {nf.id}"
        for photo in sortie.photo_points:
            assert not any(nf.area.contains(shapely.Point(photo.lon, photo.lat)) for nf in no_fly)


def test_a_stack_too_tall_for_the_ceiling_skips_only_its_orbit(zone) -> None:
    patrol = plan_patrol(zone, max_agl_m=85, time_limit_s=0.3)
    assert set(patrol.refused) == {"ent-07-s1", "ent-07-s2"}
    assert "above the 85 m ceiling" in patrol.refused["ent-07-s1"]
    tasks = [t for s in patrol.sorties for t in s.tasks]
    assert "survey ent-07" in tasks and not any("ent-07-s" in t for t in tasks)


def test_stack_orbits_at_several_heights_look_at_the_stack(zone) -> None:
    patrol = plan_patrol(
        zone, targets=["ent-07"], patterns=("orbit",), orbit_offsets_m=(10, -25), time_limit_s=0.3
    )
    stacks = {s.id: s for s in zone.target("ent-07").stacks}
    rings = [(t, legs) for s in patrol.sorties for t, p, legs in s.camera_legs if p == "orbit"]
    assert len(rings) == 2 * len(stacks)
    rois = [
        i
        for s in patrol.sorties
        for i in s.mission.items
        if i.command == M.MAV_CMD_DO_SET_ROI_LOCATION
    ]
    assert len(rois) == len(rings)
    for roi in rois:
        nearest = min(
            stacks.values(), key=lambda st_: abs(st_.lat - roi.lat) + abs(st_.lon - roi.lon)
        )
        assert (roi.lat, roi.lon) == pytest.approx((nearest.lat, nearest.lon), abs=1e-6)
        # above home: the stack's mid-height over its own base, which stands on ground
        # between the two docks' 112 m and 118 m (so within 6 m of either home)
        assert abs(roi.z - nearest.height_m / 2) <= 6.0
    # heights above the stacks' base: the ground under a ring differs from the base by
    # under a metre here (the zone's ground varies 6 m over 1.5 km)
    heights = sorted(
        {5 * round(float(p.agl_m) / 5) for s in patrol.sorties for p in s.photo_points}
    )
    # the low rings (80 - 25 m) widen clear of the other stack; the rings 10 m over the
    # tops would pass within 15 m of the neighbouring 80 m stack (80 m away) at any radius
    # up to twice the framing one, so they rise over its roof: 80 + 20 (a working stack's
    # mouth) + the planner's 1 m pad
    assert heights == [55, 100]  # 101 m, to the nearest 5


def test_orbit_below_the_floor_is_refused(zone) -> None:
    with pytest.raises(AltitudeLimitError, match="below the 15 m floor"):
        plan_patrol(zone, targets=["ent-03"], orbit_offsets_m=(-20,), time_limit_s=0.2)


def test_a_site_too_big_for_one_sortie_is_split_across_sorties(zone) -> None:
    dock = zone.docks[0]
    big = shapely.box(dock.lon + 0.001, dock.lat + 0.001, dock.lon + 0.012, dock.lat + 0.010)
    site = Enterprise("big", "one square kilometre", big)
    sites = Sites((site,), (), (), (dock,))
    patrol = plan_patrol(sites, time_limit_s=0.5, patterns=("survey",))
    assert len(patrol.sorties) >= 3
    assert all(s.duration_s <= patrol.aircraft.usable_endurance_s for s in patrol.sorties)
    assert all(s.targets == ("big",) for s in patrol.sorties)
    labels = [t for s in patrol.sorties for t in s.tasks]
    assert all("part" in t for t in labels)
    # together the parts fly every lane of the single-sortie survey exactly once
    legs = [leg for s in patrol.sorties for _, _, leg in s.camera_legs]
    assert len(legs) == len({tuple(np.round(leg[0], 7)) for leg in legs})


def test_a_leg_longer_than_the_endurance_is_refused(zone) -> None:
    dock = zone.docks[0]
    long_site = shapely.box(dock.lon + 0.001, dock.lat + 0.001, dock.lon + 0.2, dock.lat + 0.0015)
    sites = Sites((Enterprise("strip", "", long_site),), (), (), (dock,))
    with pytest.raises(RangeError, match=r"strip: a round trip .* one \d+ m leg takes"):
        plan_patrol(sites, targets=["strip"], time_limit_s=0.2, patterns=("survey",), angle_deg=90)


def test_a_site_walled_in_by_no_fly_areas_is_refused_by_name(zone) -> None:
    ent = zone.target("ent-04")
    ring = ent.boundary.buffer(0.004).difference(ent.boundary.buffer(0.002))
    walled = replace(zone, no_fly=(NoFly("ring", "walled", ring),))
    with pytest.raises(RangeError, match="no route around the no-fly areas reaches survey ent-04"):
        plan_patrol(walled, targets=["ent-04"], patterns=("survey",), time_limit_s=0.2)


def test_planning_everything_leaves_out_what_is_out_of_range(zone) -> None:
    far_dock = replace(zone.docks[0], lon=zone.docks[0].lon - 0.03)  # 2.7 km west
    sites = replace(zone, docks=(far_dock,))
    patrol = plan_patrol(
        sites, aircraft=Aircraft(endurance_s=15 * 60), patterns=("survey",), time_limit_s=0.3
    )
    assert patrol.refused and all("min" in reason for reason in patrol.refused.values())
    planned = {t for s in patrol.sorties for t in s.targets}
    left_out = {k.split()[-1] for k in patrol.refused}
    assert planned and left_out and planned.isdisjoint(left_out)
    assert "ent-12" in left_out and "ent-01" in planned  # the far east is out of reach


def test_every_site_is_covered_by_the_planned_photos(zone, patrol) -> None:
    from missions.export.geojson import patrol_geojson
    from missions.geo import LocalFrame

    frame = LocalFrame(113.53, 34.81)
    footprints = shapely.union_all(
        [
            frame.to_local(shapely.geometry.shape(f["geometry"]))
            for f in patrol_geojson(patrol)["features"]
            if f["properties"]["layer"] == "footprint"
        ]
    )
    keep_out = shapely.union_all([frame.to_local(z.area).buffer(15) for z in zone.no_fly])
    for ent in zone.enterprises:
        area = frame.to_local(ent.boundary).difference(keep_out)
        assert footprints.intersection(area).area / area.area >= 0.99, ent.id
    for river in zone.rivers:
        water = frame.to_local(river.centerline).buffer(river.width_m / 2, cap_style="flat")
        area = water.difference(keep_out)
        assert footprints.intersection(area).area / area.area >= 0.99, river.id


def test_sorties_can_land_on_their_dock_instead_of_rtl(zone) -> None:
    patrol = plan_patrol(zone, targets=["ent-09"], end="land", time_limit_s=0.2)
    (sortie,) = patrol.sorties
    last = sortie.mission.items[-1]
    assert last.command == M.MAV_CMD_NAV_LAND
    assert (last.lat, last.lon) == pytest.approx((sortie.dock.lat, sortie.dock.lon), abs=2e-7)


def test_the_time_flown_on_without_the_ground_station_is_an_option(zone, patrol) -> None:
    # the default flies through two minutes of silence, ArduCopter's longest
    assert {s.mission.params["FS_GCS_TIMEOUT"] for s in patrol.sorties} == {120.0}
    assert {s.mission.params["FS_GCS_ENABLE"] for s in patrol.sorties} == {1}  # then RTL
    short = plan_patrol(zone, targets=["ent-09"], gcs_loss_return_s=20, time_limit_s=0.2)
    assert [s.mission.params["FS_GCS_TIMEOUT"] for s in short.sorties] == [20.0]
    for outside in (1.5, 121.0):
        with pytest.raises(InvalidProfileError, match="must be 2 to 120 s"):
            plan_patrol(zone, targets=["ent-09"], gcs_loss_return_s=outside)
