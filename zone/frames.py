"""Projected grids (UTM) and how their north differs from true north.

Polygons, footprints and distances are measured in metres on a projected
grid, the UTM zone of the place. Grid north is not true north away from the
zone's central meridian: a bearing from true north (a gimbal's yaw, a compass
heading, a geodesic azimuth) appears on the grid turned by the grid
convergence, gamma = (lon - lon0) * sin(lat) to first order (1.5 degrees at
Zhengzhou, 113.6E in zone 49 whose central meridian is 111E), and a true
length appears stretched by the point scale factor k (0.9996 on the central
meridian, 1.0003 at Zhengzhou).

:meth:`GridFrame.true_to_grid` gives both at once, as the Jacobian of the
projection with respect to true-north east/north metres at a point: a vector
worked out in a local true-north frame (east, north) maps onto the grid
through it. Over the few kilometres a camera sees, the Jacobian at the camera
holds to a few centimetres (the change of k and the curvature of a geodesic
on the grid are both of order distance / earth radius).

Convention: ``convergence_deg`` is the true bearing of grid north, positive
when grid north lies east of true north (east of the central meridian in the
northern hemisphere).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pyproj import Geod, Transformer

WGS84 = Geod(ellps="WGS84")
"""The WGS84 ellipsoid, for geodesic distances and azimuths (true north)."""

_STEP_M = 10.0
"""Half the span (true metres) of the central differences giving the Jacobian."""


@lru_cache(maxsize=64)
def transformer(src: str | int, dst: str | int) -> Transformer:
    """A cached always-xy transformer (pyproj's are costly to build)."""
    return Transformer.from_crs(src, dst, always_xy=True)


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS84 UTM zone holding a point (the regular 6-degree zones).

    Raises
    ------
    ValueError
        For a longitude or latitude outside the globe.
    """
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise ValueError(f"({lon}, {lat}) is not a longitude, latitude in degrees")
    zone = min(int((lon + 180) // 6) + 1, 60)
    return (32600 if lat >= 0 else 32700) + zone


def offset_true(lon: float, lat: float, east_m: float, north_m: float) -> tuple[float, float]:
    """The point ``east_m``, ``north_m`` true metres (east of true north) from ``lon``, ``lat``.

    A geodesic step: along azimuth ``atan2(east, north)`` for ``hypot(east, north)``
    metres, so the offset keeps its true bearing on any grid zone and at any latitude
    (a UTM offset would turn it by the grid convergence).
    """
    if east_m == 0.0 and north_m == 0.0:
        return lon, lat
    azimuth = math.degrees(math.atan2(east_m, north_m))
    out_lon, out_lat, _ = WGS84.fwd(lon, lat, azimuth, math.hypot(east_m, north_m))
    return float(out_lon), float(out_lat)


@dataclass(frozen=True, slots=True)
class GridFrame:
    """A projected grid (metres, x east and y north along the grid) by its EPSG code."""

    epsg: int

    @classmethod
    def utm(cls, lon: float, lat: float) -> GridFrame:
        """The UTM grid of the zone holding a point."""
        return cls(utm_epsg(lon, lat))

    def to_grid(
        self, lon: ArrayLike, lat: ArrayLike
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Grid x, y (metres) of WGS84 lon/lat (degrees)."""
        x, y = transformer(4326, self.epsg).transform(lon, lat)
        return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)

    def to_lonlat(
        self, x: ArrayLike, y: ArrayLike
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """WGS84 lon/lat (degrees) of grid x, y (metres)."""
        lon, lat = transformer(self.epsg, 4326).transform(x, y)
        return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)

    def true_to_grid(self, lon: float, lat: float) -> NDArray[np.float64]:
        """The grid displacement of one true metre east and one true metre north at a point.

        Returns
        -------
        (2, 2) ndarray ``J``: ``J @ (east_m, north_m)`` is the grid (dx, dy) in metres of a
        small true-north displacement. For a conformal grid (UTM) ``J = k * R(gamma)``.
        """
        # Geodesic steps of _STEP_M true metres east, west, north and south of the point.
        lons, lats, _ = WGS84.fwd([lon] * 4, [lat] * 4, [90.0, 270.0, 0.0, 180.0], [_STEP_M] * 4)
        x, y = self.to_grid(lons, lats)
        east = np.array([x[0] - x[1], y[0] - y[1]]) / (2 * _STEP_M)
        north = np.array([x[2] - x[3], y[2] - y[3]]) / (2 * _STEP_M)
        return np.column_stack([east, north])

    def convergence_deg(self, lon: float, lat: float) -> float:
        """True bearing of grid north at a point, degrees (east of true north positive)."""
        j = self.true_to_grid(lon, lat)
        # Grid bearing of true north is atan2(dx, dy) of J's north column; grid north's
        # true bearing is its opposite.
        return -math.degrees(math.atan2(j[0, 1], j[1, 1]))

    def scale_factor(self, lon: float, lat: float) -> float:
        """Grid metres per true metre at a point (the point scale k of a conformal grid)."""
        return float(math.sqrt(abs(np.linalg.det(self.true_to_grid(lon, lat)))))
