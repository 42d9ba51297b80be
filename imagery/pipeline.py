"""One capture in, small picklable results out: the unit a dispatcher distributes.

:func:`process_capture` reads one file, georeferences it, runs the detectors
at working resolution (JPEGs are decoded at 1/2, 1/4 or 1/8 scale straight
from the DCT, which is what keeps a 20 MP frame cheap), places every
detection on the ground and returns a :class:`CaptureResult`. It never
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
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw
from shapely.geometry import LineString, Polygon, mapping
from skimage.measure import find_contours

from imagery.camera import Camera
from imagery.dem import Dem, load_dem
from imagery.detect.base import Detection, Detector, Frame, select
from imagery.errors import ImageryError
from imagery.georef import Georef
from imagery.metadata import CaptureMeta, pose_from_metadata, read_metadata
from imagery.pose import Pose
from imagery.sites import Sites
from imagery.thermal import ThermalFrame, read_thermal

logger = logging.getLogger(__name__)

DEFAULT_WORK_PX = 1400
"""Long side the detectors work at (the JPEG DCT scale closest above two thirds of it)."""


@dataclass(frozen=True, slots=True)
class FindingResult:
    """One finding, ready for the store (field names match ``store.models.Finding``)."""

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


@lru_cache(maxsize=8)
def _dem_tile(path: str, lon_tile: int, lat_tile: int) -> Dem:
    """DEM window of 0.1 x 0.1 degrees (plus margin) around a capture, cached per worker."""
    w, s = lon_tile * 0.1 - 0.05, lat_tile * 0.1 - 0.05
    return load_dem(Path(path), bounds_lonlat=(w, s, w + 0.2, s + 0.2))


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


def _place(
    det: Detection,
    georef: Georef,
    sites: Sites | None,
    *,
    scale: float,
    key_prefix: str,
    detector: Detector,
) -> FindingResult | None:
    """Put a detection on the ground; None when its pixels see no ground."""
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
    r0, c0, r1, c1 = det.box
    centre_px = georef.ground_to_pixel(
        np.array([[centre.x, centre.y, float(np.nanmean(ground[ok, 2]))]])
    )[0]
    error = georef.position_error_m(centre_px)
    box_full = (
        int(c0 * scale),
        int(r0 * scale),
        math.ceil(c1 * scale),
        math.ceil(r1 * scale),
    )
    measurements: dict[str, Any] = dict(det.measurements)
    site_id = None
    if sites is not None:
        assigned = sites.assign(float(lon[0]), float(lat[0]), det.kind)
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
        ground_polygon=mapping(ll_poly) if not ll_poly.is_empty else None,
        lat=float(lat[0]),
        lon=float(lon[0]),
        utm_epsg=georef.epsg,
        utm_e=round(float(centre.x), 3),
        utm_n=round(float(centre.y), 3),
        area_m2=round(float(poly.area), 2),
        position_error_m=round(error, 2) if math.isfinite(error) else None,
        site_id=site_id,
        measurements=measurements,
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
    from dataclasses import replace

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
            loaded_dem = _dem_tile(str(dem), round(pose.lon * 10), round(pose.lat * 10))
        georef_full = Georef.build(
            camera,
            pose,
            dem=loaded_dem if isinstance(loaded_dem, Dem) else None,
            ground_alt_m=ground_alt_m,
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
    for detector in chosen:
        if meta.kind not in detector.kinds:
            continue
        for det in detector.detect(frame):
            finding = _place(
                det, georef, sites, scale=scale, key_prefix=sha[:20], detector=detector
            )
            if finding is None:
                warnings.append(f"{detector.name}: a {det.kind} at {det.box} sees no ground")
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
        pose=pose.as_dict(),
        camera=_camera_dict(camera),
        footprint=footprint_ll,
        position_error_m=round(capture_error, 2) if math.isfinite(capture_error) else None,
        warnings=tuple(warnings),
        findings=tuple(findings),
    )


@lru_cache(maxsize=4)
def _sites(path: str) -> Sites:
    from imagery.sites import load_sites

    return load_sites(Path(path))


def run_job(params: dict[str, Any]) -> CaptureResult:
    """:func:`process_capture` with plain parameters, for the dispatcher.

    ``params``: ``path``; optional ``pose`` (a manifest record as a dict),
    ``dem``, ``sites`` (paths), ``ground_alt_m``, ``evidence_dir``,
    ``detectors`` (names), ``index``.
    """
    from imagery.pose import pose_from_manifest
    from missions.manifest import CapturePose

    pose = pose_from_manifest(CapturePose(**params["pose"])) if params.get("pose") else None
    return process_capture(
        Path(params["path"]),
        pose=pose,
        dem=Path(params["dem"]) if params.get("dem") else None,
        ground_alt_m=params.get("ground_alt_m"),
        sites=_sites(str(params["sites"])) if params.get("sites") else None,
        detectors=select(params["detectors"]) if params.get("detectors") else None,
        evidence_dir=Path(params["evidence_dir"]) if params.get("evidence_dir") else None,
        index=params.get("index"),
    )
