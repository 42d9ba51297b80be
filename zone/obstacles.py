"""Obstacles as three-dimensional keep-out volumes, and the clearance rule that makes them.

Frames: every volume lives in one local metric frame (x east, y north, metres,
the planner's UTM frame) with altitudes AMSL, so a stack standing on high
ground and a dock on low ground compare without a datum slip.

The rule (:class:`ClearanceRule`): the aircraft is clear of an obstacle when it
is at least ``horizontal_m`` from the obstacle's outline, *or* at least
``vertical_m`` above its top (``over_emitting_m`` above the mouth of a working
stack, where the hot plume rises). The air that breaks the rule is a prism:
the outline grown by ``horizontal_m``, from the ground up to the top plus the
vertical clearance. That prism is a :class:`Volume`; a straight 3-D segment
is clear when, over the stretch where its ground track lies inside the grown
outline, its altitude stays at or above the prism's roof. Altitude is linear
along a straight segment, so checking the ends of each such stretch is exact.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely import STRtree
from shapely.geometry import LineString, Point, Polygon

Point3 = tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class ClearanceRule:
    """How far the aircraft keeps from every obstacle (metres)."""

    horizontal_m: float = 15.0
    vertical_m: float = 10.0
    over_emitting_m: float = 20.0

    def __post_init__(self) -> None:
        for name in ("horizontal_m", "vertical_m", "over_emitting_m"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"clearance {name} must be a non-negative number, got {value}")


@dataclass(frozen=True)
class Volume:
    """The air an obstacle keeps the aircraft out of (local metres, altitudes AMSL).

    ``footprint`` is the obstacle's own outline; ``zone`` is that outline grown
    by the horizontal clearance; inside ``zone`` the aircraft must be at or
    above ``roof_amsl_m`` (the top plus the vertical clearance).
    """

    id: str
    label: str
    footprint: Polygon
    base_amsl_m: float
    top_amsl_m: float
    over_m: float
    horizontal_m: float
    zone: Polygon = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "zone", self.footprint.buffer(self.horizontal_m, quad_segs=16))

    @property
    def roof_amsl_m(self) -> float:
        return self.top_amsl_m + self.over_m

    def grown(self, pad_m: float) -> Volume:
        """The same obstacle with ``pad_m`` more room every way (for planning margins)."""
        return Volume(
            self.id,
            self.label,
            self.footprint,
            self.base_amsl_m,
            self.top_amsl_m,
            self.over_m + pad_m,
            self.horizontal_m + pad_m,
        )


def stack_volume(
    id: str,
    xy: tuple[float, float],
    *,
    radius_m: float,
    base_amsl_m: float,
    height_m: float,
    emitting: bool,
    rule: ClearanceRule,
    label: str = "",
) -> Volume:
    """The keep-out volume of a round stack, mast or tower at local ``xy``."""
    over = rule.over_emitting_m if emitting else rule.vertical_m
    return Volume(
        id,
        label or id,
        Point(xy).buffer(radius_m, quad_segs=16),
        base_amsl_m,
        base_amsl_m + height_m,
        over,
        rule.horizontal_m,
    )


def outline_volume(
    id: str,
    outline: Polygon,
    *,
    base_amsl_m: float,
    height_m: float,
    rule: ClearanceRule,
    label: str = "",
) -> Volume:
    """The keep-out volume of a building or other outlined obstacle (local metres)."""
    return Volume(
        id,
        label or id,
        outline,
        base_amsl_m,
        base_amsl_m + height_m,
        rule.vertical_m,
        rule.horizontal_m,
    )


@dataclass(frozen=True, slots=True)
class Conflict:
    """Where a segment's ground track is inside a volume's zone: fractions ``t0..t1``."""

    volume: Volume
    t0: float
    t1: float

    def shortfall_m(self, z0: float, z1: float) -> float:
        """How far below the roof the segment from ``z0`` to ``z1`` (AMSL) dips here."""
        low = min(z0 + self.t0 * (z1 - z0), z0 + self.t1 * (z1 - z0))
        return self.volume.roof_amsl_m - low


class Obstacles:
    """A zone's keep-out volumes with fast segment and distance queries."""

    def __init__(self, volumes: Sequence[Volume]) -> None:
        self.volumes = tuple(volumes)
        self._tree = STRtree([v.zone for v in self.volumes])
        for v in self.volumes:
            shapely.prepare(v.zone)

    def __len__(self) -> int:
        return len(self.volumes)

    def roof_at(self, x: float, y: float) -> tuple[float, Volume | None]:
        """The lowest altitude (AMSL) allowed at ``(x, y)``, and the volume that sets it."""
        best: tuple[float, Volume | None] = (-math.inf, None)
        for k in self._tree.query(Point(x, y), predicate="intersects"):
            v = self.volumes[int(k)]
            if v.roof_amsl_m > best[0]:
                best = (v.roof_amsl_m, v)
        return best

    def conflicts(self, a: Sequence[float], b: Sequence[float]) -> list[Conflict]:
        """Every stretch of the segment ``a``-``b`` whose ground track is inside a zone."""
        ax, ay, bx, by = float(a[0]), float(a[1]), float(b[0]), float(b[1])
        length = math.hypot(bx - ax, by - ay)
        if length < 1e-9:  # a vertical segment: the zones its one point is in
            inside = self._tree.query(Point(ax, ay), predicate="intersects")
            return [Conflict(self.volumes[int(k)], 0.0, 1.0) for k in inside]
        seg = LineString([(ax, ay), (bx, by)])
        out = []
        for k in self._tree.query(seg, predicate="intersects"):
            v = self.volumes[int(k)]
            for part in shapely.get_parts(seg.intersection(v.zone)):
                ts = [seg.project(Point(c)) / length for c in np.asarray(part.coords)[:, :2]]
                out.append(Conflict(v, min(ts), max(ts)))
        return out

    def violations(self, a: Point3, b: Point3) -> list[tuple[Volume, float]]:
        """Volumes the 3-D segment ``a``-``b`` enters below their roof, with the shortfall."""
        found: dict[str, tuple[Volume, float]] = {}
        for c in self.conflicts(a, b):
            short = c.shortfall_m(a[2], b[2])
            if short > 1e-6 and short > found.get(c.volume.id, (c.volume, 0.0))[1]:
                found[c.volume.id] = (c.volume, short)
        return list(found.values())

    def closest(
        self, path: NDArray[np.float64], *, step_m: float = 1.0
    ) -> tuple[float, str, NDArray[np.float64]]:
        """The smallest 3-D distance from a polyline ``(N, 3)`` to any obstacle solid.

        The polyline is sampled every ``step_m``. Returns the distance, the
        obstacle's id and the sample. Obstacles are taken nearest first by
        their flat distance to the polyline, a lower bound of the 3-D one, and
        the search stops once that bound exceeds the best found (``inf`` and
        ``""`` with no obstacles).
        """
        vertices = np.asarray(path, dtype=float).reshape(-1, 3)
        pts = samples(vertices, step_m)
        best, best_id, best_pt = math.inf, "", pts[0]
        if not self.volumes:
            return best, best_id, best_pt
        track = LineString(vertices[:, :2]) if len(vertices) > 1 else Point(vertices[0, :2])
        lower = shapely.distance(track, [v.footprint for v in self.volumes])
        for k in np.argsort(lower):
            if lower[k] >= best:
                break
            v = self.volumes[int(k)]
            x0, y0, x1, y1 = v.footprint.buffer(min(best, 1e6)).bounds
            near = pts[
                (pts[:, 0] >= x0) & (pts[:, 0] <= x1) & (pts[:, 1] >= y0) & (pts[:, 1] <= y1)
            ]
            if not len(near):
                continue
            dist = _solid_distance(v, near, shapely.points(near[:, :2]))
            j = int(np.argmin(dist))
            if dist[j] < best:
                best, best_id, best_pt = float(dist[j]), v.id, near[j]
        return best, best_id, best_pt


def _solid_distance(
    v: Volume, pts: NDArray[np.float64], geoms: NDArray[np.object_]
) -> NDArray[np.float64]:
    """3-D distance from ``pts`` ``(N, 3)`` (their flat ``geoms``) to ``v``'s solid."""
    dh = shapely.distance(geoms, v.footprint)
    dv = np.maximum(0.0, np.maximum(pts[:, 2] - v.top_amsl_m, v.base_amsl_m - pts[:, 2]))
    return np.asarray(np.hypot(dh, dv), dtype=float)


def samples(path: NDArray[np.float64], step_m: float) -> NDArray[np.float64]:
    """Every vertex of a 3-D polyline and points at most ``step_m`` apart between them."""
    out = [path[:1]]
    for a, b in itertools.pairwise(path):
        n = max(1, math.ceil(math.hypot(b[0] - a[0], b[1] - a[1]) / step_m))
        t = np.linspace(0, 1, n + 1)[1:, None]
        out.append(a + t * (b - a))
    return np.vstack(out)
