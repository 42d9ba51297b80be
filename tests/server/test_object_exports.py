"""Exports list objects, not frames: one row, feature or placemark per object however many
captures saw it, with its peaks and the inspectors' latest decision."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from .test_casefile import seed_june

KML = "{http://www.opengis.net/kml/2.2}"


def test_exports_have_one_row_per_object(
    client: TestClient, headers, engine: Engine, tmp_path: Path
) -> None:
    june = seed_june(engine, tmp_path)
    h = headers["inspector"]
    # confirmed: a (2 captures), b (1) and d (1) = 3 objects from 4 findings; c is rejected
    confirmed = {str(june.objects[k]) for k in "abd"}
    rows = list(
        csv.DictReader(io.StringIO(client.get("/api/v1/exports/objects.csv", headers=h).text))
    )
    assert {r["id"] for r in rows} == confirmed and len(rows) == 3
    a = next(r for r in rows if r["id"] == str(june.objects["a"]))
    assert (a["finding_count"], a["captures"], a["status"]) == ("2", "2", "confirmed")
    # a's findings are the 1st and 2nd seeded: rise 10 + 1 and 10 + 2, the peak is 12
    assert (a["rise_max"], a["rise_units"]) == ("12.0", "K")
    assert (a["decision"], a["comment"], a["inspector"]) == (
        "confirm",
        "black soot at the vent",
        "inspector",
    )
    assert (a["site_id"], a["source_id"], a["patrol_name"]) == ("ent-01", "ent-01-s1", "june")
    assert a["flight_name"] == "june flight"
    per_finding = client.get("/api/v1/exports/findings.csv", headers=h).text.splitlines()
    assert len(per_finding) == 1 + 4  # the per-capture export still has a row per frame

    geo = client.get("/api/v1/exports/objects.geojson?site_id=ent-01", headers=h).json()
    assert {f["id"] for f in geo["features"]} == {str(june.objects[k]) for k in "ab"}
    b = next(f for f in geo["features"] if f["id"] == str(june.objects["b"]))
    # the plume is in the air: its point carries the altitude AMSL third
    assert b["geometry"]["coordinates"][2] == 190.0
    assert b["properties"]["height_agl_m"] == 70.0

    kml = ET.fromstring(client.get("/api/v1/exports/objects.kml", headers=h).content)
    assert len(kml.findall(f".//{KML}Placemark")) == 3
    rejected = client.get("/api/v1/exports/objects.csv?status=rejected", headers=h).text
    rejected_rows = list(csv.DictReader(io.StringIO(rejected)))
    assert [(r["id"], r["reason"]) for r in rejected_rows] == [
        (str(june.objects["c"]), "reflection or glint")
    ]
    assert client.get("/api/v1/exports/objects.pdf", headers=h).status_code == 422
