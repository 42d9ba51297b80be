"""The map's base layers, read from local files: nothing is fetched from off the host.

Every source answers web-mercator tiles (EPSG:3857, the ``WebMercatorQuad`` grid)
numbered as Leaflet asks for them, XYZ-style: at zoom ``z`` the world is
``2**z`` tiles a side, ``x`` counted east from 180° W and ``y`` south from the
grid's north edge (85.0511° N). Three kinds of source:

- **MBTiles** (SQLite, opened read-only): the ``tiles`` table counts rows from the
  south (TMS), so XYZ row ``y`` is stored as ``tile_row = 2**z - 1 - y``; the
  ``metadata`` table gives the format, bounds, zooms, name and attribution.
  Raster tiles only (png, jpg, webp).
- **An XYZ tile folder** ``{z}/{x}/{y}.{png,jpg,jpeg,webp}``, as ``gdal2tiles.py
  --xyz`` or QGIS's "Generate XYZ tiles (Directory)" write it.
- **A GeoTIFF orthophoto** (8-bit, 1, 3 or 4 bands, in any CRS PROJ knows): each
  tile is warped to web mercator on demand and is transparent outside the image
  and where it holds nodata.

A tile outside a source's zooms or bounds, or missing from it, is ``None``: the
API answers 404 and Leaflet draws nothing there. A file that cannot be served is
a :class:`BasemapError` when the sources are opened, which the settings do at
start-up. Sources are opened once per process (:func:`basemaps`) and shared by
the server's threads, each behind its own lock.
"""

from __future__ import annotations

import io
import json
import logging
import math
import re
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import morecantile
import numpy as np
import rasterio
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError
from rasterio.enums import ColorInterp, Resampling
from rasterio.errors import RasterioError
from rasterio.transform import from_bounds
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds

logger = logging.getLogger(__name__)

TMS = morecantile.tms.get("WebMercatorQuad")
TILE_PX = 256
EARTH_RADIUS_M = 6378137.0  # EPSG:3857's sphere
MAX_LAT = 85.0511287798066  # the web-mercator grid's north and south edge
WORLD = (-180.0, -MAX_LAT, 180.0, MAX_LAT)
MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}
TILE_SUFFIXES = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg", ".webp": "webp"}
GEOTIFF_SUFFIXES = (".tif", ".tiff")
GEOTIFF_ZOOM_SPAN = 7  # zooms served below an orthophoto's native one (128 px per 2**7 px)
MAX_EXTRACT_TILES = 144  # 37 MB of RGBA at most: a 2800 x 2800 px picture

Kind = Literal["mbtiles", "xyz", "geotiff"]
Bounds = tuple[float, float, float, float]


class BasemapError(ValueError):
    """A base-layer file that cannot be served: missing, unreadable, corrupt or unsupported."""


@dataclass(frozen=True, slots=True)
class LayerInfo:
    """What the web map needs to draw a layer.

    ``bounds`` is (west, south, east, north) in degrees WGS84; ``format`` the
    tiles' file type (png, jpg, webp); zooms are web-mercator zoom levels.
    """

    id: str
    name: str
    kind: Kind
    format: str
    bounds: Bounds
    minzoom: int
    maxzoom: int
    attribution: str = ""


def mercator(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.float64]:
    """Web-mercator metres (EPSG:3857: x east, y north) of WGS84 lon/lat in degrees.

    ``x = R λ``, ``y = R ln tan(π/4 + φ/2)`` on the sphere of radius ``R = 6378137 m``;
    returns an (..., 2) array of (x, y).
    """
    lam = np.radians(np.asarray(lon, dtype=np.float64))
    phi = np.radians(np.clip(np.asarray(lat, dtype=np.float64), -MAX_LAT, MAX_LAT))
    return np.stack(
        [EARTH_RADIUS_M * lam, EARTH_RADIUS_M * np.log(np.tan(np.pi / 4 + phi / 2))], axis=-1
    )


def zoom_for(metres_per_px: float) -> int:
    """The first zoom whose tiles are at least as fine as ``metres_per_px`` (mercator metres)."""
    world_px = 2 * math.pi * EARTH_RADIUS_M / TILE_PX  # metres per pixel at zoom 0
    return max(0, min(TMS.maxzoom, math.ceil(math.log2(world_px / metres_per_px) - 1e-9)))


def _intersects(a: Bounds, b: Bounds) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


class TileSource(ABC):
    """One base layer: tiles by XYZ number, ``None`` where it has none."""

    info: LayerInfo

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """The encoded tile (``info.format``), or None outside the source's zooms and bounds."""
        if not (self.info.minzoom <= z <= self.info.maxzoom and 0 <= x < 2**z and 0 <= y < 2**z):
            return None
        box = TMS.bounds(morecantile.Tile(x, y, z))
        if not _intersects((box.left, box.bottom, box.right, box.top), self.info.bounds):
            return None
        return self._read(z, x, y)

    @abstractmethod
    def _read(self, z: int, x: int, y: int) -> bytes | None: ...

    def close(self) -> None:  # noqa: B027 (sources without open handles need nothing)
        """Release the file."""


class MBTiles(TileSource):
    """An MBTiles file, opened read-only (``mode=ro``); rows are TMS (from the south)."""

    def __init__(self, path: Path, layer_id: str) -> None:
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(
                f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise BasemapError(f"{path}: cannot be opened ({exc})") from None
        try:
            meta = {str(k): v for k, v in self._db.execute("SELECT name, value FROM metadata")}
            self._db.execute("SELECT tile_data FROM tiles LIMIT 1").fetchall()
            if "minzoom" not in meta or "maxzoom" not in meta:
                low, high = self._db.execute(
                    "SELECT min(zoom_level), max(zoom_level) FROM tiles"
                ).fetchone()
                meta.setdefault("minzoom", low or 0)
                meta.setdefault("maxzoom", high or 0)
            fmt = str(meta.get("format", "png")).lower().replace("jpeg", "jpg")
            if fmt not in MEDIA_TYPES:
                raise BasemapError(
                    f"{path}: its tiles are {fmt!r}; only raster tiles (png, jpg, webp) are drawn"
                )
            self.info = LayerInfo(
                id=layer_id,
                name=str(meta.get("name") or path.stem),
                kind="mbtiles",
                format=fmt,
                bounds=_parse_bounds(meta.get("bounds"), path),
                minzoom=int(meta["minzoom"]),
                maxzoom=int(meta["maxzoom"]),
                attribution=str(meta.get("attribution") or ""),
            )
        except (sqlite3.Error, ValueError) as exc:
            self._db.close()
            if isinstance(exc, BasemapError):
                raise
            raise BasemapError(f"{path}: not a readable MBTiles file ({exc})") from None

    def _read(self, z: int, x: int, y: int) -> bytes | None:
        tile_row = 2**z - 1 - y  # XYZ counts rows from the north, MBTiles (TMS) from the south
        with self._lock:
            row = self._db.execute(
                "SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?",
                (z, x, tile_row),
            ).fetchone()
        return bytes(row[0]) if row else None

    def close(self) -> None:
        self._db.close()


def _parse_bounds(value: object, path: Path) -> Bounds:
    """MBTiles' ``bounds`` metadata, "west,south,east,north" in degrees (the world if absent)."""
    if value in (None, ""):
        return WORLD
    try:
        w, s, e, n = (float(v) for v in str(value).split(","))
    except ValueError:
        raise BasemapError(
            f"{path}: metadata bounds {value!r} is not west,south,east,north"
        ) from None
    if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
        raise BasemapError(f"{path}: metadata bounds {value!r} is not west,south,east,north")
    return w, s, e, n


class XYZFolder(TileSource):
    """A folder of ``{z}/{x}/{y}.{ext}`` tiles (XYZ rows: from the north).

    Bounds are those of the tiles at the lowest zoom, the zooms the folders
    present; ``metadata.json`` beside them (as mb-util writes) may name the layer
    and give its attribution.
    """

    def __init__(self, path: Path, layer_id: str) -> None:
        self._root = path
        zooms = sorted(int(p.name) for p in path.iterdir() if p.is_dir() and p.name.isdigit())
        tiles = list(self._tiles(zooms[0])) if zooms else []
        if not tiles:
            raise BasemapError(f"{path}: no tiles laid out as {{z}}/{{x}}/{{y}}.png (or jpg, webp)")
        formats = {fmt for *_xy, fmt in tiles}
        if len(formats) > 1:
            raise BasemapError(f"{path}: tiles of several formats ({', '.join(sorted(formats))})")
        west, north = TMS.ul(
            morecantile.Tile(min(t[0] for t in tiles), min(t[1] for t in tiles), zooms[0])
        )
        last = morecantile.Tile(max(t[0] for t in tiles), max(t[1] for t in tiles), zooms[0])
        _w, south, east, _n = TMS.bounds(last)
        meta = _folder_metadata(path)
        self.info = LayerInfo(
            id=layer_id,
            name=str(meta.get("name") or path.name),
            kind="xyz",
            format=formats.pop(),
            bounds=(west, south, east, north),
            minzoom=zooms[0],
            maxzoom=zooms[-1],
            attribution=str(meta.get("attribution", "")),
        )

    def _tiles(self, z: int) -> Iterator[tuple[int, int, str]]:
        """(x, y, format) of every tile at zoom ``z``."""
        for column in (self._root / str(z)).iterdir():
            if not column.name.isdigit():
                continue
            for tile in column.iterdir():
                fmt = TILE_SUFFIXES.get(tile.suffix.lower())
                if fmt and tile.stem.isdigit():
                    yield int(column.name), int(tile.stem), fmt

    def _read(self, z: int, x: int, y: int) -> bytes | None:
        suffixes = [s for s, fmt in TILE_SUFFIXES.items() if fmt == self.info.format]
        for suffix in suffixes:  # z, x, y are integers: no path can leave the folder
            path = self._root / str(z) / str(x) / f"{y}{suffix}"
            if path.is_file():
                return path.read_bytes()
        return None


def _folder_metadata(path: Path) -> dict[str, object]:
    try:
        meta = json.loads((path / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


class GeoTIFF(TileSource):
    """A georeferenced 8-bit image, warped tile by tile to web mercator (PNG with alpha).

    Served from the zoom whose pixels first match the image's own
    (:func:`zoom_for` its size in mercator metres) down :data:`GEOTIFF_ZOOM_SPAN`
    zooms; Leaflet enlarges the finest tiles beyond it.
    """

    def __init__(self, path: Path, layer_id: str) -> None:
        self._lock = threading.Lock()
        try:
            self._ds = rasterio.open(path)
        except RasterioError as exc:
            raise BasemapError(f"{path}: not a readable GeoTIFF ({exc})") from None
        ds = self._ds
        try:
            if ds.crs is None:
                raise BasemapError(
                    f"{path}: has no coordinate reference system (not georeferenced)"
                )
            if set(ds.dtypes) != {"uint8"}:
                raise BasemapError(
                    f"{path}: is {ds.dtypes[0]}; orthophotos must be 8-bit "
                    "(e.g. gdal_translate -ot Byte -scale)"
                )
            x0, _y0, x1, _y1 = transform_bounds(ds.crs, "EPSG:3857", *ds.bounds, densify_pts=21)
        except (BasemapError, RasterioError) as exc:
            ds.close()
            raise BasemapError(str(exc)) from None
        colour = [
            i for i, c in zip(ds.indexes, ds.colorinterp, strict=True) if c != ColorInterp.alpha
        ]
        self._bands = colour[:3] if len(colour) >= 3 else [colour[0]] * 3
        # without an alpha band or nodata the warp adds an alpha band: 0 off the image
        self._add_alpha = ColorInterp.alpha not in ds.colorinterp and ds.nodata is None
        maxzoom = zoom_for((x1 - x0) / ds.width)
        west, south, east, north = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds, densify_pts=21)
        self.info = LayerInfo(
            id=layer_id,
            name=path.stem,
            kind="geotiff",
            format="png",
            bounds=(west, south, east, north),
            minzoom=max(0, maxzoom - GEOTIFF_ZOOM_SPAN),
            maxzoom=maxzoom,
            attribution=str(ds.tags().get("attribution", "")),
        )

    def _read(self, z: int, x: int, y: int) -> bytes | None:
        left, bottom, right, top = TMS.xy_bounds(morecantile.Tile(x, y, z))  # EPSG:3857 m
        with (
            self._lock,
            WarpedVRT(
                self._ds,
                crs="EPSG:3857",
                transform=from_bounds(left, bottom, right, top, TILE_PX, TILE_PX),
                width=TILE_PX,
                height=TILE_PX,
                resampling=Resampling.bilinear,
                add_alpha=self._add_alpha,
            ) as vrt,
        ):
            rgb = vrt.read(indexes=self._bands)  # (3, 256, 256), row 0 at the tile's top
            alpha = vrt.dataset_mask()  # (256, 256): 0 off the image and on nodata
        if not alpha.any():
            return None
        rgba = np.concatenate([rgb, alpha[None]]).transpose(1, 2, 0)
        out = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(rgba), mode="RGBA").save(out, format="PNG")
        return out.getvalue()

    def close(self) -> None:
        self._ds.close()


def open_source(path: Path, layer_id: str) -> TileSource:
    """The source a path holds, by its form: ``.mbtiles``, a folder, or ``.tif``/``.tiff``."""
    if not path.exists():
        raise BasemapError(f"{path}: no such file or folder")
    if path.is_dir():
        try:
            return XYZFolder(path, layer_id)
        except OSError as exc:
            raise BasemapError(f"{path}: cannot read the tile folder ({exc.strerror})") from None
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise BasemapError(f"{path}: cannot be read ({exc.strerror})") from None
    suffix = path.suffix.lower()
    if suffix == ".mbtiles":
        return MBTiles(path, layer_id)
    if suffix in GEOTIFF_SUFFIXES:
        return GeoTIFF(path, layer_id)
    raise BasemapError(f"{path}: not a base layer (.mbtiles, .tif/.tiff or an XYZ tile folder)")


class Basemaps:
    """The configured layers, in the configured order, by id."""

    def __init__(self, sources: Sequence[TileSource]) -> None:
        self.sources = list(sources)
        self._by_id = {s.info.id: s for s in self.sources}

    @property
    def layers(self) -> list[LayerInfo]:
        return [s.info for s in self.sources]

    def get(self, layer_id: str) -> TileSource | None:
        return self._by_id.get(layer_id)

    def extract(
        self, west: float, south: float, east: float, north: float, width_px: int, height_px: int
    ) -> Image.Image | None:
        """A picture of the base layers over a lon/lat box (degrees WGS84), e.g. a case file's map.

        The picture's pixel grid is linear in web mercator over the box, as the
        web map draws it: row 0 at ``north``, column 0 at ``west``. It is the
        first tile layer (MBTiles or XYZ) that covers the box, as the map shows
        by default, with every orthophoto over it; each is read at the first
        zoom at least as fine as the picture (within the layer's zooms),
        stitched, cropped and resized. RGBA, transparent where no layer covers;
        None when none does.
        """
        box = (west, south, east, north)
        if not (west < east and south < north and width_px > 0 and height_px > 0):
            raise ValueError("extract needs west < east, south < north and a positive size")
        xy = mercator(np.array([west, east]), np.array([south, north]))
        zoom = zoom_for((xy[1, 0] - xy[0, 0]) / width_px)
        tiles = [s for s in self.sources if s.info.kind != "geotiff"]
        covering = [s for s in tiles if _intersects(s.info.bounds, box)][:1]
        out: Image.Image | None = None
        for source in covering + [s for s in self.sources if s.info.kind == "geotiff"]:
            picture = _picture(source, box, xy, zoom, (width_px, height_px))
            if picture is None:
                continue
            out = picture if out is None else Image.alpha_composite(out, picture)
        return out


def _picture(
    source: TileSource,
    box: Bounds,
    xy: NDArray[np.float64],
    zoom: int,
    size: tuple[int, int],
) -> Image.Image | None:
    """One layer over ``box`` (its corners ``xy`` in mercator metres) at ``size`` pixels."""
    if not _intersects(source.info.bounds, box):
        return None
    z = min(max(zoom, source.info.minzoom), source.info.maxzoom)
    tiles = list(TMS.tiles(*box, [z], truncate=True))
    while len(tiles) > MAX_EXTRACT_TILES and z > source.info.minzoom:
        z -= 1
        tiles = list(TMS.tiles(*box, [z], truncate=True))
    if not tiles or len(tiles) > MAX_EXTRACT_TILES:
        return None
    x0, y0 = min(t.x for t in tiles), min(t.y for t in tiles)
    x1, y1 = max(t.x for t in tiles), max(t.y for t in tiles)
    canvas = Image.new("RGBA", ((x1 - x0 + 1) * TILE_PX, (y1 - y0 + 1) * TILE_PX))
    drawn = False
    for t in tiles:
        tile = _decode(source, z, t.x, t.y)
        if tile is not None:
            canvas.paste(tile, ((t.x - x0) * TILE_PX, (t.y - y0) * TILE_PX))
            drawn = True
    if not drawn:
        return None
    left, _b, _r, top = TMS.xy_bounds(morecantile.Tile(x0, y0, z))  # canvas corner, mercator m
    res = (TMS.xy_bounds(morecantile.Tile(x0, y0, z)).right - left) / TILE_PX
    crop = (
        (xy[0, 0] - left) / res,
        (top - xy[1, 1]) / res,
        (xy[1, 0] - left) / res,
        (top - xy[0, 1]) / res,
    )
    return canvas.transform(size, Image.Transform.EXTENT, crop, resample=Image.Resampling.BILINEAR)


def _decode(source: TileSource, z: int, x: int, y: int) -> Image.Image | None:
    data = source.tile(z, x, y)
    if data is None:
        return None
    try:
        with Image.open(io.BytesIO(data)) as tile:
            return tile.convert("RGBA").resize((TILE_PX, TILE_PX))
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        logger.warning("base layer %s: tile %d/%d/%d unreadable: %s", source.info.id, z, x, y, exc)
        return None


def _layer_id(path: Path, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-") or "layer"
    layer_id, n = base, 2
    while layer_id in taken:
        layer_id, n = f"{base}-{n}", n + 1
    return layer_id


_OPEN: dict[tuple[Path, ...], Basemaps] = {}
_OPEN_LOCK = threading.Lock()


def basemaps(paths: Sequence[Path]) -> Basemaps:
    """The layers of ``paths``, opened once per process and shared (thread-safe).

    Raises
    ------
    BasemapError
        When any path cannot be served; none of them is kept open then.
    """
    key = tuple(Path(p).expanduser().resolve() for p in paths)
    with _OPEN_LOCK:
        if key not in _OPEN:
            sources: list[TileSource] = []
            try:
                for path in key:
                    sources.append(open_source(path, _layer_id(path, {s.info.id for s in sources})))
            except BasemapError:
                for source in sources:
                    source.close()
                raise
            _OPEN[key] = Basemaps(sources)
        return _OPEN[key]


def extract(
    paths: Sequence[Path],
    west: float,
    south: float,
    east: float,
    north: float,
    width_px: int,
    height_px: int,
) -> Image.Image | None:
    """The configured base layers (``Settings.basemap``) over a lon/lat box: see
    :meth:`Basemaps.extract` (RGBA, pixel grid linear in web mercator, row 0 north)."""
    return basemaps(paths).extract(west, south, east, north, width_px, height_px)
