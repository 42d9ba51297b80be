"""A patrol zone's sites, read from a GeoJSON FeatureCollection.

Each feature carries a ``kind`` and an ``id``:

- ``enterprise``: Polygon boundary (holes allowed); optional ``stacks``, a list
  of ``{"id", "coordinates": [lon, lat], "height_m"}`` with optional
  ``radius_m`` (default 3 m) and ``emitting`` (default true: a working stack
  wants more room over its mouth, where the hot plume rises);
- ``river``: LineString centreline with ``width_m``;
- ``no_fly``: Polygon or MultiPolygon with a ``reason`` (also controlled
  airspace), optionally ``floor_m`` / ``ceiling_m`` above ground: a zone with a
  ceiling may be overflown above it;
- ``obstacle``: a building, tower, crane or mast: Polygon, or Point with
  ``radius_m``; ``height_m`` above its own base, optional ``name``;
- ``dock``: Point where the drone takes off and lands, with ``ground_alt_m``
  (metres above mean sea level) and optionally ``drones`` (how many it houses).

Any feature may carry ``ground_alt_m``, the ground's altitude AMSL there; a
stack's base is its own ``ground_alt_m`` or else its enterprise's. Every height
(``height_m``, ``floor_m``, ``ceiling_m``) is measured from that feature's own
ground, never from a dock.

Every fault is reported as one :class:`InvalidSiteError` naming the feature and
the fault, so an operator can fix the file without reading a traceback.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapely
from shapely.errors import ShapelyError
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, shape

from missions.errors import InvalidSiteError

logger = logging.getLogger(__name__)

KINDS = ("enterprise", "river", "no_fly", "obstacle", "dock")
DEFAULT_STACK_RADIUS_M = 3.0
MAX_STRUCTURE_M = 1000.0


@dataclass(frozen=True, slots=True)
class Stack:
    """A chimney or exhaust stack: a vertical obstacle ``height_m`` above its base.

    ``ground_alt_m`` is its base's altitude AMSL when known (None: from the
    zone's ground model).
    """

    id: str
    lon: float
    lat: float
    height_m: float
    radius_m: float = DEFAULT_STACK_RADIUS_M
    emitting: bool = True
    ground_alt_m: float | None = None


@dataclass(frozen=True, slots=True)
class Obstacle:
    """A building, tower, crane or mast the aircraft must keep clear of.

    ``footprint`` is its outline in lon/lat (a Point obstacle's circle is kept
    as the point and ``radius_m``); ``height_m`` is above its own base.
    """

    id: str
    name: str
    footprint: Polygon | Point
    height_m: float
    radius_m: float = 0.0
    ground_alt_m: float | None = None


@dataclass(frozen=True, slots=True)
class Enterprise:
    """A site surveyed from above; ``boundary`` in lon/lat."""

    id: str
    name: str
    boundary: Polygon
    stacks: tuple[Stack, ...] = ()
    ground_alt_m: float | None = None


@dataclass(frozen=True, slots=True)
class River:
    """A river section scanned along its centreline (lon/lat) over ``width_m``."""

    id: str
    name: str
    centerline: LineString
    width_m: float
    ground_alt_m: float | None = None


@dataclass(frozen=True, slots=True)
class NoFly:
    """An area no route may enter (lon/lat), with the reason shown to operators.

    ``floor_m``/``ceiling_m`` bound it above its ground (None: from the ground
    up, and without limit). The planner keeps out of it entirely unless it
    has a ceiling, which it may overfly with the obstacle clearance.
    """

    id: str
    reason: str
    area: Polygon
    floor_m: float | None = None
    ceiling_m: float | None = None
    ground_alt_m: float | None = None


@dataclass(frozen=True, slots=True)
class Dock:
    """A launch and landing point; ``ground_alt_m`` is AMSL, the home altitude."""

    id: str
    name: str
    lon: float
    lat: float
    ground_alt_m: float
    drones: int = 1


Target = Enterprise | River


@dataclass(frozen=True, slots=True)
class Sites:
    """Everything in a zone; targets are the enterprises and rivers, by id."""

    enterprises: tuple[Enterprise, ...]
    rivers: tuple[River, ...]
    no_fly: tuple[NoFly, ...]
    docks: tuple[Dock, ...]
    name: str = ""
    obstacles: tuple[Obstacle, ...] = ()

    @property
    def targets(self) -> dict[str, Target]:
        """Every plannable site by id, enterprises first, in file order."""
        found: dict[str, Target] = {e.id: e for e in self.enterprises}
        found.update({r.id: r for r in self.rivers})
        return found

    def target(self, target_id: str) -> Target:
        """The enterprise or river with this id."""
        try:
            return self.targets[target_id]
        except KeyError:
            known = ", ".join(self.targets) or "none"
            raise InvalidSiteError(
                f"unknown target {target_id!r} (known targets: {known})"
            ) from None


def load_sites(path: str | Path) -> Sites:
    """Read and validate a sites GeoJSON file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidSiteError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidSiteError(f"{path}: cannot be read ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidSiteError(
            f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    try:
        return parse_sites(data)
    except InvalidSiteError as exc:
        raise InvalidSiteError(f"{path}: {exc}") from None


def parse_sites(data: object) -> Sites:
    """Validate a decoded GeoJSON FeatureCollection into :class:`Sites`."""
    if not isinstance(data, Mapping) or data.get("type") != "FeatureCollection":
        raise InvalidSiteError("expected a GeoJSON FeatureCollection")
    features = data.get("features")
    if not isinstance(features, list):
        raise InvalidSiteError("the FeatureCollection has no 'features' list")
    found: dict[str, list[Any]] = {kind: [] for kind in KINDS}
    seen: set[str] = set()
    for index, feature in enumerate(features):
        label, site_id, kind, props, geometry = _feature_head(index, feature, seen)
        found[kind].extend(_PARSERS[kind](label, site_id, props, geometry))
    title = data.get("name", "")
    logger.info(
        "sites: %d enterprises, %d rivers, %d no-fly areas, %d obstacles, %d docks",
        *(len(found[k]) for k in ("enterprise", "river", "no_fly", "obstacle", "dock")),
    )
    return Sites(
        tuple(found["enterprise"]),
        tuple(found["river"]),
        tuple(found["no_fly"]),
        tuple(found["dock"]),
        str(title) if title else "",
        tuple(found["obstacle"]),
    )


def _feature_head(
    index: int, feature: object, seen: set[str]
) -> tuple[str, str, str, Mapping[str, Any], object]:
    """The label, id, kind, properties and geometry of one feature, checked."""
    label = f"feature #{index}"
    if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
        raise InvalidSiteError(f"{label}: not a GeoJSON Feature")
    props = feature.get("properties") or {}
    if not isinstance(props, Mapping):
        raise InvalidSiteError(f"{label}: 'properties' must be an object")
    raw_id = props.get("id", feature.get("id"))  # GeoJSON's own Feature id also serves
    if not isinstance(raw_id, str | int) or isinstance(raw_id, bool) or str(raw_id) == "":
        raise InvalidSiteError(f"{label}: missing 'id' (a property or the Feature's id)")
    site_id = str(raw_id)
    label = f"feature #{index} ({site_id!r})"
    if site_id in seen:
        raise InvalidSiteError(f"{label}: duplicate id")
    seen.add(site_id)
    kind = props.get("kind")
    if kind not in KINDS:
        raise InvalidSiteError(
            f"{label}: property 'kind' is {kind!r}, expected one of {', '.join(KINDS)}"
        )
    return label, site_id, str(kind), props, feature.get("geometry")


def _enterprise(
    label: str, site_id: str, props: Mapping[str, Any], geometry: object
) -> list[Enterprise]:
    boundary = _polygon(label, geometry, kinds=("Polygon",))
    assert isinstance(boundary, Polygon)
    ground = _ground_alt(label, props, required=False)
    stacks = _stacks(label, props.get("stacks", []), boundary)
    name = str(props.get("name", site_id))
    return [Enterprise(site_id, name, boundary, stacks, ground)]


def _river(label: str, site_id: str, props: Mapping[str, Any], geometry: object) -> list[River]:
    line = _geometry(label, geometry, kinds=("LineString",))
    assert isinstance(line, LineString)
    if line.length == 0 or len(line.coords) < 2:
        raise InvalidSiteError(f"{label}: the river centreline has no length")
    if not line.is_simple:
        raise InvalidSiteError(f"{label}: the river centreline crosses itself")
    width = _positive(label, props, "width_m")
    ground = _ground_alt(label, props, required=False)
    return [River(site_id, str(props.get("name", site_id)), line, width, ground)]


def _no_fly(label: str, site_id: str, props: Mapping[str, Any], geometry: object) -> list[NoFly]:
    reason = props.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidSiteError(f"{label}: missing property 'reason'")
    area = _polygon(label, geometry, kinds=("Polygon", "MultiPolygon"))
    floor = _optional_height(label, props, "floor_m", allow_zero=True)
    ceiling = _optional_height(label, props, "ceiling_m", allow_zero=False)
    if floor is not None and ceiling is not None and ceiling <= floor:
        raise InvalidSiteError(f"{label}: ceiling_m {ceiling:g} is not above floor_m {floor:g}")
    ground = _ground_alt(label, props, required=False)
    parts = area.geoms if isinstance(area, MultiPolygon) else [area]
    return [
        NoFly(
            site_id if len(parts) == 1 else f"{site_id}#{k + 1}",
            reason.strip(),
            part,
            floor,
            ceiling,
            ground,
        )
        for k, part in enumerate(parts)
    ]


def _obstacle(
    label: str, site_id: str, props: Mapping[str, Any], geometry: object
) -> list[Obstacle]:
    shape_ = _geometry(label, geometry, kinds=("Polygon", "Point"))
    radius = 0.0
    if isinstance(shape_, Point):
        radius = _positive(label, props, "radius_m")
        if radius > MAX_STRUCTURE_M:
            raise InvalidSiteError(f"{label}: radius_m {radius:g} is not an obstacle's radius")
    else:
        shape_ = _polygon(label, geometry, kinds=("Polygon",))
    assert isinstance(shape_, Polygon | Point)
    height = _height(label, props)
    ground = _ground_alt(label, props, required=False)
    return [Obstacle(site_id, str(props.get("name", site_id)), shape_, height, radius, ground)]


def _dock(label: str, site_id: str, props: Mapping[str, Any], geometry: object) -> list[Dock]:
    point = _geometry(label, geometry, kinds=("Point",))
    assert isinstance(point, Point)
    ground = _ground_alt(label, props, required=True)
    assert ground is not None
    drones = props.get("drones", 1)
    if not isinstance(drones, int) or isinstance(drones, bool) or drones < 1:
        raise InvalidSiteError(f"{label}: 'drones' must be a whole number >= 1")
    return [Dock(site_id, str(props.get("name", site_id)), point.x, point.y, ground, drones)]


_Parser = Callable[[str, str, Mapping[str, Any], object], Sequence[Any]]
_PARSERS: dict[str, _Parser] = {
    "enterprise": _enterprise,
    "river": _river,
    "no_fly": _no_fly,
    "obstacle": _obstacle,
    "dock": _dock,
}


def _ground_alt(label: str, props: Mapping[str, Any], *, required: bool) -> float | None:
    """``ground_alt_m``, the ground's altitude AMSL, checked to be one."""
    ground = props.get("ground_alt_m")
    if ground is None and not required:
        return None
    if not _is_number(ground):
        raise InvalidSiteError(f"{label}: missing property 'ground_alt_m' (a number)")
    assert isinstance(ground, int | float)
    if not -500 <= ground <= 9000:
        raise InvalidSiteError(f"{label}: ground_alt_m {ground} is not a ground altitude")
    return float(ground)


def _height(label: str, props: Mapping[str, Any]) -> float:
    """``height_m`` above the feature's own base: positive and a structure's height."""
    height = _positive(label, props, "height_m")
    if height > MAX_STRUCTURE_M:
        raise InvalidSiteError(f"{label}: height_m {height:g} is not a structure's height")
    return height


def _optional_height(
    label: str, props: Mapping[str, Any], key: str, *, allow_zero: bool
) -> float | None:
    value = props.get(key)
    if value is None:
        return None
    if not _is_number(value):
        raise InvalidSiteError(f"{label}: {key} must be a number of metres above ground")
    assert isinstance(value, int | float)
    if value < 0 or (value == 0 and not allow_zero) or value > MAX_STRUCTURE_M:
        raise InvalidSiteError(f"{label}: {key} {value:g} is not a height above ground")
    return float(value)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _positive(label: str, props: Mapping[str, Any], key: str) -> float:
    value = props.get(key)
    if not _is_number(value):
        raise InvalidSiteError(f"{label}: missing property {key!r} (a number)")
    assert isinstance(value, int | float)
    if value <= 0:
        raise InvalidSiteError(f"{label}: {key} must be positive, got {value}")
    return float(value)


def _check_coordinates(label: str, coords: Sequence[Sequence[float]]) -> None:
    for position in coords:
        lon, lat = position[0], position[1]
        if not (math.isfinite(lon) and math.isfinite(lat)):
            raise InvalidSiteError(f"{label}: coordinate ({lon}, {lat}) is not a number")
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise InvalidSiteError(
                f"{label}: coordinate ({lon}, {lat}) out of range "
                "(GeoJSON is [longitude, latitude] in degrees)"
            )


def _geometry(label: str, geometry: object, *, kinds: Sequence[str]) -> shapely.Geometry:
    if not isinstance(geometry, Mapping):
        raise InvalidSiteError(f"{label}: missing geometry (expected {' or '.join(kinds)})")
    gtype = geometry.get("type")
    if gtype not in kinds:
        raise InvalidSiteError(
            f"{label}: wrong geometry {gtype} for its kind (expected {' or '.join(kinds)})"
        )
    try:
        geom = shape(geometry)
    except (ValueError, TypeError, AttributeError, IndexError, KeyError, ShapelyError) as exc:
        raise InvalidSiteError(f"{label}: malformed {gtype} coordinates ({exc})") from None
    if geom.is_empty:
        raise InvalidSiteError(f"{label}: empty {gtype}")
    _check_coordinates(label, shapely.get_coordinates(geom).tolist())
    return geom


def _polygon(label: str, geometry: object, *, kinds: Sequence[str]) -> Polygon | MultiPolygon:
    if isinstance(geometry, Mapping):
        rings: list[Any] = []
        coords = geometry.get("coordinates")
        if geometry.get("type") == "Polygon" and isinstance(coords, list):
            rings = coords
        elif geometry.get("type") == "MultiPolygon" and isinstance(coords, list):
            rings = [ring for poly in coords if isinstance(poly, list) for ring in poly]
        for ring in rings:
            if not isinstance(ring, list) or len(ring) < 4:
                raise InvalidSiteError(f"{label}: a polygon ring needs at least 4 positions")
            if ring[0] != ring[-1]:
                raise InvalidSiteError(
                    f"{label}: polygon ring is not closed (first and last positions differ)"
                )
    geom = _geometry(label, geometry, kinds=kinds)
    if not geom.is_valid:
        reason = shapely.is_valid_reason(geom)
        if reason.startswith(("Self-intersection", "Ring Self-intersection")):
            where = reason[reason.find("[") :] if "[" in reason else ""
            raise InvalidSiteError(f"{label}: self-intersecting polygon {where}".rstrip())
        raise InvalidSiteError(f"{label}: invalid polygon ({reason})")
    if geom.area == 0:
        raise InvalidSiteError(f"{label}: polygon has no area")
    assert isinstance(geom, Polygon | MultiPolygon)
    return geom


def _stacks(label: str, raw: object, boundary: Polygon | MultiPolygon) -> tuple[Stack, ...]:
    if not isinstance(raw, list):
        raise InvalidSiteError(f"{label}: 'stacks' must be a list")
    stacks = []
    for k, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise InvalidSiteError(f"{label}: stack #{k} must be an object")
        stack_id = str(item.get("id", f"{label}-s{k + 1}"))
        where = f"{label}: stack {stack_id!r}"
        coords = item.get("coordinates")
        if (
            not isinstance(coords, list)
            or len(coords) < 2
            or not all(_is_number(c) for c in coords[:2])
        ):
            raise InvalidSiteError(f"{where}: 'coordinates' must be [longitude, latitude]")
        _check_coordinates(where, [coords])
        height = _height(where, item)
        radius = item.get("radius_m", DEFAULT_STACK_RADIUS_M)
        if not _is_number(radius) or not 0 < radius <= MAX_STRUCTURE_M:
            raise InvalidSiteError(f"{where}: radius_m must be a positive number of metres")
        emitting = item.get("emitting", True)
        if not isinstance(emitting, bool):
            raise InvalidSiteError(f"{where}: 'emitting' must be true or false")
        ground = _ground_alt(where, item, required=False)
        point = Point(coords[0], coords[1])
        if not boundary.buffer(1e-4).contains(point):  # ~10 m of slack for digitising
            raise InvalidSiteError(f"{where}: lies outside the enterprise boundary")
        stacks.append(
            Stack(
                stack_id,
                float(coords[0]),
                float(coords[1]),
                height,
                float(radius),
                emitting,
                ground,
            )
        )
    return tuple(stacks)
