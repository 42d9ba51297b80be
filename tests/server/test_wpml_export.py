"""DJI WPML in the API: a stored sortie downloads as a KMZ that reads back as its MAVLink
items, and a DJI route is checked against the stored zone."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from fastapi.testclient import TestClient
from httpx import Response
from pymavlink.dialects.v20 import ardupilotmega as mavlink
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from missions.export.wpml import DRONES
from missions.export.wpml_read import wayline_from_kmz
from missions.items import to_e7
from missions.plan import plan_patrol
from server.planning import items_from_json, store_patrol
from store.models import Mission
from zone.sites import load_sites

from .conftest import SITES

SAMPLE = Path(__file__).parents[1] / "data" / "wpml" / "dji_msdk_v5_MIT" / "waypointsample.kmz"
NAV = (mavlink.MAV_CMD_NAV_TAKEOFF, mavlink.MAV_CMD_NAV_WAYPOINT)


def _stored(engine: Engine) -> list[Mission]:
    patrol = plan_patrol(load_sites(SITES), targets=["ent-01"], time_limit_s=0.3)
    with Session(engine) as session:
        store_patrol(session, patrol, "june wpml")
        return list(session.exec(select(Mission).order_by(col(Mission.sortie_index))).all())


def test_a_stored_sortie_downloads_as_its_own_route(
    client: TestClient, headers, engine: Engine
) -> None:
    missions = _stored(engine)
    assert missions
    for mission in missions:
        r = client.get(
            f"/api/v1/exports/missions/{mission.id}/wpml.kmz", headers=headers["inspector"]
        )
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/vnd.google-earth.kmz"
        assert (
            f'filename="june_wpml-sortie-{mission.sortie_index}.kmz"'
            in r.headers["content-disposition"]
        )
        assert "geofence" in r.headers["x-wpml-limits"]
        line = wayline_from_kmz(r.content)
        assert line.drone == DRONES["m3td"]
        items = items_from_json(mission.plan or {}, name=mission.name)
        nav = [i for i in items.items[1:] if i.command in NAV]
        assert [(to_e7(p.lat), to_e7(p.lon)) for p in line.waypoints] == [(i.x, i.y) for i in nav]
        # no DEM: the stored items are above home, the dock DJI takes off from
        assert all(abs(p.height_m - i.z) < 0.01 for p, i in zip(line.waypoints, nav, strict=True))


def test_download_options_and_refusals(client: TestClient, headers, engine: Engine) -> None:
    mission = _stored(engine)[0]
    url = f"/api/v1/exports/missions/{mission.id}/wpml.kmz"
    r = client.get(url, params={"aircraft": "m350-h30t"}, headers=headers["operator"])
    assert r.status_code == 200
    assert wayline_from_kmz(r.content).drone == DRONES["m350-h30t"]
    assert client.get(url).status_code == 401
    bad = client.get(url, params={"aircraft": "m2ea"}, headers=headers["operator"])
    assert bad.status_code == 422
    missing = client.get(
        f"/api/v1/exports/missions/{uuid.uuid4()}/wpml.kmz", headers=headers["admin"]
    )
    assert missing.status_code == 404
    with Session(engine) as session:
        empty = Mission(name="drawn by hand", patrol_name="p")
        session.add(empty)
        session.commit()
        empty_id = empty.id
    r = client.get(f"/api/v1/exports/missions/{empty_id}/wpml.kmz", headers=headers["admin"])
    assert r.status_code == 422
    assert "no uploadable item list" in r.json()["detail"]


def _check(client: TestClient, data: bytes, h: dict[str, str], **params: str) -> Response:
    files = {"file": ("route.kmz", data, "application/vnd.google-earth.kmz")}
    return client.post("/api/v1/missions/wpml-check", files=files, params=params, headers=h)


def test_a_route_is_checked_against_the_stored_zone(
    client: TestClient, headers, engine: Engine
) -> None:
    zone = json.loads(SITES.read_text(encoding="utf-8"))
    assert client.put("/api/v1/sites", json=zone, headers=headers["operator"]).status_code == 200
    mission = _stored(engine)[0]
    kmz = client.get(
        f"/api/v1/exports/missions/{mission.id}/wpml.kmz", headers=headers["operator"]
    ).content
    r = _check(client, kmz, headers["inspector"])
    assert r.status_code == 200, r.text
    items = items_from_json(mission.plan or {}, name=mission.name)
    nav = [i for i in items.items[1:] if i.command in NAV]
    body = r.json()
    assert body["dock_id"] == (mission.plan or {})["dock"]["id"]
    assert body["waypoints"] == len(nav) and body["not_checked"] == []
    assert 0 < body["max_agl_m"] <= 120
    # DJI's own sample route is in Shenzhen, some 1,360 km from the zone's docks
    far = _check(client, SAMPLE.read_bytes(), headers["inspector"])
    assert far.status_code == 422 and "min the aircraft may fly" in far.json()["detail"]
    junk = _check(client, b"not a zip", headers["inspector"])
    assert junk.status_code == 422 and "not a KMZ archive" in junk.json()["detail"]
    nodock = _check(client, kmz, headers["inspector"], dock_id="dock-x")
    assert nodock.status_code == 422 and "unknown dock 'dock-x'" in nodock.json()["detail"]
