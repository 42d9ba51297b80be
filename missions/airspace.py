"""No-fly avoidance: shortest paths around no-fly areas on a visibility graph.

No-fly polygons are grown by a safety margin into keep-out areas. A straight
hop that does not cut a keep-out area is flown as is; otherwise the route
follows the shortest path through the vertices of the keep-out areas (grown by
a further metre so the path runs just outside them) on the visibility graph.
Shortest paths between those vertices are found once (Dijkstra); a query only
adds the vertices its two ends can see, so an all-pairs matrix over hundreds of
points costs a few array operations. Visibility is tested against the keep-out areas shrunk
by half a metre, so paths that run along a margin are not mistaken for
crossings.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray
from scipy.sparse import csr_array
from scipy.sparse.csgraph import dijkstra
from shapely import STRtree
from shapely.geometry import MultiPolygon, Polygon

from missions.errors import NoFlyViolationError

logger = logging.getLogger(__name__)

Point2 = tuple[float, float]


@dataclass(frozen=True)
class Zone:
    """A no-fly area in local metres, kept ``margin_m`` from (None: the airspace's margin).

    Obstacles too tall to overfly under the ceiling are zones too, with their
    outline as ``area`` and the horizontal clearance as ``margin_m``.
    """

    id: str
    reason: str
    area: Polygon
    margin_m: float | None = None


class Airspace:
    """Keep-out areas and the routes around them (local metres).

    Parameters
    ----------
    zones : sequence of Zone
        The no-fly areas.
    margin_m : float
        Distance every route keeps from a no-fly area.
    """

    def __init__(self, zones: Sequence[Zone], *, margin_m: float = 15.0) -> None:
        self.zones = tuple(zones)
        self.margin_m = margin_m
        if self.zones:
            grown = shapely.union_all(
                [
                    z.area.buffer(margin_m if z.margin_m is None else z.margin_m, quad_segs=4)
                    for z in self.zones
                ]
            )
        else:
            grown = Polygon()
        self.keep_out: Polygon | MultiPolygon = grown
        self._test = grown.buffer(-0.5) if not grown.is_empty else grown
        shapely.prepare(self._test)
        self._tree = STRtree([g for g in shapely.get_parts(self._test) if not g.is_empty])
        corners = grown.buffer(1.0, quad_segs=2, join_style="mitre").simplify(0.5)
        nodes: list[NDArray[np.float64]] = []
        for poly in shapely.get_parts(corners):
            for ring in (poly.exterior, *poly.interiors):
                nodes.append(np.asarray(ring.coords)[:-1, :2])
        self._nodes = np.vstack(nodes) if nodes else np.empty((0, 2))
        # shortest paths between the graph nodes, once: queries only add their two ends
        n = len(self._nodes)
        self._node_dist = np.zeros((n, n))
        self._node_pred = np.full((n, n), -9999, dtype=np.int32)
        if n:
            i, k = self._visible_pairs(self._nodes, self._nodes)
            w = np.hypot(*(self._nodes[i] - self._nodes[k]).T)
            graph = csr_array(
                (np.concatenate([w, w]), (np.concatenate([i, k]), np.concatenate([k, i]))),
                shape=(n, n),
            )
            self._node_dist, self._node_pred = dijkstra(
                graph, directed=False, return_predecessors=True
            )
        self._seen: dict[Point2, NDArray[np.float64]] = {}
        logger.debug("airspace: %d zones, %d graph nodes", len(self.zones), len(self._nodes))

    def zone_at(self, point: Point2) -> Zone | None:
        """The no-fly area (not margin) containing ``point``, if any."""
        p = shapely.Point(point)
        for zone in self.zones:
            if zone.area.covers(p):
                return zone
        return None

    def blocked(self, a: Point2, b: Point2) -> bool:
        """True when the straight hop a-b cuts a keep-out area."""
        if self._test.is_empty:
            return False
        return bool(shapely.intersects(shapely.LineString([a, b]), self._test))

    def crossed_zones(self, a: Point2, b: Point2) -> list[Zone]:
        """The no-fly areas (without margin) the straight hop a-b enters."""
        seg = shapely.LineString([a, b])
        return [z for z in self.zones if seg.intersects(z.area) and not seg.touches(z.area)]

    def path(self, a: Point2, b: Point2) -> list[Point2]:
        """Shortest route a..b around keep-out areas, both ends included."""
        return self.paths_to([a], b)[0]

    def paths_to(self, starts: Sequence[Point2], b: Point2) -> list[list[Point2]]:
        """:meth:`path` from each of ``starts`` to ``b``, the visibility tests batched."""
        pts = np.asarray(starts, dtype=float).reshape(-1, 2)
        out = [[(float(x), float(y)), b] for x, y in pts]
        if self._test.is_empty or not len(pts):
            return out
        segs = shapely.linestrings(np.stack([pts, np.broadcast_to(b, pts.shape)], axis=1))
        blocked = np.flatnonzero(shapely.intersects(segs, self._test))
        if not len(blocked):
            return out
        self._check_outside(np.vstack([pts[blocked], [b]]))
        # from each graph node, the rest of the way to b (through its best exit node)
        via = self._node_dist + self._sight(b)[None, :]
        exit_node = np.argmin(via, axis=1)
        onward = via[np.arange(len(via)), exit_node]
        for k in blocked:
            p = pts[int(k)]
            # entry nodes in order of route length; the first visible one is the best
            cost = np.hypot(*(self._nodes - p).T) + onward
            for u in np.argsort(cost):
                if not np.isfinite(cost[u]):
                    raise NoFlyViolationError(
                        "no route around the no-fly areas connects these points"
                    )
                if not self._test.intersects(shapely.LineString([p, self._nodes[u]])):
                    out[int(k)] = self._chain(out[int(k)][0], int(u), int(exit_node[u]), b)
                    break
        return out

    def _chain(self, a: Point2, u: int, v: int, b: Point2) -> list[Point2]:
        """a, the shortest node chain from ``u`` to ``v``, b."""
        chain = [v]
        while chain[-1] != u:
            chain.append(int(self._node_pred[u, chain[-1]]))
        middle = [(float(self._nodes[k, 0]), float(self._nodes[k, 1])) for k in reversed(chain)]
        return [a, *middle, b]

    def route_matrix(self, points: Sequence[Point2]) -> NDArray[np.float64]:
        """Route lengths between every pair of ``points``, ``(N, N)`` metres.

        ``inf`` where no route exists. A hop is straight when clear, otherwise
        it enters the node graph at the best node visible from its start and
        leaves it at the best node visible from its end.
        """
        pts = np.asarray(points, dtype=float).reshape(-1, 2)
        direct = np.hypot(*(pts[:, None, :] - pts[None, :, :]).transpose(2, 0, 1))
        if self._test.is_empty:
            return direct
        self._check_outside(pts)
        clear = np.zeros(direct.shape, dtype=bool)
        i, j = self._visible_pairs(pts, pts)
        clear[i, j] = clear[j, i] = True
        np.fill_diagonal(clear, True)
        dist = np.where(clear, direct, np.inf)
        if len(self._nodes) == 0:
            return dist
        to_nodes = self._sights(pts)  # (N, K)
        # each point sees a few nodes: min-plus products over just those
        seen = [np.flatnonzero(np.isfinite(row)) for row in to_nodes]
        via_entry = np.full(to_nodes.shape, np.inf)  # (N, K): point -> any node
        for n, k in enumerate(seen):
            if len(k):
                via_entry[n] = np.min(to_nodes[n, k, None] + self._node_dist[k], axis=0)
        for m, k in enumerate(seen):
            if len(k):
                via = np.min(via_entry[:, k] + to_nodes[m, k][None, :], axis=1)
                dist[:, m] = np.minimum(dist[:, m], via)
        return dist

    def _check_outside(self, pts: NDArray[np.float64]) -> None:
        mask = shapely.contains_xy(self._test, pts[:, 0], pts[:, 1])
        if np.any(mask):
            x, y = (float(v) for v in pts[int(np.argmax(mask))])
            zone = self.zone_at((x, y))
            where = f"no-fly area {zone.id!r} ({zone.reason})" if zone else "a no-fly margin"
            raise NoFlyViolationError(f"point ({x:.0f}, {y:.0f}) lies in {where}")

    def _sight(self, p: Point2) -> NDArray[np.float64]:
        """``_to_nodes`` of one point, remembered: returns keep going to the same docks."""
        return self._sights(np.asarray([p], dtype=float))[0]

    def _sights(self, pts: NDArray[np.float64]) -> NDArray[np.float64]:
        """``_to_nodes`` of ``pts``, remembered (routing and building ask for the same ends)."""
        keys = [(round(float(x), 3), round(float(y), 3)) for x, y in pts]
        missing = [k for k, key in enumerate(keys) if key not in self._seen]
        if missing:
            if len(self._seen) + len(missing) > 8192:
                self._seen.clear()
                missing = list(range(len(keys)))
            for k, row in zip(missing, self._to_nodes(pts[missing]), strict=True):
                self._seen[keys[k]] = row
        return np.array([self._seen[key] for key in keys]).reshape(len(pts), len(self._nodes))

    def _to_nodes(self, pts: NDArray[np.float64]) -> NDArray[np.float64]:
        """Straight distance from each point to each graph node it sees, ``inf`` otherwise."""
        out = np.full((len(pts), len(self._nodes)), np.inf)
        i, k = self._visible_pairs(pts, self._nodes)
        out[i, k] = np.hypot(*(pts[i] - self._nodes[k]).T)
        return out

    def _visible_pairs(
        self, a: NDArray[np.float64], b: NDArray[np.float64]
    ) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        """Index pairs (i, j) whose straight hop a[i]-b[j] cuts no keep-out area."""
        if len(a) == 0 or len(b) == 0:
            return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
        grid_i, grid_j = np.meshgrid(np.arange(len(a)), np.arange(len(b)), indexing="ij")
        i, j = grid_i.ravel(), grid_j.ravel()
        same = a is b
        if same:
            keep = i < j
            i, j = i[keep], j[keep]
        segs = shapely.linestrings(np.stack([a[i], b[j]], axis=1))
        ok = np.ones(len(segs), dtype=bool)
        ok[self._tree.query(segs, predicate="intersects")[0]] = False
        return i[ok], j[ok]
