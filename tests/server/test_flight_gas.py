"""A flight's gas track over the API: uploaded with the flight, served with heights above the
ground, and turned into the source it points to.

The readings are a Gaussian plume written out here by hand (Turner 1970, eq. 3.1, with
Briggs' 1973 open-country widths for class D and ISC3's wind-profile exponent), not
``zone.dispersion``: a stack of the sample zone, ``ent-02-s1`` (28 m), blowing under a wind
from 210 degrees (true north) at 3 m/s, crossed by two crosswind lanes 80 m and 160 m
downwind. The ground is the zone's surveyed altitudes, worked out here with geodesic
distances (pyproj.Geod), not the server's ground model.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pyproj import Geod
from sqlalchemy import Engine
from sqlmodel import Session

from missions.gas import GAS_NAME, UG_M3, GasReading, GasWriter
from server.settings import Settings
from store.models import Alert, Flight, FlightStatus, Mission, Reading

from .conftest import SITES

GEOD = Geod(ellps="WGS84")
STACK = (113.5245295, 34.8038683)  # ent-02-s1, 28 m tall, in ent-02 (no ground_alt_m of its own)
STACK_HEIGHT_M = 28.0
# The zone states the ground only at its two docks: the server's ground is their
# inverse-distance-weighted (power 2) mean everywhere else.
DOCKS = ((113.5267177, 34.8062128, 112.0), (113.5321882, 34.8154103, 118.0))
WIND_FROM_DEG = 210.0
WIND_SPEED_M_S = 3.0  # at 10 m
EMISSION_G_S = 0.5
BACKGROUND_UG_M3 = 8.0
FLIGHT_AMSL_M = 141.0  # one altitude for both lanes: some 29 m over the ground there
START = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)


def ground_amsl_m(lon: float, lat: float) -> float:
    """The zone's ground at a point: the docks' altitudes weighted by 1 / distance^2."""
    weights, total = 0.0, 0.0
    for dock_lon, dock_lat, alt in DOCKS:
        _, _, d = GEOD.inv(lon, lat, dock_lon, dock_lat)
        if d < 1e-3:
            return alt
        weights += 1 / d**2
        total += alt / d**2
    return total / weights


def plume_ug_m3(x_m: float, y_m: float, z_m: float) -> float:
    """Turner's Gaussian plume with ground reflection, Briggs rural class D, in µg/m³.

    ``x`` downwind of the stack, ``y`` crosswind, ``z`` above ground (m). The wind at the
    stack's top from the 10 m one by the power law, exponent 0.15 (ISC3, rural D).
    """
    if x_m <= 0:
        return 0.0
    sigma_y = 0.08 * x_m / math.sqrt(1 + 1e-4 * x_m)
    sigma_z = 0.06 * x_m / math.sqrt(1 + 1.5e-3 * x_m)
    u = WIND_SPEED_M_S * (STACK_HEIGHT_M / 10.0) ** 0.15
    h = STACK_HEIGHT_M
    vertical = math.exp(-((z_m - h) ** 2) / (2 * sigma_z**2)) + math.exp(
        -((z_m + h) ** 2) / (2 * sigma_z**2)
    )
    g_m3 = (
        EMISSION_G_S
        / (2 * math.pi * u * sigma_y * sigma_z)
        * math.exp(-(y_m**2) / (2 * sigma_y**2))
        * vertical
    )
    return g_m3 * 1e6


@dataclass(frozen=True)
class Transect:
    readings: list[GasReading]
    heights_agl_m: list[float]


def transect() -> Transect:
    """Two readings on the dock before take-off, then two crosswind lanes at 80 m and 160 m
    downwind of the stack, 3 m apart from 75 m left to 75 m right of the plume's axis."""
    downwind_deg = (WIND_FROM_DEG + 180.0) % 360.0  # the wind blows towards 30 degrees
    rng = np.random.default_rng(15)
    points: list[tuple[float, float, float, float]] = []  # lon, lat, alt_amsl, value
    dock_lon, dock_lat, dock_alt = DOCKS[0]
    _, back_az, dock_d = GEOD.inv(STACK[0], STACK[1], dock_lon, dock_lat)
    for _ in range(2):  # the sensor on the ground (GPS a little under the surveyed dock)
        along = dock_d * math.cos(math.radians(back_az - downwind_deg))
        across = dock_d * math.sin(math.radians(back_az - downwind_deg))
        points.append((dock_lon, dock_lat, dock_alt - 0.4, plume_ug_m3(along, across, 0.0)))
    for x_m in (80.0, 160.0):
        lane_lon, lane_lat, _ = GEOD.fwd(STACK[0], STACK[1], downwind_deg, x_m)
        for y_m in np.arange(-75.0, 75.1, 3.0):
            # y to the left of the wind: towards downwind - 90 degrees
            lon, lat, _ = GEOD.fwd(lane_lon, lane_lat, downwind_deg - 90.0, float(y_m))
            z = FLIGHT_AMSL_M - ground_amsl_m(lon, lat)
            points.append((lon, lat, FLIGHT_AMSL_M, plume_ug_m3(x_m, float(y_m), z)))
    readings, heights = [], []
    for k, (lon, lat, alt, value) in enumerate(points):
        at = START + timedelta(milliseconds=250 * k)
        readings.append(
            GasReading(
                time_utc=at.isoformat(timespec="milliseconds"),
                time_boot_ms=600_000 + 250 * k,
                clock="boot",
                name="TVOC",
                pollutant="TVOC",
                value=round(BACKGROUND_UG_M3 + value + float(rng.normal(0, 0.3)), 3),
                unit=UG_M3,
                component=1,
                lat=lat,
                lon=lon,
                alt_amsl_m=alt,
                alt_rel_home_m=alt - dock_alt,
                position_gap_ms=0,
            )
        )
        heights.append(max(alt - ground_amsl_m(lon, lat), 0.0))
    return Transect(readings, heights)


def write_gas(path: Path, readings: list[GasReading]) -> Path:
    """``gas.jsonl`` as a flight writes it (missions.gas's own writer)."""
    writer = GasWriter(path)
    for reading in readings:
        writer.write(reading)
    writer.close()
    return path


def alert_flight(
    engine: Engine,
    settings: Settings,
    patrol: str,
    opened_at: datetime,
    station_readings: list[tuple[datetime, float, float]],
    gas: list[GasReading],
) -> tuple[str, str]:
    """A landed flight of ``patrol``'s sortie planned for a TVOC alert at stn-mic-01 (limit
    600 µg/m³), the station's readings ``(time, µg/m³, wind from deg true north)`` at
    WIND_SPEED_M_S, and the flight's ``gas``; (flight id, alert id)."""
    with Session(engine) as session:
        alert = Alert(
            station_id="stn-mic-01",
            pollutant="TVOC",
            reason="limit",
            unit="µg/m³",
            threshold=600.0,
            opened_at=opened_at,
            peak_value=900.0,
        )
        session.add(alert)
        session.flush()
        for time, value, from_deg in station_readings:
            session.add(
                Reading(
                    station_id="stn-mic-01",
                    pollutant="TVOC",
                    value=value,
                    unit="µg/m³",
                    time=time,
                    wind_speed_m_s=WIND_SPEED_M_S,
                    wind_from_deg=from_deg,
                )
            )
        mission = Mission(name=f"{patrol} 1", patrol_name=patrol, alert_id=alert.id)
        session.add(mission)
        session.flush()
        flight = Flight(name=patrol, mission_id=mission.id, status=FlightStatus.LANDED)
        flight.directory = str(settings.flights_dir / str(flight.id))
        session.add(flight)
        session.commit()
        flight_id, alert_id = str(flight.id), str(alert.id)
    write_gas(settings.flights_dir / flight_id / GAS_NAME, gas)
    return flight_id, alert_id


def _zone(client: TestClient, headers) -> None:
    r = client.put("/api/v1/sites", json=json.loads(SITES.read_text()), headers=headers["operator"])
    assert r.status_code == 200, r.text


def _flight_with_gas(client: TestClient, headers, tmp_path: Path, readings) -> str:
    """A flight record with ``gas.jsonl`` uploaded into it, as a ground station would."""
    r = client.post(
        "/api/v1/flight-records", json={"name": "gas pass"}, headers=headers["operator"]
    )
    flight_id: str = r.json()["id"]
    gas = write_gas(tmp_path / uuid.uuid4().hex / GAS_NAME, readings)
    r = client.post(
        f"/api/v1/flights/{flight_id}/uploads",
        files={"file": (GAS_NAME, gas.read_bytes(), "application/jsonl")},
        headers=headers["operator"],
    )
    assert r.status_code == 201, r.text
    assert r.json()["media_type"] == "application/jsonl"
    return flight_id


def test_the_track_is_every_reading_with_its_height_above_the_zones_ground(
    client: TestClient, headers, settings, tmp_path: Path
) -> None:
    _zone(client, headers)
    plume = transect()
    flight_id = _flight_with_gas(client, headers, tmp_path, plume.readings)
    assert (settings.flights_dir / flight_id / GAS_NAME).is_file()  # kept with the flight

    r = client.get(f"/api/v1/flights/{flight_id}/gas", headers=headers["inspector"])
    assert r.status_code == 200, r.text
    track = r.json()
    n = len(plume.readings)
    assert track["type"] == "FeatureCollection" and track["flight_id"] == flight_id
    assert track["count"] == track["shown"] == len(track["features"]) == n
    values = [reading.value for reading in plume.readings]
    assert track["ranges"] == [
        {"pollutant": "TVOC", "unit": "µg/m³", "count": n, "min": min(values), "max": max(values)}
    ]
    for feature, reading, height in zip(
        track["features"], plume.readings, plume.heights_agl_m, strict=True
    ):
        assert feature["geometry"] == {"type": "Point", "coordinates": [reading.lon, reading.lat]}
        p = feature["properties"]
        assert (p["value"], p["unit"], p["pollutant"]) == (reading.value, "µg/m³", "TVOC")
        assert p["time_utc"] == reading.time_utc and p["alt_amsl_m"] == reading.alt_amsl_m
        assert p["height_agl_m"] == pytest.approx(height, abs=0.05)
    # on the dock the sensor is at the ground: 0.4 m under it by GPS, clamped to 0
    assert [f["properties"]["height_agl_m"] for f in track["features"][:2]] == [0.0, 0.0]
    # over the lanes the ground lies between the docks' 112 m and 118 m
    assert all(
        141.0 - 118.0 <= f["properties"]["height_agl_m"] <= 141.0 - 112.0
        for f in track["features"][2:]
    )

    # thinned for the map: at most max_points, and the plume's peak kept
    thin = client.get(
        f"/api/v1/flights/{flight_id}/gas", params={"max_points": 20}, headers=headers["inspector"]
    ).json()
    assert thin["count"] == n and thin["shown"] == len(thin["features"]) <= 20
    assert max(f["properties"]["value"] for f in thin["features"]) == max(values)


def test_the_source_is_found_at_the_stack_and_attributed_to_it(
    client: TestClient, headers, tmp_path: Path
) -> None:
    _zone(client, headers)
    plume = transect()
    flight_id = _flight_with_gas(client, headers, tmp_path, plume.readings)
    r = client.get(
        f"/api/v1/flights/{flight_id}/gas/source",
        params={
            "pollutant": "TVOC",
            "wind_from_deg": WIND_FROM_DEG,
            "wind_speed_m_s": WIND_SPEED_M_S,
            "stability": "D",
        },
        headers=headers["inspector"],
    )
    assert r.status_code == 200, r.text
    found = r.json()
    _, _, off_m = GEOD.inv(STACK[0], STACK[1], found["lon"], found["lat"])
    assert off_m < 30.0, found
    assert (found["stack_id"], found["site_id"]) == ("ent-02-s1", "ent-02")
    assert found["distance_m"] == pytest.approx(off_m, abs=1.0)
    assert found["n_samples"] == len(plume.readings)
    assert (found["pollutant"], found["unit"], found["wind_source"]) == ("TVOC", "µg/m³", "query")
    assert found["uncertainty_m"] is not None and 0 < found["uncertainty_m"] < 30.0
    assert len(found["covariance_en_m2"]) == 2
    # the rate written into the readings, to within what a fitted release height trades off
    assert found["emission_g_s"] == pytest.approx(EMISSION_G_S, rel=0.5)


def test_a_patrols_flights_are_listed_by_its_name(client: TestClient, headers) -> None:
    """The map asks for a patrol's flights: a flight recorded without a plan is a patrol of
    its own name."""
    h = headers["operator"]
    ids = [
        client.post("/api/v1/flight-records", json={"name": name}, headers=h).json()["id"]
        for name in ("gas pass", "gas pass", "another")
    ]
    listed = client.get("/api/v1/flights", params={"patrol": "gas pass"}, headers=h).json()
    assert listed["count"] == 2 and {f["id"] for f in listed["data"]} == set(ids[:2])


def test_a_flight_that_heard_no_sensor_has_an_empty_track(client: TestClient, headers) -> None:
    r = client.post("/api/v1/flight-records", json={"name": "quiet"}, headers=headers["operator"])
    flight_id = r.json()["id"]
    track = client.get(f"/api/v1/flights/{flight_id}/gas", headers=headers["inspector"]).json()
    assert (track["count"], track["features"], track["ranges"]) == (0, [], [])
    r = client.get(
        f"/api/v1/flights/{flight_id}/gas/source",
        params={"wind_from_deg": 210, "wind_speed_m_s": 3},
        headers=headers["inspector"],
    )
    assert r.status_code == 422 and "no gas sensor" in r.json()["detail"]


def test_unknown_flights_are_404(client: TestClient, headers) -> None:
    missing = uuid.uuid4()
    for path in (f"/api/v1/flights/{missing}/gas", f"/api/v1/flights/{missing}/gas/source"):
        r = client.get(path, headers=headers["inspector"])
        assert r.status_code == 404 and r.json()["detail"] == "no such flight"


@pytest.mark.parametrize(
    ("params", "keep", "reason"),
    [
        ({}, None, "give the wind"),  # and the flight answers no alert
        ({"wind_from_deg": 210}, None, "both wind_from_deg and wind_speed_m_s"),
        ({"wind_from_deg": 210, "wind_speed_m_s": 0.2}, None, "at least 0.5 m/s"),
        ({"wind_from_deg": 210, "wind_speed_m_s": 3, "pollutant": "SO2"}, None, "no SO2"),
        ({"wind_from_deg": 210, "wind_speed_m_s": 3, "pollutant": "H2S"}, None, "not one of"),
        ({"wind_from_deg": 210, "wind_speed_m_s": 3}, 4, "at least 6"),
        ({"wind_from_deg": 210, "wind_speed_m_s": 3, "stability": "G"}, None, "stability"),
    ],
)
def test_what_the_source_cannot_be_found_from_is_422_with_the_reason(
    client: TestClient, headers, tmp_path: Path, params, keep, reason
) -> None:
    _zone(client, headers)
    readings = transect().readings
    flight_id = _flight_with_gas(client, headers, tmp_path, readings[:keep])
    r = client.get(
        f"/api/v1/flights/{flight_id}/gas/source", params=params, headers=headers["inspector"]
    )
    assert r.status_code == 422, r.text
    assert reason in r.json()["detail"]
    assert "\n" not in r.json()["detail"]


def test_a_gas_file_that_is_not_readings_is_refused_on_upload(
    client: TestClient, headers, settings
) -> None:
    r = client.post("/api/v1/flight-records", json={"name": "bad"}, headers=headers["operator"])
    flight_id = r.json()["id"]
    r = client.post(
        f"/api/v1/flights/{flight_id}/uploads",
        files={"file": (GAS_NAME, b'{"value": 3}\n', "application/jsonl")},
        headers=headers["operator"],
    )
    assert r.status_code == 415 and "gas.jsonl line 1" in r.json()["detail"]
    assert not (settings.flights_dir / flight_id / GAS_NAME).exists()


def test_a_gas_file_spoilt_on_disk_is_422_naming_the_line_not_the_path(
    client: TestClient, headers, settings
) -> None:
    r = client.post("/api/v1/flight-records", json={"name": "spoilt"}, headers=headers["operator"])
    flight_id = r.json()["id"]
    readings = transect().readings[:3]
    gas = write_gas(settings.flights_dir / flight_id / GAS_NAME, readings)
    with gas.open("a", encoding="utf-8") as fh:
        fh.write('{"time_utc": "2026-06-01T02:00:01Z", "value": "lots"}\n')
    r = client.get(f"/api/v1/flights/{flight_id}/gas", headers=headers["inspector"])
    assert r.status_code == 422
    assert r.json()["detail"].startswith("gas.jsonl:4: not a gas reading")
    assert str(settings.flights_dir) not in r.json()["detail"]


def test_without_a_wind_the_missions_alert_station_gives_it(
    client: TestClient, headers, engine: Engine, settings, tmp_path: Path
) -> None:
    """The station's reading nearest the transect's middle (within 2 h) is the wind."""
    _zone(client, headers)
    plume = transect()
    winds = [
        (START + timedelta(hours=h), 700.0, d)
        for h, d in ((-3.0, 90.0), (-0.25, WIND_FROM_DEG), (1.5, 250.0))
    ]
    flight_id, alert_id = alert_flight(
        engine, settings, "alert sortie", START - timedelta(hours=3), winds, plume.readings
    )
    source = f"/api/v1/flights/{flight_id}/gas/source"
    r = client.get(source, params={"stability": "D"}, headers=headers["inspector"])
    assert r.status_code == 200, r.text
    found = r.json()
    assert (found["wind_source"], found["alert_id"], found["station_id"]) == (
        "alert",
        alert_id,
        "stn-mic-01",
    )
    assert (found["wind_from_deg"], found["wind_speed_m_s"]) == (WIND_FROM_DEG, WIND_SPEED_M_S)
    assert (found["stability"], found["stability_source"]) == ("D", "query")
    assert found["stack_id"] == "ent-02-s1"
    # no class given: Turner's key. 02:00 UTC is 10:00 in Zhengzhou on 1 June, the sun well
    # up; moderate sunshine (assumed) and 3 m/s make B in his table 1
    found = client.get(source, headers=headers["inspector"]).json()
    assert (found["stability"], found["stability_source"]) == ("B", "turner")
