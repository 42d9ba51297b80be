"""Exports: every .plan and .waypoints re-imports to the same items; mavwp reads ours."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymavlink import mavwp
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.errors import PlanFormatError
from missions.export.geojson import patrol_geojson
from missions.export.kml import patrol_kml
from missions.export.qgc_plan import read_plan, write_plan
from missions.export.waypoints import read_waypoints, write_waypoints
from missions.geofence import fence_items, rally_items
from missions.items import Mission, MissionItem

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
