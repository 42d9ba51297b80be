"""Stations are sites: read by the one site model, refused in one line naming the feature and
the fault, kept apart from what is flown around (targets, bounds, the planner)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from missions.plan import plan_patrol
from store.readings import UNITS
from zone.errors import InvalidSiteError
from zone.sites import POLLUTANTS, Station, check_site, load_sites, parse_sites

ZONE_PATH = (
    Path(__file__).resolve().parents[2] / "examples" / "zhengzhou-hightech" / "sites.geojson"
)


def _station(**props: Any) -> dict[str, Any]:
    geometry = props.pop("geometry", {"type": "Point", "coordinates": [113.53, 34.81]})
    base = {"kind": "station", "id": "stn-1", "class": "micro", "measures": ["NO2", "TVOC"]}
    base.update(props)
    return {"type": "Feature", "properties": base, "geometry": geometry}


def _fc(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def test_a_station_is_read_with_its_class_measures_and_wind() -> None:
    sites = parse_sites(_fc(_station(name="School gate", has_wind=True, ground_alt_m=110)))
    assert sites.stations == (
        Station("stn-1", "School gate", 113.53, 34.81, "micro", ("NO2", "TVOC"), True, 110.0),
    )
    bare = parse_sites(_fc(_station())).stations[0]
    assert (bare.name, bare.has_wind, bare.ground_alt_m) == ("stn-1", False, None)


def test_the_sample_zone_has_a_station_of_each_class() -> None:
    zone = load_sites(ZONE_PATH)
    classes = [s.station_class for s in zone.stations]
    assert classes.count("national") == 1
    assert classes.count("peri-urban") >= 2 and classes.count("micro") >= 3
    plume = next(s for s in zone.stations if s.id == "stn-mic-03")
    assert {"NO2", "TVOC"} <= set(plume.measures)


@pytest.mark.parametrize(
    ("props", "message"),
    [
        (
            {"geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}},
            "site 'stn-1': wrong geometry Polygon for its kind (expected Point)",
        ),
        ({"class": None}, "site 'stn-1': property 'class' is None, expected one of national"),
        ({"class": "urban"}, "site 'stn-1': property 'class' is 'urban', expected one of"),
        ({"measures": None}, "site 'stn-1': 'measures' must be a non-empty list of pollutants"),
        ({"measures": []}, "site 'stn-1': 'measures' must be a non-empty list of pollutants"),
        ({"measures": "NO2"}, "site 'stn-1': 'measures' must be a non-empty list of pollutants"),
        (
            {"measures": ["NO2", "H2S"]},
            "site 'stn-1': measures 'H2S', expected pollutants from PM2.5, PM10",
        ),
        ({"measures": ["pm2.5"]}, "site 'stn-1': measures 'pm2.5', expected pollutants"),
        ({"measures": ["NO2", "NO2"]}, "site 'stn-1': 'measures' lists a pollutant twice"),
        ({"has_wind": "yes"}, "site 'stn-1': 'has_wind' must be true or false"),
        ({"ground_alt_m": "high"}, "site 'stn-1': missing property 'ground_alt_m' (a number)"),
    ],
)
def test_each_fault_is_one_line_naming_the_station(props: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSiteError) as caught:
        check_site(_station(**props))
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)
    # the same fault read from a file names the feature by its place
    with pytest.raises(InvalidSiteError, match=r"^feature #0 \('stn-1'\): "):
        parse_sites(_fc(_station(**props)))


def test_check_site_reads_a_good_station() -> None:
    check_site(_station(measures=list(POLLUTANTS), has_wind=False))


def test_every_pollutant_a_station_may_measure_has_a_unit() -> None:
    # zone and store import nothing from each other: the two lists are kept equal here
    assert set(POLLUTANTS) == set(UNITS)


def test_stations_are_no_targets_and_do_not_widen_the_zone() -> None:
    zone = load_sites(ZONE_PATH)
    assert zone.stations
    assert not {s.id for s in zone.stations} & set(zone.targets)
    # a station 11 km north (0.1 deg of latitude) leaves the bounds as they were
    data = json.loads(ZONE_PATH.read_text())
    far = _station(id="stn-far", geometry={"type": "Point", "coordinates": [113.53, 34.91]})
    data["features"].append(far)
    assert parse_sites(data).bounds == zone.bounds
    with pytest.raises(ValueError, match="no sites"):
        _ = parse_sites(_fc(_station())).bounds


def test_the_planner_flies_the_same_patrol_with_and_without_stations() -> None:
    data = json.loads(ZONE_PATH.read_text())
    without = dict(
        data, features=[f for f in data["features"] if f["properties"]["kind"] != "station"]
    )
    assert len(without["features"]) < len(data["features"])
    with_stations = plan_patrol(parse_sites(data), targets=["ent-12"], time_limit_s=0.3)
    plain = plan_patrol(parse_sites(without), targets=["ent-12"], time_limit_s=0.3)
    assert [s.mission.items for s in with_stations.sorties] == [
        s.mission.items for s in plain.sorties
    ]
