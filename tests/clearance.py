"""An independent clearance checker: the exported flight files against the sites file.

The planner checks its own routes; this module checks them again without
sharing a line of code, a data structure or a frame with it. It reads only
what leaves the planner (a QGC ``.plan`` or ``.waypoints`` file) and what goes
into it (the sites GeoJSON), parses both itself, and works with pyproj,
shapely, numpy and scipy directly. Nothing here imports ``missions``, ``zone``
or ``imagery``.

The rule it holds every flight to
---------------------------------
Obstacles are the stacks of every enterprise, every ``obstacle`` feature and
every ``no_fly`` feature with a ``ceiling_m`` (its polygon standing
``ceiling_m`` tall). An aircraft is clear of an obstacle when it is at least
:data:`HORIZONTAL_M` from its outline (a stack's or a Point obstacle's circle of
``radius_m``) *or* at least :data:`VERTICAL_M` above its top
(:data:`VERTICAL_EMITTING_M` above a working stack's mouth): the air inside the
outline grown by 15 m and below the top plus that clearance is forbidden. A
``no_fly`` without a ceiling is never entered. No point of a flight is more
than :data:`MAX_AGL_M` above the ground beneath it.

Ground (AMSL, no DEM): inside a polygon feature with ``ground_alt_m`` that
value (the smallest such polygon where they nest); elsewhere inverse-distance
weighting (power 2, in a local azimuthal-equidistant frame) over the surveyed
spots: the docks, every Point feature and stack with ``ground_alt_m``, and the
centroid of every polygon feature with one. An obstacle stands on its own
``ground_alt_m``, else (a stack) its enterprise's, else the ground at its
position (a polygon's centroid).

Reading a flight
----------------
The vehicle starts on the ground at home and flies straight 3-D lines between
the positions its NAV items give (altitude linear along each line): TAKEOFF
climbs vertically, WAYPOINT goes to its position, LAND flies over its point
(the current one when 0, 0) and descends to the ground, RETURN_TO_LAUNCH flies
the failsafe path below. DO_* and CONDITION_* items do not move it; any other
NAV command, DO_JUMP and terrain frames are refused with an error, because
this checker cannot say where they would take the vehicle.

The failsafe path (ArduCopter RTL): climb vertically to ``RTL_ALT`` above home
when lower, fly at ``max(current, RTL_ALT)`` straight to the nearest of home
and the rally points, descend vertically to the ground. Where that line
crosses a fence exclusion (polygon or circle), the object avoidance (Dijkstra)
goes around: the shortest path around the exclusions grown by
:data:`OA_MARGIN_M`. Every flight is checked for an RTL started at every
waypoint and every :data:`FAILSAFE_STEP_M` along the flown path.

Tolerances: positions are stored to 1e-7 degree (about 1 cm) and a planner
draws circles as polygons, so a flight counts as breaking the rule only when
it is more than :data:`TOLERANCE_H_M` inside the grown outline and more than
:data:`TOLERANCE_V_M` below the roof (or above the ceiling).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import Transformer
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, shape

HORIZONTAL_M = 15.0
VERTICAL_M = 10.0
VERTICAL_EMITTING_M = 20.0
MAX_AGL_M = 120.0
DEFAULT_STACK_RADIUS_M = 3.0
DEFAULT_RTL_ALT_M = 15.0  # ArduCopter's RTL_ALT default, 1500 cm
OA_MARGIN_M = 5.0  # ArduPilot's OA_MARGIN_MAX default, when the plan sets none
FAILSAFE_STEP_M = 25.0
SAMPLE_STEP_M = 0.5
CEILING_STEP_M = 1.0
TOLERANCE_H_M = 0.2
TOLERANCE_V_M = 0.1

# MAVLink frames and commands, by number (the files carry numbers).
FRAME_GLOBAL = (0, 5)  # MAV_FRAME_GLOBAL(_INT): AMSL
FRAME_RELATIVE = (3, 6)  # MAV_FRAME_GLOBAL_RELATIVE_ALT(_INT): above home
FRAME_TERRAIN = (10, 11)  # MAV_FRAME_GLOBAL_TERRAIN_ALT(_INT)
NAV_WAYPOINT = 16
NAV_LOITER_UNLIM = 17
NAV_RETURN_TO_LAUNCH = 20
NAV_LAND = 21
NAV_TAKEOFF = 22
NAV_LOITER_TIME = 19
DO_JUMP = 177
DO_SET_CAM_TRIGG_DIST = 206
HOLDS = (NAV_LOITER_UNLIM, NAV_LOITER_TIME)  # fly to the point and hold there


# --------------------------------------------------------------------------- frame


class Frame:
    """WGS84 lon/lat to a local azimuthal-equidistant frame (x east, y north, metres)."""

    def __init__(self, lon0: float, lat0: float) -> None:
        self.lon0, self.lat0 = lon0, lat0
        proj = f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +datum=WGS84 +units=m"
        self._fwd = Transformer.from_crs("EPSG:4326", proj, always_xy=True)
        self._inv = Transformer.from_crs(proj, "EPSG:4326", always_xy=True)

    def xy(self, lon: Any, lat: Any) -> NDArray[np.float64]:
        """``(N, 2)`` metres for lon/lat arrays (or one point as ``(2,)``)."""
        x, y = self._fwd.transform(np.asarray(lon, float), np.asarray(lat, float))
        return np.stack([x, y], axis=-1)

    def lonlat(self, x: Any, y: Any) -> NDArray[np.float64]:
        lon, lat = self._inv.transform(np.asarray(x, float), np.asarray(y, float))
        return np.stack([lon, lat], axis=-1)

    def geom(self, g: shapely.Geometry) -> shapely.Geometry:
        """A lon/lat geometry in metres."""
        return shapely.transform(g, lambda c: self.xy(c[:, 0], c[:, 1]).reshape(-1, 2))


# --------------------------------------------------------------------------- zone


@dataclass(frozen=True)
class Obstacle:
    """Air to keep clear of, in the zone's frame: outline, base and top AMSL.

    ``center``/``radius_m`` describe a circle (stacks, Point obstacles);
    otherwise ``outline`` is the polygon.
    """

    id: str
    kind: str  # "stack" | "obstacle" | "no_fly"
    name: str
    outline: Polygon | None
    center: tuple[float, float] | None
    radius_m: float
    base_amsl_m: float
    top_amsl_m: float
    vertical_m: float

    @property
    def roof_amsl_m(self) -> float:
        """Lowest altitude allowed within 15 m of the outline."""
        return self.top_amsl_m + self.vertical_m

    @property
    def label(self) -> str:
        named = f" ({self.name})" if self.name and self.name != self.id else ""
        return f"{self.kind} {self.id!r}{named}"

    def keep_out(self, grow_m: float) -> Polygon:
        """The outline grown by ``grow_m``, circles drawn finely (64 segments a quarter)."""
        if self.center is not None:
            return Point(self.center).buffer(self.radius_m + grow_m, quad_segs=64)
        assert self.outline is not None
        return self.outline.buffer(grow_m, quad_segs=64)

    def horizontal_m(self, xy: NDArray[np.float64]) -> NDArray[np.float64]:
        """Horizontal distance from ``(N, 2)`` points to the outline (0 inside)."""
        xy = np.asarray(xy, float).reshape(-1, 2)
        if self.center is not None:
            d = np.hypot(xy[:, 0] - self.center[0], xy[:, 1] - self.center[1]) - self.radius_m
            return np.maximum(d, 0.0)
        return shapely.distance(shapely.points(xy), self.outline)

    def distance_m(self, xyz: NDArray[np.float64]) -> NDArray[np.float64]:
        """3-D distance from ``(N, 3)`` points (z AMSL) to the solid (outline x [base, top])."""
        xyz = np.asarray(xyz, float).reshape(-1, 3)
        h = self.horizontal_m(xyz[:, :2])
        v = np.maximum.reduce(
            [xyz[:, 2] - self.top_amsl_m, self.base_amsl_m - xyz[:, 2], np.zeros(len(xyz))]
        )
        return np.hypot(h, v)

    def lines_horizontal_m(self, lines: NDArray[np.object_]) -> NDArray[np.float64]:
        """Horizontal distance from 2-D line geometries to the outline."""
        if self.center is not None:
            return np.maximum(shapely.distance(lines, Point(self.center)) - self.radius_m, 0.0)
        return shapely.distance(lines, self.outline)


@dataclass(frozen=True)
class Ground:
    """Ground altitude AMSL from the zone's surveyed altitudes (see the module docstring)."""

    polygons: tuple[tuple[Polygon, float], ...]  # smallest first
    spots: NDArray[np.float64]  # (K, 3): x, y, alt AMSL

    def at(self, xy: NDArray[np.float64]) -> NDArray[np.float64]:
        """Ground AMSL under ``(N, 2)`` points."""
        xy = np.asarray(xy, float).reshape(-1, 2)
        out = np.full(len(xy), np.nan)
        if len(self.spots):
            d2 = (xy[:, None, 0] - self.spots[None, :, 0]) ** 2 + (
                xy[:, None, 1] - self.spots[None, :, 1]
            ) ** 2
            on = d2 < 1e-12
            with np.errstate(divide="ignore", invalid="ignore"):
                w = np.where(on, 0.0, 1.0 / d2)
                idw = (w @ self.spots[:, 2]) / w.sum(axis=1)
            hit = on.any(axis=1)
            idw[hit] = self.spots[on.argmax(axis=1)[hit], 2]
            out = idw
        assigned = np.zeros(len(xy), bool)
        for polygon, alt in self.polygons:  # smallest first: the innermost wins
            inside = ~assigned & shapely.intersects_xy(polygon, xy[:, 0], xy[:, 1])
            out[inside] = alt
            assigned |= inside
        if np.isnan(out).any():
            raise ValueError("no surveyed ground altitude in the zone (a dock has one)")
        return out

    def at_point(self, x: float, y: float) -> float:
        return float(self.at(np.array([[x, y]]))[0])


@dataclass(frozen=True)
class Zone:
    """What the checker knows of a zone, read from its sites file (frame: :class:`Frame`)."""

    frame: Frame
    obstacles: tuple[Obstacle, ...]
    no_fly: tuple[tuple[str, Polygon], ...]  # areas without a ceiling: never entered
    ground: Ground
    targets: dict[str, shapely.Geometry]  # enterprise polygons, river corridors
    docks: dict[str, tuple[float, float, float]]  # id -> x, y, ground AMSL
    names: dict[str, str]  # every feature id (and stack id) -> its name

    def obstacle(self, obstacle_id: str) -> Obstacle:
        return next(o for o in self.obstacles if o.id == obstacle_id)


def load_zone(sites: str | Path | Mapping[str, Any]) -> Zone:
    """The obstacles, no-fly areas, ground and targets of a sites GeoJSON (path or dict)."""
    doc = json.loads(Path(sites).read_text("utf-8")) if isinstance(sites, str | Path) else sites
    features = [f for f in doc["features"] if isinstance(f, Mapping)]
    lonlat = np.array(
        [c for f in features for c in _coords(f["geometry"]["coordinates"])], dtype=float
    )
    lo, hi = lonlat.min(axis=0), lonlat.max(axis=0)
    frame = Frame((lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2)

    def pid(f: Mapping[str, Any]) -> str:
        return str(f.get("properties", {}).get("id", f.get("id")))

    # the ground model first: obstacles stand on it
    polygons: list[tuple[Polygon, float]] = []
    spots: list[tuple[float, float, float]] = []
    docks: dict[str, tuple[float, float, float]] = {}
    names: dict[str, str] = {}
    for f in features:
        p, g = f.get("properties") or {}, f["geometry"]
        names[pid(f)] = str(p.get("name", p.get("reason", pid(f))))
        alt = p.get("ground_alt_m")
        geom = frame.geom(shape(g))
        if p.get("kind") == "dock":
            x, y = geom.x, geom.y
            docks[pid(f)] = (x, y, float(alt))
        if alt is not None and g["type"] in ("Polygon", "MultiPolygon"):
            parts = geom.geoms if isinstance(geom, MultiPolygon) else [geom]
            polygons.extend((part, float(alt)) for part in parts)
            spots.append((geom.centroid.x, geom.centroid.y, float(alt)))
        elif alt is not None and g["type"] == "Point":
            spots.append((geom.x, geom.y, float(alt)))
        for s in p.get("stacks") or []:
            names[str(s["id"])] = str(s["id"])
            if s.get("ground_alt_m") is not None:
                sx, sy = frame.xy(s["coordinates"][0], s["coordinates"][1])
                spots.append((float(sx), float(sy), float(s["ground_alt_m"])))
    polygons.sort(key=lambda pa: pa[0].area)
    ground = Ground(tuple(polygons), np.array(spots, float).reshape(-1, 3))

    obstacles: list[Obstacle] = []
    no_fly: list[tuple[str, Polygon]] = []
    targets: dict[str, shapely.Geometry] = {}
    for f in features:
        p, g = f.get("properties") or {}, f["geometry"]
        kind, fid = p.get("kind"), pid(f)
        geom = frame.geom(shape(g))
        own = p.get("ground_alt_m")
        if kind == "enterprise":
            targets[fid] = geom
            for s in p.get("stacks") or []:
                sx, sy = (float(v) for v in frame.xy(s["coordinates"][0], s["coordinates"][1]))
                base = s.get("ground_alt_m", own)
                base = ground.at_point(sx, sy) if base is None else float(base)
                emitting = s.get("emitting", True)
                obstacles.append(
                    Obstacle(
                        id=str(s["id"]),
                        kind="stack",
                        name=str(s.get("name", s["id"])),
                        outline=None,
                        center=(sx, sy),
                        radius_m=float(s.get("radius_m", DEFAULT_STACK_RADIUS_M)),
                        base_amsl_m=base,
                        top_amsl_m=base + float(s["height_m"]),
                        vertical_m=VERTICAL_EMITTING_M if emitting else VERTICAL_M,
                    )
                )
        elif kind == "river":
            targets[fid] = geom.buffer(float(p["width_m"]) / 2)
        elif kind == "obstacle":
            at = (geom.x, geom.y) if isinstance(geom, Point) else (geom.centroid.x, geom.centroid.y)
            base = ground.at_point(*at) if own is None else float(own)
            obstacles.append(
                Obstacle(
                    id=fid,
                    kind="obstacle",
                    name=str(p.get("name", fid)),
                    outline=None if isinstance(geom, Point) else geom,
                    center=(geom.x, geom.y) if isinstance(geom, Point) else None,
                    radius_m=float(p["radius_m"]) if isinstance(geom, Point) else 0.0,
                    base_amsl_m=base,
                    top_amsl_m=base + float(p["height_m"]),
                    vertical_m=VERTICAL_M,
                )
            )
        elif kind == "no_fly":
            parts = list(geom.geoms) if isinstance(geom, MultiPolygon) else [geom]
            for k, part in enumerate(parts):
                part_id = fid if len(parts) == 1 else f"{fid}#{k + 1}"
                if p.get("ceiling_m") is None:
                    no_fly.append((part_id, part))
                    continue
                c = part.centroid
                base = ground.at_point(c.x, c.y) if own is None else float(own)
                obstacles.append(
                    Obstacle(
                        id=part_id,
                        kind="no_fly",
                        name=str(p.get("reason", part_id)),
                        outline=part,
                        center=None,
                        radius_m=0.0,
                        base_amsl_m=base,
                        top_amsl_m=base + float(p["ceiling_m"]),
                        vertical_m=VERTICAL_M,
                    )
                )
    return Zone(frame, tuple(obstacles), tuple(no_fly), ground, targets, docks, names)


def _coords(c: Any) -> Iterable[Sequence[float]]:
    if isinstance(c[0], int | float):
        yield c[:2]
    else:
        for inner in c:
            yield from _coords(inner)


# --------------------------------------------------------------------------- tracks


LatLonAlt = tuple[float, float, float]


@dataclass
class Track:
    """A mission file as the vehicle would fly it: positions (lat, lon, alt AMSL).

    ``positions[0]`` is home on the ground; ``labels[k]`` says which item put
    the vehicle at ``positions[k]``; ``triggering[k]`` is True while the
    camera's distance trigger is on along the segment from ``positions[k]``
    to ``positions[k + 1]``. ``mission_end`` is the index where the final
    RETURN_TO_LAUNCH (or the end of the items) begins: the positions after it
    are that return, computed as :func:`rtl_path` would.
    """

    path: Path
    home: LatLonAlt
    positions: list[LatLonAlt]
    labels: list[str]
    triggering: list[bool]
    rally: list[LatLonAlt]  # AMSL
    rtl_alt_m: float  # above home
    fence_polygons: list[list[tuple[float, float]]]  # exclusions, (lat, lon) rings
    fence_circles: list[tuple[float, float, float]]  # exclusions, lat, lon, radius m
    vehicle_parameters: dict[str, float] = field(default_factory=dict)
    mission_end: int = 0
    ends_with: str = ""  # "rtl" | "land" | "" (the items just end)


def read_track(path: str | Path, *, zone: Zone | None = None) -> Track:
    """Read a ``.plan`` or ``.waypoints`` file into the :class:`Track` it flies.

    With ``zone``, landings descend to its ground; without, to home's altitude.
    """
    path = Path(path)
    text = path.read_text("utf-8")
    if text.startswith("QGC WPL"):
        home, items = _wpl_items(path, text)
        rally: list[LatLonAlt] = []
        polygons: list[list[tuple[float, float]]] = []
        circles: list[tuple[float, float, float]] = []
        params: dict[str, float] = {}
    else:
        home, items, rally, polygons, circles, params = _plan_items(path, json.loads(text))
    rtl_alt = params["RTL_ALT"] / 100.0 if "RTL_ALT" in params else DEFAULT_RTL_ALT_M
    track = Track(path, home, [home], ["home"], [], rally, rtl_alt, polygons, circles, params)
    frame = zone.frame if zone is not None else Frame(home[1], home[0])
    ground = zone.ground if zone is not None else None
    oa = Avoidance.of(track, frame)

    def go(lat: float, lon: float, alt: float, label: str) -> None:
        track.positions.append((lat, lon, alt))
        track.labels.append(label)
        track.triggering.append(trigger_on)

    trigger_on = False
    for seq, frame_no, command, p, lat, lon, alt in items:
        cur = track.positions[-1]
        if command == DO_JUMP:
            raise ValueError(f"{path}: item {seq} is DO_JUMP; this checker flies no loops")
        if command == DO_SET_CAM_TRIGG_DIST:
            trigger_on = p[0] > 0
            continue
        if not 16 <= command < 100:
            continue  # DO_* / CONDITION_*: the vehicle does not move
        if command == NAV_RETURN_TO_LAUNCH:
            track.mission_end = len(track.positions) - 1
            track.ends_with = "rtl"
            path_ = rtl_path(cur, track, frame=frame, oa=oa, ground=ground)
            for q in path_[1:]:
                go(*q, label=f"item {seq} (RTL)")
            break
        if command not in (NAV_WAYPOINT, NAV_TAKEOFF, NAV_LAND, *HOLDS):
            raise ValueError(f"{path}: item {seq} has NAV command {command}, not supported here")
        if frame_no in FRAME_TERRAIN:
            raise ValueError(f"{path}: item {seq} uses a terrain frame ({frame_no}): unsupported")
        if frame_no in FRAME_GLOBAL:
            alt_amsl = alt
        elif frame_no in FRAME_RELATIVE:
            alt_amsl = home[2] + alt
        else:
            raise ValueError(f"{path}: item {seq} has frame {frame_no}, not a position frame")
        if command == NAV_TAKEOFF:
            go(cur[0], cur[1], max(cur[2], alt_amsl), f"item {seq} (takeoff)")
            continue
        if lat == 0 and lon == 0:
            lat, lon = cur[0], cur[1]
        if command == NAV_LAND:
            track.mission_end = len(track.positions) - 1
            track.ends_with = "land"
            go(lat, lon, cur[2], f"item {seq} (land)")
            xy = frame.xy(lon, lat)
            floor = ground.at_point(*xy) if ground is not None else home[2]
            go(lat, lon, floor, f"item {seq} (land)")
            break
        go(lat, lon, alt_amsl, f"item {seq}")
    else:
        track.mission_end = len(track.positions) - 1
    while len(track.triggering) < len(track.positions) - 1:
        track.triggering.append(False)
    return track


def _wpl_items(path: Path, text: str) -> tuple[LatLonAlt, list[Any]]:
    rows = [ln.split() for ln in text.splitlines()[1:] if ln.strip()]
    items = []
    for row in rows:
        if len(row) != 12:
            raise ValueError(f"{path}: a line has {len(row)} fields, expected 12")
        seq, _current, frame_no, command = (int(v) for v in row[:4])
        p = [float(v) for v in row[4:8]]
        lat, lon, alt = (float(v) for v in row[8:11])
        items.append((seq, frame_no, command, p, lat, lon, alt))
    if not items or items[0][1] not in FRAME_GLOBAL:
        raise ValueError(f"{path}: line 2 must be home in an AMSL frame")
    h = items[0]
    return (h[4], h[5], h[6]), items[1:]


def _plan_items(path: Path, doc: Mapping[str, Any]) -> tuple[Any, ...]:
    mission = doc["mission"]
    lat, lon, alt = (float(v) for v in mission["plannedHomePosition"])
    items = []
    for k, raw in enumerate(mission["items"]):
        if raw.get("type") != "SimpleItem":
            raise ValueError(f"{path}: mission item #{k} is not a SimpleItem")
        p = [math.nan if v is None else float(v) for v in raw["params"]]
        seq = int(raw.get("doJumpId", k + 1))
        ilat = 0.0 if math.isnan(p[4]) else p[4]
        ilon = 0.0 if math.isnan(p[5]) else p[5]
        items.append((seq, int(raw["frame"]), int(raw["command"]), p[:4], ilat, ilon, p[6]))
    rally = [
        (float(r[0]), float(r[1]), alt + float(r[2]))
        for r in doc.get("rallyPoints", {}).get("points", [])
    ]
    fence = doc.get("geoFence", {})
    polygons = [
        [(float(q[0]), float(q[1])) for q in poly["polygon"]]
        for poly in fence.get("polygons", [])
        if not poly.get("inclusion", True)
    ]
    circles = [
        (
            float(c["circle"]["center"][0]),
            float(c["circle"]["center"][1]),
            float(c["circle"]["radius"]),
        )
        for c in fence.get("circles", [])
        if not c.get("inclusion", True)
    ]
    params = {str(k): float(v) for k, v in (doc.get("vehicleParameters") or {}).items()}
    return (lat, lon, alt), items, rally, polygons, circles, params


# --------------------------------------------------------------------------- failsafe


@dataclass(frozen=True)
class Avoidance:
    """The fence exclusions, and a visibility graph around them grown by the OA margin.

    The margin is the plan's ``OA_MARGIN_MAX`` (ArduPilot's Dijkstra keeps it
    from the fence), :data:`OA_MARGIN_M` when the plan sets none.

    Paths run around the grown exclusions. A point already within the margin
    (but outside the exclusion itself) leaves it by the shortest way that does
    not cross the exclusion, as ArduPilot's Dijkstra connects its origin.
    """

    frame: Frame
    raw: shapely.Geometry | None  # the exclusions shrunk by 1 cm (touching is not crossing)
    solid: shapely.Geometry | None  # the grown exclusions shrunk by 1 cm
    nodes: NDArray[np.float64]  # (N, 2) vertices of the grown exclusions
    graph: NDArray[np.float64]  # (N, N) visible edge lengths, 0 where none

    @classmethod
    def of(cls, track: Track, frame: Frame) -> Avoidance:
        shapes = [
            Polygon(frame.xy([q[1] for q in r], [q[0] for q in r])) for r in track.fence_polygons
        ]
        shapes += [
            Point(frame.xy(lon, lat)).buffer(radius, quad_segs=8)
            for lat, lon, radius in track.fence_circles
        ]
        if not shapes:
            return cls(frame, None, None, np.zeros((0, 2)), np.zeros((0, 0)))
        raw = shapely.union_all(shapes)
        margin = track.vehicle_parameters.get("OA_MARGIN_MAX", OA_MARGIN_M)
        grown = shapely.union_all([s.buffer(margin, quad_segs=4) for s in shapes])
        parts = grown.geoms if isinstance(grown, MultiPolygon) else [grown]
        nodes = np.array(
            [c for part in parts for c in np.asarray(part.exterior.coords)[:-1]], float
        ).reshape(-1, 2)
        solid = grown.buffer(-0.01)
        graph = _visibility(nodes, nodes, solid)
        return cls(frame, raw.buffer(-0.01), solid, nodes, graph)

    def route(self, a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
        """Shortest ``(K, 2)`` path from ``a`` to ``b`` around the grown exclusions."""
        if self.solid is None or self.raw is None:
            return np.array([a, b])
        in_margin = [self.solid.contains(Point(p)) for p in (a, b)]
        direct = self.raw if any(in_margin) else self.solid
        if not LineString([a, b]).intersects(direct):
            return np.array([a, b])
        if any(self.raw.contains(Point(p)) for p in (a, b)):
            return np.array([a, b])  # inside an exclusion: nothing to go around with
        n = len(self.nodes)
        full = np.zeros((n + 2, n + 2))
        full[:n, :n] = self.graph
        for k, (p, inside) in enumerate(zip((a, b), in_margin, strict=True)):
            seen = _visibility(self.nodes, p[None, :], self.raw if inside else self.solid)
            full[:n, n + k] = seen[:, 0]
            full[n + k, :n] = seen[:, 0]
        dist, pred = dijkstra(csr_matrix(full), directed=False, indices=n, return_predecessors=True)
        if not math.isfinite(dist[n + 1]):
            return np.array([a, b])  # no way around: flown straight, and checked so
        order = [n + 1]
        while order[-1] != n:
            order.append(pred[order[-1]])
        pts = np.vstack([self.nodes, a, b])
        return pts[order[::-1]]


def _visibility(
    a: NDArray[np.float64], b: NDArray[np.float64], solid: shapely.Geometry
) -> NDArray[np.float64]:
    """``(len(a), len(b))`` lengths of the straight lines not crossing ``solid`` (0: blocked)."""
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    ia, ib = np.meshgrid(np.arange(len(a)), np.arange(len(b)), indexing="ij")
    starts, ends = a[ia.ravel()], b[ib.ravel()]
    lines = shapely.linestrings(np.stack([starts, ends], axis=1))
    blocked = shapely.intersects(lines, solid)
    length = np.hypot(*(ends - starts).T)
    length = np.where(blocked | (length == 0), 0.0, length)
    return length.reshape(len(a), len(b))


def rtl_path(
    start: LatLonAlt,
    track: Track,
    *,
    frame: Frame,
    oa: Avoidance | None = None,
    ground: Ground | None = None,
) -> list[LatLonAlt]:
    """ArduCopter's RTL from ``start``: climb, return around the fence exclusions, descend."""
    oa = oa or Avoidance.of(track, frame)
    lat, lon, alt = start
    here = frame.xy(lon, lat)
    cruise = max(alt, track.home[2] + track.rtl_alt_m)
    dests = [track.home, *track.rally]
    xy = frame.xy([d[1] for d in dests], [d[0] for d in dests]).reshape(-1, 2)
    k = int(np.argmin(np.hypot(*(xy - here).T)))
    dest = dests[k]
    floor = track.home[2] if k == 0 else (ground.at_point(*xy[k]) if ground else track.home[2])
    out: list[LatLonAlt] = [start]
    if cruise > alt:
        out.append((lat, lon, cruise))
    route = oa.route(here, xy[k])
    ll = frame.lonlat(route[1:, 0], route[1:, 1]).reshape(-1, 2)
    out.extend((float(q[1]), float(q[0]), cruise) for q in ll[:-1])
    out.append((dest[0], dest[1], cruise))
    out.append((dest[0], dest[1], floor))
    return out


# --------------------------------------------------------------------------- clearance


@dataclass
class ObstacleClearance:
    """How close a track came to one obstacle, and where it broke the rule (if it did)."""

    obstacle_id: str
    min_distance_m: float  # 3-D distance to the solid, sampled every <= 0.5 m
    closest: LatLonAlt | None  # where
    violations: list[str] = field(default_factory=list)


def _xyz(zone: Zone, points: Sequence[Sequence[float]]) -> NDArray[np.float64]:
    arr = np.asarray(points, float).reshape(-1, 3)
    xy = zone.frame.xy(arr[:, 1], arr[:, 0]).reshape(-1, 2)
    return np.column_stack([xy, arr[:, 2]])


def _ll(zone: Zone, p: NDArray[np.float64]) -> str:
    lon, lat = zone.frame.lonlat(p[0], p[1])
    return f"({float(lat):.7f}, {float(lon):.7f}, {p[2]:.1f} m AMSL)"


def _segment_lines(xyz: NDArray[np.float64]) -> NDArray[np.object_]:
    a, b = xyz[:-1, :2], xyz[1:, :2]
    # a vertical segment is a degenerate line: give it a 1 mm length so shapely keeps it
    b = np.where((np.hypot(*(b - a).T) < 1e-3)[:, None], a + np.array([1e-3, 0.0]), b)
    return shapely.linestrings(np.stack([a, b], axis=1))


def _breaches(
    zone: Zone,
    obstacle: Obstacle,
    xyz: NDArray[np.float64],
    *,
    lines: NDArray[np.object_] | None = None,
) -> list[tuple[int, float, float, NDArray[np.float64]]]:
    """Segments of the polyline ``xyz`` that enter the forbidden air, exactly.

    Returns ``(segment, horizontal_m, depth_m, where)`` per breaching segment:
    its closest horizontal approach to the outline while below the roof, the
    most it is below the roof while inside the grown outline, and the closest
    point.
    """
    if len(xyz) < 2:
        return []
    keep_out = obstacle.keep_out(HORIZONTAL_M - TOLERANCE_H_M)
    roof = obstacle.roof_amsl_m - TOLERANCE_V_M
    lines = _segment_lines(xyz) if lines is None else lines
    hits = np.flatnonzero(shapely.intersects(lines, keep_out))
    found = []
    for k in hits:
        a, b = xyz[k], xyz[k + 1]
        flat = float(np.hypot(*(b[:2] - a[:2])))
        if flat < 1e-3:
            ts = np.array([0.0, 1.0])
            if min(a[2], b[2]) >= roof:
                continue
        else:
            piece = lines[k].intersection(keep_out)
            ends = shapely.get_coordinates(piece)
            if not len(ends):
                continue
            ts = np.clip(np.hypot(*(ends - a[:2]).T) / flat, 0, 1)
            z = a[2] + ts * (b[2] - a[2])
            if z.min() >= roof:
                continue
        # sample the stretch to say where it is worst
        t = np.linspace(ts.min(), ts.max(), max(2, int(flat * (ts.max() - ts.min()) / 0.25) + 2))
        pts = a + t[:, None] * (b - a)
        h = obstacle.horizontal_m(pts[:, :2])
        bad = (h < HORIZONTAL_M - TOLERANCE_H_M) & (pts[:, 2] < roof)
        if not bad.any():
            continue
        depth = obstacle.roof_amsl_m - pts[:, 2]
        j = int(np.argmin(np.where(bad, h, np.inf)))
        found.append((int(k), float(h[j]), float(depth[bad].max()), pts[j]))
    return found


def _min_distance(
    obstacle: Obstacle, xyz: NDArray[np.float64], lines: NDArray[np.object_]
) -> tuple[float, NDArray[np.float64] | None]:
    """Smallest 3-D distance from the polyline to the solid.

    Exact for level and vertical segments, sampled every <= 0.5 m on the others.
    """
    if len(xyz) == 1:
        return float(obstacle.distance_m(xyz)[0]), xyz[0]
    bound = obstacle.lines_horizontal_m(lines)
    best, where = math.inf, None
    for k in np.argsort(bound):
        if bound[k] >= best:
            break
        a, b = xyz[k], xyz[k + 1]
        flat = float(np.hypot(*(b[:2] - a[:2])))
        if abs(b[2] - a[2]) < 1e-6 and flat >= 1e-3:
            # level: the horizontal distance is the segment's, the vertical one constant
            target = Point(obstacle.center) if obstacle.center is not None else obstacle.outline
            near = np.asarray(shapely.shortest_line(lines[k], target).coords[0])
            pts = np.array([[near[0], near[1], a[2]]])
        elif flat < 1e-3:
            # vertical: the nearest altitude to the solid's [base, top] within [a, b]
            lo, hi = sorted((a[2], b[2]))
            base, top = obstacle.base_amsl_m, obstacle.top_amsl_m
            zs = [lo, hi, min(max(base, lo), hi), min(max(top, lo), hi)]  # dv is convex in z
            z = min(zs, key=lambda z: max(z - top, base - z, 0.0))
            pts = np.array([[a[0], a[1], z]])
        else:
            n = max(2, math.ceil(float(np.linalg.norm(b - a)) / SAMPLE_STEP_M) + 1)
            pts = a + np.linspace(0, 1, n)[:, None] * (b - a)
        d = obstacle.distance_m(pts)
        j = int(np.argmin(d))
        if d[j] < best:
            best, where = float(d[j]), pts[j]
    return best, where


def track_clearance(
    zone: Zone,
    track_points: Sequence[Sequence[float]],
    *,
    labels: Sequence[str] | None = None,
) -> list[ObstacleClearance]:
    """Per obstacle: the closest approach of the polyline (lat, lon, alt AMSL) and its breaches."""
    xyz = _xyz(zone, track_points)
    labels = labels or [f"point {k}" for k in range(len(xyz))]
    lines = _segment_lines(xyz) if len(xyz) > 1 else np.array([], dtype=object)
    out = []
    for obstacle in zone.obstacles:
        dist, where = _min_distance(obstacle, xyz, lines)
        closest = None
        if where is not None:
            lon, lat = zone.frame.lonlat(where[0], where[1])
            closest = (float(lat), float(lon), float(where[2]))
        result = ObstacleClearance(obstacle.id, dist, closest)
        for k, h, depth, at in _breaches(zone, obstacle, xyz, lines=lines):
            result.violations.append(
                f"{labels[k]} -> {labels[k + 1]} passes {h:.1f} m from {obstacle.label} "
                f"(< {HORIZONTAL_M:g} m) at {at[2]:.1f} m AMSL, up to {depth:.1f} m below its roof "
                f"{obstacle.roof_amsl_m:.1f} m AMSL (top {obstacle.top_amsl_m:.1f} + "
                f"{obstacle.vertical_m:g} m), at {_ll(zone, at)}"
            )
        out.append(result)
    return out


def _inside(obstacle: Obstacle, p: NDArray[np.float64]) -> bool:
    """Is the point (x, y, z AMSL) in the obstacle's forbidden air, beyond the tolerances?"""
    h = float(obstacle.horizontal_m(p[None, :2])[0])
    return h < HORIZONTAL_M - TOLERANCE_H_M and p[2] < obstacle.roof_amsl_m - TOLERANCE_V_M


def covered_targets(zone: Zone, track: Track) -> set[str]:
    """Targets under a stretch flown with the camera's distance trigger on."""
    xyz = _xyz(zone, track.positions)
    legs = [
        LineString([xyz[k, :2], xyz[k + 1, :2]])
        for k, on in enumerate(track.triggering)
        if on and np.hypot(*(xyz[k + 1, :2] - xyz[k, :2])) > 1e-3
    ]
    if not legs:
        return set()
    flown = shapely.union_all(legs)
    return {tid for tid, area in zone.targets.items() if flown.intersects(area)}


def _no_fly_entries(
    zone: Zone, xyz: NDArray[np.float64], lines: NDArray[np.object_]
) -> list[tuple[int, str]]:
    found = []
    for zid, area in zone.no_fly:
        inner = area.buffer(-TOLERANCE_H_M)
        if inner.is_empty:
            continue
        for k in np.flatnonzero(shapely.intersects(lines, inner)):
            found.append((int(k), zid))
    return found


def _agl(
    zone: Zone, xyz: NDArray[np.float64], step_m: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Points along the polyline every <= ``step_m`` and their height above ground."""
    pts = [xyz[:1]]
    for a, b in itertools.pairwise(xyz):
        n = max(1, math.ceil(float(np.hypot(*(b[:2] - a[:2]))) / step_m))
        pts.append(a + np.linspace(0, 1, n + 1)[1:, None] * (b - a))
    allp = np.vstack(pts)
    return allp, allp[:, 2] - zone.ground.at(allp[:, :2])


def _along(xyz: NDArray[np.float64], step_m: float) -> list[tuple[int, NDArray[np.float64]]]:
    """Every vertex and points every <= ``step_m`` (3-D) between, with their segment index."""
    out = [(0, xyz[0])]
    for k, (a, b) in enumerate(itertools.pairwise(xyz)):
        n = max(1, math.ceil(float(np.linalg.norm(b - a)) / step_m))
        for t in np.linspace(0, 1, n + 1)[1:]:
            out.append((k, a + t * (b - a)))
    return out


# --------------------------------------------------------------------------- report


@dataclass
class Report:
    """Everything :func:`check_plan` found in one flight file."""

    path: Path
    track: Track
    clearances: list[ObstacleClearance]  # the mission path, RTL at the end included
    violations: list[str]
    max_agl_m: float
    min_no_fly_m: dict[str, float]  # horizontal distance from the mission path
    failsafe_starts: int
    failsafe_min_m: dict[str, float]  # obstacle -> closest approach of any failsafe path

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def min_clearance(self) -> ObstacleClearance | None:
        return min(self.clearances, key=lambda c: c.min_distance_m, default=None)

    def summary(self) -> str:
        c = self.min_clearance
        closest = f"closest {c.obstacle_id} at {c.min_distance_m:.1f} m" if c else "no obstacles"
        nf = ", ".join(f"{k} {v:.0f} m" for k, v in self.min_no_fly_m.items()) or "none"
        return (
            f"{self.path.name}: {len(self.violations)} violations; {closest}; "
            f"max AGL {self.max_agl_m:.1f} m; no-fly distance {nf}; "
            f"{self.failsafe_starts} failsafe starts"
        )


def check_plan(zone: Zone, plan_path: str | Path, *, failsafe: bool = True) -> Report:
    """Check a flight file against the rule: mission path, failsafe paths, ceiling, no-fly."""
    track = read_track(plan_path, zone=zone)
    xyz = _xyz(zone, track.positions)
    labels = track.labels
    lines = _segment_lines(xyz)
    name = Path(plan_path).name
    violations: list[str] = []

    clearances = track_clearance(zone, track.positions, labels=labels)
    for c in clearances:
        violations.extend(f"{name}: {v}" for v in c.violations)

    for k, zid in _no_fly_entries(zone, xyz, lines):
        violations.append(f"{name}: {labels[k]} -> {labels[k + 1]} enters no-fly area {zid!r}")
    min_no_fly = {
        zid: float(shapely.distance(LineString(xyz[:, :2]), area)) for zid, area in zone.no_fly
    }

    pts, agl = _agl(zone, xyz, CEILING_STEP_M)
    over = agl > MAX_AGL_M + TOLERANCE_V_M
    if over.any():
        j = int(np.argmax(agl))
        violations.append(
            f"{name}: {int(over.sum())} points above the {MAX_AGL_M:g} m ceiling, "
            f"worst {agl[j]:.1f} m above ground at {_ll(zone, pts[j])}"
        )

    starts = 0
    failsafe_min: dict[str, float] = {}
    if failsafe:
        starts, fs_violations, failsafe_min = _check_failsafe(zone, track, xyz, name)
        violations.extend(fs_violations)
    return Report(
        Path(plan_path),
        track,
        clearances,
        violations,
        float(agl.max()),
        min_no_fly,
        starts,
        failsafe_min,
    )


def _check_failsafe(
    zone: Zone, track: Track, xyz: NDArray[np.float64], name: str
) -> tuple[int, list[str], dict[str, float]]:
    """RTL from every waypoint and every <= 25 m of the mission: one line per rule broken."""
    oa = Avoidance.of(track, zone.frame)
    flown = xyz[: track.mission_end + 1] if track.ends_with == "rtl" else xyz
    starts = _along(flown, FAILSAFE_STEP_M)
    breaches: dict[str, list[str]] = {}
    closest: dict[str, float] = {}
    for seg, p in starts:
        lon, lat = zone.frame.lonlat(p[0], p[1])
        start = (float(lat), float(lon), float(p[2]))
        path = rtl_path(start, track, frame=zone.frame, oa=oa, ground=zone.ground)
        pxyz = _xyz(zone, path)
        plines = _segment_lines(pxyz)
        where = f"RTL from {track.labels[seg]}+ at {_ll(zone, p)}"
        for obstacle in zone.obstacles:
            if not obstacle.lines_horizontal_m(plines).min() < 200.0:
                continue
            if _inside(obstacle, p):
                continue  # already in its forbidden air: the mission check says so
            d, _ = _min_distance(obstacle, pxyz, plines)
            closest[obstacle.id] = min(closest.get(obstacle.id, math.inf), d)
            for k, h, depth, at in _breaches(zone, obstacle, pxyz, lines=plines):
                breaches.setdefault(f"obstacle {obstacle.id}", []).append(
                    f"{where}: leg {k} passes {h:.1f} m from {obstacle.label} at "
                    f"{at[2]:.1f} m AMSL, up to {depth:.1f} m below its roof "
                    f"{obstacle.roof_amsl_m:.1f} m AMSL"
                )
        for k, zid in _no_fly_entries(zone, pxyz, plines):
            breaches.setdefault(f"no-fly {zid}", []).append(
                f"{where}: leg {k} enters no-fly area {zid!r}"
            )
        _, agl = _agl(zone, pxyz, 5.0)
        if agl.max() > MAX_AGL_M + TOLERANCE_V_M:
            breaches.setdefault("ceiling", []).append(
                f"{where}: flies {agl.max():.1f} m above ground (> {MAX_AGL_M:g} m)"
            )
    out = [
        f"{name}: failsafe: {len(msgs)} of {len(starts)} RTL starts break the rule ({key}); "
        f"first: {msgs[0]}"
        for key, msgs in breaches.items()
    ]
    return len(starts), out, closest
