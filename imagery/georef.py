"""Single-frame georeferencing by ray casting, both ways.

Frames. The pose's attitude is true north (NED, as gimbals and the manifest
give it). Ground points are in the capture's UTM grid (x east, y north along
the grid, metres) with heights in metres AMSL. Between the two, the camera's
true-north east/north is mapped onto the grid by the projection's Jacobian at
the camera (:meth:`zone.frames.GridFrame.true_to_grid`): the grid convergence
turns every ray (1.5 degrees at Zhengzhou, 14 m at 567 m of range if ignored)
and the point scale stretches its horizontal part (0.03 %). Heights are not
scaled. Rays are straight and the ground is not curved under them: the earth
drops d^2 / 2R below the tangent plane (2.5 cm at 567 m, 0.7 m at 3 km), which
is ignored.

A pixel's ray leaves the camera centre and meets flat ground (the take-off or
dock height) in closed form, or a DEM by a bounded march: only between the
heights the DEM window spans (from where the ray goes below its highest point
to where it goes below its lowest, or the range limit), in steps of half a
DEM cell horizontally, then bisection on the first crossing, as OpenAthena
does. A ground point goes back to a pixel through the inverse mapping and the
lens model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import Polygon

from imagery.camera import Camera
from imagery.dem import Dem
from imagery.errors import GeoreferenceError
from imagery.pose import Pose, anchored_to_takeoff
from zone.frames import GridFrame, utm_epsg

__all__ = ["MAX_RANGE_M", "FlatGround", "Georef", "Ground", "march_samples", "utm_epsg"]

MAX_RANGE_M = 3000.0
"""Rays reaching no ground within this horizontal distance are cut there (horizon)."""

_BISECTIONS = 24
"""Halvings of a crossing's bracket (at most the DEM band: 2 km / 2^24 = 0.1 mm)."""


@dataclass(frozen=True, slots=True)
class FlatGround:
    """A horizontal plane at ``alt_m`` metres AMSL."""

    alt_m: float


Ground = FlatGround | Dem


def march_samples(
    origin_z: float,
    rays: NDArray[np.float64],
    *,
    band_m: tuple[float, float],
    step_m: float,
    max_range_m: float,
) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """Where to sample the ground along rays: only where a crossing can be.

    Parameters
    ----------
    origin_z : camera height, m AMSL.
    rays : (N, 3) unit directions (x, y horizontal, z up).
    band_m : lowest and highest ground height (m AMSL) the rays can meet.
    step_m : horizontal spacing of samples (half a DEM cell).
    max_range_m : horizontal distance beyond which a ray meets nothing.

    Returns
    -------
    ray : (M,) index of the ray each sample is on, samples of a ray consecutive.
    t : (M,) metres along that ray, increasing per ray; its first and last samples are
        where the ray enters and leaves the band (or its range). A ray meeting no part
        of the band has none. Per ray there are at most ``max_range_m / step_m + 2``.
    """
    h_min, h_max = band_m
    dz = rays[:, 2]
    horiz = np.hypot(rays[:, 0], rays[:, 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        t_range = max_range_m / horiz  # inf straight down
        to_min = (h_min - origin_z) / dz
        to_max = (h_max - origin_z) / dz
    down, up = dz < 0, dz > 0
    # Above the band a ray enters at its top on the way down; inside it, at the camera.
    t0 = np.where(down, to_max, np.inf) if origin_z > h_max else np.zeros(len(rays))
    # It leaves through the bottom going down, the top going up, or ends at its range.
    t1 = np.minimum(t_range, np.where(down, to_min, np.where(up, to_max, np.inf)))
    with np.errstate(invalid="ignore"):
        span = t1 - t0
        meets = np.isfinite(span) & (span >= 0)
    span = np.where(meets, span, 0.0)
    count = np.where(meets, np.maximum(np.ceil(span * horiz / step_m), 1) + 1, 0).astype(np.intp)
    ray = np.repeat(np.arange(len(rays)), count)
    k = np.arange(len(ray)) - np.repeat(np.cumsum(count) - count, count)
    t = np.repeat(t0, count) + np.repeat(span / np.maximum(count - 1, 1), count) * k
    return ray, t


@dataclass(frozen=True, eq=False)
class Georef:
    """A camera placed in the world: the pixel <-> ground mapping of one capture.

    ``true_to_grid`` is (3, 3): the grid's (dx, dy, dz) of a true-north (east, north,
    up) displacement at the camera. Built once by :meth:`build` and shared by
    :meth:`with_camera`, with the ground model.
    """

    camera: Camera
    pose: Pose
    ground: Ground
    frame: GridFrame
    true_to_grid: NDArray[np.float64] = field(repr=False)
    max_range_m: float = MAX_RANGE_M

    @classmethod
    def build(
        cls,
        camera: Camera,
        pose: Pose,
        *,
        dem: Dem | None = None,
        ground_alt_m: float | None = None,
        takeoff_ground_amsl_m: float | None = None,
        max_range_m: float = MAX_RANGE_M,
    ) -> Georef:
        """Georeference a capture onto a DEM, the given ground height or the take-off ground.

        Parameters
        ----------
        dem : terrain to march rays through (heights m AMSL); flat ground otherwise.
        ground_alt_m : flat ground height (m AMSL); the take-off ground by default.
        takeoff_ground_amsl_m : the ground (m AMSL) the flight took off from, when known
            (the dock's surveyed altitude, the DEM at the take-off point): the camera's
            height becomes it plus the height above take-off, instead of the recorded
            absolute altitude (see :func:`imagery.pose.anchored_to_takeoff`).

        Raises
        ------
        GeoreferenceError
            With no DEM, no ground height and no height above take-off in the pose; a
            DEM with no height under the camera, or one above the camera; a position off
            the globe.
        PoseError
            When anchoring is asked of a pose with no height above take-off.
        """
        if takeoff_ground_amsl_m is not None:
            pose = anchored_to_takeoff(pose, takeoff_ground_amsl_m)
        try:
            frame = GridFrame.utm(pose.lon, pose.lat)
        except ValueError as exc:
            raise GeoreferenceError(f"{pose.source or 'pose'}: {exc}") from exc
        true_to_grid = np.eye(3)
        true_to_grid[:2, :2] = frame.true_to_grid(pose.lon, pose.lat)
        ground = cls._ground(pose, frame, dem, ground_alt_m)
        return cls(camera, pose, ground, frame, true_to_grid, max_range_m)

    @staticmethod
    def _ground(
        pose: Pose, frame: GridFrame, dem: Dem | None, ground_alt_m: float | None
    ) -> Ground:
        """The ground model, checked to lie under the camera."""
        if dem is None:
            alt = ground_alt_m if ground_alt_m is not None else pose.ground_alt_m
            if alt is None:
                raise GeoreferenceError(
                    "no ground height: give a DEM or a ground altitude (pose has no relative "
                    "altitude)"
                )
            return FlatGround(alt)
        x, y = frame.to_grid([pose.lon], [pose.lat])
        below = float(dem.sample(x, y, epsg=frame.epsg)[0])
        where = f"{pose.lat:.6f},{pose.lon:.6f}"
        if not math.isfinite(below):
            raise GeoreferenceError(f"DEM {dem.path} has no height under the camera at {where}")
        if below >= pose.alt_amsl_m:
            raise GeoreferenceError(
                f"camera at {pose.alt_amsl_m:.1f} m AMSL is below the DEM ({below:.1f} m) at "
                f"{where}: check the altitude datum, or anchor it on the take-off ground"
            )
        return dem

    @property
    def epsg(self) -> int:
        """EPSG code of the grid ground points are given in."""
        return self.frame.epsg

    def with_camera(self, camera: Camera) -> Georef:
        """The same pose for a resampled image grid."""
        return replace(self, camera=camera)

    @cached_property
    def camera_to_grid(self) -> NDArray[np.float64]:
        """(3, 3) map of camera-frame vectors (x right, y down, z optical) to the grid."""
        return self.true_to_grid @ self.pose.rotation()

    @cached_property
    def _grid_to_camera(self) -> NDArray[np.float64]:
        return np.asarray(np.linalg.inv(self.camera_to_grid), dtype=np.float64)

    @cached_property
    def origin(self) -> NDArray[np.float64]:
        """Camera centre: grid x, y (m) and height AMSL (m)."""
        x, y = self.frame.to_grid(self.pose.lon, self.pose.lat)
        return np.array([float(x), float(y), self.pose.alt_amsl_m])

    def to_lonlat(
        self, e: NDArray[np.float64], n: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """WGS84 lon/lat (degrees) of grid points."""
        return self.frame.to_lonlat(e, n)

    def from_lonlat(
        self, lon: NDArray[np.float64], lat: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Grid x, y (m) of WGS84 lon/lat (degrees)."""
        return self.frame.to_grid(lon, lat)

    def ground_height(self, e: NDArray[np.float64], n: NDArray[np.float64]) -> NDArray[np.float64]:
        """Ground height AMSL under grid points."""
        if isinstance(self.ground, FlatGround):
            return np.full(np.shape(e), self.ground.alt_m)
        return self.ground.sample(e, n, epsg=self.epsg)

    def rays(self, uv: NDArray[np.float64]) -> NDArray[np.float64]:
        """Unit rays through pixels in the grid frame (x, y along the grid, z up).

        Parameters
        ----------
        uv : (N, 2) ndarray, pixel column and row on :attr:`camera`'s grid.
        """
        return self._to_grid_rays(self.camera.pixel_to_ray(uv), self.camera_to_grid)

    @staticmethod
    def _to_grid_rays(cam: NDArray[np.float64], m: NDArray[np.float64]) -> NDArray[np.float64]:
        d = cam @ m.T
        return np.asarray(d / np.sqrt(np.einsum("ij,ij->i", d, d))[:, None], dtype=np.float64)

    def _intersect(self, rays: NDArray[np.float64]) -> NDArray[np.float64]:
        if isinstance(self.ground, Dem):
            return self._march(rays, self.ground)
        o = self.origin
        out = np.full((len(rays), 3), np.nan)
        horiz = np.hypot(rays[:, 0], rays[:, 1])
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (self.ground.alt_m - o[2]) / rays[:, 2]
        ok = (rays[:, 2] < -1e-9) & (t > 0) & (t * horiz <= self.max_range_m)
        out[ok] = o + t[ok, None] * rays[ok]
        return out

    def _march(self, rays: NDArray[np.float64], dem: Dem) -> NDArray[np.float64]:
        """First crossing of each ray with the DEM: bounded march, then bisection."""
        o = self.origin
        ray, t = march_samples(
            float(o[2]),
            rays,
            band_m=dem.height_range,
            step_m=dem.resolution_m / 2,
            max_range_m=self.max_range_m,
        )
        out = np.full((len(rays), 3), np.nan)
        if len(ray) == 0:
            return out
        pts = o + t[:, None] * rays[ray]
        below = pts[:, 2] <= dem.sample(pts[:, 0], pts[:, 1], epsg=self.epsg)  # NaN: not below
        # First sample below the ground on each ray (a ray's samples are consecutive).
        starts = np.flatnonzero(np.r_[True, ray[1:] != ray[:-1]])
        first = np.minimum.reduceat(np.where(below, np.arange(len(ray)), len(ray)), starts)
        at = first[first < len(ray)]
        idx, hi = ray[at], t[at]
        # Bracket [lo, hi]: the sample before (above ground) and the first one below; a
        # ray's first sample is only below when it touches the band's top exactly.
        lo = np.where(np.isin(at, starts), hi, t[np.maximum(at - 1, 0)])
        for _ in range(_BISECTIONS):
            mid = (lo + hi) / 2
            p = o + mid[:, None] * rays[idx]
            above = ~(p[:, 2] <= dem.sample(p[:, 0], p[:, 1], epsg=self.epsg))
            lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
        out[idx] = o + hi[:, None] * rays[idx]
        return out

    def pixel_to_ground(self, uv: NDArray[np.float64]) -> NDArray[np.float64]:
        """Ground points (grid x, y and height AMSL, metres) seen at pixels.

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
        enh : (N, 3) ndarray, grid x, y and height AMSL (metres).
        """
        enh = np.atleast_2d(np.asarray(enh, dtype=np.float64))
        cam = (enh - self.origin) @ self._grid_to_camera.T
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
        """Ground polygon (grid metres) seen by the frame, starting at pixel (0, 0) and
        going clockwise in the image; rays past the horizon are cut at range."""
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
        """Ground size of one pixel at the image centre (grid metres)."""
        c = np.array([[self.camera.cx, self.camera.cy], [self.camera.cx + 1, self.camera.cy]])
        p = self.pixel_to_ground(c)
        if np.isnan(p).any():
            return float("nan")
        return float(np.linalg.norm(p[1, :2] - p[0, :2]))

    def position_error_m(self, uv: NDArray[np.float64] | None = None) -> float:
        """Estimated 1-sigma horizontal error (true metres, radial RMS) of the ground point
        seen at ``uv`` (default: the image centre); inf when a perturbed ray misses.

        First-order propagation of the pose's independent uncertainties: the camera's
        position east and north (``sigma_h_m`` each), its height (``sigma_v_m``), and a
        rotation about each camera axis (``sigma_att_deg``). Each is applied as -sigma
        and +sigma and half the ground shift between the two is its contribution; the
        contributions add in quadrature. The ground is the plane tangent to the ground
        model at the point (exact on flat ground), so no perturbation re-marches the
        DEM: the error grows with slant range and with obliquity, as the ray's grazing
        angle on that plane.

        Parameters
        ----------
        uv : (2,) or (1, 2) ndarray, pixel column and row on :attr:`camera`'s grid.
        """
        if uv is None:
            uv = np.array([self.camera.cx, self.camera.cy])
        cam_ray = self.camera.pixel_to_ray(np.atleast_2d(uv)[:1])
        base = self._intersect(self._to_grid_rays(cam_ray, self.camera_to_grid))[0]
        if np.isnan(base[0]):
            return float("nan")
        plane = self._tangent_plane(base)
        shifts = []
        for origins, rays in self._perturbed(cam_ray):
            hits = _plane_hits(origins, rays, base, plane)
            if np.isnan(hits).any():
                return float("inf")
            shifts.append((hits[1, :2] - hits[0, :2]) / 2)
        true_shifts = np.linalg.solve(self.true_to_grid[:2, :2], np.array(shifts).T)
        return float(np.sqrt(np.sum(true_shifts**2)))

    def _tangent_plane(self, p: NDArray[np.float64]) -> tuple[float, float]:
        """Ground slope (dz/dx, dz/dy) at a grid point; level where the DEM says nothing."""
        if isinstance(self.ground, FlatGround):
            return 0.0, 0.0
        d = self.ground.resolution_m / 2
        around = np.array([[d, 0.0], [-d, 0.0], [0.0, d], [0.0, -d]]) + p[:2]
        h = self.ground.sample(around[:, 0], around[:, 1], epsg=self.epsg)
        if not np.isfinite(h).all():
            return 0.0, 0.0
        return float(h[0] - h[1]) / (2 * d), float(h[2] - h[3]) / (2 * d)

    def _perturbed(
        self, cam_ray: NDArray[np.float64]
    ) -> list[tuple[NDArray[np.float64], NDArray[np.float64]]]:
        """(origins, rays), each (2, 3) for -sigma and +sigma, of every pose uncertainty."""
        pose, o = self.pose, self.origin
        ray = self._to_grid_rays(cam_ray, self.camera_to_grid)[0]
        out = []
        for axis, sigma in ((0, pose.sigma_h_m), (1, pose.sigma_h_m), (2, pose.sigma_v_m)):
            move = self.true_to_grid[:, axis] * sigma
            out.append((np.stack([o - move, o + move]), np.stack([ray, ray])))
        a = math.radians(pose.sigma_att_deg)
        for axis in range(3):
            turned = [
                self._to_grid_rays(cam_ray @ _axis_rotation(axis, s * a).T, self.camera_to_grid)[0]
                for s in (-1, 1)
            ]
            out.append((np.stack([o, o]), np.stack(turned)))
        return out


def _axis_rotation(axis: int, angle: float) -> NDArray[np.float64]:
    """Rotation by ``angle`` radians about coordinate axis 0, 1 or 2."""
    c, s = math.cos(angle), math.sin(angle)
    i, j = [k for k in range(3) if k != axis]
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


def _plane_hits(
    origins: NDArray[np.float64],
    rays: NDArray[np.float64],
    p: NDArray[np.float64],
    slope: tuple[float, float],
) -> NDArray[np.float64]:
    """Where rays meet the plane through ``p`` with ``slope`` (dz/dx, dz/dy); NaN if never.

    Parameters
    ----------
    origins, rays : (N, 3) ray starts and directions in the grid frame.
    p : (3,) a point of the plane.
    """
    gx, gy = slope
    # z0 + t rz = p_z + gx (x0 + t rx - p_x) + gy (y0 + t ry - p_y), solved for t.
    num = p[2] + gx * (origins[:, 0] - p[0]) + gy * (origins[:, 1] - p[1]) - origins[:, 2]
    den = rays[:, 2] - gx * rays[:, 0] - gy * rays[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = num / den
    ok = (den < 0) & (t > 0)
    out = np.full(origins.shape, np.nan)
    out[ok] = origins[ok] + t[ok, None] * rays[ok]
    return out
