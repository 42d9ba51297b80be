"""How a gas or dust emitted in the zone spreads downwind: a steady Gaussian plume.

Why these formulas are written here and not imported
----------------------------------------------------
No well-kept Python library fits. PyPI's candidates (December 2026): ``gplume``
1.0.2 is a script that calls web APIs when imported and fixes one set of
dispersion widths; ``sourceinversion`` 0.1.5 pins Python ``==3.10.12``;
``pyaermod`` wraps EPA's AERMOD, a Fortran program run as its own executable
with its own meteorological pre-processors; ``screen3`` wraps SCREEN3 likewise.
The model below is a page of textbook formulas, each cited.

The model
---------
Concentration at a receptor from a point source, with total reflection at the
ground (Turner 1970, *Workbook of Atmospheric Dispersion Estimates*, eq. 3.1)::

    C(x, y, z) = Q / (2 pi u sy sz) * exp(-y^2 / (2 sy^2))
                 * [exp(-(z - H)^2 / (2 sz^2)) + exp(-(z + H)^2 / (2 sz^2))]   x > 0
    C = 0                                                                      x <= 0

``C`` g/m^3, ``Q`` g/s, ``u`` the wind speed at the release height (m/s), ``H``
the effective release height above ground (m), ``x`` downwind, ``y``
crosswind, ``z`` the receptor's height above ground (m). ``sy``, ``sz`` are
Briggs' (1973) fits to the Pasquill-Gifford curves, open-country (rural) or
urban, as tabulated by Hanna, Briggs & Hosker (1982), *Handbook on Atmospheric
Diffusion*; they are fitted over 100 m < x < 10 km and used nearer as they
stand (they go to zero linearly). A source of finite size starts with widths
``sy0``, ``sz0`` added in quadrature.

Not modelled: plume rise (a stack's exit velocity and temperature are not in
the site model, so ``H`` is the stack's height; a fit's emission rate or
height absorbs the rise), a mixing lid, deposition, building downwash, terrain.

The wind speed at release height comes from the measured one by the power law
``u(h) = u_ref (h / h_ref)^p`` with EPA ISC3's exponents per class (User's
Guide, 1995, vol. II, sec. 1.1.5), never below the 10 m reference height.
Stability classes come from the wind speed at 10 m, daytime insolation and
night-time cloud by Turner's key (1970, table 1).

Frames
------
Wind direction is where the wind blows FROM, degrees clockwise from true
north (the meteorological convention stations report). Positions are WGS 84
lon/lat (EPSG:4326); distances are worked in a :class:`LocalFrame`, east and
north metres around an origin, on true north at that origin (an azimuthal
equidistant projection). Heights are above the ground under each point.
The plume's own frame has ``x`` downwind and ``y`` to the left of the wind.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.geometry import MultiPolygon, Polygon
from skimage import measure

from zone.frames import transformer

Stability = Literal["A", "B", "C", "D", "E", "F"]
Terrain = Literal["rural", "urban"]
Insolation = Literal["strong", "moderate", "slight"]

STABILITY_CLASSES: tuple[Stability, ...] = ("A", "B", "C", "D", "E", "F")
"""Pasquill-Gifford classes, very unstable (A) to moderately stable (F)."""

MIN_WIND_M_S = 0.5
"""Below this the plume has no direction: a Gaussian plume does not describe a calm."""

# Briggs (1973): sigma = a x (1 + b x)^c, per class; (a, b, c) for y, then for z.
_BRIGGS: dict[Terrain, dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]]] = {
    "rural": {
        "A": ((0.22, 1e-4, -0.5), (0.20, 0.0, 1.0)),
        "B": ((0.16, 1e-4, -0.5), (0.12, 0.0, 1.0)),
        "C": ((0.11, 1e-4, -0.5), (0.08, 2e-4, -0.5)),
        "D": ((0.08, 1e-4, -0.5), (0.06, 1.5e-3, -0.5)),
        "E": ((0.06, 1e-4, -0.5), (0.03, 3e-4, -1.0)),
        "F": ((0.04, 1e-4, -0.5), (0.016, 3e-4, -1.0)),
    },
    "urban": {  # Briggs' urban curves (McElroy-Pooler) join A with B and E with F
        "A": ((0.32, 4e-4, -0.5), (0.24, 1e-3, 0.5)),
        "B": ((0.32, 4e-4, -0.5), (0.24, 1e-3, 0.5)),
        "C": ((0.22, 4e-4, -0.5), (0.20, 0.0, 1.0)),
        "D": ((0.16, 4e-4, -0.5), (0.14, 3e-4, -0.5)),
        "E": ((0.11, 4e-4, -0.5), (0.08, 1.5e-3, -0.5)),
        "F": ((0.11, 4e-4, -0.5), (0.08, 1.5e-3, -0.5)),
    },
}

# ISC3 wind-profile exponents per class.
_WIND_EXPONENT: dict[Terrain, dict[str, float]] = {
    "rural": {"A": 0.07, "B": 0.07, "C": 0.10, "D": 0.15, "E": 0.35, "F": 0.55},
    "urban": {"A": 0.15, "B": 0.15, "C": 0.20, "D": 0.25, "E": 0.30, "F": 0.30},
}

# Turner's key by 10 m wind speed band (<2, 2-3, 3-5, 5-6, >=6 m/s). A split class
# of the key (A-B, B-C, C-D) is taken as its more unstable letter; the key's
# night-time calm ("-") as F.
_SPEED_BANDS_M_S = (2.0, 3.0, 5.0, 6.0)
_TURNER_DAY: dict[str, tuple[Stability, ...]] = {
    "strong": ("A", "A", "B", "C", "C"),
    "moderate": ("A", "B", "B", "C", "D"),
    "slight": ("B", "C", "C", "D", "D"),
}
_TURNER_NIGHT_CLOUDY: tuple[Stability, ...] = ("F", "E", "D", "D", "D")  # >= 4/8 low cloud
_TURNER_NIGHT_CLEAR: tuple[Stability, ...] = ("F", "F", "E", "D", "D")  # <= 3/8 cloud


def check_stability(stability: str) -> Stability:
    """``stability`` as one of A-F (any case), or a ValueError naming the classes."""
    letter = str(stability).strip().upper()
    for known in STABILITY_CLASSES:
        if letter == known:
            return known
    raise ValueError(
        f"stability class {stability!r} is not a Pasquill-Gifford class (A, B, C, D, E or F)"
    )


def stability_class(
    wind_speed_m_s: float,
    *,
    daytime: bool,
    insolation: Insolation = "moderate",
    cloud_oktas: float = 4.0,
) -> Stability:
    """The Pasquill-Gifford class by Turner's key (1970, table 1).

    Parameters
    ----------
    wind_speed_m_s : float
        Wind speed at 10 m above ground.
    daytime : bool
        Day is from one hour after sunrise to one hour before sunset.
    insolation : {"strong", "moderate", "slight"}
        The sun's strength by day (strong: summer noon, clear sky, sun above 60 degrees).
    cloud_oktas : float
        Cloud cover in eighths of the sky; overcast (8/8) is neutral (D) by day and night.
    """
    if not math.isfinite(wind_speed_m_s) or wind_speed_m_s < 0:
        raise ValueError(f"wind speed {wind_speed_m_s} m/s is not a speed")
    if not 0 <= cloud_oktas <= 8:
        raise ValueError(f"cloud cover {cloud_oktas} oktas is not between 0 and 8")
    if cloud_oktas >= 8:
        return "D"
    band = sum(wind_speed_m_s >= edge for edge in _SPEED_BANDS_M_S)
    if daytime:
        if insolation not in _TURNER_DAY:
            raise ValueError(f"insolation {insolation!r} is not strong, moderate or slight")
        return _TURNER_DAY[insolation][band]
    return (_TURNER_NIGHT_CLOUDY if cloud_oktas >= 4 else _TURNER_NIGHT_CLEAR)[band]


def _briggs(x_m: ArrayLike, coefficients: tuple[float, float, float]) -> NDArray[np.float64]:
    a, b, c = coefficients
    x = np.maximum(np.asarray(x_m, dtype=np.float64), 0.0)
    return np.asarray(a * x * (1.0 + b * x) ** c, dtype=np.float64)


def sigma_y(x_m: ArrayLike, stability: str, *, terrain: Terrain = "rural") -> NDArray[np.float64]:
    """Crosswind width (m, one standard deviation) at ``x_m`` metres downwind (Briggs 1973)."""
    return _briggs(x_m, _BRIGGS[terrain][check_stability(stability)][0])


def sigma_z(x_m: ArrayLike, stability: str, *, terrain: Terrain = "rural") -> NDArray[np.float64]:
    """Vertical width (m, one standard deviation) at ``x_m`` metres downwind (Briggs 1973)."""
    return _briggs(x_m, _BRIGGS[terrain][check_stability(stability)][1])


def wind_at_height(
    speed_m_s: float,
    *,
    height_m: ArrayLike,
    stability: str,
    ref_height_m: float = 10.0,
    terrain: Terrain = "rural",
) -> NDArray[np.float64]:
    """Wind speed (m/s) at ``height_m`` above ground from one measured at ``ref_height_m``.

    The ISC3 power law; heights below the reference take the reference speed.
    """
    p = _WIND_EXPONENT[terrain][check_stability(stability)]
    h = np.maximum(np.asarray(height_m, dtype=np.float64), ref_height_m)
    return np.asarray(speed_m_s * (h / ref_height_m) ** p, dtype=np.float64)


def plume_concentration(
    x_m: ArrayLike,
    y_m: ArrayLike,
    z_m: ArrayLike,
    *,
    q_g_s: ArrayLike,
    height_m: ArrayLike,
    wind_speed_m_s: ArrayLike,
    stability: str,
    terrain: Terrain = "rural",
    sigma_y0_m: ArrayLike = 0.0,
    sigma_z0_m: ArrayLike = 0.0,
) -> NDArray[np.float64]:
    """Concentration (g/m^3) at receptors in the plume's own frame (Turner's eq. 3.1).

    Every argument broadcasts (numpy rules), so one call evaluates many sources at
    many receptors.

    Parameters
    ----------
    x_m, y_m : array_like
        Receptor downwind and crosswind of the source (m); zero wherever ``x_m <= 0``.
    z_m : array_like
        Receptor height above ground (m).
    q_g_s : array_like
        Emission rate (g/s).
    height_m : array_like
        Effective release height above ground (m).
    wind_speed_m_s : array_like
        Wind speed at the release height (m/s), at least :data:`MIN_WIND_M_S`.
    sigma_y0_m, sigma_z0_m : array_like
        Initial widths of a source of finite size (m), added in quadrature.
    """
    u = np.asarray(wind_speed_m_s, dtype=np.float64)
    if np.any(~np.isfinite(u)) or np.any(u < MIN_WIND_M_S):
        raise ValueError(
            f"wind speed {np.min(u):g} m/s: a Gaussian plume needs at least "
            f"{MIN_WIND_M_S} m/s (in a calm there is no downwind)"
        )
    x = np.asarray(x_m, dtype=np.float64)
    downwind = x > 0.0
    sy = np.hypot(sigma_y(x, stability, terrain=terrain), sigma_y0_m)
    sz = np.hypot(sigma_z(x, stability, terrain=terrain), sigma_z0_m)
    sy, sz = np.where(downwind, sy, 1.0), np.where(downwind, sz, 1.0)
    y, z, h, q = (np.asarray(v, dtype=np.float64) for v in (y_m, z_m, height_m, q_g_s))
    vertical = np.exp(-((z - h) ** 2) / (2 * sz**2)) + np.exp(-((z + h) ** 2) / (2 * sz**2))
    c = q / (2 * math.pi * u * sy * sz) * np.exp(-(y**2) / (2 * sy**2)) * vertical
    return np.asarray(np.where(downwind, c, 0.0), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Wind:
    """A wind: where it blows FROM (degrees clockwise from true north) and its speed.

    ``speed_m_s`` is measured ``height_m`` above ground (10 m by WMO convention).
    A speed below :data:`MIN_WIND_M_S`, or a direction or speed that is not a number,
    is refused with a ValueError.
    """

    from_deg: float
    speed_m_s: float
    height_m: float = 10.0

    def __post_init__(self) -> None:
        if not math.isfinite(self.from_deg):
            raise ValueError(f"wind direction {self.from_deg} is not a bearing in degrees")
        if not math.isfinite(self.speed_m_s) or self.speed_m_s < MIN_WIND_M_S:
            raise ValueError(
                f"wind speed {self.speed_m_s} m/s: a Gaussian plume needs at least "
                f"{MIN_WIND_M_S} m/s (in a calm there is no upwind to look at)"
            )
        if not math.isfinite(self.height_m) or self.height_m <= 0:
            raise ValueError(f"wind measurement height {self.height_m} m is not above ground")

    @property
    def downwind(self) -> tuple[float, float]:
        """Unit vector (east, north) the wind blows towards: the opposite of ``from_deg``."""
        theta = math.radians(self.from_deg)
        return -math.sin(theta), -math.cos(theta)

    def turned(self, delta_deg: float) -> Wind:
        """The same wind from ``delta_deg`` further clockwise."""
        return Wind((self.from_deg + delta_deg) % 360.0, self.speed_m_s, self.height_m)

    def to_plume_frame(
        self, east_m: ArrayLike, north_m: ArrayLike
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(downwind x, crosswind y to the left of the wind) of east/north offsets (m)."""
        de, dn = self.downwind
        e, n = np.asarray(east_m, dtype=np.float64), np.asarray(north_m, dtype=np.float64)
        return e * de + n * dn, -e * dn + n * de

    def from_plume_frame(
        self, x_m: ArrayLike, y_m: ArrayLike
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(east, north) offsets (m) of plume-frame (downwind x, crosswind-left y)."""
        de, dn = self.downwind
        x, y = np.asarray(x_m, dtype=np.float64), np.asarray(y_m, dtype=np.float64)
        return x * de - y * dn, x * dn + y * de


@functools.lru_cache(maxsize=32)
def _aeqd(lon0: float, lat0: float) -> str:
    return f"+proj=aeqd +lat_0={lat0:.7f} +lon_0={lon0:.7f} +datum=WGS84 +units=m +no_defs"


@dataclass(frozen=True, slots=True)
class LocalFrame:
    """East and north metres around an origin, on true north at the origin.

    An azimuthal equidistant projection: distances and azimuths from the origin
    are exact geodesics. A point ``r`` metres away sees its own true north turned
    from the frame's by the meridians' convergence, about
    ``r / 6371 km * tan(lat)`` radians (0.013 degrees at 2 km east at Zhengzhou's
    34.8 N), and distances between two such points err by ``(r / 6371 km)^2``:
    both far below what a plume model resolves over a zone a few km across.
    """

    lon0: float
    lat0: float

    @classmethod
    def around(cls, lon: ArrayLike, lat: ArrayLike) -> LocalFrame:
        """A frame at the middle of the points' bounding box (rounded to 1e-6 degrees)."""
        lons, lats = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
        if lons.size == 0:
            raise ValueError("a local frame needs at least one point")
        mid_lon = round(float(lons.min() + lons.max()) / 2, 6)
        mid_lat = round(float(lats.min() + lats.max()) / 2, 6)
        return cls(mid_lon, mid_lat)

    def to_en(
        self, lon: ArrayLike, lat: ArrayLike
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """East, north metres of lon/lat degrees."""
        east, north = transformer(4326, _aeqd(self.lon0, self.lat0)).transform(lon, lat)
        return np.asarray(east, dtype=np.float64), np.asarray(north, dtype=np.float64)

    def to_lonlat(
        self, east_m: ArrayLike, north_m: ArrayLike
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Lon/lat degrees of east, north metres."""
        lon, lat = transformer(_aeqd(self.lon0, self.lat0), 4326).transform(east_m, north_m)
        return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)

    def polygon_to_en(self, polygon: Polygon | MultiPolygon) -> Polygon | MultiPolygon:
        """A lon/lat polygon in this frame's metres."""
        return shapely.transform(polygon, self._to_en_xy)

    def polygon_to_lonlat(self, polygon: Polygon | MultiPolygon) -> Polygon | MultiPolygon:
        """A polygon in this frame's metres in lon/lat."""
        return shapely.transform(polygon, self._to_lonlat_xy)

    def _to_en_xy(self, coords: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.column_stack(self.to_en(coords[:, 0], coords[:, 1]))

    def _to_lonlat_xy(self, coords: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.column_stack(self.to_lonlat(coords[:, 0], coords[:, 1]))


@dataclass(frozen=True, slots=True)
class PointSource:
    """One release point in a :class:`LocalFrame`: its share of an emission.

    ``height_m`` is the effective release height above ground; ``share`` the
    fraction of the emitter's total rate released here; ``sigma_y0_m``,
    ``sigma_z0_m`` the initial widths of a release of finite size.
    """

    east_m: float
    north_m: float
    height_m: float
    share: float = 1.0
    sigma_y0_m: float = 0.0
    sigma_z0_m: float = 0.0


FUGITIVE_SIGMA_Z0_M = 1.0
"""Initial vertical width of a ground-level fugitive release (vents, doors, tanks)."""


def area_sources(
    area_en: Polygon | MultiPolygon,
    *,
    max_points: int = 36,
    min_spacing_m: float = 10.0,
) -> tuple[PointSource, ...]:
    """A ground-level area source as a grid of point sources over a polygon (metres).

    The grid's spacing ``s`` puts at most about ``max_points`` cell centres in the
    polygon; each releases an equal share at ground level with an initial
    crosswind width ``s / 2.15`` (ISC3's rule for adjacent volume sources: the
    grid reads as one continuous area downwind) and :data:`FUGITIVE_SIGMA_Z0_M`.
    A polygon too small for one cell centre releases at its representative point.
    """
    spacing = max(math.sqrt(area_en.area / max_points), min_spacing_m)
    west, south, east, north = area_en.bounds
    xs = np.arange(west + spacing / 2, east, spacing)
    ys = np.arange(south + spacing / 2, north, spacing)
    gx, gy = (g.ravel() for g in np.meshgrid(xs, ys))
    inside = shapely.contains_xy(area_en, gx, gy)
    if not np.any(inside):
        point = area_en.representative_point()
        gx, gy, inside = np.array([point.x]), np.array([point.y]), np.array([True])
    share = 1.0 / int(inside.sum())
    return tuple(
        PointSource(float(x), float(y), 0.0, share, spacing / 2.15, FUGITIVE_SIGMA_Z0_M)
        for x, y in zip(gx[inside], gy[inside], strict=True)
    )


def concentration(
    sources: Sequence[PointSource],
    east_m: ArrayLike,
    north_m: ArrayLike,
    z_m: ArrayLike,
    *,
    wind: Wind,
    stability: str,
    terrain: Terrain = "rural",
) -> NDArray[np.float64]:
    """Concentration (g/m^3) of a unit emission (1 g/s over all ``sources`` by their shares).

    Parameters
    ----------
    sources : sequence of PointSource, length S
        Release points in the same :class:`LocalFrame` as the receptors.
    east_m, north_m, z_m : array_like, shape (N,)
        Receptors: east and north metres in that frame, height above ground (m).

    Returns
    -------
    (N,) ndarray of float64, g/m^3 per g/s emitted.
    """
    turned = concentration_turned(
        sources,
        east_m,
        north_m,
        z_m,
        wind=wind,
        turns_deg=[0.0],
        stability=stability,
        terrain=terrain,
    )
    return turned[0]


def concentration_turned(
    sources: Sequence[PointSource],
    east_m: ArrayLike,
    north_m: ArrayLike,
    z_m: ArrayLike,
    *,
    wind: Wind,
    turns_deg: ArrayLike,
    stability: str,
    terrain: Terrain = "rural",
) -> NDArray[np.float64]:
    """:func:`concentration` under the wind turned by each of ``turns_deg`` (clockwise).

    For a wind whose reported direction is uncertain: one call, every direction.

    Returns
    -------
    (D, N) ndarray of float64, g/m^3 per g/s, one row per turn.
    """
    if not sources:
        raise ValueError("no release points to model")
    src = np.array(
        [(s.east_m, s.north_m, s.height_m, s.share, s.sigma_y0_m, s.sigma_z0_m) for s in sources]
    )[None, :, :, None]  # (1, S, 6, 1): broadcast over turns (D) and receptors (N)
    e, n, z = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (east_m, north_m, z_m))
    theta = np.radians(wind.from_deg + np.atleast_1d(np.asarray(turns_deg, dtype=np.float64)))
    de, dn = (-np.sin(theta))[:, None, None], (-np.cos(theta))[:, None, None]  # downwind
    de_src, dn_src = e[None, None, :] - src[:, :, 0], n[None, None, :] - src[:, :, 1]
    x, y = de_src * de + dn_src * dn, -de_src * dn + dn_src * de  # (D, S, N)
    u = wind_at_height(
        wind.speed_m_s,
        height_m=src[:, :, 2],
        ref_height_m=wind.height_m,
        stability=stability,
        terrain=terrain,
    )
    c = plume_concentration(
        x,
        y,
        z[None, None, :],
        q_g_s=src[:, :, 3],
        height_m=src[:, :, 2],
        wind_speed_m_s=u,
        stability=stability,
        terrain=terrain,
        sigma_y0_m=src[:, :, 4],
        sigma_z0_m=src[:, :, 5],
    )
    return np.asarray(c.sum(axis=1), dtype=np.float64)


_FOOTPRINT_CELLS = (160, 120)  # (downwind, crosswind) raster cells
_FOOTPRINT_START_M = 1500.0


def footprint(
    sources: Sequence[PointSource],
    *,
    frame: LocalFrame,
    wind: Wind,
    stability: str,
    fraction: float = 0.1,
    exclude_en: Polygon | MultiPolygon | None = None,
    max_range_m: float = 10_000.0,
    terrain: Terrain = "rural",
) -> Polygon | MultiPolygon:
    """Where a unit emission's ground-level concentration exceeds ``fraction`` of its peak.

    For the map: the polygon (lon/lat) the plume lands on. The peak is taken outside
    ``exclude_en`` (the emitter's own premises in ``frame``'s metres, where a
    ground-level source's concentration grows without bound). The ground is
    sampled on a raster along the wind that doubles its reach (from 1.5 km up to
    ``max_range_m``, past which Briggs' widths are not fitted) until the contour
    closes inside it; the contour is traced by marching squares.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"footprint fraction {fraction} is not between 0 and 1")
    reach = min(_FOOTPRINT_START_M, max_range_m)
    while True:
        x, y, field = _ground_raster(sources, wind, stability, terrain, reach)
        outside = _outside(exclude_en, wind, x, y)
        level = fraction * float(field[outside].max() if np.any(outside) else field.max())
        if level <= 0.0:
            raise ValueError("the emission reaches no ground within the modelled range")
        if reach >= max_range_m or not np.any(field[:, -1] > level):
            break
        reach = min(2 * reach, max_range_m)
    return _contour(field, level, x, y, wind, frame)


def _ground_raster(
    sources: Sequence[PointSource], wind: Wind, stability: str, terrain: Terrain, reach_m: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Plume-frame axes x (downwind), y (crosswind) and the ground field (y, x) over them."""
    e = np.array([s.east_m for s in sources])
    n = np.array([s.north_m for s in sources])
    sx, sy = wind.to_plume_frame(e, n)
    spread_y = float(sy.max() - sy.min())
    half_width = 2.5 * float(sigma_y(reach_m, stability, terrain=terrain)) + spread_y / 2 + 50.0
    x = np.linspace(float(sx.min()) - 50.0, float(sx.max()) + reach_m, _FOOTPRINT_CELLS[0])
    y = np.linspace(-half_width, half_width, _FOOTPRINT_CELLS[1]) + float(sy.mean())
    gx, gy = np.meshgrid(x, y)
    ge, gn = wind.from_plume_frame(gx, gy)
    c = concentration(
        sources,
        ge.ravel(),
        gn.ravel(),
        np.zeros(ge.size),
        wind=wind,
        stability=stability,
        terrain=terrain,
    )
    return x, y, c.reshape(gx.shape)


def _outside(
    exclude_en: Polygon | MultiPolygon | None,
    wind: Wind,
    x: NDArray[np.float64],
    y: NDArray[np.float64],
) -> NDArray[np.bool_]:
    gx, gy = np.meshgrid(x, y)
    if exclude_en is None:
        return np.ones(gx.shape, dtype=bool)
    ge, gn = wind.from_plume_frame(gx, gy)
    return ~shapely.contains_xy(exclude_en, ge, gn)


def _contour(
    field: NDArray[np.float64],
    level: float,
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    wind: Wind,
    frame: LocalFrame,
) -> Polygon | MultiPolygon:
    """The region ``field > level`` as lon/lat polygons (holes by even-odd rings)."""
    padded = np.pad(field, 1, constant_values=0.0)  # every contour closes
    region: shapely.Geometry = Polygon()
    for ring in measure.find_contours(padded, level):
        if len(ring) < 4:
            continue
        rows, cols = ring[:, 0] - 1, ring[:, 1] - 1
        px = np.interp(cols, np.arange(x.size), x)
        py = np.interp(rows, np.arange(y.size), y)
        e, n = wind.from_plume_frame(px, py)
        region = region.symmetric_difference(Polygon(np.column_stack([e, n])).buffer(0))
    polygons = _polygons(shapely.make_valid(region))
    if not polygons:
        raise ValueError("the footprint is empty at this level")
    shape = polygons[0] if len(polygons) == 1 else MultiPolygon(polygons)
    return frame.polygon_to_lonlat(shape)


def _polygons(geom: shapely.Geometry) -> list[Polygon]:
    """The non-empty polygons in a geometry of any type (collections opened)."""
    if isinstance(geom, Polygon):
        return [] if geom.is_empty else [geom]
    return [p for part in getattr(geom, "geoms", []) for p in _polygons(part)]
