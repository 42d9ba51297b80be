"""Height of the ground anywhere in a zone, for heights above the ground under the aircraft.

Without a DEM the zone's own surveyed heights are the ground: every dock has
its ``ground_alt_m`` and any other feature may carry one. Inside a surveyed
area (an enterprise or an obstacle's outline with ``ground_alt_m``) the ground
is that area's altitude; elsewhere it is the inverse-distance-weighted mean
(power 2) of the surveyed points and areas, so it never leaves the range the
zone itself states and a lone dock no longer speaks for the whole zone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import Polygon

#: Metres per degree of latitude (mean), for the local flat-earth weights.
_M_PER_DEG = 111_195.0


class Ground(Protocol):
    """Anything that answers the ground's altitude AMSL (metres) at lon/lat (degrees).

    ``resolution_m`` is the spacing below which it holds no more detail.
    """

    resolution_m: float

    def elevation(
        self, lon: NDArray[np.float64], lat: NDArray[np.float64]
    ) -> NDArray[np.float64]: ...


class SurveyedGround:
    """The ground from a zone's surveyed altitudes: areas exactly, points blended.

    Parameters
    ----------
    points : sequence of (lon, lat, ground_alt_m)
        Surveyed spots (docks, stacks, point obstacles).
    areas : sequence of (Polygon, ground_alt_m)
        Surveyed outlines in lon/lat; their centroids also join the blend.
    """

    resolution_m = 25.0

    def __init__(
        self,
        points: Sequence[tuple[float, float, float]],
        areas: Sequence[tuple[Polygon, float]] = (),
    ) -> None:
        spots = list(points) + [(a.centroid.x, a.centroid.y, alt) for a, alt in areas]
        if not spots:
            raise ValueError("the ground needs at least one surveyed altitude")
        table = np.asarray(spots, dtype=float)
        self._cos = math.cos(math.radians(float(np.mean(table[:, 1]))))
        self._xy = self._metres(table[:, 0], table[:, 1])
        self._alt = table[:, 2]
        self._areas = [(a, float(alt)) for a, alt in areas]
        for area, _ in self._areas:
            shapely.prepare(area)

    def _metres(self, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.column_stack([lon * _M_PER_DEG * self._cos, lat * _M_PER_DEG])

    def elevation(self, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.float64]:
        """Ground altitude AMSL (metres) at each lon/lat."""
        lon_a = np.atleast_1d(np.asarray(lon, dtype=float))
        lat_a = np.atleast_1d(np.asarray(lat, dtype=float))
        d2 = np.sum((self._metres(lon_a, lat_a)[:, None, :] - self._xy[None, :, :]) ** 2, axis=2)
        on_spot = d2 < 1e-6
        weights = 1.0 / np.maximum(d2, 1e-6)
        weights = np.where(on_spot.any(axis=1, keepdims=True), on_spot.astype(float), weights)
        z = (weights @ self._alt) / weights.sum(axis=1)
        for area, alt in self._areas:
            inside = shapely.contains_xy(area, lon_a, lat_a)
            z[inside] = alt
        return np.asarray(z, dtype=float)
