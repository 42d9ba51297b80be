"""Area survey: parallel camera legs over a polygon, concave parts and holes included.

Lanes are laid across the polygon's whole extent, centred so that the outer
footprints overhang both edges equally, and *clipped* to the polygon: every
leg is a piece of a lane inside the area, so no leg ever leaves it (QGC's
complaint of transects flying over the neighbour's yard). Where clipping splits
lanes (a concave notch, a hole), the pieces are grouped into cells (the
boustrophedon decomposition) and each cell is flown back and forth before
moving on, so the vehicle does not zigzag across the notch on every lane.
Turnarounds extend each leg by ``turnaround_m`` with the camera off.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import LineString, MultiPolygon, Polygon

from missions.errors import InvalidProfileError
from missions.path import Leg, fit_trigger

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Segment:
    x0: float
    x1: float
    y: float


def plan_survey(
    area: Polygon | MultiPolygon,
    *,
    spacing_m: float,
    trigger_m: float,
    altitude_m: float,
    angle_deg: float | None = None,
    turnaround_m: float = 10.0,
    footprint_m: tuple[float, float] | None = None,
    start: tuple[float, float] | None = None,
) -> list[Leg]:
    """Ordered camera legs covering ``area`` (local metres).

    Parameters
    ----------
    area : Polygon or MultiPolygon, metres
        The region to photograph (holes are excluded from legs).
    spacing_m, trigger_m : float
        Lane spacing and trigger distance (see :mod:`missions.camera`).
    altitude_m : float
        Height above ground of every leg.
    angle_deg : float, optional
        Direction of the lanes, degrees clockwise from north; None picks the
        angle that needs the fewest legs (the fewest turns).
    turnaround_m : float
        Camera-off run-in and run-out beyond each leg's ends.
    footprint_m : (across, along), optional
        Photo footprint; with it, parts of the area that no lane's photos
        reach (a narrow spike between two lanes) get extra legs of their own.
    start : (x, y), optional
        Where the vehicle comes from; the nearest corner is flown first.
    """
    if spacing_m <= 0 or trigger_m <= 0:
        raise InvalidProfileError("lane spacing and trigger distance must be positive")
    if turnaround_m < 0:
        raise InvalidProfileError(f"turnaround_m must be >= 0, got {turnaround_m}")
    if area.is_empty or area.area == 0:
        return []
    if angle_deg is None:
        angle_deg = best_angle(area, spacing_m=spacing_m)
    lanes, alpha, origin = _lanes(area, spacing_m, angle_deg)
    if footprint_m is not None:
        lanes = _fill_gaps(area, lanes, alpha, origin, footprint_m)
    cells = _cells(lanes)
    ordered = _order(cells, alpha, origin, start)
    direction = np.array([math.cos(math.radians(alpha)), math.sin(math.radians(alpha))])
    legs = []
    for seg, forward in ordered:
        a, b = _unrotate(seg, alpha, origin)
        if not forward:
            a, b = b, a
        u = direction if forward else -direction
        length = float(np.hypot(*(b - a)))
        legs.append(
            Leg(
                points=np.array([a, b]),
                altitude_m=altitude_m,
                trigger_m=fit_trigger(length, trigger_m),
                lead_in=_pt(a - u * turnaround_m) if turnaround_m > 0 else None,
                lead_out=_pt(b + u * turnaround_m) if turnaround_m > 0 else None,
            )
        )
    logger.debug("survey: %d legs at %.0f deg, %d cells", len(legs), angle_deg, len(cells))
    return legs


def best_angle(area: Polygon | MultiPolygon, *, spacing_m: float) -> float:
    """Lane direction (degrees from north) giving the fewest legs, then the least length.

    Candidates are every edge direction of the convex hull (the minimum width
    of a polygon is across one of them) plus every 15 degrees; only those whose
    hull width needs at most one lane more than the narrowest are clipped.
    """
    hull = np.asarray(area.convex_hull.exterior.coords)
    edges = np.diff(hull, axis=0)
    bearings = np.degrees(np.arctan2(edges[:, 0], edges[:, 1])) % 180
    candidates = np.array(sorted({round(float(b), 3) for b in bearings} | set(range(0, 180, 15))))
    # the hull's width across the lanes bounds the lane count; clip only the promising angles
    theta = np.radians(candidates)
    normal = np.column_stack([np.cos(theta), -np.sin(theta)])
    across = hull @ normal.T
    lanes_needed = np.ceil((across.max(axis=0) - across.min(axis=0)) / spacing_m - 1e-9)
    promising = candidates[lanes_needed <= lanes_needed.min() + 1]
    best: tuple[int, float, float] | None = None
    for angle in promising:
        lanes, _, _ = _lanes(area, spacing_m, angle)
        count = sum(len(lane) for lane in lanes)
        length = sum(s.x1 - s.x0 for lane in lanes for s in lane)
        key = (count, round(length, 1), float(angle))
        if best is None or key < best:
            best = key
    assert best is not None
    return best[2]


def _lanes(
    area: Polygon | MultiPolygon, spacing_m: float, angle_deg: float
) -> tuple[list[list[_Segment]], float, tuple[float, float]]:
    """Lane pieces in a frame rotated so the lanes run along +x."""
    alpha = 90.0 - angle_deg  # lane direction as a math angle from +x
    c = area.centroid
    origin = (c.x, c.y)
    rotated = affinity.rotate(area, -alpha, origin=origin)
    minx, miny, maxx, maxy = rotated.bounds
    height = maxy - miny
    n = max(1, math.ceil(height / spacing_m - 1e-9))
    y0 = miny + (height - (n - 1) * spacing_m) / 2
    ys = y0 + spacing_m * np.arange(n)
    lines = shapely.linestrings(
        np.stack(
            [
                np.column_stack([np.full(n, minx - 1), ys]),
                np.column_stack([np.full(n, maxx + 1), ys]),
            ],
            axis=1,
        )
    )
    shapely.prepare(rotated)
    clipped = shapely.intersection(lines, rotated)
    lanes: list[list[_Segment]] = []
    for k, geom in enumerate(clipped):
        parts = []
        for part in shapely.get_parts(geom):
            if isinstance(part, LineString) and part.length > 1e-6:
                xs = shapely.get_coordinates(part)[:, 0]
                parts.append(_Segment(float(xs.min()), float(xs.max()), float(ys[k])))
        lanes.append(sorted(parts, key=lambda s: s.x0))
    return lanes, alpha, origin


def _clip_lane(rotated: shapely.Geometry, y: float) -> list[_Segment]:
    minx, _, maxx, _ = rotated.bounds
    line = LineString([(minx - 1, y), (maxx + 1, y)])
    out = []
    for part in shapely.get_parts(line.intersection(rotated)):
        if isinstance(part, LineString) and part.length > 1e-6:
            xs = shapely.get_coordinates(part)[:, 0]
            out.append(_Segment(float(xs.min()), float(xs.max()), y))
    return out


def _fill_gaps(
    area: Polygon | MultiPolygon,
    lanes: list[list[_Segment]],
    alpha: float,
    origin: tuple[float, float],
    footprint_m: tuple[float, float],
    *,
    rounds: int = 3,
) -> list[list[_Segment]]:
    """Add lanes through the parts of the area that no photo footprint reaches.

    Each leg's photos cover a box ``across`` wide reaching ``along / 2`` beyond
    its first and last photo. What the boxes leave uncovered (more than a
    sliver) gets a lane through its middle, clipped to the area and limited to
    the uncovered part, so coverage is complete without any leg leaving the area.
    """
    across, along = footprint_m
    rotated = affinity.rotate(area, -alpha, origin=origin)
    sliver = max(1e-4 * rotated.area, 1.0)
    for _ in range(rounds):
        boxes = [
            shapely.box(s.x0 - along / 2, s.y - across / 2, s.x1 + along / 2, s.y + across / 2)
            for lane in lanes
            for s in lane
        ]
        covered = shapely.union_all(boxes) if boxes else Polygon()
        residual = rotated.difference(covered)
        gaps = [g for g in shapely.get_parts(residual) if g.area > sliver]
        if not gaps:
            break
        added = []
        for gap in gaps:
            gminx, _, gmaxx, _ = gap.bounds
            y = gap.representative_point().y
            for seg in _clip_lane(rotated, y):
                x0, x1 = max(seg.x0, gminx - along / 4), min(seg.x1, gmaxx + along / 4)
                if x1 - x0 > 1e-6 and x0 < gmaxx and x1 > gminx:
                    added.append(_Segment(x0, x1, y))
        if not added:
            break
        by_y: dict[float, list[_Segment]] = {}
        for seg in [s for lane in lanes for s in lane] + added:
            by_y.setdefault(seg.y, []).append(seg)
        lanes = [sorted(by_y[y], key=lambda s: s.x0) for y in sorted(by_y)]
        logger.debug("survey: %d extra legs for uncovered parts", len(added))
    return lanes


def _overlaps(a: _Segment, b: _Segment) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1


def _cells(lanes: list[list[_Segment]]) -> list[list[_Segment]]:
    """Group lane pieces into cells that can be flown back and forth in one go."""
    cells: list[list[_Segment]] = []
    open_cells: dict[int, int] = {}  # id(segment in previous lane) -> cell index
    previous: list[_Segment] = []
    for lane in lanes:
        current: dict[int, int] = {}
        for seg in lane:
            above = [p for p in previous if _overlaps(p, seg)]
            if len(above) == 1 and id(above[0]) in open_cells:
                below_of_above = [s for s in lane if _overlaps(above[0], s)]
                if len(below_of_above) == 1:
                    index = open_cells[id(above[0])]
                    cells[index].append(seg)
                    current[id(seg)] = index
                    continue
            cells.append([seg])
            current[id(seg)] = len(cells) - 1
        open_cells = current
        previous = lane
    return [cell for cell in cells if cell]


def _order(
    cells: list[list[_Segment]],
    alpha: float,
    origin: tuple[float, float],
    start: tuple[float, float] | None,
) -> list[tuple[_Segment, bool]]:
    """Fly cells nearest-first, each back and forth from its nearest corner."""
    remaining = list(range(len(cells)))
    position = None
    if start is not None:
        position = _rotate_point(np.asarray(start), -alpha, origin)
    out: list[tuple[_Segment, bool]] = []
    while remaining:
        best: tuple[float, int, bool, bool] | None = None
        for index in remaining:
            cell = cells[index]
            for from_first in (True, False):
                seg = cell[0] if from_first else cell[-1]
                for forward in (True, False):
                    corner = np.array([seg.x0 if forward else seg.x1, seg.y])
                    dist = 0.0 if position is None else float(np.hypot(*(corner - position)))
                    if best is None or dist < best[0]:
                        best = (dist, index, from_first, forward)
        assert best is not None
        _, index, from_first, forward = best
        remaining.remove(index)
        cell = cells[index] if from_first else cells[index][::-1]
        for seg in cell:
            out.append((seg, forward))
            forward = not forward
        last_seg, last_forward = out[-1]
        position = np.array([last_seg.x1 if last_forward else last_seg.x0, last_seg.y])
    return out


def _rotate_point(p: np.ndarray, degrees: float, origin: tuple[float, float]) -> np.ndarray:
    r = math.radians(degrees)
    c, s = math.cos(r), math.sin(r)
    d = p - np.asarray(origin)
    return np.array([c * d[0] - s * d[1], s * d[0] + c * d[1]]) + np.asarray(origin)


def _unrotate(
    seg: _Segment, alpha: float, origin: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    a = _rotate_point(np.array([seg.x0, seg.y]), alpha, origin)
    b = _rotate_point(np.array([seg.x1, seg.y]), alpha, origin)
    return a, b


def _pt(p: np.ndarray) -> tuple[float, float]:
    return float(p[0]), float(p[1])
