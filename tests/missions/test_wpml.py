"""DJI WPML export: each sample-zone sortie round-trips, is its MAVLink plan, keeps DJI's rules."""

from __future__ import annotations

import io
import math
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from pymavlink.dialects.v20 import ardupilotmega as mavlink
from typer.testing import CliRunner

from missions import cli
from missions.export.wpml import (
    DRONES,
    DistanceShots,
    Wayline,
    Waypoint,
    kmz_bytes,
    template_xml,
    wayline_from_mission,
    waylines_xml,
)
from missions.export.wpml_check import check_wayline
from missions.export.wpml_heights import WpmlError
from missions.export.wpml_read import FINISHES, mission_from_wayline, wayline_from_kmz
from missions.export.wpml_rules import WPML_NS, validate
from missions.geo import distance_m
from missions.items import Mission, MissionItem, to_e7
from missions.plan import Patrol, Sortie, plan_patrol
from tests.missions.test_terrain import write_dem
from zone.sites import Sites

NAV = (mavlink.MAV_CMD_NAV_TAKEOFF, mavlink.MAV_CMD_NAV_WAYPOINT)
W = f"{{{WPML_NS}}}"


def _wayline(sortie: Sortie, patrol: Patrol, drone: str = "m3td") -> Wayline:
    return wayline_from_mission(
        sortie.mission,
        home_alt_amsl_m=sortie.dock.ground_alt_m,
        cruise_speed_m_s=patrol.aircraft.cruise_speed_m_s,
        drone=DRONES[drone],
    )


def test_every_sortie_round_trips_positions_heights_and_actions(patrol: Patrol) -> None:
    assert len(patrol.sorties) >= 2
    for sortie in patrol.sorties:
        line = _wayline(sortie, patrol)
        back = wayline_from_kmz(kmz_bytes(line))
        assert len(back.waypoints) == len(line.waypoints)
        for k, (a, b) in enumerate(zip(line.waypoints, back.waypoints, strict=True)):
            where = f"sortie {sortie.number} waypoint {k}"
            assert distance_m(a.lat, a.lon, b.lat, b.lon) < 0.1, where
            assert abs(a.height_m - b.height_m) < 0.1, where
            assert (a.speed_m_s, a.poi, a.gimbal_pitch_deg, a.photo) == (
                b.speed_m_s,
                b.poi,
                b.gimbal_pitch_deg,
                b.photo,
            ), where
        assert back.shots == line.shots
        assert (back.finish, back.rth_height_m, back.takeoff_height_m) == (
            line.finish,
            line.rth_height_m,
            line.takeoff_height_m,
        )
        assert back.drone == DRONES["m3td"]


def test_reimported_routes_are_the_mavlink_plan(patrol: Patrol) -> None:
    """The KMZ read back gives the sortie's NAV items: same e7 positions, heights to 1 cm."""
    for sortie in patrol.sorties:
        back = wayline_from_kmz(kmz_bytes(_wayline(sortie, patrol)))
        nav = [i for i in sortie.mission.items[1:] if i.command in NAV]
        assert len(nav) == len(back.waypoints)
        for item, point in zip(nav, back.waypoints, strict=True):
            assert (to_e7(point.lat), to_e7(point.lon)) == (item.x, item.y)
            # no DEM: the items are above home (the dock), which is DJI's take-off point
            assert item.frame == mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT
            assert abs(point.height_m - item.z) < 0.01
        ends = {i.command for i in sortie.mission.items[-1:]}
        assert back.finish == (
            "goHome" if mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH in ends else "autoLand"
        )
        # and the items rebuilt from it fly the same NAV route from the same home
        rebuilt = mission_from_wayline(back, home=sortie.home)
        again = [i for i in rebuilt.items[1:] if i.command in NAV]
        assert [(i.command, i.x, i.y, round(i.z, 2)) for i in again] == [
            (i.command, i.x, i.y, round(i.z, 2)) for i in nav
        ]


def test_reimported_routes_draw_as_the_map_draws_the_plan(patrol: Patrol) -> None:
    """The project's map draws each sortie's ``route`` (server/planning.py keeps it for the
    patrol GeoJSON): home on the ground, every NAV point, home again. The KMZ read back is
    that polyline between the two ground points: within 0.1 m across and in height."""
    for sortie in patrol.sorties:
        back = wayline_from_kmz(kmz_bytes(_wayline(sortie, patrol)))
        route = sortie.route  # (N, 3) lon, lat, height above home (no DEM)
        assert len(route) == len(back.waypoints) + 2
        assert tuple(route[0]) == tuple(route[-1]) == (sortie.dock.lon, sortie.dock.lat, 0.0)
        for (lon, lat, alt), point in zip(route[1:-1], back.waypoints, strict=True):
            assert distance_m(lat, lon, point.lat, point.lon) < 0.1
            assert abs(alt - point.height_m) < 0.1


def test_camera_legs_gimbal_and_orbits_carry_over(patrol: Patrol) -> None:
    """Each DO_SET_CAM_TRIGG_DIST(d)...(0) is one distance-shot group of d metres; each
    DO_MOUNT_CONTROL a gimbal pitch; each ROI a point of interest."""
    for sortie in patrol.sorties:
        line = _wayline(sortie, patrol)
        items = sortie.mission.items
        on = [i.param1 for i in items if i.command == mavlink.MAV_CMD_DO_SET_CAM_TRIGG_DIST]
        assert [s.interval_m for s in line.shots] == [round(d, 3) for d in on if d > 0]
        pitches = [i.param1 for i in items if i.command == mavlink.MAV_CMD_DO_MOUNT_CONTROL]
        rois = [i for i in items if i.command == mavlink.MAV_CMD_DO_SET_ROI_LOCATION]
        set_pitches = [p.gimbal_pitch_deg for p in line.waypoints if p.gimbal_pitch_deg is not None]
        # every mount command, plus one pitch at the point of interest per ROI
        assert len(set_pitches) == len(pitches) + len(rois)
        pois = {p.poi for p in line.waypoints if p.poi}
        assert pois == {(r.lat, r.lon, round(r.z, 2)) for r in rois}


def _hand_mission() -> Mission:
    """Home 100 m AMSL; take-off to 30 m; a 3-waypoint camera leg; an ROI; RTL."""
    rel = mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT
    cmd = mavlink.MAV_FRAME_MISSION
    lat, lon = 34.8, 113.5
    north_10m = 10 / (6378137 * math.pi / 180)  # degrees of latitude in 10 m on this sphere
    rows = [
        MissionItem(0, mavlink.MAV_FRAME_GLOBAL, 16, x=to_e7(lat), y=to_e7(lon), z=100.0),
        MissionItem(0, rel, mavlink.MAV_CMD_NAV_TAKEOFF, x=to_e7(lat), y=to_e7(lon), z=30.0),
        MissionItem(0, cmd, mavlink.MAV_CMD_DO_CHANGE_SPEED, 1, 10.0, -1),
        MissionItem(0, rel, 16, x=to_e7(lat + 0.001), y=to_e7(lon), z=30.0),  # 1
        MissionItem(0, cmd, mavlink.MAV_CMD_DO_MOUNT_CONTROL, -90.0),
        MissionItem(0, cmd, mavlink.MAV_CMD_DO_CHANGE_SPEED, 1, 6.5, -1),
        MissionItem(0, rel, 16, x=to_e7(lat + 0.002), y=to_e7(lon), z=30.0),  # 2
        MissionItem(0, cmd, mavlink.MAV_CMD_DO_SET_CAM_TRIGG_DIST, 12.0),
        MissionItem(0, rel, 16, x=to_e7(lat + 0.003), y=to_e7(lon), z=30.0),  # 3
        # AMSL frame: 135 m AMSL over a 100 m home is 35 m above take-off
        MissionItem(0, mavlink.MAV_FRAME_GLOBAL_INT, 16, x=to_e7(lat + 0.004), y=to_e7(lon), z=135),
        MissionItem(0, cmd, mavlink.MAV_CMD_DO_SET_CAM_TRIGG_DIST, 0.0),
        # a point of interest 10 m north and 10 m above waypoint 4: pitch up 45 degrees
        MissionItem(
            0,
            rel,
            mavlink.MAV_CMD_DO_SET_ROI_LOCATION,
            x=to_e7(lat + 0.004 + north_10m),
            y=to_e7(lon),
            z=45.0,
        ),
        MissionItem(0, rel, 16, x=to_e7(lat + 0.005), y=to_e7(lon), z=30.0),  # 5
        MissionItem(0, cmd, mavlink.MAV_CMD_DO_SET_ROI_NONE),
        MissionItem(0, cmd, mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH),
    ]
    return Mission(tuple(r.with_seq(n) for n, r in enumerate(rows)), params={"RTL_ALT": 4500.0})


def test_hand_mission_maps_item_by_item() -> None:
    line = wayline_from_mission(_hand_mission(), home_alt_amsl_m=100.0, cruise_speed_m_s=10.0)
    heights = [p.height_m for p in line.waypoints]
    assert heights == [30.0, 30.0, 30.0, 30.0, 35.0, 30.0]
    # DO_CHANGE_SPEED after a waypoint sets the speed leaving it
    assert [p.speed_m_s for p in line.waypoints] == [10.0, 6.5, 6.5, 6.5, 6.5, 6.5]
    assert line.waypoints[1].gimbal_pitch_deg == -90.0
    # trigger on after waypoint 2, off after waypoint 4
    assert [(s.first, s.last, s.interval_m) for s in line.shots] == [(2, 4, 12.0)]
    poi = line.waypoints[4].poi
    assert poi is not None and poi[2] == 45.0
    # atan2(45 - 35, ~10 m) = 45 degrees (the e7 rounding moves the point < 1 cm)
    assert line.waypoints[4].gimbal_pitch_deg == pytest.approx(45.0, abs=0.1)
    assert line.waypoints[5].poi is None  # ROI_NONE after waypoint 5: its leg looks ahead
    assert (line.finish, line.rth_height_m, line.takeoff_height_m) == ("goHome", 45.0, 30.0)
    # without a cruise speed, the first DO_CHANGE_SPEED's (10 m/s) is DJI's transit speed
    assert wayline_from_mission(_hand_mission(), home_alt_amsl_m=100.0) == replace(
        line, transit_speed_m_s=10.0
    )


def test_terrain_frames_and_out_of_range_speeds_are_refused() -> None:
    rows = list(_hand_mission().items)
    terrain = MissionItem(3, mavlink.MAV_FRAME_GLOBAL_TERRAIN_ALT_INT, 16, x=1, y=1, z=30)
    with pytest.raises(WpmlError, match="altitude frame 11 has no WPML equivalent"):
        wayline_from_mission(
            Mission(tuple([*rows[:3], terrain])), home_alt_amsl_m=100, cruise_speed_m_s=10
        )
    with pytest.raises(WpmlError, match=r"outside WPML's 1\.\.15 m/s"):
        wayline_from_mission(_hand_mission(), home_alt_amsl_m=100, cruise_speed_m_s=20)


@pytest.mark.parametrize("drone", sorted(DRONES))
def test_every_export_keeps_djis_element_rules(patrol: Patrol, drone: str) -> None:
    for sortie in patrol.sorties:
        line = _wayline(sortie, patrol, drone)
        assert validate(waylines_xml(line), "waylines.wpml") == []
        assert validate(template_xml(line), "template.kml") == []


def test_drone_and_payload_enums_are_djis() -> None:
    """Product-support page: M30T 67/1 + 53, M3TD 91/1 + 81, M4TD 100/1 + 99, M350 89/0 + H20T
    43 or H30T 83."""
    table = {k: (d.drone, d.drone_sub, d.payload) for k, d in DRONES.items()}
    assert table == {
        "m30t": (67, 1, 53),
        "m3td": (91, 1, 81),
        "m4td": (100, 1, 99),
        "m350-h20t": (89, 0, 43),
        "m350-h30t": (89, 0, 83),
    }


def _simple() -> Wayline:
    points = (
        Waypoint(34.8, 113.5, 30.0, 10.0, gimbal_pitch_deg=-90.0),
        Waypoint(34.801, 113.5, 30.0, 8.0, poi=(34.8015, 113.5, 20.0)),
    )
    return Wayline(points, drone=DRONES["m30t"])


def _find(root: ET.Element, name: str) -> ET.Element:
    found = root.find(f".//{W}{name}")
    assert found is not None
    return found


def test_the_validator_catches_what_the_docs_forbid() -> None:
    root = waylines_xml(_simple())
    assert validate(root, "waylines.wpml") == []
    placemark = root.find(".//{http://www.opengis.net/kml/2.2}Placemark")
    assert placemark is not None
    placemark.remove(_find(placemark, "executeHeight"))
    _find(root, "droneEnumValue").text = "999"
    _find(root, "waypointSpeed").text = "20"
    poi = _find(root, "waypointPoiPoint")
    for heading in root.iter(f"{W}waypointHeadingParam"):
        if poi in list(heading):
            heading.remove(poi)
    _find(root, "gimbalRotateMode").text = "relativeAngle"
    problems = validate(root, "waylines.wpml")
    assert "waylines.wpml: <Placemark>: required <wpml:executeHeight> is missing" in problems
    assert any("<wpml:droneEnumValue> is 999, not one of 89, 60, 67" in p for p in problems)
    assert "waylines.wpml: <Placemark>: <wpml:waypointSpeed> is 20 m/s, outside [1, 15]" in problems
    # conditionally required: towardPOI needs its point
    assert (
        "waylines.wpml: <waypointHeadingParam>: required <wpml:waypointPoiPoint> is missing"
        in problems
    )
    assert any("<gimbalRotate>: <wpml:gimbalRotateMode> is 'relativeAngle'" in p for p in problems)
    assert len(problems) == 5


def test_djis_own_sample_keeps_the_rules_but_those_changed_since() -> None:
    """DJI's MSDK v5 sample (WPML 1.0.0) predates two elements today's tables require:
    globalRTHHeight, and waypointHeadingPathMode on each of its 4 waypoints. Everything else
    (enums, ranges, required elements) it keeps, so the rules read DJI's files as DJI does;
    the importer needs neither element."""
    kmz = Path(__file__).parents[1] / "data" / "wpml" / "dji_msdk_v5_MIT" / "waypointsample.kmz"
    with zipfile.ZipFile(kmz) as archive:
        root = ET.fromstring(archive.read("wpmz/waylines.wpml"))
    heading = "waylines.wpml: <waypointHeadingParam>: required <wpml:waypointHeadingPathMode>"
    assert validate(root, "waylines.wpml") == [
        "waylines.wpml: <missionConfig>: required <wpml:globalRTHHeight> is missing",
        *[f"{heading} is missing"] * 4,
    ]
    # its template.kml: the same two, and globalHeight, which 1.0.0 kept inside
    # waylineCoordinateSysParam and today's table puts in the Folder
    with zipfile.ZipFile(kmz) as archive:
        template = ET.fromstring(archive.read("wpmz/template.kml"))
    assert validate(template, "template.kml") == [
        "template.kml: <missionConfig>: required <wpml:globalRTHHeight> is missing",
        "template.kml: <Folder>: required <wpml:globalHeight> is missing",
        "template.kml: <globalWaypointHeadingParam>: required <wpml:waypointHeadingPathMode> "
        "is missing",
    ]


def test_kmz_layout_and_units() -> None:
    data = kmz_bytes(_simple())
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert sorted(archive.namelist()) == ["wpmz/template.kml", "wpmz/waylines.wpml"]
        waylines = ET.fromstring(archive.read("wpmz/waylines.wpml"))
        template = ET.fromstring(archive.read("wpmz/template.kml"))
    assert _find(waylines, "executeHeightMode").text == "relativeToStartPoint"
    assert _find(template, "heightMode").text == "relativeToStartPoint"
    # relative to take-off: height and ellipsoidHeight are the same number (template docs)
    assert _find(template, "height").text == _find(template, "ellipsoidHeight").text == "30"
    coords = waylines.find(".//{http://www.opengis.net/kml/2.2}coordinates")
    assert coords is not None and coords.text == "113.5000000,34.8000000"  # lon,lat
    assert _find(waylines, "waypointPoiPoint").text == "34.8015000,113.5000000,20.00"  # lat,lon,h
    assert _find(waylines, "finishAction").text == "goHome"


def _app() -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def _root() -> None:
        """Stand-in for the ecopatrol root."""

    cli.register(root)
    return root


def test_plan_format_wpml_writes_a_kmz_and_a_note_per_sortie(
    zone_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    args = ["plan", str(zone_path), "--out", str(out), "--format", "wpml"]
    result = CliRunner().invoke(_app(), [*args, "--wpml-aircraft", "m30t"])
    assert result.exit_code == 0, result.output
    kmzs = sorted(out.glob("sortie-*.kmz"))
    notes = sorted(out.glob("sortie-*.wpml-limits.txt"))
    assert len(kmzs) == len(notes) >= 2
    assert not list(out.glob("*.plan"))
    assert "WPML cannot express: geofence" in result.output
    assert "geofence: WPML has no geofence" in notes[0].read_text(encoding="utf-8")
    assert wayline_from_kmz(kmzs[0]).drone == DRONES["m30t"]


def test_plan_format_bad_values_are_one_line(zone_path: Path, tmp_path: Path) -> None:
    base = ["plan", str(zone_path), "--out", str(tmp_path / "o")]
    for extra, message in (
        (["--format", "dji"], "--format must be mavlink or wpml"),
        (["--format", "wpml", "--wpml-aircraft", "m2ea"], "unknown DJI aircraft 'm2ea'"),
        (["--format", "wpml", "--wpml-heights", "egm08"], "unknown WPML height frame"),
    ):
        result = CliRunner().invoke(_app(), [*base, *extra])
        assert result.exit_code == 2
        assert message in result.output
        assert "Traceback" not in result.output


def test_dem_plans_convert_from_amsl_to_above_take_off(zone: Sites, tmp_path: Path) -> None:
    """With a DEM the items are AMSL; WPML's heights are those minus the dock's ground
    (e.g. 172.4 m AMSL over a 112 m dock is 60.4 m above take-off), and the KMZ read back
    passes the zone checks on the same DEM."""
    dock = zone.docks[0]
    dem = write_dem(tmp_path / "dem.tif", centre=(dock.lon, dock.lat), half_m=2500)
    patrol = plan_patrol(
        zone, targets=["ent-02"], patterns=["survey"], dem=dem, time_limit_s=0.3, max_agl_m=150
    )
    assert patrol.sorties and patrol.terrain_following
    for sortie in patrol.sorties:
        back = wayline_from_kmz(kmz_bytes(_wayline(sortie, patrol)))
        nav = [i for i in sortie.mission.items[1:] if i.command in NAV]
        for item, point in zip(nav, back.waypoints, strict=True):
            if item.command == mavlink.MAV_CMD_NAV_TAKEOFF:
                assert abs(point.height_m - item.z) < 0.01  # NAV_TAKEOFF is above home
            else:
                assert item.frame == mavlink.MAV_FRAME_GLOBAL_INT
                assert abs(point.height_m - (item.z - sortie.dock.ground_alt_m)) < 0.01
        report = check_wayline(back, zone, dock_id=sortie.dock.id, dem=dem, max_agl_m=150)
        assert report.max_agl_m <= 150


@st.composite
def waylines(draw: st.DrawFn) -> Wayline:
    """Any wayline EcoPatrol can write: e7 positions, centimetre heights, speeds in range."""
    n = draw(st.integers(2, 12))
    e7 = st.integers(-800_000_000, 800_000_000)
    cm = st.integers(-20_000, 150_000).map(lambda v: v / 100)
    poi = st.none() | st.tuples(e7.map(lambda v: v / 1e7), e7.map(lambda v: v / 1e7), cm)
    points = tuple(
        Waypoint(
            lat=draw(e7) / 1e7,
            lon=draw(st.integers(-1_800_000_000, 1_800_000_000)) / 1e7,
            height_m=draw(cm),
            speed_m_s=draw(st.integers(100, 1500)) / 100,
            poi=draw(poi),
            gimbal_pitch_deg=draw(st.none() | st.integers(-12_000, 4_500).map(lambda v: v / 100)),
            photo=draw(st.booleans()),
        )
        for _ in range(n)
    )
    cuts = sorted(draw(st.sets(st.integers(0, n - 1), max_size=4)))
    shots = tuple(
        DistanceShots(a, b, draw(st.integers(1, 10_000)) / 1000)
        for a, b in zip(cuts[::2], cuts[1::2], strict=False)
    )
    finish = draw(st.sampled_from(FINISHES))
    return Wayline(points, shots, finish=finish, drone=draw(st.sampled_from(list(DRONES.values()))))


@settings(max_examples=60, deadline=None)
@given(waylines())
def test_any_wayline_keeps_the_rules_and_reads_back_the_same(line: Wayline) -> None:
    assert validate(waylines_xml(line), "waylines.wpml") == []
    assert validate(template_xml(line), "template.kml") == []
    assert wayline_from_kmz(kmz_bytes(line)) == replace(line, takeoff=None)


def test_landing_on_the_dock_is_autoland() -> None:
    """``--land`` sorties end with NAV_LAND under their last waypoint (over the dock)."""
    rows = list(_hand_mission().items[:-1])
    last = rows[-2]  # waypoint 5, before ROI_NONE
    land = MissionItem(0, last.frame, mavlink.MAV_CMD_NAV_LAND, x=last.x, y=last.y, z=0.0)
    line = wayline_from_mission(
        Mission(tuple(r.with_seq(n) for n, r in enumerate([*rows, land]))), home_alt_amsl_m=100
    )
    assert line.finish == "autoLand"
    # 0.001 degree of latitude (about 111 m) away from the last waypoint: refused
    away = MissionItem(0, last.frame, mavlink.MAV_CMD_NAV_LAND, x=last.x + 10_000, y=last.y)
    with pytest.raises(WpmlError, match="NAV_LAND away from the last waypoint"):
        wayline_from_mission(Mission(tuple([*rows, away])), home_alt_amsl_m=100)
