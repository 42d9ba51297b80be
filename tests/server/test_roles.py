"""The role matrix: every route, every role, and anonymous callers, checked against the rules.

admin: everything; operator: sites, plans, flights, uploads, no reviews, no accounts;
inspector: reads and reviews, nothing that changes the zone or flies; anonymous: nothing.
"""

from __future__ import annotations

import io
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from store.models import Capture, Mission

from .conftest import object_of, seed_findings

ALL = {"admin", "operator", "inspector"}
OPS = {"admin", "operator"}
REVIEWERS = {"admin", "inspector"}
ADMIN = {"admin"}
SQUARE = {
    "type": "Polygon",
    "coordinates": [[[113.50, 34.80], [113.51, 34.80], [113.51, 34.81], [113.50, 34.80]]],
}


def _site(site_id: str) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": SQUARE,
        "properties": {"id": site_id, "kind": "enterprise"},
    }


def _matrix(ids: dict[str, str]) -> list[tuple[str, str, dict[str, Any], set[str]]]:
    f, fl, m, c, o = ids["finding"], ids["flight"], ids["mission"], ids["capture"], ids["object"]
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 64
    return [
        ("GET", "/api/v1/users/me", {}, ALL),
        ("PATCH", "/api/v1/users/me", {"json": {"full_name": "Me"}}, ALL),
        ("GET", "/api/v1/users", {}, ADMIN),
        (
            "POST",
            "/api/v1/users",
            {"json": {"username": "u-{role}", "password": "longenough"}},
            ADMIN,
        ),
        ("PATCH", f"/api/v1/users/{ids['inspector']}", {"json": {"full_name": "X"}}, ADMIN),
        ("GET", "/api/v1/sites", {}, ALL),
        ("POST", "/api/v1/sites", {"json": _site("s-{role}")}, OPS),
        (
            "PUT",
            "/api/v1/sites",
            {"json": {"type": "FeatureCollection", "features": [_site("i-{role}")]}},
            OPS,
        ),
        ("GET", "/api/v1/sites/base", {}, ALL),
        ("PUT", "/api/v1/sites/base", {"json": _site("base")}, OPS),
        ("DELETE", "/api/v1/sites/del-{role}", {}, OPS),
        ("GET", "/api/v1/missions", {}, ALL),
        ("GET", f"/api/v1/missions/{m}", {}, ALL),
        ("GET", "/api/v1/patrols", {}, ALL),
        ("GET", "/api/v1/patrols/p1/report", {}, ALL),
        ("GET", "/api/v1/patrols/p1/geojson", {}, ALL),
        ("GET", "/api/v1/flights", {}, ALL),
        ("GET", f"/api/v1/flights/{fl}", {}, ALL),
        ("POST", "/api/v1/flight-records", {"json": {"name": "manual"}}, OPS),
        ("POST", "/api/v1/flights", {"json": {"mission_id": str(uuid.uuid4()), "sitl": True}}, OPS),
        ("POST", f"/api/v1/flights/{fl}/pause", {}, OPS),
        ("POST", f"/api/v1/flights/{fl}/resume", {}, OPS),
        ("POST", f"/api/v1/flights/{fl}/abort", {}, OPS),
        ("POST", f"/api/v1/flights/{fl}/home", {}, OPS),
        ("POST", f"/api/v1/flights/{fl}/land", {}, OPS),
        ("POST", "/api/v1/patrols/p1/launch", {"json": {"sitl": True}}, OPS),
        (
            "POST",
            f"/api/v1/flights/{fl}/uploads",
            {"files": {"file": ("a-{role}.jpg", jpeg, "image/jpeg")}},
            OPS,
        ),
        ("POST", f"/api/v1/flights/{fl}/process", {}, OPS),
        ("GET", f"/api/v1/flights/{fl}/processing", {}, ALL),
        ("GET", f"/api/v1/flights/{fl}/gas", {}, ALL),
        ("GET", f"/api/v1/flights/{fl}/gas/source", {}, ALL),
        ("POST", "/api/v1/plans", {"json": {"patrol_name": "p-{role}", "targets": ["nope"]}}, OPS),
        ("GET", "/api/v1/captures", {}, ALL),
        ("GET", f"/api/v1/captures/{c}", {}, ALL),
        ("GET", f"/api/v1/captures/{c}/image", {}, ALL),
        ("GET", "/api/v1/findings", {}, ALL),
        ("GET", f"/api/v1/findings/{f}", {}, ALL),
        ("GET", f"/api/v1/findings/{f}/thumbnail", {}, ALL),
        ("GET", f"/api/v1/findings/{f}/overlay", {}, ALL),
        ("GET", f"/api/v1/findings/{f}/reviews", {}, ALL),
        ("GET", "/api/v1/reviews", {}, ALL),
        ("GET", "/api/v1/objects", {}, ALL),
        ("GET", "/api/v1/objects/reject-reasons", {}, ALL),
        ("GET", f"/api/v1/objects/{o}", {}, ALL),
        ("POST", f"/api/v1/objects/{o}/reviews", {"json": {"decision": "confirm"}}, REVIEWERS),
        ("POST", f"/api/v1/objects/{o}/split", {"json": {"finding_ids": [f]}}, REVIEWERS),
        ("GET", "/api/v1/exports/findings.geojson", {}, ALL),
        ("GET", "/api/v1/exports/findings.csv", {}, ALL),
        ("GET", "/api/v1/exports/findings.kml", {}, ALL),
        ("GET", "/api/v1/exports/objects.geojson", {}, ALL),
        ("GET", "/api/v1/sites/base/case-file", {}, ALL),
        ("GET", "/api/v1/sites/base/history", {}, ALL),
        ("GET", "/api/v1/basemap", {}, ALL),
        ("GET", "/api/v1/basemap/base/1/2/3.png", {}, ALL),
        ("GET", "/api/v1/patrols/p1/capture-layer", {}, ALL),
        ("GET", f"/api/v1/captures/{c}/overlay.png", {}, ALL),
        ("GET", f"/api/v1/exports/missions/{m}/wpml.kmz", {}, ALL),
        # readings come from the operators' feeds; every signed-in user reads them and alerts
        (
            "POST",
            "/api/v1/readings",
            {
                "json": {
                    "station": "stn-{role}",
                    "pollutant": "NO2",
                    "value": 1.0,
                    "unit": "µg/m³",
                    "time": "2026-06-15T14:00:00+08:00",
                }
            },
            OPS,
        ),
        ("GET", "/api/v1/readings", {}, ALL),
        ("GET", "/api/v1/alerts", {}, ALL),
        ("GET", f"/api/v1/alerts/{f}", {}, ALL),
        ("GET", f"/api/v1/alerts/{f}/candidates", {}, ALL),
        ("POST", f"/api/v1/alerts/{f}/patrol", {"json": {"top": 1}}, OPS),
        (
            "POST",
            "/api/v1/missions/wpml-check",
            {"files": {"file": ("r-{role}.kmz", b"PK", "application/vnd.google-earth.kmz")}},
            ALL,
        ),
        # recurring patrols: everyone reads them, operators and admins schedule them
        ("GET", "/api/v1/schedules", {}, ALL),
        (
            "POST",
            "/api/v1/schedules",
            {"json": {"patrol_name": "p1", "kind": "times", "times": ["07:30"]}},
            OPS,
        ),
        ("PATCH", f"/api/v1/schedules/{m}", {"json": {"enabled": False}}, OPS),
        ("DELETE", f"/api/v1/schedules/{m}", {}, OPS),
        ("GET", f"/api/v1/schedules/{m}/runs", {}, ALL),
    ]


def _fill(kwargs: dict[str, Any], role: str) -> dict[str, Any]:
    def sub(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace("{role}", role)
        if isinstance(value, dict):
            return {k: sub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [sub(v) for v in value]
        if isinstance(value, tuple):
            return tuple(io.BytesIO(v) if isinstance(v, bytes) else sub(v) for v in value)
        return value

    return sub(kwargs)


def test_every_route_checks_its_role(client: TestClient, headers, engine) -> None:
    finding = seed_findings(engine, 1)[0]
    with Session(engine) as session:
        capture = session.exec(select(Capture)).one()
        mission = Mission(name="m", patrol_name="p1")
        session.add(mission)
        session.commit()
        ids = {
            "finding": str(finding),
            "object": str(object_of(engine, finding)),
            "flight": str(capture.flight_id),
            "capture": str(capture.id),
            "mission": str(mission.id),
        }
    users = client.get("/api/v1/users", headers=headers["admin"]).json()["data"]
    ids["inspector"] = next(u["id"] for u in users if u["username"] == "inspector")
    client.post("/api/v1/sites", json=_site("base"), headers=headers["admin"])
    for role in ALL:
        client.post("/api/v1/sites", json=_site(f"del-{role}"), headers=headers["admin"])

    matrix = _matrix(ids)
    assert len({(m, p) for m, p, _k, _r in matrix}) == len(matrix)
    wrong: list[str] = []
    for method, path, kwargs, allowed in matrix:
        anonymous = client.request(method, path.replace("{role}", "anon"), **_fill(kwargs, "anon"))
        if anonymous.status_code != 401:
            wrong.append(f"anonymous {method} {path}: {anonymous.status_code}")
        for role in sorted(ALL):
            r = client.request(
                method, path.replace("{role}", role), headers=headers[role], **_fill(kwargs, role)
            )
            if role in allowed and r.status_code in (401, 403):
                wrong.append(f"{role} {method} {path}: refused {r.status_code} {r.text[:80]}")
            if role not in allowed and r.status_code != 403:
                wrong.append(f"{role} {method} {path}: expected 403, got {r.status_code}")
            if r.status_code >= 500:
                wrong.append(f"{role} {method} {path}: server error {r.status_code}")
    assert not wrong, "\n".join(wrong)


def test_matrix_covers_every_api_route(app) -> None:
    """A new route without a row in the matrix fails here, so no route escapes the check.

    The routes are read from the OpenAPI document: FastAPI (0.165) keeps an included router
    as one entry of ``app.routes``, so walking those for ``APIRoute`` found none at all.
    """
    matrix_paths = {
        (m, p)
        for m, p, _k, _r in _matrix(
            dict.fromkeys(["finding", "flight", "mission", "capture", "inspector", "object"], "X")
        )
    }
    normalised = {(m, _shape(p)) for m, p in matrix_paths}
    unchecked = {"/api/v1/login/access-token", "/api/v1/logout"}
    routes = [
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    assert len(routes) > 40  # the document lists the API, not nothing
    missing = [
        f"{method} {path}"
        for method, path in routes
        if path not in unchecked and (method, _shape(path)) not in normalised
    ]
    assert not missing, missing


def _shape(path: str) -> str:
    """Path parameters and concrete ids alike become ``*``."""
    parts = []
    for part in path.split("/"):
        if (
            part.startswith("{")
            or part in {"X", "base", "p1"}
            or part.startswith("del-")
            or part.split(".")[0].isdigit()  # a tile's z, x and y.png
        ):
            parts.append("*")
        elif part.startswith(("findings.", "objects.")):
            parts.append(part.split(".")[0] + ".*")
        else:
            parts.append(part)
    return "/".join(parts)
