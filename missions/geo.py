"""A local metric frame (UTM) in which every pattern is computed.

Distances, offsets and areas on lon/lat are wrong by the cosine of the
latitude; the planner therefore projects a zone once into the UTM zone of its
centre, works in metres, and projects results back.
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import CRS, Transformer
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info

G = TypeVar("G", bound=shapely.Geometry)

EARTH_RADIUS_M = 6_371_000.0


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine; plenty for mission legs)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


class LocalFrame:
    """Forward and inverse projection between WGS84 lon/lat and a UTM zone.

    Parameters
    ----------
    lon, lat : float, degrees
        A point in the zone; the UTM zone containing it is used.
    """

    def __init__(self, lon: float, lat: float) -> None:
        infos = query_utm_crs_info(
            datum_name="WGS 84",
            area_of_interest=AreaOfInterest(lon, lat, lon, lat),
        )
        self.crs = CRS.from_epsg(infos[0].code)
        self._fwd = Transformer.from_crs("EPSG:4326", self.crs, always_xy=True)
        self._inv = Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)

    def to_local(self, geom: G) -> G:
        """Project a lon/lat geometry to metres."""
        return shapely.transform(geom, self._fwd_coords)

    def to_geo(self, geom: G) -> G:
        """Project a metric geometry back to lon/lat."""
        return shapely.transform(geom, self._inv_coords)

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        """One lon/lat point in metres."""
        x, y = self._fwd.transform(lon, lat)
        return float(x), float(y)

    def lonlat(self, points: NDArray[np.float64]) -> NDArray[np.float64]:
        """``(N, 2)`` metric points to ``(N, 2)`` lon/lat degrees."""
        return self._inv_coords(np.asarray(points, dtype=float).reshape(-1, 2))

    def _fwd_coords(self, coords: NDArray[np.float64]) -> NDArray[np.float64]:
        x, y = self._fwd.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    def _inv_coords(self, coords: NDArray[np.float64]) -> NDArray[np.float64]:
        lon, lat = self._inv.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])
