"""Capture metadata from EXIF and XMP: position, camera attitude, optics.

Read without decoding pixels (Pillow parses headers lazily). Recognised
schemas, in order of trust:

* DJI ``drone-dji`` XMP: gimbal yaw/pitch/roll (the camera's own attitude),
  absolute and relative altitude, GPS status, laser rangefinder target;
* senseFly XMP: aircraft heading/pitch/roll of a fixed (nadir) camera,
  height above ground and AMSL altitude;
* plain EXIF GPS: a position only, which is not enough to georeference.

Anything missing or invalid is reported as a :class:`~imagery.errors.PoseError`
with the reason; nothing is assumed (no silent nadir).
"""

from __future__ import annotations

import logging
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from imagery.camera import Camera, ExifOptics, intrinsics
from imagery.errors import PoseError, UnreadableImageError
from imagery.pose import SIGMA_ATT_AIRFRAME_DEG, LaserTarget, Pose, airframe_to_camera_angles

logger = logging.getLogger(__name__)

_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
NS_DJI = "http://www.dji.com/drone-dji/1.0/"
NS_SENSEFLY = "http://ns.sensefly.com/sensefly/1.0/"
NS_EXIF = "http://ns.adobe.com/exif/1.0/"
THERMAL_SIZES = {(640, 512), (320, 256), (336, 256), (160, 120), (640, 480), (1280, 1024)}


@dataclass(frozen=True, slots=True)
class CaptureMeta:
    """Everything read from one image's headers."""

    path: str
    width: int
    height: int
    mode: str
    kind: str
    make: str
    model: str
    taken_at: datetime | None
    optics: ExifOptics
    xmp: dict[str, dict[str, str]] = field(default_factory=dict)
    gps: tuple[float, float, float | None] | None = None

    def dji(self, key: str) -> str | None:
        return self.xmp.get(NS_DJI, {}).get(key)

    def camera(self) -> Camera:
        """Intrinsics of the saved image (see :func:`imagery.camera.intrinsics`)."""
        return intrinsics(self.optics, self.width, self.height, thermal=self.kind == "thermal")


def parse_xmp(packet: bytes | str | None) -> dict[str, dict[str, str]]:
    """XMP properties by namespace URI, from attributes and simple elements alike."""
    if not packet:
        return {}
    text = packet.decode("utf-8", "replace") if isinstance(packet, bytes) else packet
    start, end = text.find("<x:xmpmeta"), text.rfind("</x:xmpmeta>")
    if start < 0 or end < 0:
        return {}
    try:
        root = ET.fromstring(text[start : end + len("</x:xmpmeta>")])
    except ET.ParseError as exc:
        logger.warning("unparseable XMP packet: %s", exc)
        return {}
    out: dict[str, dict[str, str]] = {}

    def put(qname: str, value: str) -> None:
        if qname.startswith("{"):
            ns, _, local = qname[1:].partition("}")
            out.setdefault(ns, {})[local] = value.strip()

    for desc in root.iter(f"{_RDF}Description"):
        for qname, value in desc.attrib.items():
            put(qname, value)
        for child in desc:
            if child.text and child.text.strip() and len(child) == 0:
                put(child.tag, child.text)
    return out


def _dms(value: Any, ref: Any) -> float | None:
    try:
        deg = float(value[0]) + float(value[1]) / 60 + float(value[2]) / 3600
    except (TypeError, ValueError, IndexError, ZeroDivisionError):
        return None
    if math.isnan(deg):
        return None
    return -deg if str(ref).strip().upper() in ("S", "W") else deg


def _float(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return None if math.isnan(out) else out


def _xmp_number(xmp: dict[str, dict[str, str]], key: str) -> float | None:
    """An XMP exif: value, plain or as a rational 'num/den'."""
    raw = xmp.get(NS_EXIF, {}).get(key)
    if raw is None:
        return None
    num, _, den = raw.partition("/")
    try:
        return float(num) / float(den) if den else float(num)
    except (ValueError, ZeroDivisionError):
        return None


def _time(exif_ifd: dict[int, Any], xmp: dict[str, dict[str, str]]) -> datetime | None:
    raw = exif_ifd.get(0x9003)
    if not raw:
        return None
    try:
        naive = datetime.strptime(str(raw).strip(), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    offset = exif_ifd.get(0x9011)
    if offset:
        sign = -1 if str(offset).startswith("-") else 1
        hh, _, mm = str(offset).lstrip("+-").partition(":")
        tz = timezone(sign * timedelta(hours=int(hh), minutes=int(mm or 0)))
        return naive.replace(tzinfo=tz).astimezone(UTC)
    created = xmp.get("http://ns.adobe.com/xap/1.0/", {}).get("CreateDate", "")
    if len(created) > 19 and created[19] in "+-":
        try:
            return datetime.fromisoformat(created).astimezone(UTC)
        except ValueError:
            pass
    return naive.replace(tzinfo=UTC)  # camera clock of unknown zone, taken as UTC


def _kind(im: Image.Image, make: str, model: str, xmp: dict[str, dict[str, str]]) -> str:
    source = xmp.get(NS_DJI, {}).get("ImageSource", "")
    if source == "InfraredCamera":
        return "thermal"
    flat = " ".join(v for ns in xmp.values() for v in ns.values()).lower()
    if "duo pro r" in flat or "flir" in make.lower():
        return "thermal"
    if im.mode in ("L", "I;16", "I;16B", "I", "F") and im.size in THERMAL_SIZES:
        return "thermal"
    return "rgb"


def read_metadata(path: Path) -> CaptureMeta:
    """Headers of one image file.

    Raises
    ------
    UnreadableImageError
        When the file is missing or not an image Pillow can parse.
    """
    try:
        with Image.open(path) as im:
            exif = im.getexif()
            exif_ifd = dict(exif.get_ifd(_EXIF_IFD))
            gps_ifd = dict(exif.get_ifd(_GPS_IFD))
            packet = im.info.get("xmp")
            if packet is None and hasattr(im, "tag_v2"):
                packet = im.tag_v2.get(700)
            xmp = parse_xmp(packet)
            make = str(exif.get(0x010F, "") or "").strip("\x00 ")
            model = str(exif.get(0x0110, "") or "").strip("\x00 ")
            tiff_ns = xmp.get("http://ns.adobe.com/tiff/1.0/", {})
            make = make or tiff_ns.get("Make", "")
            model = model or tiff_ns.get("Model", "")
            kind = _kind(im, make, model, xmp)
            width, height = im.size
            mode = im.mode
    except (FileNotFoundError, IsADirectoryError) as exc:
        raise UnreadableImageError(f"{path}: no such image file") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UnreadableImageError(f"{path}: not a readable image ({exc})") from exc

    for tag, key in (
        (0x920A, "FocalLength"),
        (0xA20E, "FocalPlaneXResolution"),
        (0xA20F, "FocalPlaneYResolution"),
        (0xA210, "FocalPlaneResolutionUnit"),
        (0xA002, "PixelXDimension"),
        (0xA003, "PixelYDimension"),
    ):
        if exif_ifd.get(tag) is None:  # EXIF values written as XMP (TIFF writers often do)
            value = _xmp_number(xmp, key)
            if value is not None:
                exif_ifd[tag] = value
    unit = exif_ifd.get(0xA210)
    per_mm = {2: 1 / 25.4, 3: 1 / 10.0, 4: 1.0}.get(int(unit)) if unit else None
    fx_res, fy_res = _float(exif_ifd.get(0xA20E)), _float(exif_ifd.get(0xA20F))
    optics = ExifOptics(
        make=make,
        model=model,
        focal_mm=_float(exif_ifd.get(0x920A)),
        focal_35mm=_float(exif_ifd.get(0xA405)) or None,
        focal_plane_x_res_per_mm=fx_res * per_mm if fx_res and per_mm else None,
        focal_plane_y_res_per_mm=fy_res * per_mm if fy_res and per_mm else None,
        exif_width=int(exif_ifd[0xA002]) if exif_ifd.get(0xA002) else None,
        exif_height=int(exif_ifd[0xA003]) if exif_ifd.get(0xA003) else None,
        digital_zoom=_float(exif_ifd.get(0xA404)),
    )
    gps = None
    lat, lon = _dms(gps_ifd.get(2), gps_ifd.get(1)), _dms(gps_ifd.get(4), gps_ifd.get(3))
    if lat is not None and lon is not None:
        alt = _float(gps_ifd.get(6))
        if alt is not None and gps_ifd.get(5) in (b"\x01", 1):
            alt = -alt
        gps = (lat, lon, alt)
    return CaptureMeta(
        path=str(path),
        width=width,
        height=height,
        mode=mode,
        kind=kind,
        make=make,
        model=model,
        taken_at=_time(exif_ifd, xmp),
        optics=optics,
        xmp=xmp,
        gps=gps,
    )


def _check_position(lat: float | None, lon: float | None, where: str) -> tuple[float, float]:
    if lat is None or lon is None:
        raise PoseError(f"no GPS position ({where})")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise PoseError(f"GPS position {lat:.6f},{lon:.6f} out of range ({where})")
    if abs(lat) < 1e-6 and abs(lon) < 1e-6:
        raise PoseError(f"GPS position is 0,0 (no fix) ({where})")
    return lat, lon


def pose_from_metadata(meta: CaptureMeta) -> Pose:
    """The camera pose recorded in the file.

    Raises
    ------
    PoseError
        With the reason: no GPS, GPS 0,0 or flagged invalid, no orientation.
    """
    dji = meta.xmp.get(NS_DJI, {})
    sensefly = meta.xmp.get(NS_SENSEFLY, {})
    if dji:
        status = dji.get("GpsStatus", "")
        if status and status.lower() not in ("normal", "rtk"):
            raise PoseError(f"DJI GpsStatus is {status!r}")
        lat = _float(dji.get("GpsLatitude")) if "GpsLatitude" in dji else None
        lon = _float(dji.get("GpsLongitude")) if "GpsLongitude" in dji else None
        if lat is None and meta.gps:
            lat, lon = meta.gps[0], meta.gps[1]
        lat, lon = _check_position(lat, lon, "DJI XMP / EXIF GPS")
        yaw, pitch = _float(dji.get("GimbalYawDegree")), _float(dji.get("GimbalPitchDegree"))
        roll = _float(dji.get("GimbalRollDegree")) or 0.0
        if yaw is None or pitch is None:
            raise PoseError("DJI XMP has no gimbal yaw/pitch")
        abs_alt = _float(dji.get("AbsoluteAltitude"))
        rel_alt = _float(dji.get("RelativeAltitude"))
        if abs_alt is None:
            abs_alt = meta.gps[2] if meta.gps else None
        if abs_alt is None:
            raise PoseError("no altitude (AbsoluteAltitude or GPSAltitude)")
        laser = None
        if dji.get("LRFStatus", "").lower() == "normal":
            llat, llon = _float(dji.get("LRFTargetLat")), _float(dji.get("LRFTargetLon"))
            lalt, ldist = _float(dji.get("LRFTargetAbsAlt")), _float(dji.get("LRFTargetDistance"))
            if None not in (llat, llon, lalt, ldist) and (llat, llon) != (0.0, 0.0):
                laser = LaserTarget(llat, llon, lalt, ldist)  # type: ignore[arg-type]
        return Pose(
            lat=lat,
            lon=lon,
            alt_amsl_m=abs_alt,
            alt_rel_m=rel_alt,
            yaw_deg=yaw,
            pitch_deg=pitch,
            roll_deg=roll,
            source="dji-xmp",
            laser=laser,
        )
    if sensefly:
        lat, lon = _check_position(
            _float(sensefly.get("Latitude")), _float(sensefly.get("Longitude")), "senseFly XMP"
        )
        heading = _float(sensefly.get("Heading"))
        air_pitch = _float(sensefly.get("PitchAngle"))
        air_roll = _float(sensefly.get("RollAngle"))
        if heading is None or air_pitch is None or air_roll is None:
            raise PoseError("senseFly XMP has no heading/pitch/roll")
        amsl = _float(sensefly.get("AltitudeAMSL"))
        height = _float(sensefly.get("Height"))
        if amsl is None:
            raise PoseError("senseFly XMP has no AltitudeAMSL")
        yaw, cam_pitch, cam_roll = airframe_to_camera_angles(heading, air_pitch, air_roll)
        return Pose(
            lat=lat,
            lon=lon,
            alt_amsl_m=amsl,
            alt_rel_m=height,
            yaw_deg=yaw,
            pitch_deg=cam_pitch,
            roll_deg=cam_roll,
            source="sensefly-xmp",
            sigma_att_deg=SIGMA_ATT_AIRFRAME_DEG,
        )
    if meta.gps:
        _check_position(meta.gps[0], meta.gps[1], "EXIF GPS")
        raise PoseError("EXIF GPS position only, no camera orientation (not assumed nadir)")
    raise PoseError("no position or orientation metadata")
