"""``/readings`` and ``/alerts`` as a station feed and a duty officer use them: batches keep
their good readings and name the bad ones, nothing is a 500, and the sample day's plume
raises and ends its alerts."""

from __future__ import annotations

import csv
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from .conftest import SITES

READINGS = SITES.parent / "readings.csv"
API = "/api/v1"


def _reading(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "station": "stn-mic-03",
        "pollutant": "NO2",
        "value": 31.5,
        "unit": "µg/m³",
        "time": "2026-06-15T14:00:00+08:00",
    }
    return {**base, **fields}


@pytest.fixture
def zone(client: TestClient, headers: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """The sample zone's sites (its stations among them) stored; the role headers."""
    r = client.put(f"{API}/sites", json=json.loads(SITES.read_text()), headers=headers["operator"])
    assert r.status_code == 200, r.text
    return headers


def test_one_reading_is_stored_once(client: TestClient, zone) -> None:
    op = zone["operator"]
    r = client.post(
        f"{API}/readings", json=_reading(wind_speed_m_s=3, wind_from_deg=45), headers=op
    )
    assert r.status_code == 200, r.text
    assert r.json()["stored"] == 1 and r.json()["refused"] == []
    again = client.post(
        f"{API}/readings", json=_reading(wind_speed_m_s=3, wind_from_deg=45), headers=op
    )
    assert (again.json()["stored"], again.json()["unchanged"]) == (0, 1)
    listed = client.get(f"{API}/readings", headers=zone["inspector"]).json()
    assert listed["count"] == 1
    assert listed["data"] == [
        {
            "station": "stn-mic-03",
            "pollutant": "NO2",
            "value": 31.5,
            "unit": "µg/m³",
            "time": "2026-06-15T06:00:00Z",  # 14:00 at UTC+8
            "wind_speed_m_s": 3.0,
            "wind_from_deg": 45.0,
        }
    ]


def test_a_batch_keeps_its_good_readings_and_names_the_bad(client: TestClient, zone) -> None:
    batch = [
        _reading(),
        _reading(station="stn-nowhere"),
        _reading(pollutant="SO2"),  # stn-mic-03 measures PM2.5, PM10, NO2, TVOC
        _reading(pollutant="TVOC", value=85.0),
        _reading(time="2026-06-15T15:00:00"),
        7,
        _reading(value=40.0),  # the first reading's key with another value
    ]
    r = client.post(f"{API}/readings", json=batch, headers=zone["operator"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["stored"], body["unchanged"]) == (2, 0)
    assert [(x["index"], x["reason"].split(" (")[0]) for x in body["refused"]] == [
        (1, "unknown station 'stn-nowhere'"),
        (2, "station 'stn-mic-03' does not measure SO2"),
        (4, "time '2026-06-15T15:00:00' has no zone"),
        (5, "a reading must be an object of fields"),
        (
            6,
            "stn-mic-03 NO2 at 2026-06-15T06:00:00+00:00 is already stored as 31.5 µg/m³; a stored"
            " reading is not replaced",
        ),
    ]
    got = client.get(f"{API}/readings?station=stn-mic-03", headers=zone["inspector"]).json()
    assert sorted((x["pollutant"], x["value"]) for x in got["data"]) == [
        ("NO2", 31.5),
        ("TVOC", 85.0),
    ]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ([_reading(value=-1)], "no valid reading: #0: value -1 is negative"),
        (
            [_reading(unit="mg/m³"), _reading(station="x")],
            "no valid reading: #0: wrong unit for NO2: µg/m³, not mg/m³ (and 1 more)",
        ),
        ([], "the list holds no readings"),
        (42, "the body must be a reading (an object) or a list of readings"),
    ],
)
def test_nothing_valid_is_a_422_that_says_why(
    client: TestClient, zone, body: Any, detail: str
) -> None:
    r = client.post(f"{API}/readings", json=body, headers=zone["operator"])
    assert r.status_code == 422
    assert r.json()["detail"] == detail


def test_a_body_that_is_not_json_is_a_422(client: TestClient, zone) -> None:
    r = client.post(
        f"{API}/readings",
        content=b"station,pollutant\n",
        headers={**zone["operator"], "Content-Type": "application/json"},
    )
    assert r.status_code == 422


def test_operators_ingest_and_everyone_reads(client: TestClient, zone) -> None:
    r = client.post(f"{API}/readings", json=_reading(), headers=zone["inspector"])
    assert r.status_code == 403
    assert client.post(f"{API}/readings", json=_reading(), headers=zone["admin"]).status_code == 200
    assert client.get(f"{API}/readings", headers=zone["inspector"]).status_code == 200
    assert client.get(f"{API}/alerts", headers=zone["inspector"]).status_code == 200
    client.cookies.clear()
    assert client.get(f"{API}/readings").status_code == 401


def test_readings_filter_by_time_in_any_zone(client: TestClient, zone) -> None:
    batch = [
        _reading(time=f"2026-06-15T{h:02d}:00:00+08:00", value=30.0 + h) for h in range(10, 16)
    ]
    assert (
        client.post(f"{API}/readings", json=batch, headers=zone["operator"]).json()["stored"] == 6
    )
    # 13:00 to 14:00 China time is 05:00Z to 06:00Z: the readings of 13:00 and 14:00
    r = client.get(
        f"{API}/readings",
        params={"since": "2026-06-15T05:00:00Z", "until": "2026-06-15T14:00:00+08:00"},
        headers=zone["inspector"],
    )
    assert [x["value"] for x in r.json()["data"]] == [43.0, 44.0]
    bad = client.get(
        f"{API}/readings",
        params={"since": "2026-06-15T06:00:00Z", "until": "2026-06-15T05:00:00Z"},
        headers=zone["inspector"],
    )
    assert bad.status_code == 422 and bad.json()["detail"] == "until is before since"


def test_the_sample_day_raises_and_ends_two_alerts(client: TestClient, zone) -> None:
    with READINGS.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    r = client.post(f"{API}/readings", json=rows, headers=zone["operator"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["stored"], body["refused"]) == (len(rows), [])
    assert len(body["alerts_opened"]) == 2 and set(body["alerts_closed"]) == set(
        body["alerts_opened"]
    )
    viewer = zone["inspector"]
    assert client.get(f"{API}/alerts?open=true", headers=viewer).json()["count"] == 0
    closed = client.get(f"{API}/alerts?open=false", headers=viewer).json()
    assert sorted((a["station"], a["pollutant"], a["reason"]) for a in closed["data"]) == [
        ("stn-mic-03", "NO2", "limit"),
        ("stn-mic-03", "TVOC", "baseline"),
    ]
    no2 = next(a for a in closed["data"] if a["pollutant"] == "NO2")
    detail = client.get(f"{API}/alerts/{no2['id']}", headers=viewer).json()
    # from its opening at 14:00 China time (06:00Z) to its closing at 17:00 (09:00Z)
    assert [(x["time"], x["value"]) for x in detail["readings"]] == [
        ("2026-06-15T06:00:00Z", 227.2),
        ("2026-06-15T07:00:00Z", 185.5),
        ("2026-06-15T08:00:00Z", 25.6),
        ("2026-06-15T09:00:00Z", 28.7),
    ]
    assert (detail["open"], detail["peak_value"], detail["closed_at"]) == (
        False,
        227.2,
        "2026-06-15T09:00:00Z",
    )
    # the same day again: every reading unchanged, no alert opened twice
    again = client.post(f"{API}/readings", json=rows, headers=zone["operator"]).json()
    assert (again["stored"], again["unchanged"], again["alerts_opened"]) == (0, len(rows), [])


def test_an_unknown_alert_is_a_404(client: TestClient, zone) -> None:
    r = client.get(f"{API}/alerts/00000000-0000-0000-0000-000000000000", headers=zone["inspector"])
    assert r.status_code == 404 and r.json()["detail"] == "no such alert"
    assert client.get(f"{API}/alerts/nope", headers=zone["inspector"]).status_code == 422
