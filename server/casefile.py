"""The case file: one PDF per site and patrol, to attach to an enforcement notice.

What it holds, in order: a cover (the site, the patrol, each flight's record),
a map extract (the site, the confirmed objects as numbered markers, the photo
positions flown and the planned route), one section per confirmed object (its
position, attribution, measurements, evidence crops and the inspectors'
decisions) and an appendix naming every original image used as evidence with
its SHA-256, so a reader can check the files handed over are the ones seen.

Only confirmed objects are in it: pending, rejected and duplicate ones are not
evidence. Evidence crops are the pipeline's own small JPEGs (thumbnails and the
capture overlay); the original images are never decoded here.
"""

from __future__ import annotations

import io
import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import (
    Flowable,
    Image,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)
from sqlmodel import Session, col, select

from imagery.errors import UnreadableImageError
from imagery.limits import ImageTooLargeError, check_image_size
from server.casemap import Basemap, MapExtract, site_points
from server.errors import NotFoundError
from server.exports import chunked
from store.models import (
    Capture,
    DetectedObject,
    Finding,
    FindingStatus,
    Flight,
    Mission,
    Review,
    Site,
    User,
)
from store.objects import members
from store.readings import as_utc

logger = logging.getLogger(__name__)

MAX_CROPS = 6
"""Thumbnails shown per object (best first); the appendix still lists every capture."""
EVIDENCE_MAX_PIXELS = 4_000_000
"""Evidence images are the pipeline's thumbnails (256 px) and overlays (1280 px): anything
larger is not one of them and is left out rather than decoded."""
EVIDENCE_MAX_BYTES = 4_000_000
PAGE_W, PAGE_H = A4
MARGIN = 18 * mm
TEXT_W = PAGE_W - 2 * MARGIN


@dataclass(frozen=True)
class Decision:
    """One inspector decision on an object, with who took it (full name when known)."""

    decision: str
    reason: str | None
    comment: str
    inspector: str
    at: datetime


@dataclass
class CaseObject:
    """A confirmed object, numbered as its marker on the map extract."""

    number: int
    obj: DetectedObject
    findings: list[Finding]
    decisions: list[Decision]


@dataclass
class Case:
    """Everything the case file shows, read from the store in one go."""

    site: Site
    patrol_name: str
    missions: list[Mission]
    flights: list[Flight]
    objects: list[CaseObject]
    captures: dict[uuid.UUID, Capture]
    photo_tracks: list[list[tuple[float, float]]] = field(default_factory=list)
    """Per flight, the (lon, lat) of its photos in the order taken: the track as flown."""
    routes: list[list[tuple[float, float]]] = field(default_factory=list)
    """Per sortie, the planned route's (lon, lat)."""
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))


# ---------------------------------------------------------------- reading the store


def patrol_flights(session: Session, patrol_name: str) -> tuple[list[Mission], list[Flight]]:
    """The patrol's sorties and every flight of them, oldest first.

    A flight recorded without a mission (photos uploaded by hand) is a patrol of
    its own, named by the flight: the same rule objects are filed under
    (``store.objects``).
    """
    missions = list(
        session.exec(
            select(Mission)
            .where(col(Mission.patrol_name) == patrol_name)
            .order_by(col(Mission.sortie_index))
        )
    )
    by_mission = (
        select(Flight).where(col(Flight.mission_id).in_([m.id for m in missions]))
        if missions
        else None
    )
    flights = list(session.exec(by_mission)) if by_mission is not None else []
    flights += session.exec(
        select(Flight).where(col(Flight.mission_id).is_(None), col(Flight.name) == patrol_name)
    )
    flights.sort(key=lambda f: (as_utc(f.started_at or f.created_at), str(f.id)))
    return missions, flights


def get_site(session: Session, site_id: str) -> Site:
    site = session.exec(select(Site).where(col(Site.site_id) == site_id)).first()
    if site is None:
        raise NotFoundError(f"no site {site_id!r}")
    return site


def decisions_of(
    session: Session, object_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Decision]]:
    """Every decision on the objects, oldest first, with the inspector's name."""
    out: dict[uuid.UUID, list[Decision]] = defaultdict(list)
    for chunk in chunked(object_ids):
        rows = session.exec(
            select(Review, User)
            .join(User, col(User.id) == col(Review.user_id))
            .where(col(Review.object_id).in_(chunk))
            .order_by(col(Review.created_at), col(Review.id))
        ).all()
        for review, user in rows:
            name = f"{user.full_name} ({user.username})" if user.full_name else user.username
            if review.object_id is not None:
                out[review.object_id].append(
                    Decision(
                        review.decision.value,
                        review.reason,
                        review.comment,
                        name,
                        as_utc(review.created_at),
                    )
                )
    return out


def gather(session: Session, site_id: str, patrol_name: str) -> Case:
    """Read the case of ``site_id`` on ``patrol_name``; NotFoundError names what is missing."""
    site = get_site(session, site_id)
    missions, flights = patrol_flights(session, patrol_name)
    objects = list(
        session.exec(
            select(DetectedObject)
            .where(
                col(DetectedObject.site_id) == site_id,
                col(DetectedObject.patrol_name) == patrol_name,
            )
            .order_by(col(DetectedObject.created_at), col(DetectedObject.id))
        )
    )
    if not missions and not flights and not objects:
        raise NotFoundError(f"no patrol named {patrol_name!r}")
    confirmed = [o for o in objects if o.status == FindingStatus.CONFIRMED and o.finding_count > 0]
    confirmed.sort(key=lambda o: (-o.severity_rank, -o.score, str(o.id)))
    decisions = decisions_of(session, [o.id for o in confirmed])
    case_objects = [
        CaseObject(n, o, members(session, o), decisions.get(o.id, []))
        for n, o in enumerate(confirmed, start=1)
    ]
    capture_ids = {f.capture_id for c in case_objects for f in c.findings}
    captures = {
        c.id: c
        for chunk in chunked(sorted(capture_ids, key=str))
        for c in session.exec(select(Capture).where(col(Capture.id).in_(chunk)))
    }
    return Case(
        site=site,
        patrol_name=patrol_name,
        missions=missions,
        flights=flights,
        objects=case_objects,
        captures=captures,
        photo_tracks=[_photo_track(session, f) for f in flights],
        routes=[r for m in missions if (r := _route(m))],
    )


def _photo_track(session: Session, flight: Flight) -> list[tuple[float, float]]:
    rows = session.exec(
        select(Capture.lon, Capture.lat)
        .where(
            col(Capture.flight_id) == flight.id,
            col(Capture.lon).is_not(None),
            col(Capture.lat).is_not(None),
        )
        .order_by(col(Capture.taken_at), col(Capture.index), col(Capture.path))
    ).all()
    return [(float(lon), float(lat)) for lon, lat in rows if lon is not None and lat is not None]


def _route(mission: Mission) -> list[tuple[float, float]]:
    route = (mission.plan or {}).get("route") or {}
    if route.get("type") != "LineString":
        return []
    return [(float(c[0]), float(c[1])) for c in route.get("coordinates") or []]


# ---------------------------------------------------------------- writing the PDF


def _styles() -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()
    return {
        "title": base["Title"],
        "h1": base["Heading1"],
        "h2": base["Heading2"],
        "body": base["BodyText"],
        "small": ParagraphStyle("small", parent=base["BodyText"], fontSize=8, leading=10),
    }


CJK_FONT = "STSong-Light"
"""Adobe's Simplified Chinese CID font, which PDF readers carry: no font file to ship. The
base-14 fonts hold Latin-1 only, and the zone's names and comments are often Chinese."""
pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))


def _beyond_latin1(text: str) -> bool:
    return any(ord(ch) > 0xFF for ch in text)


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    """A paragraph of plain text: stored names and comments are escaped, never markup;
    set in the CJK font when Helvetica has no glyphs for it."""
    if _beyond_latin1(text):
        style = ParagraphStyle(f"{style.name}-cjk", parent=style, fontName=CJK_FONT)
    return Paragraph(escape(text), style)


def _when(value: datetime | None) -> str:
    if value is None:
        return "not recorded"
    return as_utc(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _num(value: float | None, unit: str = "", digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}{unit}"


def _kv_table(rows: Sequence[tuple[str, str]], styles: dict[str, ParagraphStyle]) -> Table:
    data = [[_p(k, styles["small"]), _p(v, styles["small"])] for k, v in rows]
    table = Table(data, colWidths=[45 * mm, TEXT_W - 45 * mm], hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.lightgrey),
                ("TEXTCOLOR", (0, 0), (0, -1), colors.dimgrey),
            ]
        )
    )
    return table


def _grid(data: list[list[Any]], widths: Sequence[float], *, font_size: float = 7.5) -> Table:
    table = Table(data, colWidths=list(widths), repeatRows=1, hAlign="LEFT")
    cjk = [
        ("FONTNAME", (c, r), (c, r), CJK_FONT)
        for r, row in enumerate(data)
        for c, cell in enumerate(row)
        if isinstance(cell, str) and _beyond_latin1(cell)
    ]
    table.setStyle(
        TableStyle(
            [
                ("FONTSIZE", (0, 0), (-1, -1), font_size),
                ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.lightgrey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                *cjk,
            ]
        )
    )
    return table


def _cover(case: Case, styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    site, props = case.site, case.site.properties or {}
    story: list[Flowable] = [
        _p(f"Case file: {site.site_id}, patrol {case.patrol_name}", styles["title"]),
        _p("Site", styles["h2"]),
        _kv_table(
            [
                ("Site", f"{site.site_id} ({site.kind})"),
                ("Name", site.name or str(props.get("name") or "–")),
                ("Enterprise", _enterprise(site)),
                ("Confirmed objects", str(len(case.objects))),
                ("Generated", _when(case.generated_at)),
            ],
            styles,
        ),
        _p("Patrol", styles["h2"]),
    ]
    starts = [as_utc(f.started_at or f.created_at) for f in case.flights]
    ends = [as_utc(f.ended_at) for f in case.flights if f.ended_at]
    story.append(
        _kv_table(
            [
                ("Patrol", case.patrol_name),
                ("Sorties planned", str(len(case.missions))),
                ("First take-off", _when(min(starts)) if starts else "not flown"),
                ("Last landing", _when(max(ends)) if ends else "not recorded"),
            ],
            styles,
        )
    )
    story += [_p("Flights", styles["h2"]), _flights_table(case, styles)]
    return story


def _enterprise(site: Site) -> str:
    props = site.properties or {}
    if site.kind != "enterprise":
        return "– (not an enterprise site)"
    industry = props.get("industry")
    stacks = [str(s.get("id")) for s in props.get("stacks") or [] if isinstance(s, dict)]
    parts = [site.name or site.site_id]
    if industry:
        parts.append(f"industry: {industry}")
    if stacks:
        parts.append(f"stacks: {', '.join(stacks)}")
    return "; ".join(parts)


def _flights_table(case: Case, styles: dict[str, ParagraphStyle]) -> Flowable:
    if not case.flights:
        return _p("No flight of this patrol is recorded.", styles["body"])
    missions = {m.id: m for m in case.missions}
    header = ["Flight", "Vehicle / link", "Take-off", "Landing", "Operator", "Track"]
    rows: list[list[Any]] = [header]
    for flight in case.flights:
        mission = missions.get(flight.mission_id) if flight.mission_id else None
        plan = (mission.plan or {}) if mission else {}
        vehicle = ", ".join(
            x
            for x in (
                flight.connection or "link not recorded",
                f"camera {plan['camera']}" if plan.get("camera") else "",
                f"dock {plan['dock']['id']}" if isinstance(plan.get("dock"), dict) else "",
            )
            if x
        )
        rows.append(
            [
                _p(flight.name or str(flight.id)[:8], styles["small"]),
                _p(vehicle, styles["small"]),
                _when(flight.started_at),
                _when(flight.ended_at),
                "not recorded",
                _track_length(flight, mission),
            ]
        )
    widths = [32 * mm, 46 * mm, 27 * mm, 27 * mm, 18 * mm, TEXT_W - 150 * mm]
    return _grid(rows, widths)


def _track_length(flight: Flight, mission: Mission | None) -> str:
    """Flown distance from the flight record; the plan's length when none was recorded."""
    if flight.distance_m > 0:
        return f"{flight.distance_m / 1000:.2f} km flown"
    if mission is not None and mission.length_m > 0:
        return f"{mission.length_m / 1000:.2f} km planned"
    return "not recorded"


def _map_page(
    case: Case, styles: dict[str, ParagraphStyle], basemap: Basemap | None
) -> list[Flowable]:
    markers = [(c.number, c.obj.lon, c.obj.lat) for c in case.objects]
    extract = MapExtract(
        outline=case.site.geometry,
        extent_points=site_points(case.site.geometry) + [(lon, lat) for _n, lon, lat in markers],
        markers=markers,
        tracks=case.photo_tracks,
        routes=case.routes,
        width=TEXT_W,
        height=TEXT_W * 0.8,
        basemap=basemap,
    )
    return [
        _p("Map extract", styles["h1"]),
        extract,
        Spacer(1, 3 * mm),
        _p(
            "Green outline: the site. Red numbered circles: the confirmed objects, numbered as "
            "their sections. Blue dots joined: the photo positions of the patrol's flights in the "
            "order taken. Grey dashes: the planned route. " + extract.note,
            styles["small"],
        ),
    ]


def _object_section(
    case: Case, item: CaseObject, styles: dict[str, ParagraphStyle]
) -> list[Flowable]:
    obj, best = item.obj, item.findings[0] if item.findings else None
    story: list[Flowable] = [
        PageBreak(),
        _p(f"Object {item.number}: {obj.kind.replace('_', ' ')} ({obj.severity})", styles["h1"]),
        _kv_table(_object_facts(obj, best), styles),
        _p("Measurements across captures", styles["h2"]),
        _kv_table(_summary_facts(obj.summary or {}), styles),
        _findings_table(case, item, styles),
        _p("Evidence", styles["h2"]),
        *_evidence(item, styles),
        KeepTogether([_p("Decisions", styles["h2"]), _decisions_table(item, styles)]),
    ]
    return story


def _object_facts(obj: DetectedObject, best: Finding | None) -> list[tuple[str, str]]:
    error = f" ± {obj.position_error_m:.1f} m" if obj.position_error_m is not None else ""
    rows = [
        ("Object id", str(obj.id)),
        ("Position (WGS 84)", f"lat {obj.lat:.6f}, lon {obj.lon:.6f}{error}"),
    ]
    if obj.height_agl_m is not None or obj.alt_amsl_m is not None:
        rows.append(
            (
                "In the air",
                f"{_num(obj.height_agl_m, ' m')} above the ground at its source, "
                f"{_num(obj.alt_amsl_m, ' m')} above mean sea level",
            )
        )
    rows.append(("Site", obj.site_id or "–"))
    if obj.source_id:
        where = "its mouth" if obj.alt_amsl_m is not None else "its foot"
        distance = best.source_distance_m if best is not None else None
        rows.append(("Attributed to", f"{obj.source_id}, {_num(distance, ' m')} from {where}"))
    else:
        rows.append(("Attributed to", "no stack or outfall"))
    rows += [
        ("Captures", f"{obj.finding_count} finding(s)"),
        ("Change", _change(obj)),
    ]
    return rows


def _change(obj: DetectedObject) -> str:
    if obj.change == "recurring" and obj.previous_object_id:
        return f"recurring: seen on the previous patrol as object {obj.previous_object_id}"
    return obj.change or "not compared with an earlier patrol"


def _summary_facts(summary: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [
        ("Captures that saw it", str(summary.get("captures", "–"))),
        ("Highest score", _num(summary.get("score_max"), digits=3)),
        ("Largest area", _num(summary.get("area_m2_max"), " m²")),
    ]
    if summary.get("rise_max") is not None:
        units = summary.get("rise_units")
        label = " K above background" if units == "K" else " (raw counts, uncalibrated)"
        rows.append(("Highest rise", _num(summary["rise_max"], label)))
    if summary.get("delta_e_max") is not None:
        rows.append(("Largest colour difference", _num(summary["delta_e_max"], " ΔE")))
    if summary.get("colour"):
        rows.append(("Colour", str(summary["colour"])))
    return rows


def _findings_table(case: Case, item: CaseObject, styles: dict[str, ParagraphStyle]) -> Table:
    header = ["Image", "Taken", "Score", "Area m²", "Rise", "From source m", "Error m"]
    rows: list[list[Any]] = [header]
    for f in item.findings:
        capture = case.captures.get(f.capture_id)
        rise = (f.measurements or {}).get("rise")
        rows.append(
            [
                _p(Path(capture.path).name if capture else "–", styles["small"]),
                _when(capture.taken_at) if capture else "–",
                f"{f.score:.3f}",
                _num(f.area_m2),
                _num(rise) if isinstance(rise, int | float) else "–",
                _num(f.source_distance_m),
                _num(f.position_error_m),
            ]
        )
    widths = [48 * mm, 34 * mm, 14 * mm, 18 * mm, 16 * mm, 22 * mm]
    return _grid(rows, [*widths, TEXT_W - sum(widths)])


def evidence_image(path: str | None, *, width: float, max_height: float) -> Image | None:
    """The pipeline's evidence JPEG at ``path`` as a flowable, or None when missing or
    not one of them (too large in bytes or pixels: read from the header, never decoded)."""
    if not path:
        return None
    file = Path(path)
    try:
        if not file.is_file() or file.stat().st_size > EVIDENCE_MAX_BYTES:
            return None
        w_px, h_px = check_image_size(file, max_pixels=EVIDENCE_MAX_PIXELS)
    except (OSError, ImageTooLargeError, UnreadableImageError) as exc:
        logger.warning("evidence image %s left out: %s", file.name, exc)
        return None
    scale = min(width / w_px, max_height / h_px)
    return Image(str(file), width=w_px * scale, height=h_px * scale)


def evidence_paths(item: CaseObject) -> list[str]:
    """The images shown for an object: the best capture's overlay (the whole frame with the
    outline) first, then a crop per capture, best first, at most MAX_CROPS."""
    best = item.findings[0] if item.findings else None
    paths = [best.overlay_path] if best is not None and best.overlay_path else []
    return paths + [f.thumbnail_path for f in item.findings[:MAX_CROPS] if f.thumbnail_path]


def _evidence(item: CaseObject, styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    paths = evidence_paths(item)
    overlay = paths[0] if paths and item.findings[0].overlay_path == paths[0] else None
    crops = paths[1:] if overlay else paths
    story: list[Flowable] = []
    if overlay and (image := evidence_image(overlay, width=TEXT_W * 0.7, max_height=55 * mm)):
        story.append(KeepTogether([image, _p("The best capture, outlined.", styles["small"])]))
    cells = [
        img
        for p in crops
        if (img := evidence_image(p, width=TEXT_W / 3 - 4 * mm, max_height=28 * mm))
    ]
    if cells:
        rows = [cells[i : i + 3] for i in range(0, len(cells), 3)]
        rows[-1] += [""] * (3 - len(rows[-1]))
        story += [Table(rows, colWidths=[TEXT_W / 3] * 3, hAlign="LEFT"), Spacer(1, 2 * mm)]
    if not story:
        story.append(_p("No evidence image is stored for this object.", styles["body"]))
    elif item.obj.finding_count > MAX_CROPS:
        story.append(
            _p(
                f"Crops of the best {MAX_CROPS} of {item.obj.finding_count} captures; "
                "the appendix lists every image.",
                styles["small"],
            )
        )
    return story


def _decisions_table(item: CaseObject, styles: dict[str, ParagraphStyle]) -> Flowable:
    if not item.decisions:
        return _p("Confirmed before decisions were recorded per object.", styles["body"])
    rows: list[list[Any]] = [["Decision", "Inspector", "Time", "Reason", "Comment"]]
    for d in item.decisions:
        rows.append(
            [
                d.decision,
                _p(d.inspector, styles["small"]),
                _when(d.at),
                _p(d.reason or "–", styles["small"]),
                _p(d.comment or "–", styles["small"]),
            ]
        )
    widths = [18 * mm, 35 * mm, 33 * mm, 30 * mm]
    return _grid(rows, [*widths, TEXT_W - sum(widths)])


def evidence_captures(case: Case) -> list[Capture]:
    """Every original image a confirmed object was seen in, in the order taken."""
    ids = {f.capture_id for item in case.objects for f in item.findings}
    found = [case.captures[i] for i in ids if i in case.captures]
    return sorted(found, key=lambda c: (as_utc(c.taken_at or c.created_at), c.path))


def _appendix(case: Case, styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    captures = evidence_captures(case)
    story: list[Flowable] = [PageBreak(), _p("Appendix: original images", styles["h1"])]
    if not captures:
        story.append(_p("No image is used as evidence in this case file.", styles["body"]))
        return story
    story.append(
        _p(
            "Each original image a confirmed object was seen in, as uploaded, with the SHA-256 "
            "of its bytes computed on arrival: hashing a handed-over file (sha256sum) must give "
            "the same value.",
            styles["small"],
        )
    )
    rows: list[list[Any]] = [["#", "File", "Taken", "SHA-256"]]
    for i, capture in enumerate(captures, start=1):
        rows.append(
            [
                str(i),
                _p(Path(capture.path).name, styles["small"]),
                _when(capture.taken_at),
                capture.sha256 or "not recorded",
            ]
        )
    # a SHA-256 is 64 hex digits: 64 x 4.2 pt in 7 pt Courier = 269 pt, under the 295 pt left
    table = _grid(rows, [7 * mm, 34 * mm, 29 * mm, TEXT_W - 70 * mm], font_size=7)
    table.setStyle(TableStyle([("FONTNAME", (3, 1), (3, -1), "Courier")]))
    story.append(table)
    return story


def _footer(canvas: Any, doc: Any) -> None:
    canvas.saveState()
    canvas.setFont(CJK_FONT if _beyond_latin1(doc.title) else "Helvetica", 7)
    canvas.setFillColor(colors.dimgrey)
    canvas.drawString(MARGIN, 10 * mm, doc.title)
    canvas.drawRightString(PAGE_W - MARGIN, 10 * mm, f"page {doc.page}")
    canvas.restoreState()


def title_of(case: Case) -> str:
    return f"EcoPatrol case file: {case.site.site_id}, patrol {case.patrol_name}"


def render(case: Case, *, basemap: Basemap | None = None) -> bytes:
    """The case file as PDF bytes (A4); its title is in the document's metadata.

    ``basemap`` draws the map extract's background (``server.basemap``); without
    it, or where it has nothing, the background is plain.
    """
    styles = _styles()
    story = [*_cover(case, styles), PageBreak(), *_map_page(case, styles, basemap)]
    if not case.objects:
        story += [
            PageBreak(),
            _p("Confirmed objects", styles["h1"]),
            _p(
                f"No object at {case.site.site_id} on patrol {case.patrol_name} has been "
                "confirmed by an inspector, so this file holds no evidence.",
                styles["body"],
            ),
        ]
    for item in case.objects:
        story += _object_section(case, item, styles)
    story += _appendix(case, styles)
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=title_of(case),
        author="EcoPatrol",
        subject=f"Confirmed objects at {case.site.site_id} on patrol {case.patrol_name}",
        creator="EcoPatrol server",
    )
    doc.build(story, onFirstPage=_footer, onLaterPages=_footer)
    return out.getvalue()


def case_file(
    session: Session, site_id: str, patrol_name: str, *, basemap: Basemap | None = None
) -> bytes:
    """The case file's PDF; NotFoundError when the site or the patrol does not exist."""
    return render(gather(session, site_id, patrol_name), basemap=basemap)
