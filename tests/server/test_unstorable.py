"""Input the database cannot store is refused with a 422 and a reason, never stored or a 500.

A lone surrogate is valid JSON (``"\\ud800"``) but not Unicode text, PostgreSQL
refuses NUL in text, and JSON has no NaN or infinity (``1e400`` overflows to
infinity when parsed). Each is refused wherever it appears: a named field, a
free-form property, a coordinate, a query parameter, the sign-in form.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from server.storable import storable_problem


def _post_raw(client: TestClient, url: str, text: str, headers: dict[str, str]) -> Any:
    return client.post(url, content=text, headers={**headers, "content-type": "application/json"})


def _dock(props: dict[str, Any], coords: str = "[113.52, 34.80]") -> str:
    """A dock site as JSON text, coordinates spliced in verbatim (so NaN/1e400 reach the server)."""
    body = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": "COORDS"},
        "properties": {"id": "dock-x", "kind": "dock", "ground_alt_m": 110, **props},
    }
    return json.dumps(body).replace('"COORDS"', coords)


@pytest.mark.parametrize(
    ("props", "coords", "reason"),
    [
        ({"note": "\ud800"}, "[113.52, 34.80]", "surrogate"),
        ({"note": "a\x00b"}, "[113.52, 34.80]", "NUL"),
        ({"name": "yard\x00"}, "[113.52, 34.80]", "NUL"),
        ({"nested": {"\ud83d": 1}}, "[113.52, 34.80]", "surrogate"),
        ({}, "[NaN, 34.80]", "finite"),
        ({}, "[Infinity, 34.80]", "finite"),
        ({}, "[1e400, 34.80]", "finite"),
        ({"height_m": 1e400}, "[113.52, 34.80]", "finite"),
    ],
)
def test_unstorable_site_is_refused_and_sites_still_list(
    client: TestClient, headers, props: dict[str, Any], coords: str, reason: str
) -> None:
    r = _post_raw(client, "/api/v1/sites", _dock(props, coords), headers["operator"])
    assert r.status_code == 422, r.text
    assert reason in r.json()["detail"]
    listed = client.get("/api/v1/sites", headers=headers["inspector"])
    assert listed.status_code == 200 and listed.json()["features"] == []


def test_unstorable_text_in_other_bodies_is_refused(client: TestClient, headers) -> None:
    admin = headers["admin"]
    new_user = '{"username": "zhang", "password": "long enough pw", "full_name": "Z\\u0000"}'
    assert _post_raw(client, "/api/v1/users", new_user, admin).status_code == 422
    plan = '{"patrol_name": "p\\udfff"}'
    assert _post_raw(client, "/api/v1/plans", plan, headers["operator"]).status_code == 422
    record = '{"name": "flown\\u0000"}'
    r = _post_raw(client, "/api/v1/flight-records", record, headers["operator"])
    assert r.status_code == 422 and "NUL" in r.json()["detail"]


def test_unstorable_query_and_form_fields_are_refused(client: TestClient, headers) -> None:
    r = client.get("/api/v1/sites", params={"kind": "dock\x00"}, headers=headers["inspector"])
    assert r.status_code == 422 and "NUL" in r.json()["detail"]
    r = client.get("/api/v1/findings", params={"site_id": "a\x00"}, headers=headers["inspector"])
    assert r.status_code == 422
    r = client.post(
        "/api/v1/login/access-token", data={"username": "admin\x00", "password": "whatever1"}
    )
    assert r.status_code == 422 and "NUL" in r.json()["detail"]


def test_storable_problem_names_the_place() -> None:
    assert storable_problem({"a": [1.0, {"b": "ok"}]}) is None
    assert storable_problem({"a": [1.0, {"b": "x\x00"}]}) == (
        "a.1.b: contains a NUL character, which cannot be stored"
    )
    assert storable_problem([0.5, float("inf")]) == "1: must be a finite number"
    problem = storable_problem({"k": "\udc00"})
    assert problem is not None and problem.startswith("k: contains a lone UTF-16 surrogate")
    # a proper pair (U+1F600 as two escapes) is ordinary text once decoded
    assert storable_problem(json.loads('"\\ud83d\\ude00"')) is None
