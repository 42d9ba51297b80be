"""From an alert to its likely sources and a patrol to them, as a duty officer uses the API on
the sample day (``examples/zhengzhou-hightech/readings.csv``).

The sample day is written by ``tools/make_sample_readings.py`` without the plume model:
at 14:00 and 15:00 (UTC+8) it adds NO2 and TVOC to ``stn-mic-03``, about 300 m
south-west (down-wind under the north-east wind) of Yuhua Chemical Intermediates
(``ent-12``). The expectations below are read from that file and that script, and the
footprints are checked with ``pyproj.Geod``, not with the code under test.
"""

from __future__ import annotations

import csv
import json
import statistics
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pyproj import Geod
from shapely.geometry import Point, shape
from sqlalchemy import Engine
from sqlmodel import Session, select

from server.alerts import free_docks, is_daytime, sun_elevation_deg
from server.planning import zone_from_store
from store.models import Capture, Finding, Flight, FlightStatus, Mission

from .conftest import SITES

READINGS = SITES.parent / "readings.csv"
API = "/api/v1"
SOURCE = "ent-12"  # tools/make_sample_readings.py: the plume's enterprise
PEAK = "2026-06-15T14:00:00+08:00"
GEOD = Geod(ellps="WGS84")


def _csv_rows() -> list[dict[str, str]]:
    with READINGS.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def day(client: TestClient, headers: dict[str, dict[str, str]]) -> dict[str, str]:
    """The sample zone and its day of readings stored; pollutant -> its alert's id."""
    op = headers["operator"]
    r = client.put(f"{API}/sites", json=json.loads(SITES.read_text()), headers=op)
    assert r.status_code == 200, r.text
    rows = [{k: v for k, v in row.items() if v != ""} for row in _csv_rows()]
    r = client.post(f"{API}/readings", json=rows, headers=op)
    assert r.status_code == 200 and r.json()["refused"] == [], r.text
    alerts = client.get(f"{API}/alerts", headers=op).json()["data"]
    assert sorted((a["station"], a["pollutant"]) for a in alerts) == [
        ("stn-mic-03", "NO2"),
        ("stn-mic-03", "TVOC"),
    ]
    return {a["pollutant"]: a["id"] for a in alerts}


def _candidates(client: TestClient, headers, alert_id: str, top: int = 3) -> dict[str, Any]:
    r = client.get(f"{API}/alerts/{alert_id}/candidates?top={top}", headers=headers["inspector"])
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


@pytest.mark.parametrize("pollutant", ["NO2", "TVOC"])
def test_the_true_source_ranks_in_the_top_three(
    client: TestClient, headers, day: dict[str, str], pollutant: str
) -> None:
    body = _candidates(client, headers, day[pollutant])
    assert body["type"] == "FeatureCollection"
    props = [f["properties"] for f in body["features"]]
    assert [p["rank"] for p in props] == [1, 2, 3]
    assert SOURCE in [p["site_id"] for p in props]
    scores = [p["score"] for p in props]
    assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1 + 1e-9
    source = next(p for p in props if p["site_id"] == SOURCE)
    assert source["industry"] == "chemical"  # the sites file's property
    assert source["emission_g_s"] > 0
    sites = json.loads(SITES.read_text())["features"]
    stacks = next(f for f in sites if f["properties"]["id"] == SOURCE)["properties"]["stacks"]
    assert source["stacks"] == [s["coordinates"] for s in stacks]
    assert (body["alert_id"], body["pollutant"]) == (day[pollutant], pollutant)
    assert body["time"] == "2026-06-15T06:00:00Z"  # 14:00 at UTC+8, the alert's peak


def test_the_ranking_uses_the_hour_the_nearest_wind_and_each_baseline(
    client: TestClient, headers, day: dict[str, str]
) -> None:
    body = _candidates(client, headers, day["NO2"])
    rows = _csv_rows()
    hour = [r for r in rows if r["time"] == PEAK]
    # stn-mic-03 reports no wind; stn-nat-01 (about 800 m north-west) is the nearest that does
    nat = next(r for r in hour if r["station"] == "stn-nat-01")
    assert body["wind"] == {
        "from_deg": float(nat["wind_from_deg"]),
        "speed_m_s": float(nat["wind_speed_m_s"]),
    }
    # 3.2 m/s by day, moderate sun: Turner's class B (3-5 m/s column)
    assert body["stability"] == "B"
    assert "moderate" in body["assumptions"] and "4 oktas" in body["assumptions"]
    no2 = {r["station"]: float(r["value"]) for r in hour if r["pollutant"] == "NO2"}
    used = {r["station_id"]: r for r in body["readings"]}
    assert {s: r["value"] for s, r in used.items()} == no2
    start = datetime.fromisoformat(PEAK) - timedelta(hours=24)
    before = [
        float(r["value"])
        for r in rows
        if r["station"] == "stn-mic-03"
        and r["pollutant"] == "NO2"
        and start <= datetime.fromisoformat(r["time"]) < datetime.fromisoformat(PEAK)
    ]
    assert len(before) == 14  # midnight to 13:00
    assert used["stn-mic-03"]["background"] == pytest.approx(statistics.median(before))
    assert used["stn-mic-03"]["unit"] == "µg/m³"


@pytest.mark.parametrize("pollutant", ["NO2", "TVOC"])
def test_footprints_are_valid_polygons_lying_downwind(
    client: TestClient, headers, day: dict[str, str], pollutant: str
) -> None:
    body = _candidates(client, headers, day[pollutant], top=5)
    downwind_deg = (body["wind"]["from_deg"] + 180) % 360
    assert len(body["features"]) == 5
    for feature in body["features"]:
        name = feature["properties"]["site_id"]
        footprint = shape(feature["geometry"])
        assert footprint.geom_type in ("Polygon", "MultiPolygon") and footprint.is_valid, name
        stacks = feature["properties"]["stacks"]
        if not stacks:  # emits from its premises: measure from their middle
            site = next(
                f
                for f in json.loads(SITES.read_text())["features"]
                if f["properties"]["id"] == name
            )
            stacks = [list(shape(site["geometry"]).centroid.coords[0])]
        lon0 = sum(s[0] for s in stacks) / len(stacks)
        lat0 = sum(s[1] for s in stacks) / len(stacks)
        centre = footprint.centroid
        azimuth, _, distance_m = GEOD.inv(lon0, lat0, centre.x, centre.y)
        assert distance_m > 100, name
        assert abs((azimuth - downwind_deg + 180) % 360 - 180) < 10, name
        # nothing 300 m upwind of the release is in its footprint
        up_lon, up_lat, _ = GEOD.fwd(lon0, lat0, body["wind"]["from_deg"], 300.0)
        assert not footprint.contains(Point(up_lon, up_lat)), name


def test_unknown_alert_is_404_and_no_wind_is_422(
    client: TestClient, headers: dict[str, dict[str, str]]
) -> None:
    op = headers["operator"]
    r = client.get(f"{API}/alerts/{uuid.uuid4()}/candidates", headers=op)
    assert r.status_code == 404
    assert client.put(f"{API}/sites", json=json.loads(SITES.read_text()), headers=op).is_success
    # one NO2 reading over the 200 µg/m³ limit at a station without a vane, and no other
    reading = {"station": "stn-mic-03", "pollutant": "NO2", "value": 250.0, "unit": "µg/m³"}
    r = client.post(f"{API}/readings", json={**reading, "time": PEAK}, headers=op)
    (alert_id,) = r.json()["alerts_opened"]
    r = client.get(f"{API}/alerts/{alert_id}/candidates", headers=op)
    assert r.status_code == 422
    assert r.json()["detail"] == "no wind reported at 2026-06-15T06:00:00+00:00"
    r = client.post(f"{API}/alerts/{alert_id}/patrol", json={"top": 2}, headers=op)
    assert r.status_code == 422
    assert r.json()["detail"] == "no wind reported at 2026-06-15T06:00:00+00:00"
    # a calm at the national station: a plume model has no downwind to look at
    calm = {**reading, "station": "stn-nat-01", "value": 30.0, "wind_speed_m_s": 0.1}
    r = client.post(f"{API}/readings", json={**calm, "wind_from_deg": 45, "time": PEAK}, headers=op)
    assert r.status_code == 200, r.text
    r = client.get(f"{API}/alerts/{alert_id}/candidates", headers=op)
    assert r.status_code == 422
    assert r.json()["detail"].startswith("stn-nat-01 at 2026-06-15T06:00:00+00:00: wind speed 0.1")


def test_everyone_reads_candidates_and_only_operators_plan(
    client: TestClient, headers, day: dict[str, str]
) -> None:
    alert = day["NO2"]
    r = client.post(f"{API}/alerts/{alert}/patrol", json={"top": 1}, headers=headers["inspector"])
    assert r.status_code == 403
    r = client.post(
        f"{API}/alerts/{uuid.uuid4()}/patrol", json={"top": 1}, headers=headers["operator"]
    )
    assert r.status_code == 404
    client.cookies.clear()
    assert client.get(f"{API}/alerts/{alert}/candidates").status_code == 401


def test_the_alert_page_lists_its_patrols_and_what_they_found(
    client: TestClient, headers, day: dict[str, str], engine: Engine
) -> None:
    alert = uuid.UUID(day["NO2"])
    taken = datetime(2026, 6, 15, 7, 30, tzinfo=UTC)
    with Session(engine) as session:
        first = Mission(name="a · sortie 1", patrol_name="a", sortie_index=1, alert_id=alert)
        second = Mission(name="a · sortie 2", patrol_name="a", sortie_index=2, alert_id=alert)
        routine = Mission(name="r · sortie 1", patrol_name="r", sortie_index=1)
        session.add_all([first, second, routine])
        session.flush()
        for mission, kind in ((first, "smoke_plume"), (routine, "thermal_hotspot")):
            flight = Flight(mission_id=mission.id, status=FlightStatus.LANDED)
            session.add(flight)
            session.flush()
            capture = Capture(flight_id=flight.id, path=f"{kind}.jpg", taken_at=taken)
            session.add(capture)
            session.flush()
            session.add(
                Finding(
                    dedupe_key=kind,
                    capture_id=capture.id,
                    flight_id=flight.id,
                    site_id=SOURCE,
                    kind=kind,
                    detector="test",
                    detector_version="1",
                    lat=34.8135,
                    lon=113.5348,
                )
            )
        session.commit()
        ids = [str(first.id), str(second.id)]
    r = client.get(f"{API}/alerts/{alert}", headers=headers["inspector"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["patrols"] == [{"name": "a", "mission_ids": ids}]
    assert [(f["kind"], f["site_id"], f["lon"], f["lat"]) for f in body["findings"]] == [
        ("smoke_plume", SOURCE, 113.5348, 34.8135)  # not the routine patrol's hotspot
    ]
    assert body["findings"][0]["captured_at"] == "2026-06-15T07:30:00Z"
    assert len(body["readings"]) > 0


def test_a_dock_whose_drones_all_fly_is_left_out(
    client: TestClient, headers, day: dict[str, str], engine: Engine
) -> None:
    with Session(engine) as session:
        docks = {d.id: d.drones for d in free_docks(session, zone_from_store(session))}
        assert docks == {"dock-south": 1, "dock-north": 1}
        for status, dock in (
            (FlightStatus.FLYING, "dock-south"),
            (FlightStatus.LANDED, "dock-north"),  # landed: its drone is free again
        ):
            mission = Mission(name=dock, plan={"dock": {"id": dock}})
            session.add(mission)
            session.flush()
            session.add(Flight(mission_id=mission.id, status=status))
        session.commit()
        sites = zone_from_store(session)
        assert {d.id: d.drones for d in free_docks(session, sites)} == {"dock-north": 1}
        starting = session.exec(select(Flight).where(Flight.status == FlightStatus.LANDED)).one()
        starting.status = FlightStatus.STARTING
        session.add(starting)
        session.commit()
        assert free_docks(session, sites) == ()
    r = client.post(
        f"{API}/alerts/{day['NO2']}/patrol", json={"top": 2}, headers=headers["operator"]
    )
    assert r.status_code == 409
    assert r.json()["detail"] == "every dock's drones are flying: plan again once one has landed"


def test_a_patrol_to_the_candidates_is_stored_with_its_alert(
    client: TestClient, headers, day: dict[str, str], engine: Engine
) -> None:
    alert = day["NO2"]
    body = {"top": 2, "time_limit_s": 1.0}
    r = client.post(f"{API}/alerts/{alert}/patrol", json=body, headers=headers["operator"])
    assert r.status_code == 201, r.text
    plan = r.json()
    assert plan["patrol_name"] == "alert stn-mic-03 NO2 2026-06-15 06:00"
    assert plan["candidates"][0] == SOURCE and len(plan["candidates"]) == 2
    assert plan["sorties"]
    assert SOURCE in {t for sortie in plan["sorties"] for t in sortie["targets"]}
    assert {sortie["alert_id"] for sortie in plan["sorties"]} == {alert}
    with Session(engine) as session:
        rows = session.exec(select(Mission).where(Mission.patrol_name == plan["patrol_name"]))
        stored = {str(m.id): m.alert_id for m in rows}
    assert stored == dict.fromkeys([s["id"] for s in plan["sorties"]], uuid.UUID(alert))
    page = client.get(f"{API}/alerts/{alert}", headers=headers["inspector"]).json()
    assert page["patrols"] == [
        {"name": plan["patrol_name"], "mission_ids": [s["id"] for s in plan["sorties"]]}
    ]
    again = client.post(f"{API}/alerts/{alert}/patrol", json=body, headers=headers["admin"])
    assert again.status_code == 409
    assert again.json()["detail"] == f"a patrol named {plan['patrol_name']!r} already exists"


# --- the sun, against cases worked by hand -------------------------------------------


def test_the_sun_at_noon_on_the_equinox_and_the_solstice() -> None:
    """20 March 2026, equinox at 14:46 UTC: the declination is -0.17 degrees ten hours
    before (the sun climbs 0.4 degrees a day), the equation of time -7.5 min. At
    Zhengzhou (113.53 E, 34.81 N) solar noon is 12:00 - 113.53 x 4 min + 7.5 min =
    04:33.4 UTC, the sun 90 - 34.81 - 0.17 = 55.02 degrees high. 21 June 2026 at
    Greenwich (0 E, 51.48 N): declination 23.44, equation of time -1.7 min, so noon at
    12:01.7 UTC and 90 - 51.48 + 23.44 = 61.96 degrees."""
    cases = [
        (datetime(2026, 3, 20, 4, tzinfo=UTC), 113.53, 34.81, 33.4, 55.02),
        (datetime(2026, 6, 21, 11, 30, tzinfo=UTC), 0.0, 51.48, 31.7, 61.96),
    ]
    for start, lon, lat, noon_min, height_deg in cases:
        minutes = [start + timedelta(minutes=m) for m in range(61)]
        heights = [sun_elevation_deg(t, lon=lon, lat=lat) for t in minutes]
        noon = minutes[heights.index(max(heights))]
        assert abs((noon - start).total_seconds() / 60 - noon_min) <= 1.0, (lat, noon)
        assert max(heights) == pytest.approx(height_deg, abs=0.05)
    # on the equator at the equinox it passes overhead; six hours before, it rises
    day = datetime(2026, 3, 20, tzinfo=UTC)
    assert sun_elevation_deg(day + timedelta(hours=12, minutes=7.5), lon=0, lat=0) > 89.8
    assert sun_elevation_deg(day + timedelta(hours=6, minutes=7.5), lon=0, lat=0) == (
        pytest.approx(0, abs=0.2)
    )


def test_day_starts_an_hour_after_sunrise() -> None:
    """Turner's day: from an hour after sunrise (06:07 UTC at 0 E, 0 N on the equinox) to
    an hour before sunset (18:07)."""
    day = datetime(2026, 3, 20, tzinfo=UTC)
    at = {h: is_daytime(day + timedelta(hours=h), lon=0, lat=0) for h in (6.5, 7.5, 16.5, 17.5)}
    assert at == {6.5: False, 7.5: True, 16.5: True, 17.5: False}
    # the sample day's alert hour: 14:00 at UTC+8 is mid-afternoon; 02:00 is night
    assert is_daytime(datetime.fromisoformat(PEAK), lon=113.53, lat=34.81)
    assert not is_daytime(
        datetime.fromisoformat("2026-06-15T02:00:00+08:00"), lon=113.53, lat=34.81
    )
