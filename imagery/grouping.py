"""One object seen in several overlapping captures is one group, not several findings.

Findings of the same kind are linked when their ground centroids lie closer
than their combined position uncertainty (``sigmas`` times it, at least
``min_link_m``) plus half the smaller one's radius; linked findings form a
group (union-find). Overlapping frames of one pass share most of their pose
bias, so one sigma of the absolute error is a generous bound on their
relative error, and keeps a vehicle beside a roof a separate object.
Extended findings (a plume, a discoloured reach of river) are also linked
when their ground polygons overlap by at least ``min_overlap`` of the
smaller one, since frame edges cut them differently and move their centroids.
The group id is derived from the smallest member key, so it stays the same
when the flight is processed again.

Findings in the air (a plume above its stack, placed there by the pipeline)
have no ground point to compare: they are linked only with findings in the air
of the same kind attributed to the same source, when their 3-D points lie
within their combined uncertainty plus the smaller one's radius (each capture
places the plume where it sees it leave the stack, anywhere across its root).
Several captures of one such object then fix its point by least squares over
their rays (:func:`least_squares_point`), which needs no assumption about where on each ray it is.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from scipy.spatial import cKDTree
from shapely.geometry import shape

M_PER_DEG = 111_320.0


@dataclass(frozen=True, slots=True)
class Located:
    """What grouping needs of a finding."""

    key: Hashable
    kind: str
    lat: float
    lon: float
    position_error_m: float | None
    area_m2: float | None
    sort_key: str
    polygon: dict[str, Any] | None = None
    source_id: str | None = None
    alt_amsl_m: float | None = None
    """Set for findings in the air: their point's altitude, metres AMSL."""

    @classmethod
    def of(cls, finding: Any, key: Hashable) -> Located:
        """From a stored ``Finding`` or a pipeline ``FindingResult`` (same field names)."""
        return cls(
            key,
            finding.kind,
            finding.lat,
            finding.lon,
            finding.position_error_m,
            finding.area_m2,
            finding.dedupe_key,
            finding.ground_polygon,
            getattr(finding, "source_id", None),
            getattr(finding, "alt_amsl_m", None),
        )


def _radius(item: Located) -> float:
    return math.sqrt(max(item.area_m2 or 0.0, 0.0) / math.pi)


def _same_source(a: Located, b: Located) -> bool:
    """Findings in the air are one object only if attributed to the same source."""
    return a.source_id is not None and a.source_id == b.source_id


def least_squares_point(
    origins: NDArray[np.float64], directions: NDArray[np.float64]
) -> tuple[NDArray[np.float64], float]:
    """The point nearest a bundle of rays, in the least-squares sense.

    Minimises the sum of squared perpendicular distances to the lines
    ``origins[i] + t * directions[i]``: with ``P_i = I - d_i d_i^T`` (the
    projection off ray i), the normal equations are
    ``(sum P_i) x = sum P_i o_i``.

    Parameters
    ----------
    origins : (N, 3) ndarray, points on the rays (metres, any one Cartesian frame).
    directions : (N, 3) ndarray, their directions (normalised here).

    Returns
    -------
    point : (3,) ndarray in the same frame.
    rms_m : root-mean-square distance of the rays from it (metres).

    Raises
    ------
    ValueError
        With fewer than two rays, or rays (nearly) parallel: no point is fixed.
    """
    d = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    if len(d) < 2:
        raise ValueError("a point needs at least two rays")
    proj = np.eye(3)[None, :, :] - d[:, :, None] * d[:, None, :]
    a = proj.sum(axis=0)
    b = np.einsum("nij,nj->i", proj, origins)
    if np.linalg.cond(a) > 1e6:
        raise ValueError("the rays are (nearly) parallel: they fix no point")
    point = np.linalg.solve(a, b)
    residual = np.einsum("nij,nj->ni", proj, point[None, :] - origins)
    return point, float(np.sqrt(np.mean(np.sum(residual**2, axis=1))))


def group(
    items: Sequence[Located],
    *,
    sigmas: float = 1.0,
    min_link_m: float = 3.0,
    default_error_m: float = 5.0,
    min_overlap: float = 0.3,
) -> dict[Hashable, str]:
    """Group id of every item (items alone in their group get their own id)."""
    parent = list(range(len(items)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    if items:
        lat0 = float(np.mean([i.lat for i in items]))
        xy = np.array(
            [[(i.lon) * M_PER_DEG * math.cos(math.radians(lat0)), i.lat * M_PER_DEG] for i in items]
        )
        errors = np.array([i.position_error_m or default_error_m for i in items])
        radii = np.array([_radius(i) for i in items])
        reach = float(np.max(sigmas * errors * math.sqrt(2) + 2 * radii)) + min_link_m
        tree = cKDTree(xy)
        for a, b in tree.query_pairs(reach):
            if items[a].kind != items[b].kind:
                continue
            if (items[a].alt_amsl_m is None) != (items[b].alt_amsl_m is None):
                continue  # one in the air, one on the ground: not one object
            if items[a].alt_amsl_m is not None:
                gap = math.hypot(
                    float(np.linalg.norm(xy[a] - xy[b])),
                    (items[a].alt_amsl_m or 0.0) - (items[b].alt_amsl_m or 0.0),
                )
                limit = max(sigmas * math.hypot(errors[a], errors[b]), min_link_m)
                if _same_source(items[a], items[b]) and gap <= limit + min(radii[a], radii[b]):
                    parent[find(a)] = find(b)
                continue
            limit = max(sigmas * math.hypot(errors[a], errors[b]), min_link_m)
            if float(np.linalg.norm(xy[a] - xy[b])) <= limit + 0.5 * min(radii[a], radii[b]):
                parent[find(a)] = find(b)
        with_shape = [i for i, it in enumerate(items) if it.polygon and it.alt_amsl_m is None]
        shapes = [shape(items[i].polygon) for i in with_shape]
        left, right = (
            shapely.STRtree(shapes).query(np.array(shapes, dtype=object), predicate="intersects")
            if shapes
            else (np.empty(0, dtype=int), np.empty(0, dtype=int))
        )
        for a, b in zip(left.tolist(), right.tolist(), strict=True):
            ia, ib = with_shape[a], with_shape[b]
            if ia >= ib or items[ia].kind != items[ib].kind:
                continue
            smaller = min(shapes[a].area, shapes[b].area)
            if smaller > 0 and shapes[a].intersection(shapes[b]).area >= min_overlap * smaller:
                parent[find(ia)] = find(ib)
    members: dict[int, list[int]] = {}
    for i in range(len(items)):
        members.setdefault(find(i), []).append(i)
    out: dict[Hashable, str] = {}
    for idx in members.values():
        seed = min(items[i].sort_key for i in idx)
        gid = "g-" + hashlib.sha1(seed.encode()).hexdigest()[:16]
        for i in idx:
            out[items[i].key] = gid
    return out
