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


#: ArduPilot's metres per degree (AP_Math/definitions.h: LATLON_TO_M, 0.011131884502145034
#: m per 1e-7 degree): a sphere's, for latitude and, times cos(latitude), for longitude.
AUTOPILOT_M_PER_DEG = 111_318.84502145034


def autopilot_distance_m(lonlat: NDArray[np.float64]) -> float:
    """Length of a lon/lat polyline as ArduPilot measures it (``Location::get_distance``:
    each step flat, longitude scaled by the cosine of the mean latitude).

    Not the ground's: on WGS84 at 35 N a degree of latitude is 110,940 m, so ArduPilot
    counts 0.34 % too much north-south and 0.11 % too little east-west. What the vehicle
    compares with a distance it is told (its camera trigger) is this one.
    """
    d = np.diff(lonlat, axis=0)
    mid_lat = np.radians((lonlat[1:, 1] + lonlat[:-1, 1]) / 2)
    steps = np.hypot(d[:, 1], d[:, 0] * np.cos(mid_lat)) * AUTOPILOT_M_PER_DEG
    return float(steps.sum())


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
