"""Findings: filters and pagination agree with a plain Python filter over the same rows."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from store.models import Finding

from .conftest import seed_findings


def _all(engine) -> list[Finding]:
    with Session(engine) as session:
        return list(session.exec(select(Finding)).all())


def test_pages_cover_the_list_exactly_once(client: TestClient, headers, engine) -> None:
    seed_findings(engine, 57)
    seen: list[str] = []
    for skip in range(0, 57, 10):
        page = client.get(
            f"/api/v1/findings?skip={skip}&limit=10", headers=headers["inspector"]
        ).json()
        assert page["count"] == 57
        seen += [f["id"] for f in page["data"]]
    assert len(seen) == len(set(seen)) == 57
    score_order = client.get(
        "/api/v1/findings?order=score&limit=57", headers=headers["inspector"]
    ).json()
    scores = [f["score"] for f in score_order["data"]]
    assert scores == sorted(scores, reverse=True)


def test_filters_match_python(client: TestClient, headers, engine) -> None:
    seed_findings(engine, 120)
    rows = _all(engine)

    @settings(
        max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(
        kind=st.sampled_from([None, "thermal_hotspot", "smoke_plume"]),
        site=st.sampled_from([None, "ent-01", "ent-03"]),
        box=st.tuples(
            st.floats(34.79, 34.83),
            st.floats(0, 0.03),
            st.floats(113.515, 113.55),
            st.floats(0, 0.03),
        ),
        hours=st.tuples(st.integers(0, 130), st.integers(0, 130)),
    )
    def check(kind, site, box, hours) -> None:
        lat0, dlat, lon0, dlon = box
        h0, h1 = sorted(hours)
        date_from = datetime(2026, 6, 1, h0 % 24, tzinfo=UTC).replace(day=1 + h0 // 24)
        date_to = datetime(2026, 6, 1, h1 % 24, tzinfo=UTC).replace(day=1 + h1 // 24)
        params = {
            "bbox": f"{lon0},{lat0},{lon0 + dlon},{lat0 + dlat}",
            "date_from": date_from.isoformat(),
            "date_to": date_to.isoformat(),
            "limit": 1000,
        }
        if kind:
            params["kind"] = kind
        if site:
            params["site_id"] = site
        r = client.get("/api/v1/findings", params=params, headers=headers["inspector"])
        assert r.status_code == 200, r.text
        expected = {
            str(f.id)
            for f in rows
            if (kind is None or f.kind == kind)
            and (site is None or f.site_id == site)
            and lon0 <= f.lon <= lon0 + dlon
            and lat0 <= f.lat <= lat0 + dlat
            and date_from <= f.created_at.replace(tzinfo=UTC) < date_to
        }
        assert {f["id"] for f in r.json()["data"]} == expected
        assert r.json()["count"] == len(expected)

    check()


def test_bad_filters_get_a_reason(client: TestClient, headers) -> None:
    h = headers["inspector"]
    for query, word in [
        ("bbox=1,2,3", "bbox"),
        ("bbox=a,b,c,d", "bbox"),
        ("bbox=10,80,5,85", "bbox"),
        ("status=maybe", "status"),
        ("limit=0", "limit"),
        ("date_from=2026-06-02&date_to=2026-06-01", "date_to"),
        ("date_from=yesterday", "date_from"),
        ("order=random", "order"),
    ]:
        r = client.get(f"/api/v1/findings?{query}", headers=h)
        assert r.status_code == 422, query
        assert word in r.json()["detail"], (query, r.json())
    assert client.get("/api/v1/findings/not-a-uuid", headers=h).status_code == 422
    missing = "00000000-0000-0000-0000-000000000000"
    assert client.get(f"/api/v1/findings/{missing}", headers=h).status_code == 404


def _plume_over_its_stack(engine) -> str:
    """One confirmed plume in the air over ent-07-s1 (80 m stack, ground 110 m AMSL), on a
    flight of the patrol ``plume-patrol``: 81.5 m up, 1.5 m above the mouth."""
    from store.models import Capture, FindingStatus, Flight, FlightStatus, Mission

    with Session(engine) as session:
        mission = Mission(name="plume-patrol #1", patrol_name="plume-patrol")
        session.add(mission)
        session.flush()
        flight = Flight(mission_id=mission.id, name="f", status=FlightStatus.LANDED)
        session.add(flight)
        session.flush()
        capture = Capture(flight_id=flight.id, path="ring-180.jpg", lat=34.8077, lon=113.5264)
        session.add(capture)
        session.flush()
        finding = Finding(
            dedupe_key="plume-in-air",
            capture_id=capture.id,
            flight_id=flight.id,
            site_id="ent-07",
            source_id="ent-07-s1",
            kind="plume",
            detector="plume",
            detector_version="2.0",
            score=0.9,
            lat=34.8089179,
            lon=113.5263895,
            alt_amsl_m=191.5,
            height_agl_m=81.5,
            source_distance_m=1.5,
            status=FindingStatus.CONFIRMED,
        )
        session.add(finding)
        session.commit()
        return str(finding.id)


def test_source_and_height_in_the_api_report_and_exports(
    client: TestClient, headers, engine
) -> None:
    finding_id = _plume_over_its_stack(engine)
    seed_findings(engine, 3)  # on the ground, no source
    me = headers["inspector"]
    one = client.get(f"/api/v1/findings/{finding_id}", headers=me).json()
    assert (one["source_id"], one["height_agl_m"], one["alt_amsl_m"]) == ("ent-07-s1", 81.5, 191.5)
    assert one["source_distance_m"] == 1.5
    listed = client.get("/api/v1/findings?limit=10", headers=me).json()["data"]
    assert sorted(f["source_id"] or "" for f in listed) == ["", "", "", "ent-07-s1"]

    report = client.get("/api/v1/patrols/plume-patrol/report", headers=me)
    assert report.status_code == 200, report.text
    assert "ent-07-s1 (1.5 m from it)" in report.text
    assert "81.5 m above ground (191.5 m AMSL)" in report.text

    csv_text = client.get("/api/v1/exports/findings.csv", headers=me).text
    header, row = csv_text.strip().split("\n")
    values = dict(zip(header.split(","), row.split(","), strict=True))
    assert values["source_id"] == "ent-07-s1" and float(values["height_agl_m"]) == 81.5
    geojson = client.get("/api/v1/exports/findings.geojson", headers=me).json()
    (feature,) = geojson["features"]
    assert feature["geometry"]["coordinates"] == [113.5263895, 34.8089179, 191.5]
    assert feature["properties"]["source_distance_m"] == 1.5
    kml = client.get("/api/v1/exports/findings.kml", headers=me).text
    assert "113.5263895,34.8089179,191.5" in kml and "absolute" in kml
