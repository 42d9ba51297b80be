"""The case file's map extract: the site, its numbered objects and the patrol's track.

Drawn as vector graphics on the PDF page in a local equirectangular frame
(x east, y north, true north up; metres from the extent's south-west corner,
cos(latitude) at the extent's centre): over a site's few hundred metres its
scale differs from Web Mercator's by under 0.01 %, so a base layer image of the
same bounds lies under it without visible shift.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from PIL.Image import Image
from reportlab.lib import colors
from reportlab.lib.utils import ImageReader
from reportlab.platypus import Flowable

EARTH_RADIUS_M = 6_371_008.8
"""Mean Earth radius (IUGG): metres per radian of latitude in the local frame."""
MIN_SPAN_M = 200.0
"""The smallest extent shown, so a single point still has surroundings."""
PAD = 0.15
"""Margin around the site and its objects, as a fraction of their span."""
SITE_COLOUR = colors.HexColor("#1b998b")
MARKER_COLOUR = colors.HexColor("#d7263d")
TRACK_COLOUR = colors.HexColor("#1f78b4")
ROUTE_COLOUR = colors.HexColor("#7a7a7a")

Basemap = Callable[[float, float, float, float, int, int], Image | None]
"""The base layers over (west, south, east, north) degrees at (width, height) pixels, pixel
grid linear in web mercator with row 0 north (``server.basemap``), or None where none covers."""


def site_points(geometry: dict[str, Any]) -> list[tuple[float, float]]:
    """Every (lon, lat) vertex of a GeoJSON geometry, degrees."""
    out: list[tuple[float, float]] = []

    def walk(coords: Any) -> None:
        if coords and isinstance(coords[0], int | float):
            out.append((float(coords[0]), float(coords[1])))
        else:
            for c in coords or []:
                walk(c)

    walk(geometry.get("coordinates"))
    return out


def _lines(geometry: dict[str, Any]) -> list[tuple[list[Sequence[float]], bool]]:
    """Drawable lines of a geometry: (coordinates, closed)."""
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


class MapExtract(Flowable):
    """A platypus flowable of ``width`` x ``height`` points showing the case's extent.

    Parameters
    ----------
    outline : GeoJSON geometry of the site (Polygon, LineString, Point...), degrees.
    extent_points : (lon, lat) degrees the extent must hold (the site and its objects).
    markers : (number, lon, lat) of each object, numbered as its section.
    tracks : per flight, photo positions (lon, lat) in the order taken.
    routes : per sortie, the planned route's (lon, lat).
    width, height : points on the page.
    basemap : where the background comes from; None, or None from it: plain background.
    """

    bounds: tuple[float, float, float, float]
    """The extent shown: west, south, east, north in degrees."""

    def __init__(
        self,
        *,
        outline: dict[str, Any],
        extent_points: Sequence[tuple[float, float]],
        markers: Sequence[tuple[int, float, float]],
        tracks: Sequence[Sequence[tuple[float, float]]],
        routes: Sequence[Sequence[tuple[float, float]]],
        width: float,
        height: float,
        basemap: Basemap | None = None,
    ) -> None:
        super().__init__()
        self.outline, self.markers = outline, list(markers)
        self.tracks, self.routes = [list(t) for t in tracks], [list(r) for r in routes]
        self.width, self.height = width, height
        self._fit(extent_points or [(0.0, 0.0)])
        # two pixels per point: sharp in print at A4
        self.background = (
            basemap(*self.bounds, int(width * 2), int(height * 2)) if basemap else None
        )
        self.note = (
            "Background: the configured base layer."
            if self.background is not None
            else "No base layer covers this extent: plain background."
        )

    def _fit(self, points: Sequence[tuple[float, float]]) -> None:
        """Choose the extent (degrees) and the scale (points per metre) to fill the box."""
        lons, lats = [p[0] for p in points], [p[1] for p in points]
        lat_c = (min(lats) + max(lats)) / 2
        self.m_per_deg_lat = math.radians(1) * EARTH_RADIUS_M
        self.m_per_deg_lon = self.m_per_deg_lat * math.cos(math.radians(lat_c))
        span_x = max((max(lons) - min(lons)) * self.m_per_deg_lon, MIN_SPAN_M) * (1 + 2 * PAD)
        span_y = max((max(lats) - min(lats)) * self.m_per_deg_lat, MIN_SPAN_M) * (1 + 2 * PAD)
        self.scale = min(self.width / span_x, self.height / span_y)
        half_w_m, half_h_m = self.width / self.scale / 2, self.height / self.scale / 2
        lon_c = (min(lons) + max(lons)) / 2
        self.west = lon_c - half_w_m / self.m_per_deg_lon
        self.south = lat_c - half_h_m / self.m_per_deg_lat
        self.bounds = (
            self.west,
            self.south,
            lon_c + half_w_m / self.m_per_deg_lon,
            lat_c + half_h_m / self.m_per_deg_lat,
        )

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        """Page points from the box's lower-left corner (x east, y north)."""
        return (
            (lon - self.west) * self.m_per_deg_lon * self.scale,
            (lat - self.south) * self.m_per_deg_lat * self.scale,
        )

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        return self.width, self.height

    def draw(self) -> None:
        c = self.canv
        c.saveState()
        clip = c.beginPath()
        clip.rect(0, 0, self.width, self.height)
        c.clipPath(clip, stroke=0, fill=0)
        if self.background is not None:
            c.drawImage(
                ImageReader(self.background), 0, 0, self.width, self.height, mask="auto"
            )  # RGBA: transparent where no layer covers
        self._draw_site(c)
        self._draw_lines(c, self.routes, ROUTE_COLOUR, dash=(4, 3), dots=False)
        self._draw_lines(c, self.tracks, TRACK_COLOUR, dash=None, dots=True)
        self._draw_markers(c)
        c.restoreState()
        self._draw_frame(c)

    def _draw_site(self, c: Any) -> None:
        c.setStrokeColor(SITE_COLOUR)
        c.setFillColor(SITE_COLOUR, alpha=0.12)
        c.setLineWidth(1.5)
        for ring, closed in _lines(self.outline):
            path = c.beginPath()
            for i, pt in enumerate(ring):
                x, y = self.xy(pt[0], pt[1])
                path.moveTo(x, y) if i == 0 else path.lineTo(x, y)
            if closed:
                path.close()
            c.drawPath(path, stroke=1, fill=1 if closed else 0)
        if self.outline.get("type") == "Point":
            x, y = self.xy(*site_points(self.outline)[0])
            c.circle(x, y, 5, stroke=1, fill=1)

    def _draw_lines(
        self,
        c: Any,
        lines: Sequence[Sequence[tuple[float, float]]],
        colour: colors.Color,
        *,
        dash: tuple[float, float] | None,
        dots: bool,
    ) -> None:
        c.setStrokeColor(colour)
        c.setFillColor(colour)
        c.setLineWidth(0.8)
        c.setDash(*dash) if dash else c.setDash()
        for line in lines:
            points = [self.xy(lon, lat) for lon, lat in line]
            if len(points) > 1:
                path = c.beginPath()
                path.moveTo(*points[0])
                for x, y in points[1:]:
                    path.lineTo(x, y)
                c.drawPath(path, stroke=1, fill=0)
            if dots:
                for x, y in points:
                    c.circle(x, y, 1.2, stroke=0, fill=1)
        c.setDash()

    def _draw_markers(self, c: Any) -> None:
        for number, lon, lat in self.markers:
            x, y = self.xy(lon, lat)
            c.setFillColor(MARKER_COLOUR)
            c.setStrokeColor(colors.white)
            c.circle(x, y, 7, stroke=1, fill=1)
            c.setFillColor(colors.white)
            c.setFont("Helvetica-Bold", 7)
            c.drawCentredString(x, y - 2.5, str(number))

    def _draw_frame(self, c: Any) -> None:
        """Border, north arrow (true north up) and a scale bar of a round length."""
        c.setStrokeColor(colors.black)
        c.setLineWidth(0.5)
        c.rect(0, 0, self.width, self.height, stroke=1, fill=0)
        c.setFillColor(colors.black)
        c.setFont("Helvetica-Bold", 9)
        c.drawCentredString(self.width - 14, self.height - 16, "N")
        c.line(self.width - 14, self.height - 34, self.width - 14, self.height - 20)
        bar_m = _round_length(self.width / self.scale / 5)
        bar_pt = bar_m * self.scale
        c.setLineWidth(2)
        c.line(10, 10, 10 + bar_pt, 10)
        c.setFont("Helvetica", 7)
        c.drawString(10, 14, f"{bar_m:g} m")


def _round_length(metres: float) -> float:
    """The largest 1, 2 or 5 x 10^k not above ``metres`` (a scale bar's length)."""
    power = 10 ** math.floor(math.log10(max(metres, 1e-9)))
    return max(step * power for step in (1, 2, 5) if step * power <= metres)
