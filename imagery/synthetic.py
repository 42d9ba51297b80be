"""Synthetic scenes: captures rendered from a georeferenced basemap at given poses.

For tests, the demo and the scaling benchmark, where real imagery of the
zone does not exist. A :class:`Basemap` is a north-up UTM raster of colour
and surface temperature, painted from a zone's sites (enterprise yards and
roofs, stacks, rivers) over a procedural ground texture. Anomalies (plumes,
hotspots, discoloured water) are injected at known ground positions, and
:func:`render_captures` ray-casts every pixel of each pose onto the basemap,
writing files that carry their pose the way drones do (EXIF GPS + DJI-style
XMP), so ``ecopatrol process`` reads them like real captures; a
``captures.jsonl`` manifest is written beside them too.

Plumes are painted on the ground plane (a drifting plume seen from above;
its height above ground is not modelled), so their ground truth is where
they are painted.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import shapely
from numpy.typing import NDArray
from PIL import Image
from rasterio.features import rasterize
from rasterio.transform import from_origin
from scipy import ndimage
from shapely import affinity
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from imagery.camera import Camera
from imagery.dem import transformer
from imagery.georef import Georef, utm_epsg
from imagery.pose import Pose
from imagery.thermal import FLIR_K_PER_COUNT, RADIOMETRIC_DESCRIPTION
from missions.manifest import MANIFEST_NAME, CapturePose, write_manifest
from zone.frames import offset_true
from zone.sites import Sites

logger = logging.getLogger(__name__)

STACK_YARD_M = 40.0
"""Roofs keep this far from a stack. A plume painted downwind of its stack reaches
36 m (:func:`imagery.evaluate.plume_downwind`) and must lie on the yard's grey
concrete: painted over a white roof it cannot be seen, whichever roof colour an
enterprise happens to get."""

SYNTHETIC_MAKE = "EcoPatrol"
RGB_MODEL = "SYN-RGB"
THERMAL_MODEL = "SYN-IR"
FOCAL_MM = 8.8


@dataclass(frozen=True, eq=False)
class Basemap:
    """North-up UTM raster: ``rgb`` (rows, cols, 3) float32 in [0, 1] and ``temp_c``
    (rows, cols) float32 surface temperature; pixel (0, 0)'s corner at (``west``, ``north``)."""

    rgb: NDArray[np.float32]
    temp_c: NDArray[np.float32]
    west: float
    north: float
    gsd_m: float
    epsg: int
    ground_alt_m: float

    @property
    def shape(self) -> tuple[int, int]:
        return self.rgb.shape[0], self.rgb.shape[1]

    def _rc(
        self, e: NDArray[np.float64], n: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        return (self.north - n) / self.gsd_m - 0.5, (e - self.west) / self.gsd_m - 0.5

    def sample_rgb(self, e: NDArray[np.float64], n: NDArray[np.float64]) -> NDArray[np.float32]:
        """Colours at UTM points (bilinear; mid-grey outside the map)."""
        r, c = self._rc(e, n)
        return np.stack(
            [
                ndimage.map_coordinates(self.rgb[..., k], [r, c], order=1, cval=0.5)
                for k in range(3)
            ],
            axis=-1,
        ).astype(np.float32)

    def sample_temp(self, e: NDArray[np.float64], n: NDArray[np.float64]) -> NDArray[np.float32]:
        r, c = self._rc(e, n)
        return np.asarray(
            ndimage.map_coordinates(self.temp_c, [r, c], order=1, cval=20.0), dtype=np.float32
        )

    def utm(self, lon: float, lat: float) -> tuple[float, float]:
        e, n = transformer(4326, self.epsg).transform(lon, lat)
        return float(e), float(n)


@dataclass(frozen=True, slots=True)
class Anomaly:
    """An injected anomaly, its ground truth at ``lon``/``lat``.

    ``kind`` is ``plume``, ``hotspot`` or ``water_discolouration``; ``radius_m``
    its size (a plume is an ellipse ``radius_m`` wide and three times as long,
    downwind along ``bearing_deg``); ``strength`` in (0, 1] its opacity or the
    fraction of the colour change; ``rise_c`` a hotspot's temperature rise;
    ``colour`` the water's new colour; ``source`` the (lon, lat) of the stack a plume
    rises from, where the pipeline reports it (its painted trail lies downwind).
    """

    kind: str
    lon: float
    lat: float
    radius_m: float = 8.0
    strength: float = 0.8
    bearing_deg: float = 45.0
    rise_c: float = 40.0
    colour: tuple[float, float, float] = (0.55, 0.38, 0.18)
    source: tuple[float, float] | None = None

    @property
    def reported_at(self) -> tuple[float, float]:
        """(lon, lat) where a finding of this anomaly belongs: its source, else itself."""
        return self.source or (self.lon, self.lat)


def _noise(
    shape: tuple[int, int], rng: np.random.Generator, scale_px: float
) -> NDArray[np.float32]:
    """Unit-variance smooth noise with features ``scale_px`` across (made coarse, then zoomed)."""
    step = max(int(scale_px / 3), 1)
    small_shape = (shape[0] // step + 2, shape[1] // step + 2)
    base = rng.standard_normal(small_shape).astype(np.float32)
    smooth = ndimage.gaussian_filter(base, scale_px / step)
    if step > 1:
        smooth = ndimage.zoom(smooth, step, order=1)
    smooth = smooth[: shape[0], : shape[1]]
    return smooth / max(float(smooth.std()), 1e-6)


def make_basemap(
    sites: Sites | None,
    *,
    bounds_lonlat: tuple[float, float, float, float],
    gsd_m: float = 0.25,
    ground_alt_m: float = 110.0,
    seed: int = 0,
) -> Basemap:
    """Paint a basemap over ``(west, south, east, north)`` from a zone's sites.

    Enterprises become concrete yards with blue steel and white roofs, stacks
    dark discs, rivers dark green water of their width, the rest fields with
    texture at several scales.
    """
    w, s, e, n = bounds_lonlat
    epsg = utm_epsg((w + e) / 2, (s + n) / 2)
    x0, y0, x1, y1 = transformer(4326, epsg).transform_bounds(w, s, e, n)
    cols, rows = int((x1 - x0) / gsd_m), int((y1 - y0) / gsd_m)
    if rows * cols > 80e6:
        raise ValueError(f"basemap of {cols}x{rows} pixels is too large: raise gsd_m")
    rng = np.random.default_rng(seed)
    fields = _noise((rows, cols), rng, 60 / gsd_m)
    fine = _noise((rows, cols), rng, 0.6 / gsd_m)
    green = np.array([0.30, 0.42, 0.20], dtype=np.float32)
    soil = np.array([0.48, 0.42, 0.32], dtype=np.float32)
    mix = np.clip(0.5 + 0.35 * fields, 0, 1)[..., None]
    rgb = green * mix + soil * (1 - mix) + 0.03 * fine[..., None]
    temp = 24.0 + 2.0 * fields + 0.5 * fine
    transform = from_origin(x0, y1, gsd_m, gsd_m)
    to_utm = transformer(4326, epsg).transform

    def shp_transform(geom: BaseGeometry) -> BaseGeometry:
        return shapely.transform(geom, lambda xy: np.column_stack(to_utm(xy[:, 0], xy[:, 1])))

    def paint(
        geoms: Sequence[object], colour: Sequence[float], t_c: float, texture: float = 0.02
    ) -> None:
        if not geoms:
            return
        mask = rasterize([(g, 1) for g in geoms], out_shape=(rows, cols), transform=transform)
        m = mask.astype(bool)
        rgb[m] = np.asarray(colour, dtype=np.float32) + texture * fine[m][:, None]
        temp[m] = t_c + 0.3 * fine[m]

    if sites is not None:
        yards: list[BaseGeometry] = []
        blue_roofs: list[BaseGeometry] = []
        white_roofs: list[BaseGeometry] = []
        stacks: list[BaseGeometry] = []
        water: list[BaseGeometry] = []
        for stack in sites.stacks:
            stacks.append(Point(to_utm(stack.lon, stack.lat)).buffer(2.0))
        keep_clear = unary_union([s.buffer(STACK_YARD_M) for s in stacks]) if stacks else None
        for i, site in enumerate(sites.enterprises):
            geom = shp_transform(site.boundary)
            yards.append(geom)
            roof = affinity.scale(geom.convex_hull, 0.45, 0.35)
            roof = affinity.translate(roof, 0, -0.15 * (geom.bounds[3] - geom.bounds[1]))
            if keep_clear is not None:  # stacks stand in the yard, not on a roof
                roof = roof.difference(keep_clear)
            (white_roofs if i % 3 == 0 else blue_roofs).append(roof)
        for river in sites.rivers:
            water.append(shp_transform(river.centerline).buffer(river.width_m / 2))
        paint(yards, (0.52, 0.51, 0.49), 30.0, 0.04)
        paint(blue_roofs, (0.32, 0.45, 0.62), 33.0)
        paint(white_roofs, (0.80, 0.80, 0.78), 28.0)
        paint(water, (0.16, 0.27, 0.25), 17.0, 0.015)
        paint(stacks, (0.25, 0.24, 0.23), 32.0)
    rgb = np.clip(rgb, 0, 1).astype(np.float32)
    return Basemap(rgb, temp.astype(np.float32), x0, y1, gsd_m, epsg, ground_alt_m)


def zone_bounds(sites: Sites, *, margin_m: float = 150.0) -> tuple[float, float, float, float]:
    """(west, south, east, north) around every site of a zone plus a margin."""
    w, s, e, n = sites.bounds
    dlat = margin_m / 111_320.0
    dlon = dlat / math.cos(math.radians((s + n) / 2))
    return w - dlon, s - dlat, e + dlon, n + dlat


def inject(basemap: Basemap, anomalies: Sequence[Anomaly], *, seed: int = 1) -> Basemap:
    """A copy of the basemap with the anomalies painted in."""
    rgb, temp = basemap.rgb.copy(), basemap.temp_c.copy()
    rows, cols = basemap.shape
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    water = (basemap.rgb[..., 2] > basemap.rgb[..., 0] + 0.05) & (basemap.rgb.max(axis=2) < 0.3)
    for a in anomalies:
        e, n = basemap.utm(a.lon, a.lat)
        col, row = (e - basemap.west) / basemap.gsd_m, (basemap.north - n) / basemap.gsd_m
        r_px = a.radius_m / basemap.gsd_m
        half = int(4 * r_px) + 2
        r0, r1 = max(int(row) - half, 0), min(int(row) + half, rows)
        c0, c1 = max(int(col) - half, 0), min(int(col) + half, cols)
        if r0 >= r1 or c0 >= c1:
            continue
        dy, dx = yy[r0:r1, c0:c1] - row, xx[r0:r1, c0:c1] - col
        if a.kind == "plume":
            b = math.radians(a.bearing_deg)
            along = dx * math.sin(b) - dy * math.cos(b)
            across = dx * math.cos(b) + dy * math.sin(b)
            d2 = (along / (2.0 * r_px)) ** 2 + (across / r_px) ** 2
            texture = 1 + 0.25 * _noise((r1 - r0, c1 - c0), rng, max(r_px / 4, 1))
            alpha = (a.strength * np.exp(-1.5 * d2) * texture).clip(0, 0.95)[..., None]
            rgb[r0:r1, c0:c1] = rgb[r0:r1, c0:c1] * (1 - alpha) + 0.93 * alpha
        elif a.kind == "hotspot":
            d2 = (dx**2 + dy**2) / r_px**2
            temp[r0:r1, c0:c1] += a.rise_c * np.exp(-2.0 * d2**2)
        elif a.kind == "water_discolouration":
            d2 = (dx**2 + dy**2) / r_px**2
            weight = (a.strength * np.exp(-1.0 * d2**2))[..., None]
            weight = weight * water[r0:r1, c0:c1, None]
            rgb[r0:r1, c0:c1] = rgb[r0:r1, c0:c1] * (1 - weight) + np.asarray(a.colour) * weight
        else:
            raise ValueError(f"unknown anomaly kind {a.kind!r}")
    return replace(basemap, rgb=rgb.clip(0, 1), temp_c=temp)


def synthetic_camera(kind: str = "rgb", *, width: int | None = None) -> Camera:
    """The simulated camera: a 4:3 colour camera (84 degree HFOV) or a 640x512 thermal core."""
    if kind == "thermal":
        return Camera.ideal(
            640, 512, hfov_deg=40.0, model=f"{SYNTHETIC_MAKE} {THERMAL_MODEL}", thermal=True
        )
    w = width or 2000
    return Camera.ideal(w, w * 3 // 4, hfov_deg=73.7, model=f"{SYNTHETIC_MAKE} {RGB_MODEL}")


def _dms(value: float) -> tuple[float, float, float]:
    v = abs(value)
    d = int(v)
    m = int((v - d) * 60)
    return float(d), float(m), round((v - d - m / 60) * 3600, 6)


def _xmp(pose: Pose, camera: Camera, model: str, when: datetime) -> bytes:
    attrs = {
        "xmp:CreateDate": when.isoformat(),
        "xmp:CreatorTool": "ecopatrol synthetic",
        "tiff:Make": SYNTHETIC_MAKE,
        "tiff:Model": model,
        "exif:FocalLength": f"{FOCAL_MM}",
        "exif:FocalPlaneXResolution": f"{camera.fx / FOCAL_MM * 10:.6f}",
        "exif:FocalPlaneYResolution": f"{camera.fy / FOCAL_MM * 10:.6f}",
        "exif:FocalPlaneResolutionUnit": "3",
        "exif:PixelXDimension": f"{camera.width}",
        "exif:PixelYDimension": f"{camera.height}",
        "drone-dji:GpsStatus": "Normal",
        "drone-dji:GpsLatitude": f"{pose.lat:+.9f}",
        "drone-dji:GpsLongitude": f"{pose.lon:+.9f}",
        "drone-dji:AbsoluteAltitude": f"{pose.alt_amsl_m:+.3f}",
        "drone-dji:RelativeAltitude": f"{(pose.alt_rel_m or 0.0):+.3f}",
        "drone-dji:GimbalYawDegree": f"{pose.yaw_deg:+.2f}",
        "drone-dji:GimbalPitchDegree": f"{pose.pitch_deg:+.2f}",
        "drone-dji:GimbalRollDegree": f"{pose.roll_deg:+.2f}",
    }
    body = "\n   ".join(f'{k}="{v}"' for k, v in attrs.items())
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""\n'
        '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
        '    xmlns:tiff="http://ns.adobe.com/tiff/1.0/"\n'
        '    xmlns:exif="http://ns.adobe.com/exif/1.0/"\n'
        '    xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/"\n'
        f"   {body}/>\n </rdf:RDF>\n</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    ).encode()


def _exif(pose: Pose, camera: Camera, model: str, when: datetime) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = SYNTHETIC_MAKE
    exif[0x0110] = model
    exif[0x8769] = {
        0x9003: when.strftime("%Y:%m:%d %H:%M:%S"),
        0x9011: "+00:00",
        0x920A: FOCAL_MM,
        0xA20E: camera.fx / FOCAL_MM * 10,  # pixels per cm on the focal plane
        0xA20F: camera.fy / FOCAL_MM * 10,
        0xA210: 3,
        0xA002: camera.width,
        0xA003: camera.height,
    }
    exif[0x8825] = {
        0: b"\x02\x03\x00\x00",
        1: "N" if pose.lat >= 0 else "S",
        2: _dms(pose.lat),
        3: "E" if pose.lon >= 0 else "W",
        4: _dms(pose.lon),
        5: b"\x00",
        6: round(pose.alt_amsl_m, 3),
    }
    return exif


def render_view(
    georef: Georef, basemap: Basemap, *, kind: str = "rgb", chunk_rows: int = 256
) -> NDArray[np.float32]:
    """The basemap as the camera sees it: (rows, cols, 3) colour or (rows, cols) degrees C."""
    cam = georef.camera
    out = np.zeros(
        (cam.height, cam.width, 3) if kind == "rgb" else (cam.height, cam.width), dtype=np.float32
    )
    cols = np.arange(cam.width, dtype=np.float64)
    for r0 in range(0, cam.height, chunk_rows):
        r1 = min(r0 + chunk_rows, cam.height)
        cc, rr = np.meshgrid(cols, np.arange(r0, r1, dtype=np.float64))
        ground = georef.pixel_to_ground(np.stack([cc.ravel(), rr.ravel()], axis=1))
        if kind == "rgb":
            values = basemap.sample_rgb(ground[:, 0], ground[:, 1])
            values[np.isnan(ground[:, 0])] = (0.62, 0.72, 0.85)  # sky beyond the horizon
            out[r0:r1] = values.reshape(r1 - r0, cam.width, 3)
        else:
            values = basemap.sample_temp(ground[:, 0], ground[:, 1])
            values[np.isnan(ground[:, 0])] = -20.0
            out[r0:r1] = values.reshape(r1 - r0, cam.width)
    return out


def render_captures(
    poses: Sequence[CapturePose | Pose],
    *,
    basemap: Basemap,
    anomalies: Sequence[Anomaly] = (),
    camera: Camera | None = None,
    out_dir: Path,
    kind: str = "rgb",
    seed: int = 0,
    start: datetime | None = None,
    quality: int = 90,
    pose_sigma: tuple[float, float] = (0.0, 0.0),
    first_index: int = 0,
    manifest: bool = True,
) -> list[Path]:
    """Render one image per pose into ``out_dir``, with EXIF/XMP pose and a manifest.

    Parameters
    ----------
    poses : manifest records (a SITL flight's) or poses.
    basemap : the scene, from :func:`make_basemap`.
    anomalies : injected at their ground positions before rendering.
    camera : intrinsics (default :func:`synthetic_camera` for ``kind``).
    kind : ``rgb`` (JPEG) or ``thermal`` (16-bit radiometric TIFF, 0.04 K per count).
    pose_sigma : (horizontal metres, attitude degrees) of Gaussian error added to the pose
        written in the file and manifest (the image is rendered from the true pose), as a
        drone's GNSS and gimbal would report it.
    first_index : the first pose's number in the flight: names, times and each capture's
        noise (seeded by ``seed`` and its number) follow it, so a flight rendered in
        pieces, in parallel, is the same as one rendered whole.
    manifest : write ``out_dir``'s manifest (a piece of a flight leaves it to the caller).

    Returns
    -------
    The image paths, in pose order.
    """
    from imagery.pose import pose_from_manifest

    out_dir.mkdir(parents=True, exist_ok=True)
    camera = camera or synthetic_camera(kind)
    scene = inject(basemap, anomalies, seed=seed) if anomalies else basemap
    start = start or datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
    records: list[CapturePose] = []
    paths: list[Path] = []
    for i, item in enumerate(poses, start=first_index):
        rng = np.random.default_rng([seed, i])
        pose = pose_from_manifest(item) if isinstance(item, CapturePose) else item
        when = start + timedelta(seconds=2 * i)
        # The scene is flat at the take-off height of the pose (so a SITL manifest whose home
        # altitude differs from the basemap's renders at the scale processing will assume).
        ground = pose.ground_alt_m if pose.ground_alt_m is not None else basemap.ground_alt_m
        georef = Georef.build(camera, pose, ground_alt_m=ground)
        view = render_view(georef, scene, kind=kind)
        recorded = _perturb(pose, rng, *pose_sigma) if any(pose_sigma) else pose
        name = f"SYN_{i:04d}_{'T' if kind == 'thermal' else 'W'}"
        if kind == "rgb":
            shade = 1 - 0.15 * _radial(camera)[..., None]
            noisy = view * shade + rng.normal(0, 0.01, view.shape).astype(np.float32)
            image = Image.fromarray((noisy.clip(0, 1) * 255).astype(np.uint8))
            path = out_dir / f"{name}.JPG"
            image.save(
                path,
                quality=quality,
                exif=_exif(recorded, camera, RGB_MODEL, when),
                xmp=_xmp(recorded, camera, RGB_MODEL, when),
            )
        else:
            kelvin = view + 273.15 + rng.normal(0, 0.08, view.shape).astype(np.float32)
            counts = np.round(kelvin / FLIR_K_PER_COUNT).clip(0, 65535).astype(np.uint16)
            image = Image.fromarray(counts)
            path = out_dir / f"{name}.tiff"
            image.save(
                path,
                exif=_exif(recorded, camera, THERMAL_MODEL, when),
                tiffinfo={
                    270: RADIOMETRIC_DESCRIPTION,
                    700: _xmp(recorded, camera, THERMAL_MODEL, when),
                },
            )
        paths.append(path)
        records.append(_record(i, recorded, when, path.name, item))

    if manifest:
        write_manifest(out_dir / MANIFEST_NAME, records)
    logger.info("rendered %d %s captures into %s", len(paths), kind, out_dir)
    return paths


def _perturb(pose: Pose, rng: np.random.Generator, sigma_m: float, sigma_deg: float) -> Pose:
    """The pose as a drone with these GNSS and attitude errors would record it."""
    dn, de = rng.normal(0, sigma_m, 2)
    dy, dp, dr = rng.normal(0, sigma_deg, 3)
    return replace(
        pose,
        lat=pose.lat + dn / 111_320.0,
        lon=pose.lon + de / (111_320.0 * math.cos(math.radians(pose.lat))),
        yaw_deg=pose.yaw_deg + dy,
        pitch_deg=max(pose.pitch_deg + dp, -90.0),
        roll_deg=pose.roll_deg + dr,
    )


def _radial(camera: Camera) -> NDArray[np.float32]:
    yy, xx = np.mgrid[0 : camera.height, 0 : camera.width].astype(np.float32)
    r2 = ((xx - camera.cx) / camera.width) ** 2 + ((yy - camera.cy) / camera.height) ** 2
    return (r2 / r2.max()).astype(np.float32)


def _record(i: int, pose: Pose, when: datetime, image: str, item: object) -> CapturePose:
    base = item if isinstance(item, CapturePose) else None
    return CapturePose(
        index=base.index if base else i,
        time_utc=when.isoformat(),
        lat=pose.lat,
        lon=pose.lon,
        alt_amsl_m=pose.alt_amsl_m,
        alt_rel_m=pose.alt_rel_m if pose.alt_rel_m is not None else 0.0,
        roll_deg=base.roll_deg if base else 0.0,
        pitch_deg=base.pitch_deg if base else 0.0,
        yaw_deg=base.yaw_deg if base else pose.yaw_deg,
        camera_roll_deg=pose.roll_deg,
        camera_pitch_deg=pose.pitch_deg,
        camera_yaw_deg=pose.yaw_deg,
        image=image,
    )


@dataclass(frozen=True)
class SurveyLine:
    """A straight pass of nadir captures, handy for tests and benchmarks."""

    start_lon: float
    start_lat: float
    bearing_deg: float
    spacing_m: float
    count: int
    alt_rel_m: float = 60.0
    ground_alt_m: float = 110.0

    def poses(self) -> list[Pose]:
        """Captures every ``spacing_m`` along ``bearing_deg`` from true north (the heading
        the poses record), not along the UTM grid's north."""
        b = math.radians(self.bearing_deg)
        out = []
        for i in range(self.count):
            step = i * self.spacing_m
            lon, lat = offset_true(
                self.start_lon, self.start_lat, step * math.sin(b), step * math.cos(b)
            )
            out.append(
                Pose(
                    lat=lat,
                    lon=lon,
                    alt_amsl_m=self.ground_alt_m + self.alt_rel_m,
                    alt_rel_m=self.alt_rel_m,
                    yaw_deg=self.bearing_deg,
                    pitch_deg=-90.0,
                    roll_deg=0.0,
                    source="synthetic",
                )
            )
        return out
