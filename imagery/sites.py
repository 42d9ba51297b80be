"""Known sites a finding can belong to: enterprises, their stacks, river sections.

Read from a zone's ``sites.geojson`` (a FeatureCollection in WGS84). Each
feature names its ``kind`` (``enterprise``, ``stack``, ``river``, ``outfall``;
other kinds such as ``no_fly`` or ``dock`` are kept but not used here) and an
id (``site_id``, ``id`` or the feature id). Stacks are either their own Point
features (with ``enterprise``/``site`` naming their owner) or listed in an
enterprise's ``stacks`` property as ``[lon, lat]`` pairs or objects with
``coordinates`` (or ``lon``/``lat``) (and optional ``id``, ``height_m``). River LineStrings run
downstream (upstream end first) unless ``"flow": "reverse"``; ``width_m``
gives the water width (default 30 m).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import LineString, Point, shape
from shapely.geometry.base import BaseGeometry

from imagery.errors import SitesError

DEFAULT_RIVER_WIDTH_M = 30.0
M_PER_DEG = 111_320.0


@dataclass(frozen=True, slots=True)
class Stack:
    stack_id: str
    site_id: str
    lon: float
    lat: float
    height_m: float | None = None


@dataclass(frozen=True, slots=True)
class River:
    site_id: str
    name: str
    line: LineString
    width_m: float = DEFAULT_RIVER_WIDTH_M


@dataclass(frozen=True, slots=True)
class Site:
    site_id: str
    kind: str
    name: str
    geometry: BaseGeometry


@dataclass(frozen=True)
class Sites:
    """Every site of a zone, with the lookups the detectors and the pipeline need."""

    sites: tuple[Site, ...] = ()
    stacks: tuple[Stack, ...] = ()
    rivers: tuple[River, ...] = ()
    _by_id: dict[str, Site] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_id.update({s.site_id: s for s in self.sites})

    def get(self, site_id: str) -> Site | None:
        return self._by_id.get(site_id)

    def assign(self, lon: float, lat: float, kind: str, *, max_m: float = 100.0) -> dict[str, Any]:
        """The site a finding at ``lon, lat`` belongs to: ``{"site_id": ..., ...}`` or empty.

        Plumes go to the nearest stack, water findings to the river section
        (with its distance along the river), anything else to the enterprise
        containing it or the nearest within ``max_m``.
        """
        coslat = math.cos(math.radians(lat))

        def metres(dlon: float, dlat: float) -> float:
            return math.hypot(dlon * coslat, dlat) * M_PER_DEG

        here = Point(lon, lat)
        if kind == "plume" and self.stacks:
            best = min(self.stacks, key=lambda s: metres(s.lon - lon, s.lat - lat))
            dist = metres(best.lon - lon, best.lat - lat)
            if dist <= max_m * 3:
                return {
                    "site_id": best.site_id,
                    "stack_id": best.stack_id,
                    "distance_m": round(dist, 1),
                }
        if kind in ("water_discolouration", "foam") and self.rivers:
            best_r = min(self.rivers, key=lambda r: r.line.distance(here))
            dist = best_r.line.distance(here) * M_PER_DEG * coslat
            if dist <= best_r.width_m + max_m:
                along = best_r.line.project(here) * M_PER_DEG * coslat
                return {
                    "site_id": best_r.site_id,
                    "river_km": round(along / 1000, 3),
                    "distance_m": round(dist, 1),
                }
        candidates = [s for s in self.sites if s.kind in ("enterprise", "outfall", "stack")]
        inside = [s for s in candidates if s.geometry.covers(here)]
        if inside:
            return {"site_id": inside[0].site_id, "distance_m": 0.0}
        if candidates:
            near = min(candidates, key=lambda s: s.geometry.distance(here))
            dist = near.geometry.distance(here) * M_PER_DEG * coslat
            if dist <= max_m:
                return {"site_id": near.site_id, "distance_m": round(dist, 1)}
        return {}


def _stack_entries(raw: Any) -> list[tuple[float, float, str | None, float | None]]:
    out: list[tuple[float, float, str | None, float | None]] = []
    for item in raw or []:
        if isinstance(item, list | tuple) and len(item) >= 2:
            out.append((float(item[0]), float(item[1]), None, None))
        elif isinstance(item, dict) and ("coordinates" in item or "lon" in item):
            lon, lat = (
                item["coordinates"][:2] if "coordinates" in item else (item["lon"], item["lat"])
            )
            h = item.get("height_m")
            out.append(
                (float(lon), float(lat), item.get("id"), float(h) if h is not None else None)
            )
        else:
            raise SitesError(f"stack entry {item!r} is neither [lon, lat] nor {{lon, lat}}")
    return out


def parse_sites(collection: dict[str, Any], *, where: str = "sites") -> Sites:
    """Sites from a GeoJSON FeatureCollection (see the module docstring for the schema)."""
    if collection.get("type") != "FeatureCollection":
        raise SitesError(f"{where}: not a GeoJSON FeatureCollection")
    sites: list[Site] = []
    stacks: list[Stack] = []
    rivers: list[River] = []
    for n, feature in enumerate(collection.get("features", [])):
        props = feature.get("properties") or {}
        kind = str(props.get("kind") or props.get("type") or "").lower()
        site_id = str(props.get("site_id") or props.get("id") or feature.get("id") or f"site-{n}")
        name = str(props.get("name") or site_id)
        try:
            geom = shape(feature["geometry"])
        except (KeyError, TypeError, ValueError, shapely.errors.GEOSException) as exc:
            raise SitesError(f"{where}: feature {site_id} has no valid geometry ({exc})") from exc
        sites.append(Site(site_id, kind, name, geom))
        if kind == "stack" and isinstance(geom, Point):
            owner = str(props.get("enterprise") or props.get("site") or site_id)
            h = props.get("height_m")
            stacks.append(Stack(site_id, owner, geom.x, geom.y, float(h) if h else None))
        for i, (lon, lat, sid, h) in enumerate(_stack_entries(props.get("stacks"))):
            stacks.append(Stack(sid or f"{site_id}/stack-{i + 1}", site_id, lon, lat, h))
        if kind == "river":
            width = float(props.get("width_m") or DEFAULT_RIVER_WIDTH_M)
            lines = list(getattr(geom, "geoms", [geom]))
            for j, line in enumerate(lines):
                if not isinstance(line, LineString):
                    continue
                if str(props.get("flow", "")).lower() == "reverse":
                    line = line.reverse()
                rid = site_id if len(lines) == 1 else f"{site_id}/{j + 1}"
                rivers.append(River(rid, name, line, width))
    return Sites(tuple(sites), tuple(stacks), tuple(rivers))


def load_sites(path: Path) -> Sites:
    """Sites from a GeoJSON file.

    Raises
    ------
    SitesError
        When the file is unreadable or not a FeatureCollection of valid features.
    """
    try:
        collection = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SitesError(f"{path}: cannot read sites ({exc})") from exc
    return parse_sites(collection, where=str(path))
