"""Change against the previous patrol of the same sites: new, recurring, gone.

This detector works on grouped findings on the ground, not on one image: a
group of this patrol is *recurring* when the previous patrol had a group of
the same kind at the same site within ``radius_m`` (plus both position
errors), *new* otherwise; a previous group nobody matched is *gone* (only
meaningful where this patrol saw that place again, which the caller checks
against the flight's footprints).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

NAME = "change"
VERSION = "1.0"


@dataclass(frozen=True, slots=True)
class GroupSummary:
    """One object on the ground as a patrol saw it."""

    group_id: str
    kind: str
    site_id: str | None
    lat: float
    lon: float
    position_error_m: float | None


@dataclass(frozen=True, slots=True)
class Change:
    status: str  # "new", "recurring" or "gone"
    kind: str
    site_id: str | None
    lat: float
    lon: float
    current_group: str | None
    previous_group: str | None
    distance_m: float | None


def _metres(a: GroupSummary, b: GroupSummary) -> float:
    lat = math.radians((a.lat + b.lat) / 2)
    return math.hypot((a.lon - b.lon) * math.cos(lat), a.lat - b.lat) * 111_320.0


def compare_patrols(
    current: Sequence[GroupSummary],
    previous: Sequence[GroupSummary],
    *,
    radius_m: float = 25.0,
) -> list[Change]:
    """Match this patrol's groups to the previous patrol's, nearest first."""
    pairs = []
    for i, c in enumerate(current):
        for j, p in enumerate(previous):
            if c.kind != p.kind or (c.site_id and p.site_id and c.site_id != p.site_id):
                continue
            d = _metres(c, p)
            limit = radius_m + (c.position_error_m or 0) + (p.position_error_m or 0)
            if d <= limit:
                pairs.append((d, i, j))
    used_c: dict[int, tuple[int, float]] = {}
    used_p: set[int] = set()
    for d, i, j in sorted(pairs):
        if i not in used_c and j not in used_p:
            used_c[i] = (j, d)
            used_p.add(j)
    out = []
    for i, c in enumerate(current):
        if i in used_c:
            j, d = used_c[i]
            out.append(
                Change(
                    "recurring",
                    c.kind,
                    c.site_id,
                    c.lat,
                    c.lon,
                    c.group_id,
                    previous[j].group_id,
                    round(d, 2),
                )
            )
        else:
            out.append(Change("new", c.kind, c.site_id, c.lat, c.lon, c.group_id, None, None))
    for j, p in enumerate(previous):
        if j not in used_p:
            out.append(Change("gone", p.kind, p.site_id, p.lat, p.lon, None, p.group_id, None))
    return out
