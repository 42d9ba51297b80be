"""An independent renderer of stacks and their plumes, seen from a drone camera.

This shares no code with ``imagery`` or ``missions`` (it imports numpy only):
its camera, its rotation, its geodesy and its geometry are worked out here
from first principles, so a test built on it checks the pipeline against a
second opinion rather than against itself.

Frames
------
World: a local east-north-up tangent frame in metres, origin at ``(lon0, lat0)``
and z = 0 at mean sea level (heights are AMSL). Longitude/latitude are WGS84,
converted with the ellipsoid's radii of curvature at ``lat0`` (exact to a few
centimetres over the few hundred metres a scene spans).

Camera: pinhole, x right, y down, z forward; pixel (0, 0) is the centre of the
top-left pixel, so the principal point of an ideal camera is ``((W-1)/2, (H-1)/2)``
and the focal length in pixels is ``(W/2) / tan(hfov/2)``.

Attitude: ``yaw_deg`` the bearing of the optical axis clockwise from true
north, ``pitch_deg`` its elevation (negative looking down, -90 straight down),
``roll_deg`` a turn about the optical axis, positive when the image's right
side goes down (right wing down).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

WGS84_A = 6_378_137.0
WGS84_E2 = 6.694_379_990_14e-3

Vec = NDArray[np.float64]


@dataclass(frozen=True)
class LocalFrame:
    """East-north-up metres around ``(lon0, lat0)``."""

    lon0: float
    lat0: float

    @property
    def _radii(self) -> tuple[float, float]:
        """Meridional (M) and prime-vertical (N) radii of curvature at ``lat0``, metres."""
        s2 = math.sin(math.radians(self.lat0)) ** 2
        w = math.sqrt(1 - WGS84_E2 * s2)
        return WGS84_A * (1 - WGS84_E2) / w**3, WGS84_A / w

    def lonlat(self, east_m: float, north_m: float) -> tuple[float, float]:
        m, n = self._radii
        dlat = math.degrees(north_m / m)
        dlon = math.degrees(east_m / (n * math.cos(math.radians(self.lat0))))
        return self.lon0 + dlon, self.lat0 + dlat

    def metres(self, lon: float, lat: float) -> tuple[float, float]:
        m, n = self._radii
        east = math.radians(lon - self.lon0) * n * math.cos(math.radians(self.lat0))
        return east, math.radians(lat - self.lat0) * m


def camera_axes(yaw_deg: float, pitch_deg: float, roll_deg: float) -> tuple[Vec, Vec, Vec]:
    """The camera's right, down and forward unit vectors in east-north-up.

    Forward: the bearing ``yaw`` clockwise from north, raised by ``pitch``:
    ``(sin yaw cos pitch, cos yaw cos pitch, sin pitch)``. With no roll, right
    is horizontal, 90 degrees clockwise of the bearing: ``(cos yaw, -sin yaw, 0)``;
    down completes a right-handed camera frame (x right, y down, z forward:
    down = forward x right). Roll turns right towards down by ``roll``.
    """
    y, p, r = (math.radians(a) for a in (yaw_deg, pitch_deg, roll_deg))
    forward = np.array([math.sin(y) * math.cos(p), math.cos(y) * math.cos(p), math.sin(p)])
    right0 = np.array([math.cos(y), -math.sin(y), 0.0])
    down0 = np.cross(forward, right0)
    right = math.cos(r) * right0 + math.sin(r) * down0
    down = math.cos(r) * down0 - math.sin(r) * right0
    return right, down, forward


@dataclass(frozen=True)
class PinholeCamera:
    width: int
    height: int
    hfov_deg: float

    @property
    def focal_px(self) -> float:
        return (self.width / 2) / math.tan(math.radians(self.hfov_deg) / 2)

    def rays(self, right: Vec, down: Vec, forward: Vec) -> Vec:
        """(H, W, 3) unit rays of every pixel in east-north-up."""
        f = self.focal_px
        u = (np.arange(self.width) - (self.width - 1) / 2) / f
        v = (np.arange(self.height) - (self.height - 1) / 2) / f
        rays = forward + u[None, :, None] * right + v[:, None, None] * down
        return np.asarray(rays / np.linalg.norm(rays, axis=2, keepdims=True))

    def project(self, right: Vec, down: Vec, forward: Vec, origin: Vec, point: Vec) -> Vec:
        """Pixel (column, row) of a world point in front of the camera."""
        rel = point - origin
        z = float(rel @ forward)
        f = self.focal_px
        return np.array(
            [
                f * float(rel @ right) / z + (self.width - 1) / 2,
                f * float(rel @ down) / z + (self.height - 1) / 2,
            ]
        )


@dataclass(frozen=True)
class Cylinder:
    """A stack: a vertical cylinder on the ground, base altitude ``base_m`` AMSL."""

    east_m: float
    north_m: float
    base_m: float
    height_m: float
    radius_m: float

    @property
    def mouth(self) -> Vec:
        return np.array([self.east_m, self.north_m, self.base_m + self.height_m])


@dataclass(frozen=True)
class Plume:
    """Overlapping ellipsoids (puffs) rising from a mouth and drifting downwind.

    The plume's path leaves the mouth upwards and bends downwind (towards
    ``wind_to_deg``, clockwise from north), ``drift`` metres downwind per metre
    of rise. Every ``step_m`` of path ``puffs`` ellipsoids are placed, jittered
    by a third of their radius (seeded), growing from ``radius0_m`` by
    ``spread`` per metre of path and thinning as they grow (the same smoke in a
    larger volume). A ray's opacity is ``1 - exp(-sum(density * chord))`` over
    the puffs it crosses in front of whatever it hits.
    """

    mouth: Vec
    wind_to_deg: float
    count: int = 11
    puffs: int = 3
    step_m: float = 4.0
    drift: float = 1.2
    radius0_m: float = 3.0
    spread: float = 0.16
    density: float = 0.45
    grey: float = 0.92
    seed: int = 7
    centres: list[Vec] = field(init=False)
    radii: list[Vec] = field(init=False)
    densities: list[float] = field(init=False)

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        w = math.radians(self.wind_to_deg)
        downwind = np.array([math.sin(w), math.cos(w), 0.0])
        centres, radii, densities = [], [], []
        for k in range(self.count):
            s = k * self.step_m
            bend = min(s / 12.0, 1.0)  # rises straight out of the mouth, then bends over
            direction = downwind * self.drift * bend + np.array([0.0, 0.0, 1.0])
            spine = self.mouth + direction / np.linalg.norm(direction) * s
            r = self.radius0_m + self.spread * s
            for _ in range(self.puffs):
                jitter = rng.normal(0.0, r / 3, size=3) if k else np.zeros(3)
                centres.append(spine + jitter + np.array([0.0, 0.0, 0.5 * r]))
                radii.append(np.array([r, r, 0.8 * r]) * rng.uniform(0.8, 1.1))
                densities.append(self.density * (self.radius0_m / r) ** 1.5)
        object.__setattr__(self, "centres", centres)
        object.__setattr__(self, "radii", radii)
        object.__setattr__(self, "densities", densities)


def _ground_colour(east: Vec, north: Vec) -> Vec:
    """A textured ground (fields, paths, soil): smooth sums of sines of world position."""
    t = (
        np.sin(east * 0.13) * np.cos(north * 0.11)
        + 0.6 * np.sin(east * 0.031 + north * 0.047)
        + 0.35 * np.sin(east * 0.71 - north * 0.53)
    )
    base = np.stack([0.36 + 0.06 * t, 0.38 + 0.07 * t, 0.27 + 0.04 * t], axis=-1)
    return np.asarray(np.clip(base, 0.0, 1.0))


def _hit_cylinder(origin: Vec, rays: Vec, c: Cylinder) -> tuple[Vec, Vec]:
    """Distance along each ray to the cylinder's wall (inf where missed) and the wall normal."""
    ox, oy = origin[0] - c.east_m, origin[1] - c.north_m
    dx, dy = rays[..., 0], rays[..., 1]
    a = dx * dx + dy * dy
    b = 2 * (ox * dx + oy * dy)
    cc = ox * ox + oy * oy - c.radius_m**2
    disc = b * b - 4 * a * cc
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (-b - np.sqrt(disc)) / (2 * a)
    z = origin[2] + t * rays[..., 2]
    ok = (disc >= 0) & (t > 0) & (z >= c.base_m) & (z <= c.base_m + c.height_m)
    t = np.where(ok, t, np.inf)
    nx = (ox + np.where(ok, t, 0) * dx) / c.radius_m
    ny = (oy + np.where(ok, t, 0) * dy) / c.radius_m
    return t, np.stack([nx, ny, np.zeros_like(nx)], axis=-1)


def _chord(origin: Vec, rays: Vec, centre: Vec, radii: Vec, t_max: Vec) -> tuple[Vec, Vec]:
    """Length of each ray inside an ellipsoid, up to ``t_max``; and where it enters."""
    o = (origin - centre) / radii
    d = rays / radii
    a = np.sum(d * d, axis=-1)
    b = 2 * np.sum(d * o, axis=-1)
    c = float(o @ o) - 1
    disc = b * b - 4 * a * c
    root = np.sqrt(np.maximum(disc, 0.0))
    t0 = np.maximum((-b - root) / (2 * a), 0.0)
    t1 = np.minimum((-b + root) / (2 * a), t_max)
    length = np.where(disc > 0, np.maximum(t1 - t0, 0.0), 0.0)
    return length, t0


@dataclass(frozen=True)
class Scene:
    frame: LocalFrame
    ground_m: float
    stacks: list[Cylinder]
    plumes: list[Plume]
    sun: Vec = field(default_factory=lambda: np.array([0.5, -0.4, 0.77]))

    def render(
        self, camera: PinholeCamera, origin: Vec, yaw_deg: float, pitch_deg: float, roll_deg: float
    ) -> NDArray[np.uint8]:
        """(H, W, 3) uint8 image from a camera at ``origin`` (world metres, z AMSL)."""
        axes = camera_axes(yaw_deg, pitch_deg, roll_deg)
        rays = camera.rays(*axes)
        sun = self.sun / np.linalg.norm(self.sun)
        # Ground plane z = ground_m: t = (ground - oz) / dz for rays going down.
        with np.errstate(divide="ignore", invalid="ignore"):
            t_ground = np.where(
                rays[..., 2] < -1e-9, (self.ground_m - origin[2]) / rays[..., 2], np.inf
            )
        hit = origin + np.where(np.isfinite(t_ground), t_ground, 0)[..., None] * rays
        colour = _ground_colour(hit[..., 0], hit[..., 1])
        elevation = np.clip(rays[..., 2], 0, 1)[..., None]
        sky = np.array([0.50, 0.66, 0.90]) * (1 - 0.3 * elevation) + 0.1 * elevation
        colour = np.where(np.isfinite(t_ground)[..., None], colour, sky)
        t_near = t_ground
        for c in self.stacks:
            t, normal = _hit_cylinder(origin, rays, c)
            lit = 0.35 + 0.65 * np.clip(normal @ sun, 0, 1)
            wall = np.stack([0.42 * lit, 0.30 * lit, 0.26 * lit], axis=-1)  # brick
            closer = t < t_near
            colour = np.where(closer[..., None], wall, colour)
            t_near = np.where(closer, t, t_near)
        for plume in self.plumes:
            optical = np.zeros(rays.shape[:2])
            shade = np.zeros(rays.shape[:2])
            for centre, radii, density in zip(
                plume.centres, plume.radii, plume.densities, strict=True
            ):
                length, t_in = _chord(origin, rays, centre, radii, t_near)
                entry = origin + t_in[..., None] * rays
                normal = (entry - centre) / radii**2
                normal /= np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-9)
                optical += density * length
                shade += density * length * (0.72 + 0.28 * np.clip(normal @ sun, 0, 1))
            alpha = 1 - np.exp(-optical)
            tone = plume.grey * np.where(optical > 0, shade / np.maximum(optical, 1e-12), 1.0)
            colour = colour * (1 - alpha[..., None]) + tone[..., None] * alpha[..., None]
        return np.asarray(np.clip(colour * 255 + 0.5, 0, 255), dtype=np.uint8)
