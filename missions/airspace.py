"""No-fly avoidance: shortest paths around no-fly areas on a visibility graph.

No-fly polygons are grown by a safety margin into keep-out areas. A straight
hop that does not cut a keep-out area is flown as is; otherwise the route
follows the shortest path through the vertices of the keep-out areas (grown by
a further metre so the path runs just outside them), found with Dijkstra over
the visibility graph. Visibility is tested against the keep-out areas shrunk
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
    """A no-fly area in local metres."""

    id: str
    reason: str
    area: Polygon


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
            grown = shapely.union_all([z.area.buffer(margin_m, quad_segs=4) for z in self.zones])
        else:
            grown = Polygon()
        self.keep_out: Polygon | MultiPolygon = grown
        self._test = grown.buffer(-0.5) if not grown.is_empty else grown
        shapely.prepare(self._test)
        self._tree = STRtree(list(shapely.get_parts(self._test)))
        corners = grown.buffer(1.0, quad_segs=2, join_style="mitre").simplify(0.5)
        nodes: list[NDArray[np.float64]] = []
        for poly in shapely.get_parts(corners):
            for ring in (poly.exterior, *poly.interiors):
                nodes.append(np.asarray(ring.coords)[:-1, :2])
        self._nodes = np.vstack(nodes) if nodes else np.empty((0, 2))
        self._node_edges = self._visible_pairs(self._nodes, self._nodes)
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
        if not self.blocked(a, b):
            return [a, b]
        _, pred, graph_pts = self.route_matrix([a, b])
        return self.route_between(pred, graph_pts, 0, 1)

    def route_matrix(
        self, points: Sequence[Point2]
    ) -> tuple[NDArray[np.float64], NDArray[np.int32], NDArray[np.float64]]:
        """Distances, Dijkstra predecessors and graph points for reconstructing routes."""
        pts = np.asarray(points, dtype=float).reshape(-1, 2)
        return self._solve(pts)

    def _solve(
        self, pts: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.int32], NDArray[np.float64]]:
        mask = shapely.contains_xy(self._test, pts[:, 0], pts[:, 1])
        inside = [(float(p[0]), float(p[1])) for p in pts[mask]]
        if inside:
            zone = self.zone_at(inside[0])
            where = f"no-fly area {zone.id!r} ({zone.reason})" if zone else "a no-fly margin"
            raise NoFlyViolationError(
                f"point ({inside[0][0]:.0f}, {inside[0][1]:.0f}) lies in {where}"
            )
        n_q, n_n = len(pts), len(self._nodes)
        all_pts = np.vstack([pts, self._nodes])
        qq = self._visible_pairs(pts, pts)
        qn = self._visible_pairs(pts, self._nodes)
        rows, cols = [], []
        for (i, j), offset_i, offset_j in (
            (qq, 0, 0),
            (qn, 0, n_q),
            (self._node_edges, n_q, n_q),
        ):
            if len(i):
                rows.append(i + offset_i)
                cols.append(j + offset_j)
        if rows:
            r = np.concatenate(rows)
            c = np.concatenate(cols)
            w = np.hypot(*(all_pts[r] - all_pts[c]).T)
            graph = csr_array(
                (np.concatenate([w, w]), (np.concatenate([r, c]), np.concatenate([c, r]))),
                shape=(n_q + n_n, n_q + n_n),
            )
        else:
            graph = csr_array((n_q + n_n, n_q + n_n))
        dist, pred = dijkstra(
            graph, directed=False, indices=np.arange(n_q), return_predecessors=True
        )
        return dist[:, :n_q], pred, all_pts

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

    @staticmethod
    def _route(
        pred: NDArray[np.int32], graph_pts: NDArray[np.float64], src: int, dst: int
    ) -> list[Point2]:
        if pred[src, dst] < 0 and src != dst:
            raise NoFlyViolationError("no route around the no-fly areas connects these points")
        out = [dst]
        while out[-1] != src:
            out.append(int(pred[src, out[-1]]))
        return [(float(graph_pts[k, 0]), float(graph_pts[k, 1])) for k in reversed(out)]

    def route_between(
        self,
        pred: NDArray[np.int32],
        graph_pts: NDArray[np.float64],
        src: int,
        dst: int,
    ) -> list[Point2]:
        """The route from query point ``src`` to query point ``dst`` of a route_matrix call."""
        return self._route(pred, graph_pts, src, dst)
