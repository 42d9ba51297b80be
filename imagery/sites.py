"""Where a finding belongs among a zone's sites (:mod:`zone.sites`, read once for everyone).

:func:`assign` is the ground fallback: the enterprise, river section or outfall
a finding at a place belongs to. Stacks and outfalls are the *sources* a
finding can be attributed to: :func:`source_axes` places each as a vertical line
(foot to mouth) in a capture's world frame, and :func:`ray_axis_distance`
measures how near a pixel's ray passes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from shapely.geometry import Point

from zone.sites import Sites

if TYPE_CHECKING:
    from imagery.georef import Georef

M_PER_DEG = 111_320.0
"""Metres per degree of latitude (and of longitude at the equator), for local distances."""


def assign(
    sites: Sites, lon: float, lat: float, kind: str, *, max_m: float = 100.0
) -> dict[str, Any]:
    """The site a finding at ``lon, lat`` belongs to: ``{"site_id": ..., ...}`` or empty.

    This is the ground fallback: a finding the pipeline attributed to a
    source (a plume above its stack) takes that source's site instead.
    Plumes go to the nearest stack's enterprise, water findings to the river
    section (with its distance along the river, from its upstream end),
    anything else to the enterprise containing it, or the enterprise or
    outfall nearest within ``max_m`` (an outfall's site is its enterprise's).
    """
    coslat = math.cos(math.radians(lat))

    def metres(dlon: float, dlat: float) -> float:
        return math.hypot(dlon * coslat, dlat) * M_PER_DEG

    here = Point(lon, lat)
    stacks = sites.stacks
    if kind == "plume" and stacks:
        best = min(stacks, key=lambda s: metres(s.lon - lon, s.lat - lat))
        dist = metres(best.lon - lon, best.lat - lat)
        if dist <= max_m * 3:
            return {"site_id": best.site_id, "stack_id": best.id, "distance_m": round(dist, 1)}
    if kind in ("water_discolouration", "foam") and sites.rivers:
        river = min(sites.rivers, key=lambda r: r.centerline.distance(here))
        dist = river.centerline.distance(here) * M_PER_DEG * coslat
        if dist <= river.width_m + max_m:
            along = river.centerline.project(here) * M_PER_DEG * coslat
            return {
                "site_id": river.id,
                "river_km": round(along / 1000, 3),
                "distance_m": round(dist, 1),
            }
    places = [(e.id, e.boundary) for e in sites.enterprises]
    places += [(o.site_id, Point(o.lon, o.lat)) for o in sites.outfalls]
    inside = [site_id for site_id, geom in places if geom.covers(here)]
    if inside:
        return {"site_id": inside[0], "distance_m": 0.0}
    if places:
        site_id, geom = min(places, key=lambda p: p[1].distance(here))
        dist = geom.distance(here) * M_PER_DEG * coslat
        if dist <= max_m:
            return {"site_id": site_id, "distance_m": round(dist, 1)}
    return {}


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

    A stack's base is its own ``ground_alt_m``, else its enterprise's; a base
    altitude missing from the sites is the georeference's ground (DEM or flat
    ground, AMSL) under the source.
    """
    if sites is None:
        return []
    found: list[tuple[str, str, str, float, float, float | None, float, float]] = [
        (
            s.id,
            e.id,
            "stack",
            s.lon,
            s.lat,
            s.ground_alt_m if s.ground_alt_m is not None else e.ground_alt_m,
            s.height_m,
            s.radius_m,
        )
        for e in sites.enterprises
        for s in e.stacks
    ]
    found += [
        (o.id, o.site_id, "outfall", o.lon, o.lat, o.ground_alt_m, 0.0, 0.0) for o in sites.outfalls
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
