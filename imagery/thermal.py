"""Radiometric thermal data, not the colour preview.

* DJI R-JPEG (H20T, M2EA, M30T, M3T...): the raw 16-bit frame lies in the APP3
  segments (little-endian, rows x cols of the sensor). DJI documents the
  conversion to temperature only through its closed Thermal SDK, so the
  values stay raw counts, labelled uncalibrated.
* FLIR radiometric TIFF (Duo Pro R, and TIFFs that state the same scale in
  their ImageDescription): 16-bit counts of 0.04 K, so
  ``degC = 0.04 * count - 273.15``.
* 8-bit greyscale thermal JPEGs are automatic-gain-control renderings: kept
  as uncalibrated levels.

Detection is background-relative, so it runs on calibrated and uncalibrated
frames alike; only calibrated frames report temperatures in degrees Celsius.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from imagery.errors import ThermalFormatError, UnreadableImageError
from imagery.metadata import CaptureMeta

logger = logging.getLogger(__name__)

FLIR_K_PER_COUNT = 0.04
RADIOMETRIC_DESCRIPTION = "radiometric 0.04 K/count"
"""ImageDescription marking a TIFF with FLIR's 0.04 K/count scale (the synthetic scenes use it)."""


@dataclass(frozen=True, slots=True)
class ThermalFrame:
    """A thermal frame.

    ``values`` : (rows, cols) ndarray of float32, degrees Celsius when
    ``calibrated`` else raw counts / levels in ``units``.
    """

    values: NDArray[np.float32]
    calibrated: bool
    units: str
    source: str


def _jpeg_app_segments(data: bytes, marker: int) -> bytes:
    """Concatenated payloads of every APPn segment ``marker`` before the scan."""
    if data[:2] != b"\xff\xd8":
        raise ThermalFormatError("not a JPEG file")
    i, out = 2, bytearray()
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise ThermalFormatError(f"corrupt JPEG marker at byte {i}")
        code = data[i + 1]
        if code == 0xDA:
            break
        if code in (0xD8, 0x01) or 0xD0 <= code <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if code == marker:
            out += data[i + 4 : i + 2 + length]
        i += 2 + length
    return bytes(out)


def read_dji_rjpeg(path: Path, *, width: int = 640, height: int = 512) -> ThermalFrame:
    """The raw 16-bit frame of a DJI R-JPEG.

    Raises
    ------
    ThermalFormatError
        When the APP3 payload is absent or not ``width * height`` uint16 values.
    """
    raw = _jpeg_app_segments(path.read_bytes(), 0xE3)
    if len(raw) != width * height * 2:
        raise ThermalFormatError(
            f"{path}: APP3 holds {len(raw)} bytes, expected {width * height * 2} for "
            f"{width}x{height} 16-bit raw thermal data"
        )
    counts = np.frombuffer(raw, dtype="<u2").reshape(height, width).astype(np.float32)
    dead = counts < 64  # a few dead pixels read 2
    if dead.any():
        counts[dead] = float(np.median(counts[~dead]))
    return ThermalFrame(counts, False, "raw counts (DJI, uncalibrated)", "dji-rjpeg-app3")


def read_thermal(path: Path, meta: CaptureMeta) -> ThermalFrame:
    """The radiometric content of a thermal capture, whatever its format."""
    if meta.xmp.get("http://www.dji.com/drone-dji/1.0/", {}).get("ImageSource") == "InfraredCamera":
        return read_dji_rjpeg(path, width=meta.width, height=meta.height)
    try:
        with Image.open(path) as im:
            mode = im.mode
            description = str(im.tag_v2.get(270, "")) if hasattr(im, "tag_v2") else ""
            arr = np.asarray(im if mode.startswith("I") else im.convert("L"), dtype=np.float32)
    except OSError as exc:
        raise UnreadableImageError(f"{path}: cannot decode thermal image ({exc})") from exc
    if mode.startswith("I;16"):
        flat = " ".join(v for ns in meta.xmp.values() for v in ns.values()).lower()
        if "duo pro r" in flat or RADIOMETRIC_DESCRIPTION in description:
            celsius = arr * FLIR_K_PER_COUNT - 273.15
            return ThermalFrame(celsius.astype(np.float32), True, "degC", "flir-tiff-0.04K")
        return ThermalFrame(arr, False, "raw counts (unknown scale)", "tiff-16bit")
    return ThermalFrame(arr, False, "AGC grey levels (uncalibrated)", "8bit-agc")
