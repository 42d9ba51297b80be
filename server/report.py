"""The per-patrol report an inspector hands on: one self-contained HTML file.

Images are embedded as data URIs and the map is drawn as SVG from the stored
geometries, so the file opens anywhere (mail, archive, a browser's "print to
PDF") without network or server.
"""

from __future__ import annotations

import base64
import math
import mimetypes
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import or_
from sqlmodel import Session, col, select

from server.errors import NotFoundError
from store.models import Finding, Flight, Mission, Review, Site, User

STATUS_COLOURS = {
    "pending": "#f0a202",
    "confirmed": "#d7263d",
    "rejected": "#7a7a7a",
    "duplicate": "#6c5ce7",
}
SITE_COLOURS = {
    "enterprise": "#1b998b",
    "stack": "#2e294e",
    "river": "#1f78b4",
    "no_fly": "#c0392b",
    "dock": "#f39c12",
}
MAX_EMBED_BYTES = 2_000_000


@dataclass(frozen=True)
class SvgMap:
    """An equirectangular projection of the report's extent into a fixed-size SVG box."""

    width: int
    height: int
    lon0: float
    lat0: float
    scale: float
    kx: float

    @classmethod
    def fit(
        cls, points: Sequence[tuple[float, float]], *, width: int = 900, pad: int = 20
    ) -> SvgMap:
        if not points:
            points = [(0.0, 0.0)]
        lons = [p[0] for p in points]
        lats = [p[1] for p in points]
        kx = math.cos(math.radians((min(lats) + max(lats)) / 2))
        span_x = max((max(lons) - min(lons)) * kx, 1e-6)
        span_y = max(max(lats) - min(lats), 1e-6)
        scale = (width - 2 * pad) / span_x
        height = int(min(max(span_y * scale + 2 * pad, 200), 900))
        scale = min(scale, (height - 2 * pad) / span_y)
        return cls(width, height, min(lons) - pad / scale / kx, max(lats) + pad / scale, scale, kx)

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        return (
            round((lon - self.lon0) * self.kx * self.scale, 1),
            round((self.lat0 - lat) * self.scale, 1),
        )

    def path(self, coords: Iterable[Sequence[float]], *, close: bool) -> str:
        pts = [self.xy(c[0], c[1]) for c in coords]
        if not pts:
            return ""
        d = "M" + " L".join(f"{x},{y}" for x, y in pts)
        return d + (" Z" if close else "")


def _rings(geometry: dict[str, Any]) -> list[tuple[list[Sequence[float]], bool]]:
    """Drawable lines of a GeoJSON geometry: (coordinates, closed)."""
    kind, coords = geometry.get("type"), geometry.get("coordinates") or []
    if kind == "Polygon":
        return [(ring, True) for ring in coords]
    if kind == "MultiPolygon":
        return [(ring, True) for poly in coords for ring in poly]
    if kind == "LineString":
        return [(coords, False)]
    if kind == "MultiLineString":
        return [(line, False) for line in coords]
    return []


def _all_points(geometry: dict[str, Any]) -> list[tuple[float, float]]:
    if geometry.get("type") == "Point":
        c = geometry["coordinates"]
        return [(c[0], c[1])]
    return [(c[0], c[1]) for ring, _closed in _rings(geometry) for c in ring]


def _data_uri(path: str | None) -> str | None:
    if not path:
        return None
    file = Path(path)
    if not file.is_file() or file.stat().st_size > MAX_EMBED_BYTES:
        return None
    media = mimetypes.guess_type(file.name)[0] or "image/jpeg"
    if not media.startswith("image/"):
        return None
    return f"data:{media};base64,{base64.b64encode(file.read_bytes()).decode('ascii')}"


def patrol_report(session: Session, patrol_name: str) -> str:
    """The HTML report of one patrol (every sortie and flight planned under ``patrol_name``)."""
    missions = session.exec(
        select(Mission)
        .where(Mission.patrol_name == patrol_name)
        .order_by(col(Mission.sortie_index))
    ).all()
    if not missions:
        raise NotFoundError(f"no patrol named {patrol_name!r}")
    mission_ids = [m.id for m in missions]
    flights = session.exec(
        select(Flight)
        .where(col(Flight.mission_id).in_(mission_ids))
        .order_by(col(Flight.created_at))
    ).all()
    flight_ids = [f.id for f in flights]
    findings = (
        session.exec(
            select(Finding)
            .where(col(Finding.flight_id).in_(flight_ids))
            .order_by(col(Finding.status), col(Finding.score).desc())
        ).all()
        if flight_ids
        else []
    )
    reviews: dict[Any, list[tuple[Review, str]]] = {}
    if findings:
        # a decision on an object covers every member finding; older ones name the finding
        members: dict[Any, list[Any]] = {}
        for f in findings:
            if f.object_id is not None:
                members.setdefault(f.object_id, []).append(f.id)
        rows = session.exec(
            select(Review, User.username)
            .join(User, col(User.id) == col(Review.user_id))
            .where(
                or_(
                    col(Review.finding_id).in_([f.id for f in findings]),
                    col(Review.object_id).in_(list(members)),
                )
            )
            .order_by(col(Review.created_at))
        ).all()
        for review, username in rows:
            covered = [review.finding_id] if review.finding_id else members[review.object_id]
            for finding_id in covered:
                reviews.setdefault(finding_id, []).append((review, username))

    targets = {t for m in missions for t in (m.targets or [])}
    sites = [s for s in session.exec(select(Site)) if not targets or s.site_id in targets]
    routes = [m.plan["route"] for m in missions if m.plan and isinstance(m.plan.get("route"), dict)]

    points: list[tuple[float, float]] = []
    for geometry in [s.geometry for s in sites] + routes:
        points += _all_points(geometry)
    points += [(f.lon, f.lat) for f in findings]
    svg = SvgMap.fit(points)

    site_shapes = [
        {
            "d": svg.path(ring, close=closed),
            "colour": SITE_COLOURS.get(s.kind, "#555"),
            "fill": closed,
            "label": s.site_id,
            "point": svg.xy(*_all_points(s.geometry)[0])
            if s.geometry.get("type") == "Point"
            else None,
        }
        for s in sites
        for ring, closed in (_rings(s.geometry) or [([], False)])
    ]
    route_paths = [svg.path(ring, close=False) for r in routes for ring, _c in _rings(r)]
    finding_marks = [
        {"xy": svg.xy(f.lon, f.lat), "colour": STATUS_COLOURS[f.status.value], "n": i + 1}
        for i, f in enumerate(findings)
    ]
    rows_out = [
        {
            "n": i + 1,
            "finding": f,
            "image": _data_uri(f.overlay_path) or _data_uri(f.thumbnail_path),
            "reviews": reviews.get(f.id, []),
            "colour": STATUS_COLOURS[f.status.value],
        }
        for i, f in enumerate(findings)
    ]
    env = Environment(
        loader=PackageLoader("server", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )
    return env.get_template("report.html.j2").render(
        patrol_name=patrol_name,
        generated=datetime.now(UTC),
        missions=missions,
        flights=flights,
        counts=Counter(f.status.value for f in findings),
        svg=svg,
        site_shapes=site_shapes,
        route_paths=route_paths,
        finding_marks=finding_marks,
        rows=rows_out,
        status_colours=STATUS_COLOURS,
    )
