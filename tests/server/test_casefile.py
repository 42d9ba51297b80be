"""The case file (issue 13): a PDF per site and patrol that reads back with its pages, its
confirmed objects only, their evidence crops and the SHA-256 of every original image; and
a site's history across patrols."""

from __future__ import annotations

import hashlib
import io
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import rasterio
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw
from pypdf import PdfReader
from rasterio.transform import from_bounds
from sqlalchemy import Engine
from sqlmodel import Session, select

from server.main import create_app
from server.settings import Settings
from store.models import (
    Capture,
    DetectedObject,
    Finding,
    Flight,
    FlightStatus,
    Mission,
    ReviewDecision,
    Site,
    User,
)
from store.objects import decide, sync_flight

# ent-01's yard, a 120 m x 110 m rectangle (at 34.8 N a degree of longitude is ~91.4 km)
YARD = [[113.5200, 34.8000], [113.5213, 34.8000], [113.5213, 34.8010], [113.5200, 34.8010]]


@dataclass
class Seeded:
    """What a seeded patrol holds: objects by label, the captures' files and their hashes."""

    objects: dict[str, uuid.UUID] = field(default_factory=dict)
    best: dict[str, uuid.UUID] = field(default_factory=dict)
    captures: dict[str, str] = field(default_factory=dict)
    """File name -> SHA-256 of its bytes, computed here with hashlib."""
    flight_id: uuid.UUID | None = None


def _jpeg(path: Path, size: tuple[int, int], colour: tuple[int, int, int]) -> Path:
    image = Image.new("RGB", size, colour)
    ImageDraw.Draw(image).rectangle((4, 4, size[0] // 2, size[1] // 2), outline=(255, 0, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, quality=90)
    return path


def _sites(session: Session) -> None:
    for site_id, name, ring in (
        ("ent-01", "Zhongyuan Precision Castings", YARD),
        ("ent-02", "Huanghe Pharma Plant 2", [[x + 0.003, y] for x, y in YARD]),
        ("ent-03", "Songshan Coatings", [[x + 0.006, y] for x, y in YARD]),
    ):
        if session.exec(select(Site).where(Site.site_id == site_id)).first() is None:
            session.add(
                Site(
                    site_id=site_id,
                    kind="enterprise",
                    name=name,
                    geometry={"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
                    properties={"industry": "foundry", "stacks": [{"id": f"{site_id}-s1"}]},
                )
            )


def seed_patrol(
    engine: Engine,
    tmp: Path,
    patrol: str,
    start: datetime,
    groups: dict[str, tuple[str, str, int]],
    *,
    previous: dict[str, tuple[uuid.UUID | None, str]] | None = None,
) -> Seeded:
    """One planned sortie of ``patrol`` flown at ``start`` with three captures.

    ``groups``: label -> (kind, site, number of captures that saw it); each group
    is an object. ``previous``: label -> the previous patrol's flight and group it recurs.
    Every finding has its own thumbnail; each capture one overlay.
    """
    out = Seeded()
    folder = tmp / patrol
    with Session(engine) as session:
        _sites(session)
        mission = Mission(
            name=f"{patrol} · sortie 1",
            patrol_name=patrol,
            sortie_index=1,
            targets=["ent-01", "ent-02", "ent-03"],
            length_m=2500.0,
            plan={
                "camera": "H20T",
                "dock": {"id": "dock-south"},
                "route": {"type": "LineString", "coordinates": [YARD[0], YARD[2]]},
            },
        )
        session.add(mission)
        session.flush()
        flight = Flight(
            mission_id=mission.id,
            name=f"{patrol} flight",
            status=FlightStatus.LANDED,
            connection="udp:127.0.0.1:14550",
            distance_m=2350.0,
            started_at=start,
            ended_at=start + timedelta(minutes=18),
        )
        session.add(flight)
        session.flush()
        out.flight_id = flight.id
        captures = []
        for i in range(3):
            image = _jpeg(folder / f"{patrol}_IMG_{i:04d}.JPG", (96, 64), (40 * i, 90, 120))
            digest = hashlib.sha256(image.read_bytes()).hexdigest()
            out.captures[image.name] = digest
            capture = Capture(
                flight_id=flight.id,
                index=i,
                path=str(image),
                sha256=digest,
                taken_at=start + timedelta(seconds=30 * i),
                lat=34.8005,
                lon=113.5201 + 0.0004 * i,
            )
            session.add(capture)
            captures.append(capture)
        session.flush()
        overlays = [
            _jpeg(folder / f"overlay-{i}.jpg", (320, 240), (200, 30 * i, 60)) for i in range(3)
        ]
        n = 0
        for g, (label, (kind, site, seen_in)) in enumerate(groups.items()):
            for c in range(seen_in):
                n += 1
                in_air = kind == "smoke_plume"
                measurements: dict[str, object] = {"rise": 10.0 + n, "calibrated": True}
                if previous and label in previous:
                    before, group = previous[label]
                    measurements |= {
                        "change": "recurring",
                        "previous_flight": str(before),
                        "previous_group": group,
                    }
                session.add(
                    Finding(
                        dedupe_key=f"{patrol}-{label}-{c}",
                        capture_id=captures[c].id,
                        flight_id=flight.id,
                        group_id=f"{patrol}-{label}",
                        site_id=site,
                        source_id=f"{site}-s1",
                        kind=kind,
                        detector="test",
                        detector_version="1",
                        score=0.9 - 0.1 * c - 0.01 * g,
                        severity="high" if c == 0 else "medium",
                        lat=34.8004 + 0.0001 * n,
                        lon=113.5205,
                        area_m2=None if in_air else 12.0 + c,
                        position_error_m=2.5,
                        alt_amsl_m=190.0 if in_air else None,
                        height_agl_m=70.0 if in_air else None,
                        source_distance_m=4.0,
                        measurements=measurements,
                        thumbnail_path=str(
                            _jpeg(folder / f"{label}-{c}-thumb.jpg", (64, 64), (10 * n, 200, 40))
                        ),
                        overlay_path=str(overlays[c]),
                    )
                )
        session.flush()
        for obj in sync_flight(session, flight):
            label = obj.key.split("/", 1)[1].removeprefix(f"{patrol}-")  # "<flight>/<group>"
            out.objects[label] = obj.id
            assert obj.best_finding_id is not None
            out.best[label] = obj.best_finding_id
        session.commit()
    return out


def decide_as(
    engine: Engine,
    object_id: uuid.UUID,
    decision: ReviewDecision,
    *,
    reason: str | None = None,
    comment: str = "",
) -> None:
    with Session(engine) as session:
        inspector = session.exec(select(User).where(User.username == "inspector")).one()
        obj = session.get(DetectedObject, object_id)
        assert obj is not None
        decide(
            session, obj, user_id=inspector.id, decision=decision, reason=reason, comment=comment
        )
        session.commit()


JUNE = datetime(2026, 6, 2, 9, 0, tzinfo=UTC)
# a: a hot spot seen in captures 0 and 1; b: a plume in the air over ent-01 seen in capture 0;
# c: discoloured water in capture 0 (rejected); d: a hot spot at ent-02 (confirmed elsewhere)
JUNE_GROUPS = {
    "a": ("thermal_hotspot", "ent-01", 2),
    "b": ("smoke_plume", "ent-01", 1),
    "c": ("water_discolouration", "ent-01", 1),
    "d": ("thermal_hotspot", "ent-02", 1),
}


def seed_june(engine: Engine, tmp: Path) -> Seeded:
    """The June patrol with a, b and d confirmed and c rejected."""
    june = seed_patrol(engine, tmp, "june", JUNE, JUNE_GROUPS)
    decide_as(engine, june.objects["a"], ReviewDecision.CONFIRM, comment="black soot at the vent")
    decide_as(engine, june.objects["b"], ReviewDecision.CONFIRM, comment="plume above stack s1")
    decide_as(
        engine,
        june.objects["c"],
        ReviewDecision.REJECT,
        reason="reflection or glint",
        comment="sun on the settling tank",
    )
    decide_as(engine, june.objects["d"], ReviewDecision.CONFIRM, comment="next door")
    return june


def _pdf(client: TestClient, headers: dict[str, str], site: str, patrol: str) -> PdfReader:
    r = client.get(f"/api/v1/sites/{site}/case-file", params={"patrol": patrol}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"] == (
        f'attachment; filename="case-file-{site}-{patrol}.pdf"'
    )
    return PdfReader(io.BytesIO(r.content))


def test_chinese_comments_print_in_the_case_file(
    client: TestClient, headers, engine: Engine, tmp_path: Path
) -> None:
    # Helvetica has no CJK glyphs: pypdf reads such text back as "■" boxes
    june = seed_patrol(engine, tmp_path, "june", JUNE, {"a": ("thermal_hotspot", "ent-01", 1)})
    comment = "烟囱口冒黑烟，林格曼黑度三级"
    decide_as(engine, june.objects["a"], ReviewDecision.CONFIRM, comment=comment)
    text = "\n".join(
        p.extract_text() for p in _pdf(client, headers["inspector"], "ent-01", "june").pages
    )
    assert comment in text and "■" not in text


def test_case_file_reads_back(client: TestClient, headers, engine: Engine, tmp_path: Path) -> None:
    june = seed_june(engine, tmp_path)
    pdf = _pdf(client, headers["inspector"], "ent-01", "june")
    assert pdf.metadata is not None
    assert pdf.metadata.title == "EcoPatrol case file: ent-01, patrol june"
    pages = [p.extract_text() for p in pdf.pages]
    # cover, map extract, a section per confirmed object at ent-01 (a, b), the appendix
    assert len(pages) == 5
    text = "\n".join(pages)
    # 2350 m flown / 1000 = 2.35 km
    assert "Zhongyuan Precision Castings" in pages[0] and "2.35 km flown" in pages[0]
    assert "udp:127.0.0.1:14550" in pages[0] and "H20T" in pages[0]
    assert "Map extract" in pages[1]
    # both are high (their best findings, capture 0); a's score 0.90 beats b's 0.89
    assert "Object 1: thermal hotspot (high)" in pages[2]
    assert str(june.objects["a"]) in pages[2] and "black soot at the vent" in pages[2]
    assert "Object 2: smoke plume (high)" in pages[3]
    assert "70.0 m above the ground at its source" in pages[3]
    assert "plume above stack s1" in pages[3] and "Test inspector" in pages[3]
    for absent in ("sun on the settling tank", str(june.objects["c"]), str(june.objects["d"])):
        assert absent not in text
    # crops: a = its best capture's overlay + 2 thumbnails, b = overlay + 1 thumbnail
    assert [len(p.images) for p in pdf.pages[2:4]] == [3, 2]
    assert len(pdf.pages[0].images) == len(pdf.pages[4].images) == 0
    # the appendix: captures 0 and 1 are evidence (a saw both, b capture 0), capture 2 is not
    used = [f"june_IMG_{i:04d}.JPG" for i in (0, 1)]
    for name in used:
        assert name in pages[4] and june.captures[name] in pages[4]
    assert june.captures["june_IMG_0002.JPG"] not in text


def test_a_site_without_confirmed_objects_has_a_case_file_saying_so(
    client: TestClient, headers, engine: Engine, tmp_path: Path
) -> None:
    seed_june(engine, tmp_path)
    pdf = _pdf(client, headers["operator"], "ent-03", "june")
    text = "\n".join(p.extract_text() for p in pdf.pages)
    assert "No object at ent-03 on patrol june has been confirmed" in text
    assert "No image is used as evidence" in text
    # cover, map, the no-object page, the appendix
    assert len(pdf.pages) == 4


def test_case_file_answers_404_with_a_reason(
    client: TestClient, headers, engine: Engine, tmp_path: Path
) -> None:
    seed_june(engine, tmp_path)
    h = headers["inspector"]
    r = client.get("/api/v1/sites/ent-99/case-file?patrol=june", headers=h)
    assert r.status_code == 404 and r.json()["detail"] == "no site 'ent-99'"
    r = client.get("/api/v1/sites/ent-01/case-file?patrol=july", headers=h)
    assert r.status_code == 404 and r.json()["detail"] == "no patrol named 'july'"
    assert client.get("/api/v1/sites/ent-01/case-file", headers=h).status_code == 422
    assert client.get("/api/v1/sites/ent-01/case-file?patrol=june").status_code == 401


def test_openapi_says_the_case_file_is_a_pdf(client: TestClient, headers) -> None:
    schema = client.get("/api/v1/openapi.json", headers=headers["inspector"]).json()
    responses = schema["paths"]["/api/v1/sites/{site_id}/case-file"]["get"]["responses"]
    assert list(responses["200"]["content"]) == ["application/pdf"]
    assert "404" in responses


def test_site_history_counts_objects_by_status_per_patrol(
    client: TestClient, headers, engine: Engine, tmp_path: Path
) -> None:
    # May: x and y at ent-01, x confirmed, y rejected. June: a recurs x, c new (pending here).
    may = seed_patrol(
        engine,
        tmp_path,
        "may",
        JUNE - timedelta(days=30),
        {"x": ("thermal_hotspot", "ent-01", 2), "y": ("water_discolouration", "ent-01", 1)},
    )
    decide_as(engine, may.objects["x"], ReviewDecision.CONFIRM)
    decide_as(engine, may.objects["y"], ReviewDecision.REJECT, reason="shadow")
    june = seed_patrol(
        engine,
        tmp_path,
        "june",
        JUNE,
        {"a": ("thermal_hotspot", "ent-01", 2), "c": ("water_discolouration", "ent-01", 1)},
        previous={"a": (may.flight_id, "may-x")},
    )
    decide_as(engine, june.objects["a"], ReviewDecision.CONFIRM)
    r = client.get("/api/v1/sites/ent-01/history", headers=headers["inspector"])
    assert r.status_code == 200, r.text
    history = r.json()
    assert (history["site_id"], history["kind"]) == ("ent-01", "enterprise")
    assert [p["name"] for p in history["patrols"]] == ["may", "june"]
    counts = [p["counts"] for p in history["patrols"]]
    zero = {"pending": 0, "confirmed": 0, "rejected": 0, "duplicate": 0}
    assert counts == [zero | {"confirmed": 1, "rejected": 1}, zero | {"confirmed": 1, "pending": 1}]
    assert [len(p["flights"]) for p in history["patrols"]] == [1, 1]
    assert history["patrols"][0]["started_at"] == "2026-05-03T09:00:00Z"
    recurring = [o for o in history["patrols"][1]["objects"] if o["change"] == "recurring"]
    assert [(o["id"], o["previous_object_id"]) for o in recurring] == [
        (str(june.objects["a"]), str(may.objects["x"]))
    ]
    assert recurring[0]["previous_best_finding_id"] == str(may.best["x"])
    assert recurring[0]["previous_patrol_name"] == "may"
    # ent-02 was a target of both patrols but nothing was found there
    other = client.get("/api/v1/sites/ent-02/history", headers=headers["inspector"]).json()
    assert [(p["name"], p["objects"]) for p in other["patrols"]] == [("may", []), ("june", [])]
    r = client.get("/api/v1/sites/ent-99/history", headers=headers["inspector"])
    assert r.status_code == 404 and r.json()["detail"] == "no site 'ent-99'"


def test_site_page_needs_a_session(client: TestClient) -> None:
    r = client.get("/sites/ent-01", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/sites/ent-01"


def _orthophoto(path: Path, colour: tuple[int, int, int]) -> Path:
    """A GeoTIFF in EPSG:4326 of one colour over ent-01 and well beyond (1.1 km x 1 km)."""
    west, south, east, north = 113.515, 34.796, 113.527, 34.805
    width, height = 240, 180
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=3,
        dtype="uint8",
        crs="EPSG:4326",
        transform=from_bounds(west, south, east, north, width, height),
    ) as out:
        for band, value in enumerate(colour, start=1):
            out.write(np.full((height, width), value, dtype=np.uint8), band)
    return path


def test_the_map_extract_lies_on_the_configured_base_layer(
    app, headers, settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    seed_june(engine, tmp_path)
    tif = _orthophoto(tmp_path / "ortho.tif", (200, 180, 120))
    with TestClient(create_app(settings.model_copy(update={"basemap": [tif]}))) as client:
        pdf = _pdf(client, headers["inspector"], "ent-01", "june")
    page = pdf.pages[1]
    assert "Background: the configured base layer." in page.extract_text()
    [background] = page.images
    # the orthophoto is one colour over the whole extent: so is the picture under the map
    assert background.image is not None
    rgb = background.image.convert("RGB")
    centre = rgb.getpixel((rgb.width // 2, rgb.height // 2))
    assert isinstance(centre, tuple)
    assert all(abs(a - b) <= 2 for a, b in zip(centre, (200, 180, 120), strict=True))
