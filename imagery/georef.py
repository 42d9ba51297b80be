"""Single-frame georeferencing by ray casting, both ways.

A pixel's ray leaves the camera centre (UTM easting, northing, height AMSL),
turned into the world by the pose's rotation, and is intersected with flat
ground (the take-off or dock height) or marched through a DEM until it goes
below the terrain, then refined by bisection, as OpenAthena does. A ground
point goes back to a pixel through the inverse rotation and the lens model.

Work happens in the capture's UTM zone (metres, north up); the grid
convergence of UTM (< 2 degrees inside a zone) is ignored for the attitude,
which stays well below the attitude uncertainty of a drone gimbal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import Polygon

from imagery.camera import Camera
from imagery.dem import Dem, transformer
from imagery.errors import GeoreferenceError
from imagery.pose import Pose

MAX_RANGE_M = 3000.0
"""Rays reaching no ground within this horizontal distance are cut there (horizon)."""


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS84 UTM zone holding a point."""
    zone = min(int((lon + 180) // 6) + 1, 60)
    return (32600 if lat >= 0 else 32700) + zone


@dataclass(frozen=True, slots=True)
class FlatGround:
    """A horizontal plane at ``alt_m`` metres AMSL."""

    alt_m: float


Ground = FlatGround | Dem


@dataclass(frozen=True, eq=False)
class Georef:
    """A camera placed in the world: the pixel <-> ground mapping of one capture."""

    camera: Camera
    pose: Pose
    ground: Ground
    epsg: int
    max_range_m: float = MAX_RANGE_M

    @classmethod
    def build(
        cls,
        camera: Camera,
        pose: Pose,
        *,
        dem: Dem | None = None,
        ground_alt_m: float | None = None,
        max_range_m: float = MAX_RANGE_M,
    ) -> Georef:
        """Georeference a capture onto a DEM, the given ground height or the take-off ground.

        Raises
        ------
        GeoreferenceError
            With no DEM, no ground height and no height above take-off in the pose, or a
            DEM with no height under the camera.
        """
        ground: Ground
        if dem is not None:
            e, n = transformer(4326, utm_epsg(pose.lon, pose.lat)).transform(pose.lon, pose.lat)
            below = dem.sample(np.array([e]), np.array([n]), epsg=utm_epsg(pose.lon, pose.lat))
            if not np.isfinite(below[0]):
                raise GeoreferenceError(
                    f"DEM {dem.path or ''} has no height under the camera at "
                    f"{pose.lat:.6f},{pose.lon:.6f}"
                )
            ground = dem
        else:
            alt = ground_alt_m if ground_alt_m is not None else pose.ground_alt_m
            if alt is None:
                raise GeoreferenceError(
                    "no ground height: give a DEM or a ground altitude (pose has no relative "
                    "altitude)"
                )
            ground = FlatGround(alt)
        return cls(camera, pose, ground, utm_epsg(pose.lon, pose.lat), max_range_m)

    def with_camera(self, camera: Camera) -> Georef:
        """The same pose for a resampled image grid."""
        return replace(self, camera=camera)

    @cached_property
    def rotation(self) -> NDArray[np.float64]:
        return self.pose.rotation()

    @cached_property
    def origin(self) -> NDArray[np.float64]:
        """Camera centre: UTM easting, northing (m) and height AMSL (m)."""
        e, n = transformer(4326, self.epsg).transform(self.pose.lon, self.pose.lat)
        return np.array([e, n, self.pose.alt_amsl_m])

    def to_lonlat(
        self, e: NDArray[np.float64], n: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        lon, lat = transformer(self.epsg, 4326).transform(e, n)
        return np.asarray(lon), np.asarray(lat)

    def from_lonlat(
        self, lon: NDArray[np.float64], lat: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        e, n = transformer(4326, self.epsg).transform(lon, lat)
        return np.asarray(e), np.asarray(n)

    def ground_height(self, e: NDArray[np.float64], n: NDArray[np.float64]) -> NDArray[np.float64]:
        """Ground height AMSL under UTM points."""
        if isinstance(self.ground, FlatGround):
            return np.full(np.shape(e), self.ground.alt_m)
        return self.ground.sample(e, n, epsg=self.epsg)

    def rays(self, uv: NDArray[np.float64]) -> NDArray[np.float64]:
        """World (ENU) unit rays through pixels."""
        return self.camera.pixel_to_ray(uv) @ self.rotation.T

    def _intersect(self, rays: NDArray[np.float64]) -> NDArray[np.float64]:
        o = self.origin
        out = np.full((len(rays), 3), np.nan)
        horiz = np.hypot(rays[:, 0], rays[:, 1])
        down = rays[:, 2] < -1e-9
        if isinstance(self.ground, FlatGround):
            with np.errstate(divide="ignore", invalid="ignore"):
                t = (self.ground.alt_m - o[2]) / rays[:, 2]
            ok = down & (t > 0) & (t * horiz <= self.max_range_m)
            out[ok] = o + t[ok, None] * rays[ok]
            return out
        return self._march(rays, horiz)

    def _march(self, rays: NDArray[np.float64], horiz: NDArray[np.float64]) -> NDArray[np.float64]:
        """Ray marching through the DEM, refined by bisection on the first crossing."""
        assert isinstance(self.ground, Dem)
        o = self.origin
        step = max(self.ground.resolution_m / 2, 0.5)
        # Rays with no horizontal component still need to reach the ground below.
        t_max = np.where(horiz > 1e-6, self.max_range_m / np.maximum(horiz, 1e-6), 0.0)
        t_max = np.maximum(t_max, (o[2] - np.nanmin(self.ground.heights) + 10.0))
        n_steps = math.ceil(float(t_max.max()) / step) + 1
        ts = np.arange(n_steps) * step
        pts = o + ts[None, :, None] * rays[:, None, :]
        h = self.ground.sample(pts[..., 0], pts[..., 1], epsg=self.epsg)
        below = (pts[..., 2] <= h) & (ts[None, :] <= t_max[:, None])
        out = np.full((len(rays), 3), np.nan)
        for i in np.flatnonzero(below.any(axis=1)):
            k = int(np.argmax(below[i]))
            if k == 0:
                raise GeoreferenceError("camera is below the DEM surface (check altitude datum)")
            lo, hi = ts[k - 1], ts[k]
            for _ in range(30):
                mid = (lo + hi) / 2
                p = o + mid * rays[i]
                hm = self.ground.sample(np.array([p[0]]), np.array([p[1]]), epsg=self.epsg)[0]
                if np.isnan(hm) or p[2] > hm:
                    lo = mid
                else:
                    hi = mid
            out[i] = o + hi * rays[i]
        return out

    def pixel_to_ground(self, uv: NDArray[np.float64]) -> NDArray[np.float64]:
        """Ground points (UTM easting, northing, height AMSL) seen at pixels.

        Parameters
        ----------
        uv : (N, 2) ndarray, pixel column and row on :attr:`camera`'s grid.

        Returns
        -------
        (N, 3) ndarray; NaN rows where the ray reaches no ground within range.
        """
        return self._intersect(self.rays(uv))

    def ground_to_pixel(self, enh: NDArray[np.float64]) -> NDArray[np.float64]:
        """Pixels (column, row) where ground points appear; NaN behind the camera.

        Parameters
        ----------
        enh : (N, 3) ndarray, UTM easting, northing and height AMSL.
        """
        enh = np.atleast_2d(np.asarray(enh, dtype=np.float64))
        cam = (enh - self.origin) @ self.rotation
        return self.camera.ray_to_pixel(cam)

    def lonlat_to_pixels(
        self, lon: NDArray[np.float64], lat: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """Pixels (N, 2) of WGS84 ground points (heights from the ground model)."""
        e, n = self.from_lonlat(np.atleast_1d(lon), np.atleast_1d(lat))
        return self.ground_to_pixel(np.stack([e, n, self.ground_height(e, n)], axis=1))

    def lonlat_to_pixel(
        self, lon: float, lat: float, alt_m: float | None = None
    ) -> NDArray[np.float64]:
        """Pixel of a WGS84 point, on the ground unless ``alt_m`` is given."""
        e, n = self.from_lonlat(np.array([lon]), np.array([lat]))
        h = self.ground_height(e, n) if alt_m is None else np.array([alt_m])
        return self.ground_to_pixel(np.stack([e, n, h], axis=1))[0]

    def _edge_pixels(self, per_edge: int) -> NDArray[np.float64]:
        w, h = self.camera.width - 1, self.camera.height - 1
        s = np.linspace(0, 1, per_edge, endpoint=False)
        return np.concatenate(
            [
                np.stack([s * w, np.zeros_like(s)], 1),
                np.stack([np.full_like(s, w), s * h], 1),
                np.stack([(1 - s) * w, np.full_like(s, h)], 1),
                np.stack([np.zeros_like(s), (1 - s) * h], 1),
            ]
        )

    def footprint(self, *, per_edge: int = 8) -> Polygon:
        """Ground polygon (UTM) seen by the frame; rays past the horizon are cut at range."""
        uv = self._edge_pixels(per_edge)
        rays = self.rays(uv)
        pts = self._intersect(rays)
        miss = np.isnan(pts[:, 0])
        if miss.any():
            horiz = rays[miss, :2] / np.maximum(
                np.linalg.norm(rays[miss, :2], axis=1, keepdims=True), 1e-9
            )
            pts[miss, :2] = self.origin[:2] + horiz * self.max_range_m
        poly = Polygon(pts[:, :2])
        if not poly.is_valid:
            poly = shapely.make_valid(poly).convex_hull
        if poly.is_empty:
            raise GeoreferenceError("empty footprint: the camera sees no ground")
        return poly

    def gsd_m(self) -> float:
        """Ground size of one pixel at the image centre."""
        c = np.array([[self.camera.cx, self.camera.cy], [self.camera.cx + 1, self.camera.cy]])
        p = self.pixel_to_ground(c)
        if np.isnan(p).any():
            return float("nan")
        return float(np.linalg.norm(p[1, :2] - p[0, :2]))

    def position_error_m(self, uv: NDArray[np.float64] | None = None) -> float:
        """Estimated 1-sigma horizontal error of the ground point at ``uv`` (default centre).

        First-order propagation of the pose uncertainties (GNSS horizontal,
        height, attitude) through the ray cast: each is perturbed by its sigma
        and the ground displacements are summed in quadrature.
        """
        if uv is None:
            uv = np.array([self.camera.cx, self.camera.cy])
        uv = np.atleast_2d(uv)
        base = self.pixel_to_ground(uv)[0]
        if np.isnan(base[0]):
            return float("nan")
        pose = self.pose
        deltas = [pose.sigma_h_m**2]
        for field_name, sigma in (
            ("yaw_deg", pose.sigma_att_deg),
            ("pitch_deg", pose.sigma_att_deg),
            ("roll_deg", pose.sigma_att_deg),
            ("alt_amsl_m", pose.sigma_v_m),
        ):
            moved = replace(pose, **{field_name: getattr(pose, field_name) + sigma})
            other = Georef(self.camera, moved, self.ground, self.epsg, self.max_range_m)
            p = other.pixel_to_ground(uv)[0]
            if np.isnan(p[0]):
                return float("inf")
            deltas.append(float(np.sum((p[:2] - base[:2]) ** 2)))
        return float(math.sqrt(sum(deltas)))
