"""A patrol zone's sites, read from a GeoJSON FeatureCollection: the one site model.

The planner, the imagery pipeline and the server all read sites with this
module, so whatever the API stores can be planned and processed, and whatever
one of them refuses, all refuse with the same message.

Each feature carries a ``kind`` and an ``id`` (a property, or the Feature's
own ``id``), and optionally a ``name`` (default: the id):

- ``enterprise``: Polygon boundary (holes allowed); optional ``stacks``, a list
  of ``{"id", "coordinates": [lon, lat], "height_m"}`` with optional
  ``radius_m`` (default 3 m), ``emitting`` (default true: a working stack
  wants more room over its mouth, where the hot plume rises) and
  ``ground_alt_m``. A stack is not a feature of its own: it stands in its
  enterprise, whose site its findings belong to;
- ``river``: LineString centreline with ``width_m`` (the water's width); it runs
  downstream (upstream end first) unless ``"flow": "reverse"``;
- ``no_fly``: Polygon or MultiPolygon with a ``reason`` (also controlled
  airspace), optionally ``floor_m`` / ``ceiling_m`` above ground: a zone with a
  ceiling may be overflown above it;
- ``obstacle``: a building, tower, crane or mast: Polygon, or Point with
  ``radius_m``; ``height_m`` above its own base;
- ``dock``: Point where the drone takes off and lands, with ``ground_alt_m``
  (metres above mean sea level) and optionally ``drones`` (how many it houses);
- ``outfall``: Point where an enterprise discharges into water, optionally
  naming that ``enterprise`` (its findings' site; else the outfall is its own);
- ``station``: Point of an air-quality monitoring station, with its ``class``
  (``national``, ``peri-urban`` or ``micro``), ``measures`` (a list of
  pollutants from PM2.5, PM10, NO2, SO2, O3, CO, TVOC) and optionally
  ``has_wind`` (default false: it reports wind speed and the direction the
  wind blows from). A station is neither flown around nor attributed to: it is
  where readings come from (``store.readings``).

Any feature may carry ``ground_alt_m``, the ground's altitude AMSL there; a
stack's base is its own ``ground_alt_m`` or else its enterprise's. Every height
(``height_m``, ``floor_m``, ``ceiling_m``) is measured from that feature's own
ground, never from a dock. Coordinates are GeoJSON's: WGS 84 longitude, latitude
in degrees.

Every fault is reported as one :class:`~zone.errors.InvalidSiteError` naming the
feature and the fault, so an operator can fix the file without reading a traceback.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely
from shapely.errors import ShapelyError
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, shape

from zone.errors import InvalidSiteError

logger = logging.getLogger(__name__)

KINDS = ("enterprise", "river", "no_fly", "obstacle", "dock", "outfall", "station")
STATION_CLASSES = ("national", "peri-urban", "micro")
# what a station may measure; store.readings holds each one's unit (tests/zone/test_stations.py
# keeps the two lists equal: zone and store import nothing from each other)
POLLUTANTS = ("PM2.5", "PM10", "NO2", "SO2", "O3", "CO", "TVOC")
DEFAULT_STACK_RADIUS_M = 3.0
MAX_STRUCTURE_M = 1000.0


@dataclass(frozen=True, slots=True)
class Stack:
    """A chimney or exhaust stack: a vertical obstacle ``height_m`` above its base.

    ``ground_alt_m`` is its base's altitude AMSL when the stack states its own
    (None: its enterprise's, else the zone's ground model). ``site_id`` is the
    enterprise it stands in.
    """

    id: str
    lon: float
    lat: float
    height_m: float
    radius_m: float = DEFAULT_STACK_RADIUS_M
    emitting: bool = True
    ground_alt_m: float | None = None
    site_id: str = field(kw_only=True)


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
    """A site surveyed from above; ``boundary`` in lon/lat.

    ``industry`` is its trade as the zone's register names it (``chemical``,
    ``pharmaceutical``...; see ``zone.sources.INDUSTRY_POLLUTANTS``), which weighs
    it as the source of a pollutant; None when the register does not say.
    """

    id: str
    name: str
    boundary: Polygon
    stacks: tuple[Stack, ...] = ()
    ground_alt_m: float | None = None
    industry: str | None = None


@dataclass(frozen=True, slots=True)
class River:
    """A river section along its centreline (lon/lat, upstream end first), ``width_m`` wide."""

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


@dataclass(frozen=True, slots=True)
class Outfall:
    """A discharge point on the ground; ``site_id`` is the enterprise discharging there.

    ``ground_alt_m`` is the ground's altitude AMSL there when known.
    """

    id: str
    name: str
    lon: float
    lat: float
    site_id: str
    ground_alt_m: float | None = None


@dataclass(frozen=True, slots=True)
class Station:
    """An air-quality monitoring station: where readings come from, never a place to fly.

    ``station_class`` is its network's class (``national``, ``peri-urban``,
    ``micro``); ``measures`` the pollutants it reports, in file order;
    ``has_wind`` whether it also reports wind. ``ground_alt_m`` is AMSL.
    """

    id: str
    name: str
    lon: float
    lat: float
    station_class: str
    measures: tuple[str, ...]
    has_wind: bool = False
    ground_alt_m: float | None = None


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
    outfalls: tuple[Outfall, ...] = ()
    stations: tuple[Station, ...] = ()

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

    @property
    def stacks(self) -> tuple[Stack, ...]:
        """Every enterprise's stacks, in file order."""
        return tuple(s for e in self.enterprises for s in e.stacks)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in degrees around every site flown near (ValueError if none).

        Stations are left out: a station miles off must not widen the patrol zone.
        """
        geoms: list[shapely.Geometry] = [e.boundary for e in self.enterprises]
        geoms += [r.centerline for r in self.rivers] + [z.area for z in self.no_fly]
        geoms += [o.footprint for o in self.obstacles]
        geoms += [Point(d.lon, d.lat) for d in self.docks]
        geoms += [Point(o.lon, o.lat) for o in self.outfalls]
        if not geoms:
            raise ValueError("the zone has no sites")
        west, south, east, north = shapely.GeometryCollection(geoms).bounds
        return west, south, east, north


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
    """Validate a decoded GeoJSON FeatureCollection into :class:`Sites`.

    Faults name the feature by its place and id: ``feature #3 ('nfz-1'): ...``.
    """
    if not isinstance(data, Mapping) or data.get("type") != "FeatureCollection":
        raise InvalidSiteError("expected a GeoJSON FeatureCollection")
    features = data.get("features")
    if not isinstance(features, list):
        raise InvalidSiteError("the FeatureCollection has no 'features' list")
    found: dict[str, list[Any]] = {kind: [] for kind in KINDS}
    seen: set[str] = set()
    for index, feature in enumerate(features):
        kind, parsed = _read(feature, index, seen)
        found[kind].extend(parsed)
    title = data.get("name", "")
    logger.info(
        "sites: %d enterprises, %d rivers, %d no-fly areas, %d obstacles, %d docks, %d outfalls, "
        "%d stations",
        *(len(found[k]) for k in KINDS),
    )
    return Sites(
        tuple(found["enterprise"]),
        tuple(found["river"]),
        tuple(found["no_fly"]),
        tuple(found["dock"]),
        str(title) if title else "",
        tuple(found["obstacle"]),
        tuple(found["outfall"]),
        stations=tuple(found["station"]),
    )


def check_site(feature: object) -> None:
    """Raise :class:`InvalidSiteError` unless ``feature`` is a valid site on its own.

    The fault names the site by its id (``site 'nfz-1': missing property
    'reason'``): the check the API runs on every site written to it. A site
    valid on its own is valid in any zone whose ids are unique.
    """
    _read(feature, None, set())


def _read(feature: object, index: int | None, seen: set[str]) -> tuple[str, Sequence[Any]]:
    """The kind of one feature and what it holds (one item, or a no-fly's parts)."""
    label, site_id, kind, props, geometry = _feature_head(index, feature, seen)
    return kind, _PARSERS[kind](label, site_id, props, geometry)


def _feature_head(
    index: int | None, feature: object, seen: set[str]
) -> tuple[str, str, str, Mapping[str, Any], object]:
    """The label, id, kind, properties and geometry of one feature, checked."""
    label = "site" if index is None else f"feature #{index}"
    if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
        raise InvalidSiteError(f"{label}: not a GeoJSON Feature")
    props = feature.get("properties") or {}
    if not isinstance(props, Mapping):
        raise InvalidSiteError(f"{label}: 'properties' must be an object")
    raw_id = props.get("id", feature.get("id"))  # GeoJSON's own Feature id also serves
    if not isinstance(raw_id, str | int) or isinstance(raw_id, bool) or str(raw_id) == "":
        raise InvalidSiteError(f"{label}: missing 'id' (a property or the Feature's id)")
    site_id = str(raw_id)
    label = f"site {site_id!r}" if index is None else f"feature #{index} ({site_id!r})"
    if site_id in seen:
        raise InvalidSiteError(f"{label}: duplicate id")
    seen.add(site_id)
    kind = props.get("kind")
    if kind == "stack":
        raise InvalidSiteError(
            f"{label}: a stack is not a site of its own; list it in its enterprise's "
            "'stacks' (with coordinates and height_m)"
        )
    if kind not in KINDS:
        raise InvalidSiteError(
            f"{label}: property 'kind' is {kind!r}, expected one of {', '.join(KINDS)}"
        )
    return label, site_id, str(kind), props, feature.get("geometry")


def _name(props: Mapping[str, Any], site_id: str) -> str:
    """The site's ``name``, else its id (an empty name names nothing)."""
    return str(props.get("name") or site_id)


def _enterprise(
    label: str, site_id: str, props: Mapping[str, Any], geometry: object
) -> list[Enterprise]:
    boundary = _polygon(label, geometry, kinds=("Polygon",))
    assert isinstance(boundary, Polygon)
    ground = _ground_alt(label, props, required=False)
    stacks = _stacks(label, site_id, props.get("stacks", []), boundary)
    industry = props.get("industry")
    if industry is not None and (not isinstance(industry, str) or not industry.strip()):
        raise InvalidSiteError(f"{label}: 'industry' must be a name, got {industry!r}")
    trade = industry.strip().lower() if industry is not None else None
    return [Enterprise(site_id, _name(props, site_id), boundary, stacks, ground, trade)]


def _river(label: str, site_id: str, props: Mapping[str, Any], geometry: object) -> list[River]:
    line = _geometry(label, geometry, kinds=("LineString",))
    assert isinstance(line, LineString)
    if line.length == 0 or len(line.coords) < 2:
        raise InvalidSiteError(f"{label}: the river centreline has no length")
    if not line.is_simple:
        raise InvalidSiteError(f"{label}: the river centreline crosses itself")
    flow = props.get("flow", "downstream")
    if flow not in ("downstream", "reverse"):
        raise InvalidSiteError(f"{label}: 'flow' must be 'downstream' or 'reverse', got {flow!r}")
    if flow == "reverse":
        line = line.reverse()
    width = _positive(label, props, "width_m")
    ground = _ground_alt(label, props, required=False)
    return [River(site_id, _name(props, site_id), line, width, ground)]


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
    return [Obstacle(site_id, _name(props, site_id), shape_, height, radius, ground)]


def _dock(label: str, site_id: str, props: Mapping[str, Any], geometry: object) -> list[Dock]:
    point = _geometry(label, geometry, kinds=("Point",))
    assert isinstance(point, Point)
    ground = _ground_alt(label, props, required=True)
    assert ground is not None
    drones = props.get("drones", 1)
    if not isinstance(drones, int) or isinstance(drones, bool) or drones < 1:
        raise InvalidSiteError(f"{label}: 'drones' must be a whole number >= 1")
    return [Dock(site_id, _name(props, site_id), point.x, point.y, ground, drones)]


def _outfall(label: str, site_id: str, props: Mapping[str, Any], geometry: object) -> list[Outfall]:
    point = _geometry(label, geometry, kinds=("Point",))
    assert isinstance(point, Point)
    owner = props.get("enterprise", site_id)
    if not isinstance(owner, str) or not owner:
        raise InvalidSiteError(f"{label}: 'enterprise' must be the id of the enterprise")
    ground = _ground_alt(label, props, required=False)
    return [Outfall(site_id, _name(props, site_id), point.x, point.y, owner, ground)]


def _station(label: str, site_id: str, props: Mapping[str, Any], geometry: object) -> list[Station]:
    point = _geometry(label, geometry, kinds=("Point",))
    assert isinstance(point, Point)
    station_class = props.get("class")
    if station_class not in STATION_CLASSES:
        raise InvalidSiteError(
            f"{label}: property 'class' is {station_class!r}, "
            f"expected one of {', '.join(STATION_CLASSES)}"
        )
    has_wind = props.get("has_wind", False)
    if not isinstance(has_wind, bool):
        raise InvalidSiteError(f"{label}: 'has_wind' must be true or false")
    ground = _ground_alt(label, props, required=False)
    measures = _measures(label, props.get("measures"))
    return [
        Station(
            site_id,
            _name(props, site_id),
            point.x,
            point.y,
            str(station_class),
            measures,
            has_wind,
            ground,
        )
    ]


def _measures(label: str, raw: object) -> tuple[str, ...]:
    """A station's ``measures``: a non-empty list of known pollutants, none twice."""
    if not isinstance(raw, list) or not raw:
        raise InvalidSiteError(
            f"{label}: 'measures' must be a non-empty list of pollutants ({', '.join(POLLUTANTS)})"
        )
    for item in raw:
        if item not in POLLUTANTS:
            raise InvalidSiteError(
                f"{label}: measures {item!r}, expected pollutants from {', '.join(POLLUTANTS)}"
            )
    if len(set(raw)) != len(raw):
        raise InvalidSiteError(f"{label}: 'measures' lists a pollutant twice")
    return tuple(raw)


_Parser = Callable[[str, str, Mapping[str, Any], object], Sequence[Any]]
_PARSERS: dict[str, _Parser] = {
    "enterprise": _enterprise,
    "river": _river,
    "no_fly": _no_fly,
    "obstacle": _obstacle,
    "dock": _dock,
    "outfall": _outfall,
    "station": _station,
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
        why = " ".join(str(exc).split())  # GEOS ends its messages with a newline
        raise InvalidSiteError(f"{label}: malformed {gtype} coordinates ({why})") from None
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


def _stacks(
    label: str, site_id: str, raw: object, boundary: Polygon | MultiPolygon
) -> tuple[Stack, ...]:
    """An enterprise's ``stacks``, each inside its boundary, no id twice."""
    if not isinstance(raw, list):
        raise InvalidSiteError(f"{label}: 'stacks' must be a list")
    stacks: list[Stack] = []
    for k, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise InvalidSiteError(f"{label}: stack #{k} must be an object")
        stack = _stack(label, site_id, item, default_id=f"{site_id}-s{k + 1}")
        if any(s.id == stack.id for s in stacks):
            raise InvalidSiteError(f"{label}: stack {stack.id!r} is listed twice")
        if not boundary.buffer(1e-4).contains(Point(stack.lon, stack.lat)):  # ~10 m of slack
            raise InvalidSiteError(
                f"{label}: stack {stack.id!r}: lies outside the enterprise boundary"
            )
        stacks.append(stack)
    return tuple(stacks)


def _stack(label: str, site_id: str, item: Mapping[str, Any], *, default_id: str) -> Stack:
    """One entry of an enterprise's ``stacks``: an object with coordinates and height_m."""
    stack_id = str(item.get("id", default_id))
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
    return Stack(
        stack_id,
        float(coords[0]),
        float(coords[1]),
        height,
        float(radius),
        emitting,
        ground,
        site_id=site_id,
    )
