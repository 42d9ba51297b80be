"""Ground elevation from a DEM GeoTIFF, for terrain-following altitudes.

The DEM's first band is read once into memory and sampled bilinearly in its
own CRS; a point outside the raster or on a nodata cell is an error (a
mission must never guess the ground under it).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import rasterio
from numpy.typing import NDArray
from pyproj import Transformer
from rasterio.errors import RasterioIOError

from missions.errors import TerrainError

logger = logging.getLogger(__name__)


class Terrain:
    """Elevations (metres AMSL) from a single-band DEM."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            with rasterio.open(self.path) as src:
                if src.crs is None:
                    raise TerrainError(f"{self.path}: the DEM has no CRS")
                self._data = src.read(1, masked=True).astype("float64").filled(np.nan)
                self._inverse = ~src.transform
                self._to_dem = Transformer.from_crs("EPSG:4326", src.crs, always_xy=True)
                self.resolution_m = float(abs(src.res[0]))
                if src.crs.is_geographic:
                    self.resolution_m *= 111_000
        except RasterioIOError as exc:
            raise TerrainError(f"{self.path}: cannot read DEM ({exc})") from None
        logger.info("terrain: %s, %d x %d cells", self.path.name, *self._data.shape[::-1])

    def elevation(self, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.float64]:
        """Ground elevation at each lon/lat (degrees), bilinear; raises outside the DEM."""
        lon = np.atleast_1d(np.asarray(lon, dtype=float))
        lat = np.atleast_1d(np.asarray(lat, dtype=float))
        x, y = self._to_dem.transform(lon, lat)
        inv = self._inverse
        x, y = np.asarray(x), np.asarray(y)
        col = inv.a * x + inv.b * y + inv.c - 0.5  # relative to pixel centres
        row = inv.d * x + inv.e * y + inv.f - 0.5
        h, w = self._data.shape
        c0 = np.clip(np.floor(col).astype(int), 0, w - 2 if w > 1 else 0)
        r0 = np.clip(np.floor(row).astype(int), 0, h - 2 if h > 1 else 0)
        outside = (col < -0.5) | (row < -0.5) | (col > w - 0.5) | (row > h - 0.5)
        if np.any(outside):
            k = int(np.argmax(outside))
            raise TerrainError(
                f"{self.path.name}: point ({lat[k]:.6f}, {lon[k]:.6f}) is outside the DEM"
            )
        fc = np.clip(col - c0, 0, 1)
        fr = np.clip(row - r0, 0, 1)
        c1 = np.minimum(c0 + 1, w - 1)
        r1 = np.minimum(r0 + 1, h - 1)
        d = self._data
        z = (
            d[r0, c0] * (1 - fc) * (1 - fr)
            + d[r0, c1] * fc * (1 - fr)
            + d[r1, c0] * (1 - fc) * fr
            + d[r1, c1] * fc * fr
        )
        if np.any(np.isnan(z)):
            k = int(np.argmax(np.isnan(z)))
            raise TerrainError(
                f"{self.path.name}: no elevation (nodata) at ({lat[k]:.6f}, {lon[k]:.6f})"
            )
        return z
