"""Capture metadata from EXIF and XMP: position, camera attitude, optics.

Read without decoding pixels (Pillow parses headers lazily). EXIF comes from
the file's EXIF IFDs or, in a TIFF written by GDAL, from the ``EXIF_*`` items
of its GDAL metadata tag. Recognised pose schemas:

* DJI ``drone-dji`` XMP: gimbal yaw/pitch/roll (the camera's own attitude),
  absolute and relative altitude, GPS status (longitude under either
  spelling, ``GpsLongitude`` or the ``GpsLongtitude`` several models write),
  RTK standard deviations, laser rangefinder target;
* Skydio ``drone-skydio`` XMP (Skydio 2, X2 and later):
  ``CameraOrientationNED`` yaw/pitch/roll (the gimbal camera's attitude);
* senseFly XMP: aircraft heading/pitch/roll of a fixed (nadir) camera,
  height above ground and AMSL altitude;
* plain EXIF GPS: a position only, which is not enough to georeference.

Anything missing or invalid is reported as a :class:`~imagery.errors.PoseError`
with the reason; nothing is assumed (no silent nadir).
"""

from __future__ import annotations

import logging
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from imagery.camera import Camera, ExifOptics, intrinsics
from imagery.errors import PoseError, UnreadableImageError
from imagery.pose import (
    SIGMA_ATT_AIRFRAME_DEG,
    SIGMA_H_GNSS_M,
    SIGMA_V_BARO_M,
    LaserTarget,
    Pose,
    airframe_to_camera_angles,
)

logger = logging.getLogger(__name__)

_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
NS_DJI = "http://www.dji.com/drone-dji/1.0/"
NS_SKYDIO = "https://www.skydio.com/drone-skydio/1.0/"
NS_SENSEFLY = "http://ns.sensefly.com/sensefly/1.0/"
NS_FLIR = "http://ns.flir.com/xmp/1.0/"
NS_EXIF_EX = "http://cipa.jp/exif/1.0/"
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
    gps_h_error_m: float | None = None
    """EXIF ``GPSHPositioningError`` (metres), where the camera wrote it."""

    def dji(self, key: str) -> str | None:
        return self.xmp.get(NS_DJI, {}).get(key)

    def camera(self) -> Camera:
        """Intrinsics of the saved image (see :func:`imagery.camera.intrinsics`)."""
        return intrinsics(self.optics, self.width, self.height, thermal=self.kind == "thermal")


def _local(qname: str) -> tuple[str, str]:
    ns, _, local = qname[1:].partition("}")
    return ns, local


def _struct_fields(elem: ET.Element) -> list[tuple[str, str]]:
    """(qname, value) of an XMP struct's fields, in any of its three serialisations.

    As attributes (``<ns:S ns:a="1"/>``), as child elements under
    ``rdf:parseType="Resource"``, or inside a nested ``rdf:Description``.
    """
    fields = [(q, v) for q, v in elem.attrib.items() if not q.startswith(_RDF)]
    for child in elem:
        if child.tag == f"{_RDF}Description":
            fields.extend(_struct_fields(child))
        elif len(child) == 0 and child.text and child.text.strip():
            fields.append((child.tag, child.text))
    return fields


def parse_xmp(packet: bytes | str | None) -> dict[str, dict[str, str]]:
    """XMP properties by namespace URI, from attributes and simple elements alike.

    A struct's fields are keyed ``Struct/Field`` in the struct's namespace
    (Skydio's ``CameraOrientationNED/Yaw``), whichever way it is serialised.
    """
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
    # Top-level descriptions only: a nested rdf:Description is a struct's value.
    for desc in (d for rdf in root.iter(f"{_RDF}RDF") for d in rdf.findall(f"{_RDF}Description")):
        _read_description(desc, out)
    return out


def _read_description(desc: ET.Element, out: dict[str, dict[str, str]]) -> None:
    """Add one rdf:Description's simple properties and struct fields to ``out``."""

    def put(qname: str, value: str, field: str = "") -> None:
        if qname.startswith("{"):
            ns, local = _local(qname)
            out.setdefault(ns, {})[f"{local}/{field}" if field else local] = value.strip()

    for qname, value in desc.attrib.items():
        put(qname, value)
    for child in desc:
        if len(child) == 0 and child.text and child.text.strip():
            put(child.tag, child.text)
        else:
            for field_qname, value in _struct_fields(child):
                if field_qname.startswith("{"):
                    put(child.tag, value, field=_local(field_qname)[1])


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
    return _ratio_text(xmp.get(NS_EXIF, {}).get(key))


def _ratio_text(raw: str | None) -> float | None:
    """'446/1000' or '0.446' as a float (XMP writes EXIF rationals as text)."""
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


def _kind(im: Image.Image, make: str, xmp: dict[str, dict[str, str]]) -> str:
    """'thermal' or 'rgb', from the camera's own tags first, the pixel layout last."""
    dji_source = xmp.get(NS_DJI, {}).get("ImageSource", "")
    skydio_source = xmp.get(NS_SKYDIO, {}).get("CameraSource", "")
    if dji_source == "InfraredCamera" or skydio_source.upper() == "INFRARED":
        return "thermal"
    if dji_source or skydio_source:
        return "rgb"  # the camera named its (visible) source
    flir_app1 = any(
        marker == "APP1" and payload.startswith(b"FLIR\x00")
        for marker, payload in getattr(im, "applist", [])
    )
    if flir_app1 or NS_FLIR in xmp or "flir" in make.lower():
        return "thermal"
    flat = " ".join(v for ns in xmp.values() for v in ns.values()).lower()
    if "duo pro r" in flat:
        return "thermal"
    if im.mode in ("L", "I;16", "I;16B", "I", "F") and im.size in THERMAL_SIZES:
        return "thermal"
    return "rgb"


# EXIF fields read from a TIFF's GDAL metadata (``EXIF_<name>`` items, as GDAL's JPEG
# driver names them), by IFD: 0 the image IFD, 1 the EXIF IFD, 2 the GPS IFD.
_GDAL_EXIF = {
    "Make": (0, 0x010F),
    "Model": (0, 0x0110),
    "DateTimeOriginal": (1, 0x9003),
    "OffsetTimeOriginal": (1, 0x9011),
    "FocalLength": (1, 0x920A),
    "FocalPlaneXResolution": (1, 0xA20E),
    "FocalPlaneYResolution": (1, 0xA20F),
    "FocalPlaneResolutionUnit": (1, 0xA210),
    "PixelXDimension": (1, 0xA002),
    "PixelYDimension": (1, 0xA003),
    "DigitalZoomRatio": (1, 0xA404),
    "FocalLengthIn35mmFilm": (1, 0xA405),
    "GPSLatitudeRef": (2, 1),
    "GPSLatitude": (2, 2),
    "GPSLongitudeRef": (2, 3),
    "GPSLongitude": (2, 4),
    "GPSAltitudeRef": (2, 5),
    "GPSAltitude": (2, 6),
    "GPSHPositioningError": (2, 31),
}
_GDAL_METADATA_TAG = 42112


def _gdal_value(text: str) -> Any:
    """A GDAL ``EXIF_*`` value: '(46) (50) (32.2)' rationals, '0x00' bytes, or plain text."""
    rationals = re.findall(r"\(([^)]*)\)", text)
    if rationals:
        numbers = tuple(_float(r) for r in rationals)
        return numbers[0] if len(numbers) == 1 else numbers
    if re.fullmatch(r"(0x[0-9A-Fa-f]{2}\s*)+", text.strip()):
        return bytes(int(b, 16) for b in text.split())
    return text


def gdal_exif(xml_text: str) -> tuple[dict[int, Any], dict[int, Any], dict[int, Any]]:
    """The image, EXIF and GPS IFD entries GDAL keeps in a TIFF's GDAL_METADATA tag.

    GDAL writes a JPEG's EXIF there (``EXIF_GPSLatitude`` and so on) when it
    converts the frame to TIFF, not as TIFF EXIF IFDs.
    """
    ifds: tuple[dict[int, Any], dict[int, Any], dict[int, Any]] = ({}, {}, {})
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        logger.warning("unparseable GDAL metadata: %s", exc)
        return ifds
    for item in root.iter("Item"):
        name = item.get("name", "")
        if item.get("domain") or not name.startswith("EXIF_"):
            continue
        where = _GDAL_EXIF.get(name.removeprefix("EXIF_"))
        if where is not None and item.text is not None:
            ifds[where[0]][where[1]] = _gdal_value(item.text.strip())
    return ifds


@dataclass(frozen=True, slots=True)
class _Headers:
    """The raw header dictionaries of one file (Pillow's tag ids)."""

    ifd0: dict[int, Any]
    exif: dict[int, Any]
    gps: dict[int, Any]
    xmp: dict[str, dict[str, str]]


def _headers(im: Image.Image) -> _Headers:
    """EXIF IFDs and XMP, completed from a TIFF's GDAL metadata where the IFDs lack them."""
    exif = im.getexif()
    ifds = (dict(exif), dict(exif.get_ifd(_EXIF_IFD)), dict(exif.get_ifd(_GPS_IFD)))
    packet = im.info.get("xmp")
    tags = getattr(im, "tag_v2", None)
    if tags is not None:
        packet = packet or tags.get(700)
        gdal = tags.get(_GDAL_METADATA_TAG)
        if gdal:
            for ifd, extra in zip(ifds, gdal_exif(str(gdal)), strict=True):
                for tag, value in extra.items():
                    ifd.setdefault(tag, value)
    return _Headers(*ifds, xmp=parse_xmp(packet))


def _xmp_pair(ns: dict[str, str], key: str) -> tuple[float, float] | None:
    """A struct's X/Y fields (Skydio) as two floats."""
    x, y = _float(ns.get(f"{key}/X")), _float(ns.get(f"{key}/Y"))
    return (x, y) if x is not None and y is not None else None


def _calibration(
    xmp: dict[str, dict[str, str]],
) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    """The maker's focal length and optical centre in pixels (DJI or Skydio XMP), if any."""
    dji, skydio = xmp.get(NS_DJI, {}), xmp.get(NS_SKYDIO, {})
    f = _float(dji.get("CalibratedFocalLength"))
    if f is not None:
        cx, cy = (
            _float(dji.get("CalibratedOpticalCenterX")),
            _float(dji.get("CalibratedOpticalCenterY")),
        )
        return (f, f), (cx, cy) if cx is not None and cy is not None else None
    return _xmp_pair(skydio, "CalibratedFocalLength"), _xmp_pair(skydio, "CalibratedOpticalCenter")


def _optics(h: _Headers, make: str, model: str) -> ExifOptics:
    for tag, key in (
        (0x920A, "FocalLength"),
        (0xA20E, "FocalPlaneXResolution"),
        (0xA20F, "FocalPlaneYResolution"),
        (0xA210, "FocalPlaneResolutionUnit"),
        (0xA002, "PixelXDimension"),
        (0xA003, "PixelYDimension"),
    ):
        if h.exif.get(tag) is None:  # EXIF values written as XMP (TIFF writers often do)
            value = _xmp_number(h.xmp, key)
            if value is not None:
                h.exif[tag] = value
    unit = _float(h.exif.get(0xA210))
    per_mm = {2: 1 / 25.4, 3: 1 / 10.0, 4: 1.0}.get(int(unit)) if unit else None
    fx_res, fy_res = _float(h.exif.get(0xA20E)), _float(h.exif.get(0xA20F))
    width, height = _float(h.exif.get(0xA002)), _float(h.exif.get(0xA003))
    focal_px, centre_px = _calibration(h.xmp)
    return ExifOptics(
        make=make,
        model=model,
        focal_mm=_float(h.exif.get(0x920A)),
        focal_35mm=_float(h.exif.get(0xA405)) or None,
        focal_plane_x_res_per_mm=fx_res * per_mm if fx_res and per_mm else None,
        focal_plane_y_res_per_mm=fy_res * per_mm if fy_res and per_mm else None,
        exif_width=int(width) if width else None,
        exif_height=int(height) if height else None,
        digital_zoom=_float(h.exif.get(0xA404)) or None,  # EXIF: 0 means not used
        calibrated_focal_px=focal_px,
        calibrated_center_px=centre_px,
    )


def _gps(gps_ifd: dict[int, Any]) -> tuple[float, float, float | None] | None:
    """EXIF GPS latitude, longitude (degrees) and altitude (metres, the camera's datum)."""
    lat, lon = _dms(gps_ifd.get(2), gps_ifd.get(1)), _dms(gps_ifd.get(4), gps_ifd.get(3))
    if lat is None or lon is None:
        return None
    alt = _float(gps_ifd.get(6))
    if alt is not None and gps_ifd.get(5) in (b"\x01", 1):
        alt = -alt
    return lat, lon, alt


def read_metadata(path: Path) -> CaptureMeta:
    """Headers of one image file.

    Raises
    ------
    UnreadableImageError
        When the file is missing or not an image Pillow can parse.
    """
    try:
        with Image.open(path) as im:
            h = _headers(im)
            tiff_ns = h.xmp.get("http://ns.adobe.com/tiff/1.0/", {})
            make = str(h.ifd0.get(0x010F, "") or "").strip("\x00 ") or tiff_ns.get("Make", "")
            model = str(h.ifd0.get(0x0110, "") or "").strip("\x00 ") or tiff_ns.get("Model", "")
            kind = _kind(im, make, h.xmp)
            width, height = im.size
            mode = im.mode
    except (FileNotFoundError, IsADirectoryError) as exc:
        raise UnreadableImageError(f"{path}: no such image file") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UnreadableImageError(f"{path}: not a readable image ({exc})") from exc
    h_error = _float(h.gps.get(31))
    if h_error is None:
        raw = h.xmp.get(NS_EXIF_EX, {}).get("GPSHPositioningError")
        h_error = _ratio_text(raw)
    return CaptureMeta(
        path=str(path),
        width=width,
        height=height,
        mode=mode,
        kind=kind,
        make=make,
        model=model,
        taken_at=_time(h.exif, h.xmp),
        optics=_optics(h, make, model),
        xmp=h.xmp,
        gps=_gps(h.gps),
        gps_h_error_m=h_error if h_error and h_error > 0 else None,
    )


def _check_position(lat: float | None, lon: float | None, where: str) -> tuple[float, float]:
    if lat is None or lon is None:
        raise PoseError(f"no GPS position ({where})")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise PoseError(f"GPS position {lat:.6f},{lon:.6f} out of range ({where})")
    if abs(lat) < 1e-6 and abs(lon) < 1e-6:
        raise PoseError(f"GPS position is 0,0 (no fix) ({where})")
    return lat, lon


def _sigmas(meta: CaptureMeta) -> tuple[float, float]:
    """1-sigma horizontal and vertical position error (m): the file's own where it says so.

    DJI RTK aircraft write ``RtkStdLat``/``RtkStdLon``/``RtkStdHgt`` (metres) with
    ``RtkFlag`` (0 none, 16 single point, 34 float, 50 fixed); the horizontal
    error is the two axes in quadrature. Otherwise EXIF ``GPSHPositioningError``
    gives the horizontal one. Anything missing keeps the consumer-drone defaults.
    """
    dji = meta.xmp.get(NS_DJI, {})
    sigma_h, sigma_v = SIGMA_H_GNSS_M, SIGMA_V_BARO_M
    if meta.gps_h_error_m is not None:
        sigma_h = meta.gps_h_error_m
    flag = _float(dji.get("RtkFlag"))
    if flag is not None and flag > 0:
        std_lat, std_lon = _float(dji.get("RtkStdLat")), _float(dji.get("RtkStdLon"))
        std_hgt = _float(dji.get("RtkStdHgt"))
        if std_lat is not None and std_lon is not None and std_lat > 0 and std_lon > 0:
            sigma_h = math.hypot(std_lat, std_lon)
        if std_hgt is not None and std_hgt > 0:
            sigma_v = std_hgt
    return sigma_h, sigma_v


def _dji_laser(dji: dict[str, str]) -> LaserTarget | None:
    if dji.get("LRFStatus", "").lower() != "normal":
        return None
    llat, llon = _float(dji.get("LRFTargetLat")), _float(dji.get("LRFTargetLon"))
    lalt, ldist = _float(dji.get("LRFTargetAbsAlt")), _float(dji.get("LRFTargetDistance"))
    if llat is None or llon is None or lalt is None or ldist is None or (llat, llon) == (0, 0):
        return None
    return LaserTarget(llat, llon, lalt, ldist)


def _dji_pose(meta: CaptureMeta) -> Pose:
    """Gimbal attitude (NED, true north) and position from DJI XMP, EXIF GPS as fallback."""
    dji = meta.xmp[NS_DJI]
    status = dji.get("GpsStatus", "")
    if status and status.lower() not in ("normal", "rtk"):
        raise PoseError(f"DJI GpsStatus is {status!r}")
    lat = _float(dji.get("GpsLatitude"))
    # Several DJI models (Phantom 4 RTK among them) spell the key "GpsLongtitude".
    lon = _float(dji.get("GpsLongitude", dji.get("GpsLongtitude")))
    if (lat is None or lon is None) and meta.gps:
        lat, lon = meta.gps[0], meta.gps[1]
    lat, lon = _check_position(lat, lon, "DJI XMP / EXIF GPS")
    yaw, pitch = _float(dji.get("GimbalYawDegree")), _float(dji.get("GimbalPitchDegree"))
    roll = _float(dji.get("GimbalRollDegree")) or 0.0
    if yaw is None or pitch is None:
        raise PoseError("DJI XMP has no gimbal yaw/pitch")
    return _maker_pose(
        meta,
        (lat, lon),
        (yaw, pitch, roll),
        alt_amsl_m=_float(dji.get("AbsoluteAltitude")),
        alt_rel_m=_float(dji.get("RelativeAltitude")),
        source="dji-xmp",
        laser=_dji_laser(dji),
    )


def _maker_pose(
    meta: CaptureMeta,
    lat_lon: tuple[float, float],
    angles: tuple[float, float, float],
    *,
    alt_amsl_m: float | None,
    alt_rel_m: float | None,
    source: str,
    laser: LaserTarget | None = None,
) -> Pose:
    """A pose from a maker's XMP: its camera yaw, pitch and roll (NED, true north), the
    EXIF GPS altitude where the XMP has no absolute one, and the file's sigmas."""
    if alt_amsl_m is None:
        alt_amsl_m = meta.gps[2] if meta.gps else None
    if alt_amsl_m is None:
        raise PoseError(f"no altitude ({source} AbsoluteAltitude or EXIF GPSAltitude)")
    sigma_h, sigma_v = _sigmas(meta)
    yaw, pitch, roll = angles
    return Pose(
        lat=lat_lon[0],
        lon=lat_lon[1],
        alt_amsl_m=alt_amsl_m,
        alt_rel_m=alt_rel_m,
        yaw_deg=yaw,
        pitch_deg=pitch,
        roll_deg=roll,
        source=source,
        sigma_h_m=sigma_h,
        sigma_v_m=sigma_v,
        laser=laser,
    )


def _skydio_pose(meta: CaptureMeta) -> Pose:
    """The gimbal camera's attitude and position from Skydio XMP.

    ``CameraOrientationNED`` is the camera's yaw (true north), pitch (-90 down)
    and roll in the local NED frame: the convention of :class:`Pose`.
    ``VehicleOrientationNED`` is the airframe's, which does not give the
    gimbal's. ``AbsoluteAltitude`` is taken as above mean sea level, as DJI's;
    the X2 states no height above take-off, so ground comes from a DEM or
    ``--ground-alt`` unless the file has ``RelativeAltitude`` (later models).
    """
    sky = meta.xmp[NS_SKYDIO]
    lat, lon = _float(sky.get("Latitude")), _float(sky.get("Longitude"))
    if (lat is None or lon is None) and meta.gps:
        lat, lon = meta.gps[0], meta.gps[1]
    lat, lon = _check_position(lat, lon, "Skydio XMP / EXIF GPS")
    yaw, pitch, roll = (
        _float(sky.get(f"CameraOrientationNED/{a}")) for a in ("Yaw", "Pitch", "Roll")
    )
    if yaw is None or pitch is None or roll is None:
        has_vehicle = "VehicleOrientationNED/Yaw" in sky
        raise PoseError(
            "Skydio XMP has no CameraOrientationNED"
            + (" (only the vehicle's attitude, not the gimbal's)" if has_vehicle else "")
        )
    return _maker_pose(
        meta,
        (lat, lon),
        (yaw, pitch, roll),
        alt_amsl_m=_float(sky.get("AbsoluteAltitude")),
        alt_rel_m=_float(sky.get("RelativeAltitude")),
        source="skydio-xmp",
    )


def _sensefly_pose(meta: CaptureMeta) -> Pose:
    """A fixed nadir camera's attitude from the airframe's (senseFly XMP)."""
    sensefly = meta.xmp[NS_SENSEFLY]
    lat, lon = _check_position(
        _float(sensefly.get("Latitude")), _float(sensefly.get("Longitude")), "senseFly XMP"
    )
    heading = _float(sensefly.get("Heading"))
    air_pitch = _float(sensefly.get("PitchAngle"))
    air_roll = _float(sensefly.get("RollAngle"))
    if heading is None or air_pitch is None or air_roll is None:
        raise PoseError("senseFly XMP has no heading/pitch/roll")
    amsl = _float(sensefly.get("AltitudeAMSL"))
    if amsl is None:
        raise PoseError("senseFly XMP has no AltitudeAMSL")
    yaw, cam_pitch, cam_roll = airframe_to_camera_angles(heading, air_pitch, air_roll)
    sigma_h, sigma_v = _sigmas(meta)
    return Pose(
        lat=lat,
        lon=lon,
        alt_amsl_m=amsl,
        alt_rel_m=_float(sensefly.get("Height")),
        yaw_deg=yaw,
        pitch_deg=cam_pitch,
        roll_deg=cam_roll,
        source="sensefly-xmp",
        sigma_h_m=sigma_h,
        sigma_v_m=sigma_v,
        sigma_att_deg=SIGMA_ATT_AIRFRAME_DEG,
    )


def pose_from_metadata(meta: CaptureMeta) -> Pose:
    """The camera pose recorded in the file.

    Raises
    ------
    PoseError
        With the reason: no GPS, GPS 0,0 or flagged invalid, no orientation.
    """
    if meta.xmp.get(NS_DJI):
        return _dji_pose(meta)
    if meta.xmp.get(NS_SKYDIO):
        return _skydio_pose(meta)
    if meta.xmp.get(NS_SENSEFLY):
        return _sensefly_pose(meta)
    if meta.gps:
        _check_position(meta.gps[0], meta.gps[1], "EXIF GPS")
        raise PoseError("EXIF GPS position only, no camera orientation (not assumed nadir)")
    raise PoseError("no position or orientation metadata")
