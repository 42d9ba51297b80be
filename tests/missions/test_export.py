"""Exports: every .plan and .waypoints re-imports to the same items; mavwp reads ours."""

from __future__ import annotations

import json
import math
import struct
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymavlink import mavwp
from pymavlink.dialects.v20 import ardupilotmega as mavlink
from shapely.geometry import Point, box, shape

from missions.errors import PlanFormatError
from missions.export.geojson import patrol_geojson, write_geojson
from missions.export.kml import patrol_kml, write_kml
from missions.export.params import PARAM_TYPES, read_params, write_params
from missions.export.qgc_plan import read_plan, write_plan
from missions.export.waypoints import read_waypoints, write_waypoints
from missions.geofence import fence_items, rally_items
from missions.items import Mission, MissionItem
from missions.plan import Clearance, Patrol, PlannedObstacle

finite = st.floats(allow_nan=False, allow_infinity=False, width=32)
lat_e7 = st.integers(-900_000_000, 900_000_000)
lon_e7 = st.integers(-1_800_000_000, 1_800_000_000)
latlon = st.tuples(st.floats(-89, 89), st.floats(-179, 179))


@st.composite
def missions(draw: st.DrawFn) -> Mission:
    n = draw(st.integers(1, 30))
    items = [
        MissionItem(
            seq=0,
            frame=mavlink.MAV_FRAME_GLOBAL,
            command=mavlink.MAV_CMD_NAV_WAYPOINT,
            x=draw(lat_e7),
            y=draw(lon_e7),
            z=draw(finite),
        )
    ]
    for seq in range(1, n):
        items.append(
            MissionItem(
                seq=seq,
                frame=draw(st.sampled_from([2, 3, 5, 6, 10])),
                command=draw(st.sampled_from([16, 22, 20, 178, 195, 197, 205, 206, 21])),
                param1=draw(finite),
                param2=draw(finite),
                param3=draw(finite),
                param4=draw(finite),
                x=draw(lat_e7),
                y=draw(lon_e7),
                z=draw(finite),
                autocontinue=draw(st.sampled_from([0, 1])),
            )
        )
    polygons = draw(
        st.lists(st.tuples(st.booleans(), st.lists(latlon, min_size=3, max_size=8)), max_size=3)
    )
    rally = draw(st.lists(st.tuples(st.floats(-89, 89), st.floats(-179, 179), finite), max_size=3))
    return Mission(
        items=tuple(items),
        fence=fence_items(polygons),
        rally=rally_items(rally),
        name="sortie-1",
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(missions())
def test_random_missions_round_trip_through_plan_and_waypoints(
    tmp_path: Path, mission: Mission
) -> None:
    plan = write_plan(mission, tmp_path / "sortie-1.plan")
    assert read_plan(plan) == mission
    wpl = write_waypoints(mission, tmp_path / "sortie-1.waypoints")
    assert read_waypoints(wpl).items == mission.items


def test_every_sortie_of_the_patrol_round_trips(patrol, tmp_path: Path) -> None:
    for sortie in patrol.sorties:
        plan = write_plan(sortie.mission, tmp_path / f"sortie-{sortie.number}.plan")
        assert read_plan(plan) == sortie.mission
        wpl = write_waypoints(sortie.mission, tmp_path / f"sortie-{sortie.number}.waypoints")
        assert read_waypoints(wpl).items == sortie.mission.items


def test_mavwp_loads_our_waypoints_unchanged(patrol, tmp_path: Path) -> None:
    mission = patrol.sorties[0].mission
    path = write_waypoints(mission, tmp_path / "s.waypoints")
    loader = mavwp.MAVWPLoader()
    assert loader.load(str(path)) == len(mission.items)
    for item in mission.items:
        wp = loader.wp(item.seq)
        assert (wp.seq, wp.frame, wp.command, wp.autocontinue) == (
            item.seq,
            item.frame,
            item.command,
            item.autocontinue,
        )
        assert [wp.param1, wp.param2, wp.param3, wp.param4, wp.z] == [
            item.param1,
            item.param2,
            item.param3,
            item.param4,
            item.z,
        ]
        assert round(wp.x * 1e7) == item.x and round(wp.y * 1e7) == item.y


def test_plan_file_is_what_qgc_expects(patrol, tmp_path: Path) -> None:
    sortie = patrol.sorties[0]
    doc = json.loads(write_plan(sortie.mission, tmp_path / "p.plan").read_text())
    assert doc["fileType"] == "Plan"
    assert doc["mission"]["firmwareType"] == mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA
    home = doc["mission"]["plannedHomePosition"]
    assert home == [
        pytest.approx(sortie.dock.lat),
        pytest.approx(sortie.dock.lon),
        sortie.dock.ground_alt_m,
    ]
    assert all(
        item["type"] == "SimpleItem" and len(item["params"]) == 7
        for item in doc["mission"]["items"]
    )
    assert doc["geoFence"]["polygons"][0]["inclusion"] is True
    assert len(doc["geoFence"]["polygons"]) == 1 + len(patrol.fence_exclusions)
    assert len(doc["rallyPoints"]["points"]) == 2


def test_qgc_null_params_read_as_nan_and_complex_items_are_refused(tmp_path: Path) -> None:
    doc: dict[str, Any] = {
        "fileType": "Plan",
        "mission": {
            "plannedHomePosition": [34.8, 113.5, 100],
            "items": [
                {
                    "type": "SimpleItem",
                    "command": 16,
                    "frame": 3,
                    "params": [0, 0, 0, None, 34.8, 113.5, 30],
                    "autoContinue": True,
                }
            ],
        },
    }
    path = tmp_path / "qgc.plan"
    path.write_text(json.dumps(doc))
    mission = read_plan(path)
    assert math.isnan(mission.items[1].param4)
    doc["mission"]["items"].append({"type": "ComplexItem", "complexItemType": "survey"})
    path.write_text(json.dumps(doc))
    with pytest.raises(PlanFormatError, match="complex item \\(survey\\)"):
        read_plan(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope", "not a 'QGC WPL 110' file"),
        ("QGC WPL 110\n0\t0\t0\t16\t0\t0\n", "has 6 fields"),
        ("QGC WPL 110\n1\t0\t0\t16\t0\t0\t0\t0\t1\t2\t3\t1\n", "seq 1, expected 0"),
    ],
)
def test_bad_waypoints_files_get_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.waypoints"
    path.write_text(text)
    with pytest.raises(PlanFormatError, match=message):
        read_waypoints(path)


def test_geojson_and_kml_hold_routes_photos_and_footprints(patrol) -> None:
    doc = patrol_geojson(patrol)
    layers: dict[str, int] = {}
    for f in doc["features"]:
        layers[f["properties"]["layer"]] = layers.get(f["properties"]["layer"], 0) + 1
    assert layers["route"] == len(patrol.sorties)
    assert layers["photo"] == patrol.photo_count
    assert 0 < layers["footprint"] <= patrol.photo_count
    assert layers["no_fly"] == len(patrol.fence_exclusions)
    kml = patrol_kml(patrol).kml()
    assert kml.count("<Folder") >= len(patrol.sorties) and "Sortie 1" in kml


def _with_obstacles(patrol: Patrol) -> Patrol:
    """The sample patrol with two obstacles and a clearance per sortie, as the planner reports."""
    stack = PlannedObstacle(
        id="ent-01-s1",
        kind="stack",
        label="ent-01 stack",
        outline=Point(113.5212472, 34.804229).buffer(3e-5, quad_segs=4),
        height_m=35.0,
        base_amsl_m=112.0,
        top_amsl_m=147.0,
        roof_amsl_m=167.0,
        horizontal_m=15.0,
        overflown=True,
    )
    tower = PlannedObstacle(
        id="tower-1",
        kind="obstacle",
        label="TV tower",
        outline=box(113.53, 34.806, 113.5302, 34.8062),
        height_m=150.0,
        base_amsl_m=110.0,
        top_amsl_m=260.0,
        roof_amsl_m=280.0,
        horizontal_m=20.0,
        overflown=False,
    )
    sorties = tuple(
        replace(
            s,
            clearance=Clearance(
                distance_m=18.4 + s.number,
                obstacle_id="ent-01-s1",
                lat=34.8043,
                lon=113.5213,
                alt_amsl_m=170.0,
            ),
        )
        for s in patrol.sorties
    )
    return replace(patrol, sorties=sorties, obstacles=(stack, tower))


def test_geojson_carries_obstacles_with_heights_and_each_sorties_clearance(
    patrol, tmp_path: Path
) -> None:
    planned = _with_obstacles(patrol)
    doc = json.loads(write_geojson(planned, tmp_path / "patrol.geojson").read_text())
    obstacles = {
        f["properties"]["id"]: f
        for f in doc["features"]
        if f["properties"].get("kind") == "obstacle"
    }
    assert set(obstacles) == {"ent-01-s1", "tower-1"}
    tower = obstacles["tower-1"]
    assert tower["geometry"]["type"] == "Polygon"
    assert shape(tower["geometry"]).equals(planned.obstacles[1].outline)
    assert {k: v for k, v in tower["properties"].items() if k not in ("id", "label")} == {
        "layer": "obstacle",
        "kind": "obstacle",
        "obstacle_kind": "obstacle",
        "height_m": 150.0,
        "base_amsl_m": 110.0,
        "top_amsl_m": 260.0,
        "roof_amsl_m": 280.0,
        "clearance_m": 20.0,
        "overflown": False,
    }
    assert obstacles["ent-01-s1"]["properties"]["obstacle_kind"] == "stack"
    assert obstacles["ent-01-s1"]["properties"]["overflown"] is True
    routes = {
        f["properties"]["sortie"]: f for f in doc["features"] if f["properties"]["layer"] == "route"
    }
    points = {
        f["properties"]["sortie"]: f
        for f in doc["features"]
        if f["properties"]["layer"] == "clearance"
    }
    assert set(routes) == set(points) == {s.number for s in planned.sorties}
    for s in planned.sorties:
        assert routes[s.number]["properties"]["min_clearance_m"] == round(18.4 + s.number, 1)
        assert routes[s.number]["properties"]["nearest_obstacle"] == "ent-01-s1"
        point = points[s.number]
        assert point["geometry"] == {"type": "Point", "coordinates": [113.5213, 34.8043, 170.0]}
        assert point["properties"]["obstacle_id"] == "ent-01-s1"


def test_geojson_without_obstacles_says_so(patrol) -> None:
    bare = replace(
        patrol, obstacles=(), sorties=tuple(replace(s, clearance=None) for s in patrol.sorties)
    )
    doc = patrol_geojson(bare)
    layers = {f["properties"]["layer"] for f in doc["features"]}
    assert not layers & {"obstacle", "clearance"}
    for f in doc["features"]:
        if f["properties"]["layer"] == "route":
            assert f["properties"]["min_clearance_m"] is None
            assert f["properties"]["nearest_obstacle"] is None
    assert "Obstacles" not in patrol_kml(bare).kml()


def test_kml_draws_obstacles_as_extruded_columns_to_their_top(patrol, tmp_path: Path) -> None:
    planned = _with_obstacles(patrol)
    root = ET.parse(write_kml(planned, tmp_path / "patrol.kml")).getroot()
    ns = {"k": "http://www.opengis.net/kml/2.2"}
    folders = {f.findtext("k:name", namespaces=ns): f for f in root.iter(f"{{{ns['k']}}}Folder")}
    placemarks = folders["Obstacles"].findall("k:Placemark", ns)
    assert len(placemarks) == 2
    by_name = {p.findtext("k:name", namespaces=ns): p for p in placemarks}
    tower = by_name["TV tower (150 m)"]
    polygon = tower.find("k:Polygon", ns)
    assert polygon is not None
    assert polygon.findtext("k:extrude", namespaces=ns) == "1"
    assert polygon.findtext("k:altitudeMode", namespaces=ns) == "absolute"
    ring = polygon.findtext("k:outerBoundaryIs/k:LinearRing/k:coordinates", namespaces=ns)
    assert ring is not None
    alts = {float(c.split(",")[2]) for c in ring.split()}
    assert alts == {260.0}
    description = tower.findtext("k:description", namespaces=ns) or ""
    assert "150.0 m tall" in description and "20 m clear" in description
    assert "never overflown" in description
    stack = by_name["ent-01 stack (35 m)"].findtext("k:description", namespaces=ns) or ""
    assert "overflown no lower than 167.0 m AMSL" in stack
    for s in planned.sorties:
        folder = folders[f"Sortie {s.number} ({s.dock.id})"]
        text = folder.findtext("k:description", namespaces=ns) or ""
        assert f"min clearance {18.4 + s.number:.1f} m to ent-01-s1" in text


def test_the_planned_sample_zone_exports_its_stacks_and_clearances(
    patrol, zone, tmp_path: Path
) -> None:
    doc = json.loads(write_geojson(patrol, tmp_path / "patrol.geojson").read_text())
    heights = {
        f["properties"]["id"]: f["properties"]["height_m"]
        for f in doc["features"]
        if f["properties"].get("kind") == "obstacle"
    }
    stacks = {s.id: s.height_m for e in zone.enterprises for s in e.stacks}
    assert stacks and {k: heights.get(k) for k in stacks} == stacks
    for f in doc["features"]:
        if f["properties"]["layer"] == "route":
            assert f["properties"]["min_clearance_m"] > 0
            assert f["properties"]["nearest_obstacle"] in heights
    kml = patrol_kml(patrol).kml()
    assert kml.count("<extrude>1</extrude>") == len(patrol.obstacles)


# -- the vehicle parameters a plan relies on (Mission.params) ------------------------

param_names = st.from_regex(r"[A-Z0-9_]{1,16}", fullmatch=True)
plain_values = st.floats(allow_nan=False, allow_infinity=False)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.dictionaries(param_names, plain_values, max_size=8))
def test_vehicle_parameters_round_trip_through_the_plan(
    tmp_path: Path, params: dict[str, float]
) -> None:
    mission = Mission(items=(MissionItem(0, 0, 16, x=348000000, y=1135500000),), params=params)
    path = write_plan(mission, tmp_path / "p.plan")
    doc = json.loads(path.read_text())
    assert doc["vehicleParameters"] == params  # a top-level key QGC passes over
    assert read_plan(path).params == params


def _float32(value: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.dictionaries(param_names, st.floats(-1e7, 1e7).filter(lambda v: v == 0 or abs(v) > 1e-3)),
    st.dictionaries(st.sampled_from(sorted(PARAM_TYPES)), st.integers(-100, 30000)),
)
def test_vehicle_parameters_round_trip_through_a_qgc_params_file(
    tmp_path: Path, reals: dict[str, float], whole: dict[str, int]
) -> None:
    params = {**{k: v for k, v in reals.items() if k not in PARAM_TYPES}, **whole}
    mission = Mission(
        items=(MissionItem(0, 0, 16),), params={k: float(v) for k, v in params.items()}
    )
    back = read_params(write_params(mission, tmp_path / "sortie-1.params"))
    assert set(back) == set(params)
    for name, value in params.items():
        if PARAM_TYPES.get(name, mavlink.MAV_PARAM_TYPE_REAL32) == mavlink.MAV_PARAM_TYPE_REAL32:
            assert back[name] == pytest.approx(_float32(value), rel=1e-15, abs=1e-18), name
        else:
            assert back[name] == value, name


def test_params_file_is_what_qgc_writes(tmp_path: Path) -> None:
    params = {"RTL_ALT": 10200.0, "FENCE_ENABLE": 1.0, "FENCE_MARGIN": 0.1, "FENCE_ALT_MAX": 112}
    mission = Mission(items=(MissionItem(0, 0, 16),), name="sortie-1", params=params)
    lines = write_params(mission, tmp_path / "sortie-1.params").read_text().splitlines()
    assert lines[0] == "# Onboard parameters for Vehicle 1"
    assert all(line.startswith("#") for line in lines[:-4])
    assert lines[-5] == "# Vehicle-Id Component-Id Name Value Type"
    assert lines[-4:] == [  # by name; ArduCopter's types: INT8 2, INT32 6, REAL32 9
        "1\t1\tFENCE_ALT_MAX\t112.000000000000000000\t9",
        "1\t1\tFENCE_ENABLE\t1\t2",
        "1\t1\tFENCE_MARGIN\t0.100000001490116119\t9",
        "1\t1\tRTL_ALT\t10200\t6",
    ]
    with pytest.raises(ValueError, match="RTL_ALT is an integer parameter"):
        write_params(replace(mission, params={"RTL_ALT": 95.5}), tmp_path / "bad.params")


def test_every_sortie_carries_its_parameters_through_plan_and_params_files(
    patrol, tmp_path: Path
) -> None:
    for sortie in patrol.sorties:
        plan = write_plan(sortie.mission, tmp_path / f"sortie-{sortie.number}.plan")
        assert read_plan(plan).params == sortie.mission.params
        params = write_params(sortie.mission, tmp_path / f"sortie-{sortie.number}.params")
        assert read_params(params) == pytest.approx(sortie.mission.params)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ([["FENCE_ENABLE", 1]], "vehicleParameters must be an object"),
        ({"fence_enable": 1}, "'fence_enable' is not a parameter name"),
        ({"A_NAME_OF_17_CHAR": 1}, "'A_NAME_OF_17_CHAR' is not a parameter name"),
        ({"FENCE_ENABLE": "1"}, "vehicleParameters.FENCE_ENABLE must be a finite number"),
        ({"FENCE_ENABLE": True}, "vehicleParameters.FENCE_ENABLE must be a finite number"),
        ({"RTL_ALT": None}, "vehicleParameters.RTL_ALT must be a finite number"),
    ],
)
def test_bad_vehicle_parameters_get_one_line(tmp_path: Path, params: Any, message: str) -> None:
    doc = {
        "fileType": "Plan",
        "mission": {"plannedHomePosition": [34.8, 113.5, 100], "items": []},
        "vehicleParameters": params,
    }
    path = tmp_path / "bad.plan"
    path.write_text(json.dumps(doc))
    with pytest.raises(PlanFormatError, match=message) as info:
        read_plan(path)
    assert "\n" not in str(info.value) and str(info.value).startswith(str(path))
