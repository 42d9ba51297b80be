"""Terrain heights from a DEM GeoTIFF, sampled in the capture's UTM frame.

The raster is read once (a window around the area of interest when one is
given), nodata becomes NaN, and heights are interpolated bilinearly. Any CRS
rasterio reads is accepted; points are transformed from UTM with pyproj.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import rasterio
from numpy.typing import NDArray
from pyproj import Transformer
from rasterio.errors import RasterioError
from rasterio.windows import Window, from_bounds
from scipy.ndimage import map_coordinates

from imagery.errors import GeoreferenceError

logger = logging.getLogger(__name__)


@lru_cache(maxsize=64)
def transformer(src: str | int, dst: str | int) -> Transformer:
    """A cached always-xy transformer (pyproj's are costly to build)."""
    return Transformer.from_crs(src, dst, always_xy=True)


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

    @property
    def resolution_m(self) -> float:
        """A rough ground size of one cell in metres (degrees converted for geographic CRSs)."""
        a, _, _, _, e, _ = self.transform
        size = min(abs(a), abs(e))
        return size * 111_320.0 if size < 0.1 else size

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
        When the file cannot be read or the window lies outside it.
    """
    try:
        with rasterio.open(path) as src:
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
            band = src.read(1, window=window, masked=True).astype(np.float64)
            heights = np.ma.filled(band, np.nan)
            t = src.window_transform(window)
            crs = src.crs.to_wkt()
    except RasterioError as exc:
        raise GeoreferenceError(f"{path}: not a readable DEM ({exc})") from exc
    logger.debug("DEM %s window %s", path, window)
    return Dem(heights, (t.a, t.b, t.c, t.d, t.e, t.f), crs, str(path))
