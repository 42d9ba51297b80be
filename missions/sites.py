"""A patrol zone's sites, read from a GeoJSON FeatureCollection.

Each feature carries a ``kind`` and an ``id``:

- ``enterprise``: Polygon boundary (holes allowed); optional ``stacks``, a list
  of ``{"id", "coordinates": [lon, lat], "height_m"}``;
- ``river``: LineString centreline with ``width_m``;
- ``no_fly``: Polygon or MultiPolygon with a ``reason`` (also controlled airspace);
- ``dock``: Point where the drone takes off and lands, with ``ground_alt_m``
  (metres above mean sea level) and optionally ``drones`` (how many it houses).

Every fault is reported as one :class:`InvalidSiteError` naming the feature and
the fault, so an operator can fix the file without reading a traceback.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapely
from shapely.errors import ShapelyError
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, shape

from missions.errors import InvalidSiteError

logger = logging.getLogger(__name__)

KINDS = ("enterprise", "river", "no_fly", "dock")


@dataclass(frozen=True, slots=True)
class Stack:
    """A chimney or exhaust stack; ``height_m`` above its ground."""

    id: str
    lon: float
    lat: float
    height_m: float


@dataclass(frozen=True, slots=True)
class Enterprise:
    """A site surveyed from above; ``boundary`` in lon/lat."""

    id: str
    name: str
    boundary: Polygon
    stacks: tuple[Stack, ...] = ()


@dataclass(frozen=True, slots=True)
class River:
    """A river section scanned along its centreline (lon/lat) over ``width_m``."""

    id: str
    name: str
    centerline: LineString
    width_m: float


@dataclass(frozen=True, slots=True)
class NoFly:
    """An area no route may enter (lon/lat), with the reason shown to operators."""

    id: str
    reason: str
    area: Polygon


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
    enterprises: list[Enterprise] = []
    rivers: list[River] = []
    no_fly: list[NoFly] = []
    docks: list[Dock] = []
    seen: set[str] = set()
    for index, feature in enumerate(features):
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
        geometry = feature.get("geometry")
        name = str(props.get("name", site_id))
        if kind == "enterprise":
            boundary = _polygon(label, geometry, kinds=("Polygon",))
            assert isinstance(boundary, Polygon)
            stacks = _stacks(label, props.get("stacks", []), boundary)
            enterprises.append(Enterprise(site_id, name, boundary, stacks))
        elif kind == "river":
            line = _geometry(label, geometry, kinds=("LineString",))
            assert isinstance(line, LineString)
            if line.length == 0 or len(line.coords) < 2:
                raise InvalidSiteError(f"{label}: the river centreline has no length")
            if not line.is_simple:
                raise InvalidSiteError(f"{label}: the river centreline crosses itself")
            width = _positive(label, props, "width_m")
            rivers.append(River(site_id, name, line, width))
        elif kind == "no_fly":
            reason = props.get("reason")
            if not isinstance(reason, str) or not reason.strip():
                raise InvalidSiteError(f"{label}: missing property 'reason'")
            area = _polygon(label, geometry, kinds=("Polygon", "MultiPolygon"))
            parts = area.geoms if isinstance(area, MultiPolygon) else [area]
            for k, part in enumerate(parts):
                part_id = site_id if len(parts) == 1 else f"{site_id}#{k + 1}"
                no_fly.append(NoFly(part_id, reason.strip(), part))
        else:
            point = _geometry(label, geometry, kinds=("Point",))
            assert isinstance(point, Point)
            ground = props.get("ground_alt_m")
            if not _is_number(ground):
                raise InvalidSiteError(f"{label}: missing property 'ground_alt_m' (a number)")
            assert isinstance(ground, int | float)
            if not -500 <= ground <= 9000:
                raise InvalidSiteError(f"{label}: ground_alt_m {ground} is not a ground altitude")
            drones = props.get("drones", 1)
            if not isinstance(drones, int) or isinstance(drones, bool) or drones < 1:
                raise InvalidSiteError(f"{label}: 'drones' must be a whole number >= 1")
            docks.append(Dock(site_id, name, point.x, point.y, float(ground), drones))
    title = data.get("name", "")
    logger.info(
        "sites: %d enterprises, %d rivers, %d no-fly areas, %d docks",
        len(enterprises),
        len(rivers),
        len(no_fly),
        len(docks),
    )
    return Sites(
        tuple(enterprises),
        tuple(rivers),
        tuple(no_fly),
        tuple(docks),
        str(title) if title else "",
    )


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
        height = _positive(where, item, "height_m")
        point = Point(coords[0], coords[1])
        if not boundary.buffer(1e-4).contains(point):  # ~10 m of slack for digitising
            raise InvalidSiteError(f"{where}: lies outside the enterprise boundary")
        stacks.append(Stack(stack_id, float(coords[0]), float(coords[1]), height))
    return tuple(stacks)
