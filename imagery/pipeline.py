"""One capture in, small picklable results out: the unit a dispatcher distributes.

:func:`process_capture` reads one file, georeferences it, runs the detectors
at working resolution (JPEGs are decoded at 1/2, 1/4 or 1/8 scale straight
from the DCT, which is what keeps a 20 MP frame cheap), places every
detection and returns a :class:`CaptureResult`.

Placing a detection starts from its pixels' rays and the zone's sources (stacks
and outfalls as vertical lines, :func:`imagery.sites.source_axes`). A plume
whose rays pass near a stack's mouth, or anything whose rays meet a stack's
wall above its base, is attributed to that stack and placed in the air: on the
ray nearest the mouth (a plume) or the axis (anything else), with its height
above the stack's base and its distance from the mouth. That point's depth
along the ray comes from the stack; several captures of it fix it by least
squares instead (:mod:`imagery.persist`). Everything else is cast to the
ground as before, and attributed to an outfall its outline comes near. It never
raises for a bad image: the failure and its reason are in the result, so a
batch goes on. Evidence images (thumbnail, overlay, mask) are written only
when ``evidence_dir`` is given, under the file's hash, so re-processing
rewrites the same files.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw
from shapely.geometry import LineString, Point, Polygon, mapping
from skimage.measure import find_contours

from imagery.camera import Camera
from imagery.dem import Dem, dem_around
from imagery.detect.base import Detection, Detector, Frame, select
from imagery.errors import ImageryError
from imagery.georef import MAX_RANGE_M, Georef
from imagery.limits import DEFAULT_MAX_PIXELS, check_image_size
from imagery.metadata import CaptureMeta, pose_from_metadata, read_metadata
from imagery.pose import Pose
from imagery.sites import Axis, assign, nearest_on_ray, ray_axis_distance, source_axes
from imagery.thermal import ThermalFrame, read_thermal
from zone.sites import Sites

logger = logging.getLogger(__name__)

DEFAULT_WORK_PX = 1400
"""Long side the detectors work at (the JPEG DCT scale closest above two thirds of it)."""
WATER_KINDS = frozenset({"water_discolouration", "foam"})
"""Findings on a river's surface: attributed to outfalls, never to stacks."""
SOURCE_TOLERANCE_M = 2.0
"""Rays passing within a stack's radius plus this are on it; farther out they see past it."""
PLUME_REACH_M = 10.0
"""A plume's nearest rays may pass this far outside its stack's wall (it bends downwind)."""
OUTFALL_REACH_M = 30.0
"""A ground finding whose outline comes this near an outfall is attributed to it."""
MIN_ELEVATED_M = 3.0
"""A finding whose point is this high above its stack's base is placed in the air."""
MAX_RAYS = 3000
"""Rays cast per detection to attribute it (its mask, evenly thinned)."""


@dataclass(frozen=True, slots=True)
class FindingResult:
    """One finding, ready for the store (field names match ``store.models.Finding``).

    ``source_id`` is the stack or outfall the finding is attributed to, when one
    is. A finding in the air (a plume above its stack, a hot stack mouth) has its
    point's ``alt_amsl_m`` and ``height_agl_m`` (above the ground at its source),
    ``lat``/``lon`` under that point and no ground polygon; ``source_distance_m``
    is metres from the source's mouth (in the air) or its foot (on the ground).
    """

    dedupe_key: str
    kind: str
    detector: str
    detector_version: str
    score: float
    severity: str
    pixel_box: tuple[int, int, int, int]
    ground_polygon: dict[str, Any] | None
    lat: float
    lon: float
    utm_epsg: int | None
    utm_e: float | None
    utm_n: float | None
    area_m2: float | None
    position_error_m: float | None
    site_id: str | None
    measurements: dict[str, Any]
    source_id: str | None = None
    alt_amsl_m: float | None = None
    height_agl_m: float | None = None
    source_distance_m: float | None = None
    thumbnail_path: str | None = None
    overlay_path: str | None = None
    mask_path: str | None = None

    def row(self) -> dict[str, Any]:
        out = asdict(self)
        out["pixel_box"] = list(self.pixel_box)
        return out


@dataclass(frozen=True, slots=True)
class CaptureResult:
    """What processing one capture produced; ``failure_reason`` set means it failed."""

    path: str
    sha256: str
    kind: str
    index: int | None = None
    width: int | None = None
    height: int | None = None
    taken_at: datetime | None = None
    pose: dict[str, Any] | None = None
    camera: dict[str, Any] | None = None
    footprint: dict[str, Any] | None = None
    position_error_m: float | None = None
    failure_reason: str | None = None
    warnings: tuple[str, ...] = ()
    findings: tuple[FindingResult, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.failure_reason is None

    def capture_row(self) -> dict[str, Any]:
        """Columns of ``store.models.Capture``."""
        pose = self.pose or {}
        pose_json = dict(pose)
        if self.camera:
            pose_json["camera"] = self.camera
        if self.warnings:
            pose_json["warnings"] = list(self.warnings)
        return {
            "index": self.index,
            "path": self.path,
            "sha256": self.sha256,
            "kind": self.kind,
            "width": self.width,
            "height": self.height,
            "taken_at": self.taken_at,
            "lat": pose.get("lat"),
            "lon": pose.get("lon"),
            "alt_amsl_m": pose.get("alt_amsl_m"),
            "alt_rel_m": pose.get("alt_rel_m"),
            "pose": pose_json or None,
            "footprint": self.footprint,
            "position_error_m": self.position_error_m,
            "status": "processed" if self.ok else "failed",
            "failure_reason": self.failure_reason,
        }


def file_sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def decode_rgb(path: Path, *, work_px: int = DEFAULT_WORK_PX) -> NDArray[np.float32]:
    """The colour image at working resolution, float32 in [0, 1].

    JPEGs are decoded directly at a reduced DCT scale (``Image.draft``); other
    formats are decoded and then reduced by an integer factor.
    """
    with Image.open(path) as im:
        w, h = im.size
        factor = 1
        while factor < 8 and max(w, h) / (factor * 2) >= work_px * 2 / 3:
            factor *= 2
        if im.format == "JPEG" and factor > 1:
            im.draft("RGB", (math.ceil(w / factor), math.ceil(h / factor)))
            rgb = im.convert("RGB")
        else:
            rgb = im.convert("RGB")
            if factor > 1:
                rgb = rgb.reduce(factor)
        return np.asarray(rgb, dtype=np.float32) / 255.0


def _severity(det: Detection) -> str:
    rise = det.measurements.get("rise_c")
    if isinstance(rise, float) and rise >= 30:
        return "high"
    if det.score >= 0.8:
        return "high"
    return "medium" if det.score >= 0.5 else "low"


def _outline(det: Detection) -> NDArray[np.float64]:
    """Pixel (col, row) outline of a detection on the frame grid."""
    padded = np.pad(det.mask, 1)
    contours = find_contours(padded.astype(np.float32), 0.5)
    r0, c0, r1, c1 = det.box
    if not contours:
        return np.array([[c0, r0], [c1, r0], [c1, r1], [c0, r1]], dtype=np.float64)
    contour = max(contours, key=len)
    ring = np.asarray(LineString(contour).simplify(1.0).coords) if len(contour) > 3 else contour
    return np.stack([ring[:, 1] - 1 + c0, ring[:, 0] - 1 + r0], axis=1)


@dataclass(frozen=True, slots=True)
class _StackFit:
    """A detection's rays against the nearest stack: where on them the finding is.

    ``point`` (3,) and ``uv`` (2,) are the finding's point in the world frame
    (x east, y north, z AMSL; the georeference's) and the work-grid pixel whose
    ray gives it; ``distance_m`` is how near the detection's rays pass the
    stack (their 5th percentile); ``runner_up`` the next stack and its distance.
    """

    axis: Axis
    point: NDArray[np.float64]
    uv: NDArray[np.float64]
    target: NDArray[np.float64]
    distance_m: float
    runner_up: tuple[str, float] | None


@dataclass(frozen=True, slots=True)
class _Where:
    """Where a finding is, in the store's terms (see :class:`FindingResult`)."""

    lon: float
    lat: float
    x: float
    y: float
    area_m2: float | None
    error_m: float
    polygon_ll: dict[str, Any] | None = None
    polygon: Polygon | None = None
    alt_amsl_m: float | None = None
    height_agl_m: float | None = None
    source: Axis | None = None
    source_distance_m: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _mask_uv(det: Detection, max_n: int = MAX_RAYS) -> NDArray[np.float64]:
    """(N, 2) work-grid pixels (column, row) of a detection's mask, evenly thinned to max_n."""
    rr, cc = np.nonzero(det.mask)
    step = max(len(rr) // max_n, 1)
    r0, c0 = det.box[:2]
    return np.stack([cc[::step] + c0, rr[::step] + r0], axis=1).astype(np.float64)


def _fit_stack(det: Detection, georef: Georef, axes: Sequence[Axis]) -> _StackFit | None:
    """The stack whose vertical line the detection's rays pass nearest, if near enough.

    A plume rises from its stack's mouth: its rays must pass within the stack's
    radius plus :data:`PLUME_REACH_M` of the mouth (a steam plume condenses a
    few metres above it), and its point is on the ray passing nearest the
    mouth. Anything else must be on the stack, base to mouth (its rays within
    the radius plus :data:`SOURCE_TOLERANCE_M`, the pose's error at orbit
    range), its point on its central ray, nearest the axis.
    """
    stacks = [a for a in axes if a.kind == "stack" and a.height_m > 0]
    if not stacks:
        return None
    plume = det.kind == "plume"
    uv = _mask_uv(det)
    rays, origin = georef.rays(uv), georef.origin
    if plume:
        # A plume leaves its own mouth: its nearest ray passes there. (Another stack's
        # column may stand in front of it, but that stack's mouth is not at the plume's root.)
        misses = [_miss(origin, rays, a.mouth) for a in stacks]
        scored = sorted((float(m.min()), i) for i, m in enumerate(misses))
    else:
        scored = sorted(
            (float(np.percentile(ray_axis_distance(origin, rays, a)[0], 5)), i)
            for i, a in enumerate(stacks)
        )
    best, axis = scored[0][0], stacks[scored[0][1]]
    if best > axis.radius_m + (PLUME_REACH_M if plume else SOURCE_TOLERANCE_M):
        return None
    if plume:
        k = int(np.argmin(misses[scored[0][1]]))
        target = axis.mouth
    else:
        k = int(np.argmin(np.linalg.norm(uv - uv.mean(axis=0), axis=1)))
        _, z = ray_axis_distance(origin, rays[k : k + 1], axis)
        target = axis.foot + np.array([0.0, 0.0, float(z[0])])
    runner = (stacks[scored[1][1]].source_id, round(scored[1][0], 1)) if len(scored) > 1 else None
    point = nearest_on_ray(origin, rays[k], target)
    return _StackFit(axis, point, uv[k], target, best, runner)


def _miss(
    origin: NDArray[np.float64], rays: NDArray[np.float64], point: NDArray[np.float64]
) -> NDArray[np.float64]:
    """(N,) metres by which each ray (in front of the camera) misses ``point``; inf behind."""
    to_point = point - origin
    along = rays @ to_point
    miss = np.linalg.norm(to_point - along[:, None] * rays, axis=1)
    return np.where(along > 0, miss, np.inf)


def _air_error(georef: Georef, fit: _StackFit) -> float:
    """1-sigma error (m, 3-D) of a point in the air: each pose uncertainty perturbed in turn,
    the point found again on the moved ray, the displacements summed in quadrature."""
    pose = georef.pose
    squares = [pose.sigma_h_m**2]
    for name, sigma in (
        ("yaw_deg", pose.sigma_att_deg),
        ("pitch_deg", pose.sigma_att_deg),
        ("roll_deg", pose.sigma_att_deg),
        ("alt_amsl_m", pose.sigma_v_m),
    ):
        moved = replace(georef, pose=replace(pose, **{name: getattr(pose, name) + sigma}))
        ray = moved.rays(fit.uv[None, :])[0]
        squares.append(
            float(np.sum((nearest_on_ray(moved.origin, ray, fit.target) - fit.point) ** 2))
        )
    return math.sqrt(sum(squares))


def _axis_lonlat(georef: Georef, axis: Axis) -> list[float]:
    """``[lon, lat, foot altitude AMSL, height of the mouth above the foot]`` of a source."""
    lon, lat = georef.to_lonlat(axis.foot[:1], axis.foot[1:2])
    return [float(lon[0]), float(lat[0]), round(float(axis.foot[2]), 3), axis.height_m]


def _in_air(det: Detection, georef: Georef, fit: _StackFit) -> _Where:
    """A finding in the air at its stack: its point, height and distance from the mouth."""
    lon, lat = georef.to_lonlat(fit.point[:1], fit.point[1:2])
    range_m = float(np.linalg.norm(fit.point - georef.origin))
    px_m = range_m / georef.camera.fx  # a work-grid pixel's size across the ray at that range
    camera_lon, camera_lat = georef.pose.lon, georef.pose.lat
    return _Where(
        lon=float(lon[0]),
        lat=float(lat[0]),
        x=float(fit.point[0]),
        y=float(fit.point[1]),
        area_m2=round(float(det.mask.sum()) * px_m**2, 2),
        error_m=_air_error(georef, fit),
        alt_amsl_m=round(float(fit.point[2]), 2),
        height_agl_m=round(float(fit.point[2] - fit.axis.foot[2]), 2),
        source=fit.axis,
        source_distance_m=round(float(np.linalg.norm(fit.point - fit.axis.mouth)), 2),
        extra={
            "placed": "air",
            "range_m": round(range_m, 1),
            "source_axis": _axis_lonlat(georef, fit.axis),
            "ray": {
                "from": [camera_lon, camera_lat, georef.pose.alt_amsl_m],
                "to": [float(lon[0]), float(lat[0]), round(float(fit.point[2]), 3)],
            },
        },
    )


def _on_ground(det: Detection, georef: Georef) -> _Where | None:
    """A detection's outline cast to the ground; None when its pixels see no ground."""
    outline = _outline(det)
    ground = georef.pixel_to_ground(outline)
    ok = np.isfinite(ground[:, 0])
    if ok.sum() < 3:
        return None
    poly = Polygon(ground[ok, :2]).buffer(0)
    if poly.is_empty:
        return None
    centre = poly.centroid
    lon, lat = georef.to_lonlat(np.array([centre.x]), np.array([centre.y]))
    ring_lon, ring_lat = georef.to_lonlat(ground[ok, 0], ground[ok, 1])
    ll_poly = Polygon(np.stack([ring_lon, ring_lat], axis=1)).buffer(0)
    centre_px = georef.ground_to_pixel(
        np.array([[centre.x, centre.y, float(np.nanmean(ground[ok, 2]))]])
    )[0]
    return _Where(
        lon=float(lon[0]),
        lat=float(lat[0]),
        x=float(centre.x),
        y=float(centre.y),
        area_m2=round(float(poly.area), 2),
        error_m=georef.position_error_m(centre_px),
        polygon_ll=mapping(ll_poly) if not ll_poly.is_empty else None,
        polygon=poly,
    )


def _ground_source(where: _Where, fit: _StackFit | None, axes: Sequence[Axis]) -> _Where:
    """A ground finding's source: the stack its rays met at its foot, else an outfall whose
    point is within :data:`OUTFALL_REACH_M` of its outline."""
    if fit is not None:
        gap = math.hypot(where.x - fit.axis.foot[0], where.y - fit.axis.foot[1])
        return replace(where, source=fit.axis, source_distance_m=round(gap, 2))
    outfalls = [a for a in axes if a.kind == "outfall"]
    if not outfalls or where.polygon is None:
        return where
    gaps = [where.polygon.distance(Point(a.foot[0], a.foot[1])) for a in outfalls]
    i = int(np.argmin(gaps))
    if gaps[i] > OUTFALL_REACH_M:
        return where
    return replace(where, source=outfalls[i], source_distance_m=round(float(gaps[i]), 2))


def _locate(det: Detection, georef: Georef, axes: Sequence[Axis]) -> _Where | None:
    """Where a detection is: in the air at a stack, or on the ground (with its source)."""
    fit = None if det.kind in WATER_KINDS else _fit_stack(det, georef, axes)
    if fit is not None and fit.point[2] - fit.axis.foot[2] >= MIN_ELEVATED_M:
        where = _in_air(det, georef, fit)
    else:
        ground = _on_ground(det, georef)
        if ground is None:
            return None
        where = _ground_source(ground, fit, axes)
    if fit is not None:
        where.extra["source_ray_distance_m"] = round(fit.distance_m, 2)
        if fit.runner_up is not None:
            where.extra["source_runner_up"] = fit.runner_up[0]
            where.extra["source_runner_up_distance_m"] = fit.runner_up[1]
    return where


def _place(
    det: Detection,
    georef: Georef,
    sites: Sites | None,
    axes: Sequence[Axis],
    *,
    scale: float,
    key_prefix: str,
    detector: Detector,
) -> FindingResult | None:
    """Place a detection (in the air or on the ground); None when it can be placed nowhere."""
    where = _locate(det, georef, axes)
    if where is None:
        return None
    r0, c0, r1, c1 = det.box
    box_full = (int(c0 * scale), int(r0 * scale), math.ceil(c1 * scale), math.ceil(r1 * scale))
    measurements: dict[str, Any] = {**det.measurements, **where.extra}
    site_id = where.source.site_id if where.source is not None else None
    if sites is not None and site_id is None:
        assigned = assign(sites, where.lon, where.lat, det.kind)
        site_id = assigned.pop("site_id", None)
        measurements.update({f"site_{k}": v for k, v in assigned.items()})
    key = f"{key_prefix}:{detector.name}:{detector.version}:{det.kind}:" + ",".join(
        map(str, box_full)
    )
    return FindingResult(
        dedupe_key=key,
        kind=det.kind,
        detector=detector.name,
        detector_version=detector.version,
        score=round(det.score, 4),
        severity=_severity(det),
        pixel_box=box_full,
        ground_polygon=where.polygon_ll,
        lat=where.lat,
        lon=where.lon,
        utm_epsg=georef.epsg,
        utm_e=round(where.x, 3),
        utm_n=round(where.y, 3),
        area_m2=where.area_m2,
        position_error_m=round(where.error_m, 2) if math.isfinite(where.error_m) else None,
        site_id=site_id,
        measurements=measurements,
        source_id=where.source.source_id if where.source is not None else None,
        alt_amsl_m=where.alt_amsl_m,
        height_agl_m=where.height_agl_m,
        source_distance_m=where.source_distance_m,
    )


def _preview(frame: Frame) -> Image.Image:
    if frame.rgb is not None:
        return Image.fromarray((frame.rgb * 255).astype(np.uint8))
    assert frame.thermal is not None
    v = frame.thermal.values
    lo, hi = np.percentile(v, [1, 99.9])
    grey = np.clip((v - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(np.uint8)
    return Image.fromarray(grey).convert("RGB")


def _write_evidence(
    frame: Frame,
    placed: list[tuple[Detection, FindingResult]],
    out_dir: Path,
) -> list[FindingResult]:
    """Thumbnail, mask and a shared overlay per capture, named by dedupe key."""
    out_dir.mkdir(parents=True, exist_ok=True)
    base = _preview(frame)
    overlay = base.copy()
    draw = ImageDraw.Draw(overlay)
    for det, _ in placed:
        outline = _outline(det)
        draw.line(
            [(float(x), float(y)) for x, y in outline] + [tuple(outline[0])],
            fill=(255, 0, 0),
            width=max(2, base.width // 400),
        )
    overlay.thumbnail((1280, 1280))
    overlay_path = out_dir / "overlay.jpg"
    overlay.save(overlay_path, quality=85)
    results = []
    for i, (det, finding) in enumerate(placed):
        r0, c0, r1, c1 = det.box
        pad = max(r1 - r0, c1 - c0) // 2 + 8
        crop = base.crop(
            (
                max(c0 - pad, 0),
                max(r0 - pad, 0),
                min(c1 + pad, base.width),
                min(r1 + pad, base.height),
            )
        )
        crop.thumbnail((256, 256))
        stem = hashlib.sha1(finding.dedupe_key.encode()).hexdigest()[:12]
        thumb = out_dir / f"{i:03d}-{stem}-thumb.jpg"
        crop.save(thumb, quality=85)
        mask = out_dir / f"{i:03d}-{stem}-mask.png"
        Image.fromarray(det.mask.astype(np.uint8) * 255).save(mask)
        results.append(
            replace(
                finding,
                thumbnail_path=str(thumb),
                overlay_path=str(overlay_path),
                mask_path=str(mask),
            )
        )
    return results


def _camera_dict(camera: Camera) -> dict[str, Any]:
    return {
        "model": camera.model,
        "width": camera.width,
        "height": camera.height,
        "fx": round(camera.fx, 3),
        "fy": round(camera.fy, 3),
        "cx": camera.cx,
        "cy": camera.cy,
        "distortion": [camera.k1, camera.k2, camera.k3, camera.p1, camera.p2],
        "notes": list(camera.notes),
    }


def _editing_warning(meta: CaptureMeta) -> str | None:
    tool = meta.xmp.get("http://ns.adobe.com/xap/1.0/", {}).get("CreatorTool", "")
    if tool and not any(s in tool.lower() for s in ("dji", "sensefly", "flir", "ecopatrol")):
        return (
            f"image re-saved by {tool!r} after capture: pixels may be rotated or cropped "
            "against the recorded pose"
        )
    return None


def process_capture(
    path: Path,
    *,
    pose: Pose | None = None,
    camera: Camera | None = None,
    dem: Path | Dem | None = None,
    ground_alt_m: float | None = None,
    sites: Sites | None = None,
    detectors: Sequence[Detector] | None = None,
    evidence_dir: Path | None = None,
    geotiff_dir: Path | None = None,
    work_px: int = DEFAULT_WORK_PX,
    index: int | None = None,
    takeoff_ground_amsl_m: float | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> CaptureResult:
    """Georeference one capture and find anomalies in it.

    Parameters
    ----------
    path : the image file.
    pose : the pose from a flight manifest; read from EXIF/XMP when None.
    camera : intrinsics for the full-size image; from EXIF and the camera database when None.
    dem : a DEM (path or loaded) to ray-cast onto; flat ground at ``ground_alt_m`` or the
        take-off height otherwise.
    sites : known stacks, rivers and enterprises (plume and water detectors need them).
    detectors : which detectors to run (default: every registered one).
    evidence_dir : where to write thumbnails, masks and overlays (none written when None).
    geotiff_dir : where to write the capture as a UTM GeoTIFF at working resolution.
    takeoff_ground_amsl_m : ground height AMSL where the flight took off (the dock's
        ``ground_alt_m``, or the DEM there): the camera's height becomes this plus its height
        above take-off, instead of the file's absolute altitude.
    max_pixels : images larger than this are refused from their header, undecoded.

    Returns
    -------
    CaptureResult, with ``failure_reason`` set (and no findings) when the image cannot be
    read or georeferenced.
    """
    path = Path(path)
    try:
        sha = file_sha256(path)
    except OSError as exc:
        return CaptureResult(
            str(path),
            "",
            "unknown",
            index=index,
            failure_reason=f"unreadable file: {exc.strerror or exc}",
        )
    warnings: list[str] = []
    try:
        check_image_size(path, max_pixels=max_pixels)  # a pixel bomb is refused undecoded
        meta = read_metadata(path)
        warning = _editing_warning(meta)
        if warning:
            warnings.append(warning)
        pose = pose or pose_from_metadata(meta)
        camera = camera or meta.camera()
        if (camera.width, camera.height) != (meta.width, meta.height):
            camera = camera.scaled(meta.width, meta.height)
        warnings.extend(n for n in camera.notes if "assumed" in n)
        loaded_dem = dem
        if isinstance(dem, Path | str):
            loaded_dem = dem_around(dem, pose.lon, pose.lat, radius_m=MAX_RANGE_M)
        georef_full = Georef.build(
            camera,
            pose,
            dem=loaded_dem if isinstance(loaded_dem, Dem) else None,
            ground_alt_m=ground_alt_m,
            takeoff_ground_amsl_m=takeoff_ground_amsl_m,
        )
        footprint = georef_full.footprint()
        f_lon, f_lat = georef_full.to_lonlat(*np.asarray(footprint.exterior.coords).T)
        footprint_ll = mapping(Polygon(np.stack([f_lon, f_lat], axis=1)))
        capture_error = georef_full.position_error_m()
        thermal: ThermalFrame | None = None
        rgb = None
        if meta.kind == "thermal":
            thermal = read_thermal(path, meta)
            rows, cols = thermal.values.shape
        else:
            rgb = decode_rgb(path, work_px=work_px)
            rows, cols = rgb.shape[:2]
    except (ImageryError, OSError) as exc:
        logger.info("capture %s failed: %s", path, exc)
        return CaptureResult(
            str(path),
            sha,
            "unknown",
            index=index,
            failure_reason=str(exc),
            warnings=tuple(warnings),
        )
    georef = georef_full.with_camera(camera.scaled(cols, rows))
    frame = Frame(meta.kind, rgb=rgb, thermal=thermal, georef=georef, sites=sites)
    scale = meta.width / cols
    chosen = select() if detectors is None else list(detectors)
    placed: list[tuple[Detection, FindingResult]] = []
    axes = source_axes(sites, georef)
    for detector in chosen:
        if meta.kind not in detector.kinds:
            continue
        for det in detector.detect(frame):
            finding = _place(
                det, georef, sites, axes, scale=scale, key_prefix=sha[:20], detector=detector
            )
            if finding is None:
                warnings.append(
                    f"{detector.name}: a {det.kind} at {det.box} is on no stack and sees no ground"
                )
                continue
            placed.append((det, finding))
    findings = [f for _, f in placed]
    if geotiff_dir is not None:
        from imagery.geotiff import write_geotiff

        pixels = rgb if rgb is not None else thermal.values if thermal is not None else None
        assert pixels is not None
        try:
            write_geotiff(pixels, georef, Path(geotiff_dir) / f"{path.stem}-{sha[:8]}.tif")
        except ImageryError as exc:
            warnings.append(f"no GeoTIFF: {exc}")
    if evidence_dir is not None and placed:
        findings = _write_evidence(frame, placed, Path(evidence_dir) / sha[:16])
    return CaptureResult(
        path=str(path),
        sha256=sha,
        kind=meta.kind,
        index=index,
        width=meta.width,
        height=meta.height,
        taken_at=meta.taken_at,
        pose=georef_full.pose.as_dict(),  # as cast: anchored to the take-off ground if given
        camera=_camera_dict(camera),
        footprint=footprint_ll,
        position_error_m=round(capture_error, 2) if math.isfinite(capture_error) else None,
        warnings=tuple(warnings),
        findings=tuple(findings),
    )
