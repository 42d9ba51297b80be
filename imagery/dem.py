"""Terrain heights from a DEM GeoTIFF, sampled in the capture's UTM frame.

The raster is read once (a window around the area of interest when one is
given), nodata becomes NaN, and heights are interpolated bilinearly. Any CRS
rasterio reads is accepted; points are transformed from UTM with pyproj.
Heights are whatever the file holds, taken as metres AMSL.

:func:`dem_around` is what a pipeline reads per capture: a window centred on
the capture with at least ``radius_m`` of ground on every side, shared (and
cached) by the captures near each other.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np
import rasterio
from numpy.typing import NDArray
from pyproj import CRS
from rasterio.errors import RasterioError
from rasterio.windows import Window, from_bounds
from scipy.ndimage import map_coordinates

from imagery.errors import GeoreferenceError
from zone.frames import transformer

logger = logging.getLogger(__name__)

MAX_WINDOW_CELLS = 25_000_000
"""Most cells read at once (200 MB as float64): a dem_around window of 3 km radius at 1.5 m."""

_M_PER_DEG_LAT_MIN = 110_574.0
"""Fewest metres in a degree of latitude on WGS84 (at the equator): windows sized with it
never fall short."""
_M_PER_DEG_LON_EQUATOR = 111_319.49
"""Metres in a degree of longitude at the equator (WGS84 semi-major axis times pi/180); at
latitude phi there are at least this times cos(phi)."""


@dataclass(frozen=True, eq=False)
class Dem:
    """A DEM held in memory.

    ``heights`` is (rows, cols) float64 metres with NaN for nodata; ``transform``
    is the GDAL affine of the window read (6 numbers); ``crs`` its WKT.
    """

    heights: NDArray[np.float64]
    transform: tuple[float, float, float, float, float, float]
    crs: str
    path: str = ""

    @cached_property
    def resolution_m(self) -> float:
        """Ground size of one cell in metres, the smaller side (degrees converted on
        geographic CRSs at the window's middle latitude)."""
        a, _, _, _, e, f = self.transform
        if not CRS.from_wkt(self.crs).is_geographic:
            return min(abs(a), abs(e))
        lat = f + e * self.heights.shape[0] / 2
        lon_m = abs(a) * _M_PER_DEG_LON_EQUATOR * math.cos(math.radians(lat))
        return min(lon_m, abs(e) * _M_PER_DEG_LAT_MIN)

    @cached_property
    def height_range(self) -> tuple[float, float]:
        """Lowest and highest height (m AMSL) in the window; NaN, NaN when it holds none."""
        finite = self.heights[np.isfinite(self.heights)]
        if finite.size == 0:
            return math.nan, math.nan
        return float(finite.min()), float(finite.max())

    def sample(
        self, x: NDArray[np.float64], y: NDArray[np.float64], *, epsg: int
    ) -> NDArray[np.float64]:
        """Heights at points given in ``epsg`` coordinates; NaN outside or on nodata."""
        lon_x, lat_y = transformer(epsg, self.crs).transform(np.asarray(x), np.asarray(y))
        a, b, c, d, e, f = self.transform
        det = a * e - b * d
        col = ((np.asarray(lon_x) - c) * e - (np.asarray(lat_y) - f) * b) / det - 0.5
        row = ((np.asarray(lat_y) - f) * a - (np.asarray(lon_x) - c) * d) / det - 0.5
        out = map_coordinates(
            self.heights, [np.ravel(row), np.ravel(col)], order=1, mode="constant", cval=np.nan
        )
        return np.asarray(out, dtype=np.float64).reshape(np.shape(x))


def load_dem(path: Path, *, bounds_lonlat: tuple[float, float, float, float] | None = None) -> Dem:
    """Read a DEM, or the window of it covering ``(west, south, east, north)`` plus a margin.

    Raises
    ------
    GeoreferenceError
        When the file cannot be read, has no CRS, the window lies outside it or holds
        more than :data:`MAX_WINDOW_CELLS` cells.
    """
    try:
        with rasterio.open(path) as src:
            if src.crs is None:
                raise GeoreferenceError(f"{path}: DEM has no coordinate reference system")
            window = Window(0, 0, src.width, src.height)
            if bounds_lonlat is not None:
                w, s, e, n = transformer("EPSG:4326", src.crs.to_wkt()).transform_bounds(
                    *bounds_lonlat
                )
                win = from_bounds(w, s, e, n, transform=src.transform)
                win = win.round_offsets().round_lengths()
                col0, row0 = max(int(win.col_off) - 2, 0), max(int(win.row_off) - 2, 0)
                col1 = min(int(win.col_off + win.width) + 2, src.width)
                row1 = min(int(win.row_off + win.height) + 2, src.height)
                if col1 <= col0 or row1 <= row0:
                    raise GeoreferenceError(f"{path}: DEM does not cover {bounds_lonlat}")
                window = Window(col0, row0, col1 - col0, row1 - row0)
            if window.width * window.height > MAX_WINDOW_CELLS:
                raise GeoreferenceError(
                    f"{path}: a DEM window of {window.width}x{window.height} cells is too large "
                    f"to hold; resample the DEM coarser or ask for a smaller area"
                )
            band = src.read(1, window=window, masked=True).astype(np.float64)
            heights = np.ma.filled(band, np.nan)
            t = src.window_transform(window)
            crs = src.crs.to_wkt()
    except RasterioError as exc:
        raise GeoreferenceError(f"{path}: not a readable DEM ({exc})") from exc
    logger.debug("DEM %s window %s", path, window)
    return Dem(heights, (t.a, t.b, t.c, t.d, t.e, t.f), crs, str(path))


def dem_around(path: Path | str, lon: float, lat: float, *, radius_m: float) -> Dem:
    """The DEM window holding at least ``radius_m`` of ground on every side of a point.

    Windows are cut around the point snapped to a grid of a quarter of the radius
    and reach the radius plus that snap, so the captures of one stretch of flight
    share one read (cached, 8 windows per process) and each still has its margin:
    a capture lies within half a snap of its window's centre on each axis.

    Parameters
    ----------
    path : the DEM GeoTIFF (heights in metres AMSL).
    lon, lat : degrees WGS84, the capture's position.
    radius_m : true metres of ground needed around it (a camera's horizontal reach).

    Raises
    ------
    GeoreferenceError
        When the file cannot be read or does not reach the point's window.
    """
    if not (radius_m > 0 and math.isfinite(radius_m)):
        raise GeoreferenceError(f"DEM window radius {radius_m} m is not a distance")
    if not (-180.0 <= lon <= 180.0 and -85.0 <= lat <= 85.0):
        raise GeoreferenceError(f"({lon}, {lat}) is not a position a DEM window can be cut at")
    snap_m = radius_m / 4
    cell_lat = snap_m / _M_PER_DEG_LAT_MIN
    key_lat = round(lat / cell_lat)
    cell_lon = snap_m / (_M_PER_DEG_LON_EQUATOR * math.cos(math.radians(key_lat * cell_lat)))
    return _window(str(path), round(lon / cell_lon), key_lat, radius_m)


@lru_cache(maxsize=8)
def _window(path: str, key_lon: int, key_lat: int, radius_m: float) -> Dem:
    """The window of :func:`dem_around` for one snapped centre."""
    snap_m = radius_m / 4
    cell_lat = snap_m / _M_PER_DEG_LAT_MIN
    lat_c = key_lat * cell_lat
    lon_c = key_lon * snap_m / (_M_PER_DEG_LON_EQUATOR * math.cos(math.radians(lat_c)))
    half_m = radius_m + snap_m
    dlat = half_m / _M_PER_DEG_LAT_MIN
    # A degree of longitude is shortest on the window's poleward edge: size it there.
    poleward = min(abs(lat_c) + dlat, 89.0)
    dlon = half_m / (_M_PER_DEG_LON_EQUATOR * math.cos(math.radians(poleward)))
    bounds = (lon_c - dlon, lat_c - dlat, lon_c + dlon, lat_c + dlat)
    return load_dem(Path(path), bounds_lonlat=bounds)
