"""One object seen in several overlapping captures is one group, not several findings.

Findings of the same kind are linked when their ground centroids lie closer
than their combined position uncertainty (``sigmas`` times it, at least
``min_link_m``) plus half the smaller one's radius; linked findings form a
group (union-find). Overlapping frames of one pass share most of their pose
bias, so one sigma of the absolute error is a generous bound on their
relative error, and keeps a vehicle beside a roof a separate object.
The group id is derived from the smallest member key, so it stays the same
when the flight is processed again.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

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


def _radius(item: Located) -> float:
    return math.sqrt(max(item.area_m2 or 0.0, 0.0) / math.pi)


def group(
    items: Sequence[Located],
    *,
    sigmas: float = 1.0,
    min_link_m: float = 3.0,
    default_error_m: float = 5.0,
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
            limit = max(sigmas * math.hypot(errors[a], errors[b]), min_link_m)
            if float(np.linalg.norm(xy[a] - xy[b])) <= limit + 0.5 * min(radii[a], radii[b]):
                parent[find(a)] = find(b)
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
