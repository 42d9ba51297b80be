"""Known sites a finding can belong to: enterprises, their stacks, river sections.

Read from a zone's ``sites.geojson`` (a FeatureCollection in WGS84). Each
feature names its ``kind`` (``enterprise``, ``stack``, ``river``, ``outfall``;
other kinds such as ``no_fly`` or ``dock`` are kept but not used here) and an
id (``site_id``, ``id`` or the feature id). Stacks are either their own Point
features (with ``enterprise``/``site`` naming their owner) or listed in an
enterprise's ``stacks`` property as ``[lon, lat]`` pairs or objects with
``coordinates`` (or ``lon``/``lat``) (and optional ``id``, ``height_m``, ``radius_m``,
``ground_alt_m``). A stack's ``height_m`` is above its own base, whose altitude AMSL is
its own ``ground_alt_m``, else its enterprise's, else the ground model's under it.
Outfalls (where an enterprise discharges into a river) are Point features of kind
``outfall`` (with ``enterprise``/``site`` naming their owner). River LineStrings run
downstream (upstream end first) unless ``"flow": "reverse"``; ``width_m``
gives the water width (default 30 m).

Stacks and outfalls are the *sources* a finding can be attributed to:
:func:`source_axes` places each as a vertical line (foot to mouth) in a capture's
world frame, and :func:`ray_axis_distance` measures how near a pixel's ray passes it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import LineString, Point, shape
from shapely.geometry.base import BaseGeometry

from imagery.errors import SitesError

if TYPE_CHECKING:
    from imagery.georef import Georef

DEFAULT_RIVER_WIDTH_M = 30.0
DEFAULT_STACK_RADIUS_M = 3.0
"""A stack's radius when the sites file gives none (the planner's default too)."""
M_PER_DEG = 111_320.0


@dataclass(frozen=True, slots=True)
class Stack:
    """A stack: ``height_m`` above its base, whose altitude AMSL is ``ground_alt_m`` when known."""

    stack_id: str
    site_id: str
    lon: float
    lat: float
    height_m: float | None = None
    radius_m: float = DEFAULT_STACK_RADIUS_M
    ground_alt_m: float | None = None


@dataclass(frozen=True, slots=True)
class Outfall:
    """A discharge point on the ground (ground altitude AMSL when known)."""

    outfall_id: str
    site_id: str
    lon: float
    lat: float
    ground_alt_m: float | None = None


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
    outfalls: tuple[Outfall, ...] = ()
    _by_id: dict[str, Site] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_id.update({s.site_id: s for s in self.sites})

    def get(self, site_id: str) -> Site | None:
        return self._by_id.get(site_id)

    def assign(self, lon: float, lat: float, kind: str, *, max_m: float = 100.0) -> dict[str, Any]:
        """The site a finding at ``lon, lat`` belongs to: ``{"site_id": ..., ...}`` or empty.

        This is the ground fallback: a finding the pipeline attributed to a
        source (a plume above its stack) takes that source's site instead.
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


def _number(value: Any, what: str) -> float | None:
    """An optional finite number property (None when absent)."""
    if value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise SitesError(f"{what} {value!r} is not a number") from None
    if not math.isfinite(out):
        raise SitesError(f"{what} {value!r} is not a finite number")
    return out


def _stack(item: Any, *, owner: str, default_id: str, ground_alt_m: float | None) -> Stack:
    """One entry of an enterprise's ``stacks``: ``[lon, lat]`` or an object."""
    if isinstance(item, list | tuple) and len(item) >= 2:
        return Stack(default_id, owner, float(item[0]), float(item[1]), ground_alt_m=ground_alt_m)
    if not (isinstance(item, dict) and ("coordinates" in item or "lon" in item)):
        raise SitesError(f"stack entry {item!r} is neither [lon, lat] nor {{lon, lat}}")
    lon, lat = item["coordinates"][:2] if "coordinates" in item else (item["lon"], item["lat"])
    sid = str(item.get("id") or default_id)
    radius = _number(item.get("radius_m"), f"stack {sid}: radius_m")
    own_ground = _number(item.get("ground_alt_m"), f"stack {sid}: ground_alt_m")
    return Stack(
        sid,
        owner,
        float(lon),
        float(lat),
        _number(item.get("height_m"), f"stack {sid}: height_m"),
        radius if radius and radius > 0 else DEFAULT_STACK_RADIUS_M,
        own_ground if own_ground is not None else ground_alt_m,
    )


def _rivers(site_id: str, name: str, props: dict[str, Any], geom: BaseGeometry) -> list[River]:
    width = float(props.get("width_m") or DEFAULT_RIVER_WIDTH_M)
    lines = list(getattr(geom, "geoms", [geom]))
    out = []
    for j, line in enumerate(lines):
        if not isinstance(line, LineString):
            continue
        if str(props.get("flow", "")).lower() == "reverse":
            line = line.reverse()
        rid = site_id if len(lines) == 1 else f"{site_id}/{j + 1}"
        out.append(River(rid, name, line, width))
    return out


def parse_sites(collection: dict[str, Any], *, where: str = "sites") -> Sites:
    """Sites from a GeoJSON FeatureCollection (see the module docstring for the schema)."""
    if collection.get("type") != "FeatureCollection":
        raise SitesError(f"{where}: not a GeoJSON FeatureCollection")
    sites: list[Site] = []
    stacks: list[Stack] = []
    rivers: list[River] = []
    outfalls: list[Outfall] = []
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
        ground = _number(props.get("ground_alt_m"), f"{where}: {site_id}: ground_alt_m")
        owner = str(props.get("enterprise") or props.get("site") or site_id)
        if kind == "stack" and isinstance(geom, Point):
            props_here = {**props, "coordinates": [geom.x, geom.y], "id": site_id}
            stacks.append(_stack(props_here, owner=owner, default_id=site_id, ground_alt_m=None))
        if kind == "outfall" and isinstance(geom, Point):
            outfalls.append(Outfall(site_id, owner, geom.x, geom.y, ground))
        for i, item in enumerate(props.get("stacks") or []):
            try:
                stacks.append(
                    _stack(
                        item,
                        owner=site_id,
                        default_id=f"{site_id}/stack-{i + 1}",
                        ground_alt_m=ground,
                    )
                )
            except SitesError as exc:
                raise SitesError(f"{where}: {site_id}: {exc}") from None
        if kind == "river":
            rivers.extend(_rivers(site_id, name, props, geom))
    return Sites(tuple(sites), tuple(stacks), tuple(rivers), tuple(outfalls))


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


# --- sources as vertical lines in a capture's world frame ------------------------------------


@dataclass(frozen=True, slots=True)
class Axis:
    """A source (stack or outfall) as a vertical line in a capture's world frame.

    The world frame is the georeference's: x east, y north (metres, the frame
    :meth:`Georef.from_lonlat` gives) and z up, metres AMSL. ``foot`` is the
    base on the ground, (3,) ndarray; ``height_m`` the mouth's height above it
    (0 for an outfall, or a stack of unknown height).
    """

    source_id: str
    site_id: str
    kind: str
    foot: NDArray[np.float64]
    height_m: float
    radius_m: float

    @property
    def mouth(self) -> NDArray[np.float64]:
        """The top of the line (a stack's mouth; an outfall's foot), (3,) ndarray."""
        return self.foot + np.array([0.0, 0.0, self.height_m])


def source_axes(sites: Sites | None, georef: Georef) -> list[Axis]:
    """Every stack and outfall of ``sites`` as a vertical line in ``georef``'s world frame.

    A base altitude missing from the sites file is the georeference's ground
    (DEM or flat ground, AMSL) under the source.
    """
    if sites is None:
        return []
    found: list[tuple[str, str, str, float, float, float | None, float, float]] = [
        (
            s.stack_id,
            s.site_id,
            "stack",
            s.lon,
            s.lat,
            s.ground_alt_m,
            s.height_m or 0.0,
            s.radius_m,
        )
        for s in sites.stacks
    ]
    found += [
        (o.outfall_id, o.site_id, "outfall", o.lon, o.lat, o.ground_alt_m, 0.0, 0.0)
        for o in sites.outfalls
    ]
    if not found:
        return []
    lon = np.array([f[3] for f in found])
    lat = np.array([f[4] for f in found])
    x, y = georef.from_lonlat(lon, lat)
    under = georef.ground_height(x, y)
    out = []
    for i, (sid, owner, kind, _lon, _lat, ground, height, radius) in enumerate(found):
        z = ground if ground is not None else float(under[i])
        if not math.isfinite(z):
            continue  # no ground known under it: cannot be placed in this capture's frame
        out.append(Axis(sid, owner, kind, np.array([x[i], y[i], z]), height, radius))
    return out


def ray_axis_distance(
    origin: NDArray[np.float64],
    rays: NDArray[np.float64],
    axis: Axis,
    *,
    rise_m: float = 0.0,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """How near rays pass a source's vertical segment, foot to mouth plus ``rise_m``.

    Parameters
    ----------
    origin : (3,) ndarray, the camera centre in the world frame (m; z AMSL).
    rays : (N, 3) ndarray of unit directions in the same frame.
    axis : the source; its segment runs from ``foot`` up ``height_m + rise_m`` metres.

    Returns
    -------
    distance : (N,) ndarray, metres between each ray (t >= 0) and the segment.
    height : (N,) ndarray, metres above the foot of the segment's nearest point.

    The closest points of the two lines are found in closed form, the
    segment's parameter clamped to its length, the ray's parameter then
    recomputed for that point (and clamped to the camera's front).
    """
    top = axis.height_m + rise_m
    w0 = origin - axis.foot
    dz = rays[:, 2]
    along = rays @ w0  # d . w0
    denom = np.maximum(1.0 - dz**2, 1e-12)  # parallel rays: any height, clamped below
    z = np.clip((w0[2] - dz * along) / denom, 0.0, top)
    on_axis = axis.foot[None, :] + z[:, None] * np.array([0.0, 0.0, 1.0])
    t = np.maximum(np.einsum("ij,ij->i", on_axis - origin, rays), 0.0)
    on_ray = origin + t[:, None] * rays
    z = np.clip(on_ray[:, 2] - axis.foot[2], 0.0, top)
    on_axis = axis.foot[None, :] + z[:, None] * np.array([0.0, 0.0, 1.0])
    return np.linalg.norm(on_ray - on_axis, axis=1), z


def nearest_on_ray(
    origin: NDArray[np.float64], ray: NDArray[np.float64], point: NDArray[np.float64]
) -> NDArray[np.float64]:
    """The point of a ray (t >= 0) nearest ``point``; all (3,) ndarrays in one frame."""
    t = max(float(np.dot(point - origin, ray)), 0.0)
    return np.asarray(origin + t * ray, dtype=np.float64)
