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
