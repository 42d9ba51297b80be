"""Pinhole camera intrinsics with Brown distortion, and where they come from.

Intrinsics are built from EXIF (focal length, focal-plane resolution, 35 mm
equivalent) and the OpenAthena camera database bundled in ``imagery/data``
(Apache-2.0, see NOTICE there). The database describes the full sensor
readout; a saved image is often a crop (DJI 16:9 mode on a 4:3 sensor) or a
resize of it, so the pixel pitch is rescaled to the saved grid and any
ambiguity is kept in :attr:`Camera.notes` instead of being hidden.

Distortion follows OpenCV's convention on normalised coordinates
(k1, k2, k3 radial; p1, p2 tangential), as the database stores it.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
from numpy.typing import NDArray

from imagery.errors import IntrinsicsError

logger = logging.getLogger(__name__)

FULL_FRAME_DIAGONAL_MM = 43.2666


@dataclass(frozen=True, slots=True)
class Camera:
    """Intrinsics on the pixel grid of one saved image.

    ``fx``/``fy`` are focal lengths in pixels, ``cx``/``cy`` the principal
    point in pixels (pixel centres at integer + 0.5 convention is not used:
    pixel (0, 0) is the centre of the top-left pixel).
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    k1: float = 0.0
    k2: float = 0.0
    k3: float = 0.0
    p1: float = 0.0
    p2: float = 0.0
    model: str = ""
    thermal: bool = False
    notes: tuple[str, ...] = field(default=())

    @classmethod
    def ideal(
        cls,
        width: int,
        height: int,
        *,
        hfov_deg: float,
        model: str = "ideal",
        thermal: bool = False,
    ) -> Camera:
        """A distortion-free camera with the given horizontal field of view."""
        f = (width / 2) / math.tan(math.radians(hfov_deg) / 2)
        return cls(
            width, height, f, f, (width - 1) / 2, (height - 1) / 2, model=model, thermal=thermal
        )

    @property
    def hfov_deg(self) -> float:
        return math.degrees(2 * math.atan(self.width / 2 / self.fx))

    @property
    def has_distortion(self) -> bool:
        return any((self.k1, self.k2, self.k3, self.p1, self.p2))

    def scaled(self, width: int, height: int) -> Camera:
        """The same camera on a resampled grid (e.g. a reduced-resolution decode)."""
        sx, sy = width / self.width, height / self.height
        return replace(
            self,
            width=width,
            height=height,
            fx=self.fx * sx,
            fy=self.fy * sy,
            cx=(self.cx + 0.5) * sx - 0.5,
            cy=(self.cy + 0.5) * sy - 0.5,
        )

    def _distort(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[Any, Any]:
        r2 = x * x + y * y
        radial = 1 + r2 * (self.k1 + r2 * (self.k2 + r2 * self.k3))
        xd = x * radial + 2 * self.p1 * x * y + self.p2 * (r2 + 2 * x * x)
        yd = y * radial + self.p1 * (r2 + 2 * y * y) + 2 * self.p2 * x * y
        return xd, yd

    def pixel_to_ray(self, uv: NDArray[np.float64]) -> NDArray[np.float64]:
        """Unit rays in the camera frame (x right, y down, z forward).

        Parameters
        ----------
        uv : (N, 2) ndarray, pixel column and row.

        Returns
        -------
        (N, 3) ndarray of unit vectors.
        """
        uv = np.atleast_2d(np.asarray(uv, dtype=np.float64))
        xd = (uv[:, 0] - self.cx) / self.fx
        yd = (uv[:, 1] - self.cy) / self.fy
        x, y = xd.copy(), yd.copy()
        if self.has_distortion:
            for _ in range(8):  # fixed-point undistortion, converges for drone lenses
                xx, yy = self._distort(x, y)
                x, y = x - (xx - xd), y - (yy - yd)
        rays = np.stack([x, y, np.ones_like(x)], axis=1)
        return rays / np.linalg.norm(rays, axis=1, keepdims=True)

    def ray_to_pixel(self, rays: NDArray[np.float64]) -> NDArray[np.float64]:
        """Pixel (column, row) of camera-frame directions; NaN behind the camera."""
        rays = np.atleast_2d(np.asarray(rays, dtype=np.float64))
        z = rays[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.where(z > 1e-9, rays[:, 0] / z, np.nan)
            y = np.where(z > 1e-9, rays[:, 1] / z, np.nan)
        xd, yd = self._distort(x, y)
        return np.stack([xd * self.fx + self.cx, yd * self.fy + self.cy], axis=1)


@dataclass(frozen=True, slots=True)
class SensorSpec:
    """One row of the camera database: the full sensor readout."""

    make_model: str
    thermal: bool
    pitch_x_mm: float
    pitch_y_mm: float
    width: int
    height: int
    k1: float
    k2: float
    k3: float
    p1: float
    p2: float
    comment: str
    focal_mm: float | None = None
    """The lens focal length, where the database gives it (thermal cores without EXIF focal)."""


def _ratio(text: str | float) -> float:
    """'6.3175/4000.0' or '7.68d/640.0d' (Java literals) to a float."""
    if isinstance(text, int | float):
        return float(text)
    parts = [p.strip().rstrip("dDfF") for p in str(text).split("/")]
    value = float(parts[0])
    for p in parts[1:]:
        value /= float(p)
    return value


def _key(make: str, model: str) -> str:
    """Database key: make and model run together, without spaces, lower case ('skydiox2narrow')."""
    return re.sub(r"\s+", "", f"{make}{model}").lower()


@lru_cache(maxsize=1)
def camera_database() -> dict[str, list[SensorSpec]]:
    """The bundled OpenAthena database, keyed by :func:`_key` of its make+model."""
    raw = json.loads(resources.files("imagery.data").joinpath("droneModels.json").read_text())
    table: dict[str, list[SensorSpec]] = {}
    for row in raw["droneCCDParams"]:
        spec = SensorSpec(
            make_model=row["makeModel"],
            thermal=bool(row.get("isThermal", False)),
            pitch_x_mm=_ratio(row["ccdWidthMMPerPixel"]),
            pitch_y_mm=_ratio(row["ccdHeightMMPerPixel"]),
            width=int(row["widthPixels"]),
            height=int(row["heightPixels"]),
            k1=float(row.get("radialR1", 0) or 0),
            k2=float(row.get("radialR2", 0) or 0),
            k3=float(row.get("radialR3", 0) or 0),
            p1=float(row.get("tangentialT1", 0) or 0),
            p2=float(row.get("tangentialT2", 0) or 0),
            comment=str(row.get("comment", "")),
            focal_mm=float(row["focalLength"]) if row.get("focalLength") else None,
        )
        table.setdefault(_key(spec.make_model, ""), []).append(spec)
    return table


def lookup_sensor(make: str, model: str, *, thermal: bool, width: int) -> SensorSpec | None:
    """The database row for a make/model; thermal and colour rows share names."""
    rows = camera_database().get(_key(make, model), [])
    same = [r for r in rows if r.thermal == thermal] or rows
    if not same:
        return None
    return min(same, key=lambda r: abs(r.width - width))


@dataclass(frozen=True, slots=True)
class ExifOptics:
    """The EXIF (and maker XMP) fields intrinsics are built from (None where absent).

    ``calibrated_focal_px`` and ``calibrated_center_px`` are the maker's own
    per-unit calibration in pixels (DJI ``CalibratedFocalLength`` and
    ``CalibratedOpticalCenterX/Y``, Skydio ``CalibratedFocalLength`` and
    ``CalibratedOpticalCenter`` X/Y), on the grid of the readout they were
    measured on, with the origin at the top-left corner of the top-left pixel.
    """

    make: str = ""
    model: str = ""
    focal_mm: float | None = None
    focal_35mm: float | None = None
    focal_plane_x_res_per_mm: float | None = None
    focal_plane_y_res_per_mm: float | None = None
    exif_width: int | None = None
    exif_height: int | None = None
    digital_zoom: float | None = None
    calibrated_focal_px: tuple[float, float] | None = None
    calibrated_center_px: tuple[float, float] | None = None


SQUARE_PIXEL_TOLERANCE = 0.2
"""Drone camera sensors have square pixels: a database row whose pitches differ by more
than this is a data error (the bundled Boson 640 row, 15 x 9 um, mixes its width and
height). Rows a few per cent off (active-area rounding: FC2103, FC6520, Skydio X2
colour) stay in use."""

CALIBRATION_CENTRE_TOLERANCE = 0.1
"""How far (as a fraction of the image size) a maker's optical centre may lie from the
image centre and still be taken as measured on this image's grid."""


def _calibrated(
    optics: ExifOptics, width: int, height: int, zoom: float, notes: list[str]
) -> tuple[float, float, float, float] | None:
    """fx, fy, cx, cy from the maker's calibration, when it was made on this image's grid.

    A calibration of the full readout says nothing certain about a crop or a
    resize (a Skydio thermal frame carries its visible camera's calibration):
    then it is left out, with a note, and the other sources are used.
    """
    if optics.calibrated_focal_px is None:
        return None
    fx, fy = optics.calibrated_focal_px
    # Without a stated centre, the maker's calibration is taken to be centred (DJI writes both).
    cx, cy = optics.calibrated_center_px or (width / 2, height / 2)
    off_x, off_y = abs(cx - width / 2) / width, abs(cy - height / 2) / height
    if fx <= 0 or fy <= 0 or max(off_x, off_y) > CALIBRATION_CENTRE_TOLERANCE:
        notes.append(
            f"maker calibration (f={fx:.1f} px, centre {cx:.1f},{cy:.1f}) does not fit the "
            f"{width}x{height} image: ignored"
        )
        return None
    # Corner origin to this module's pixel-centre origin: half a pixel; digital zoom
    # magnifies about the image centre.
    cx, cy = cx - 0.5, cy - 0.5
    mid_x, mid_y = (width - 1) / 2, (height - 1) / 2
    return fx * zoom, fy * zoom, mid_x + (cx - mid_x) * zoom, mid_y + (cy - mid_y) * zoom


def _from_database(
    focal_mm: float, spec: SensorSpec, width: int, height: int, notes: list[str]
) -> tuple[float, float]:
    """fx, fy of a saved grid from the database's full-readout pixel pitch."""
    aspect_img, aspect_spec = width / height, spec.width / spec.height
    if abs(aspect_img - aspect_spec) < 0.01:
        scale = spec.width / width
        if scale != 1:
            notes.append(f"resized from the {spec.width}x{spec.height} readout")
    elif aspect_img > aspect_spec:
        scale = spec.width / width
        notes.append(f"vertical crop of the {spec.width}x{spec.height} readout")
    else:
        scale = spec.height / height
        notes.append(f"horizontal crop of the {spec.width}x{spec.height} readout")
    return focal_mm / (spec.pitch_x_mm * scale), focal_mm / (spec.pitch_y_mm * scale)


def _from_exif(
    optics: ExifOptics,
    focal_mm: float,
    x_res_per_mm: float,
    width: int,
    height: int,
    notes: list[str],
) -> tuple[float, float]:
    """fx, fy from EXIF focal length and focal-plane resolution."""
    ref_w = optics.exif_width or width
    ref_h = optics.exif_height or height
    if (ref_w, ref_h) != (width, height):
        notes.append(
            f"EXIF describes {ref_w}x{ref_h}, image is {width}x{height}: "
            "assumed a resize (a crop would change the focal length in pixels)"
        )
    fy_res = optics.focal_plane_y_res_per_mm or x_res_per_mm
    return focal_mm * x_res_per_mm * width / ref_w, focal_mm * fy_res * height / ref_h


def intrinsics(optics: ExifOptics, width: int, height: int, *, thermal: bool = False) -> Camera:
    """Intrinsics of a saved ``width`` x ``height`` image.

    Order of trust: the maker's own calibration in pixels (when it was made on
    this grid), the camera database (pixel pitch of the full readout, rescaled
    to the saved grid; its focal length where EXIF has none), then EXIF
    focal-plane resolution, then the 35 mm equivalent focal length.

    Raises
    ------
    IntrinsicsError
        When no focal length is known, or nothing gives the pixel pitch.
    """
    notes: list[str] = []
    spec = lookup_sensor(optics.make, optics.model, thermal=thermal, width=width)
    if spec is not None and abs(spec.pitch_x_mm / spec.pitch_y_mm - 1) > SQUARE_PIXEL_TOLERANCE:
        notes.append(
            f"camera database row {spec.make_model} has non-square pixels "
            f"({spec.pitch_x_mm * 1000:.2f} x {spec.pitch_y_mm * 1000:.2f} um): not used"
        )
        spec = None
    zoom = optics.digital_zoom if optics.digital_zoom and optics.digital_zoom > 1 else 1.0
    if zoom > 1:
        notes.append(f"digital zoom x{zoom:g} applied to the focal length")
    dist = (spec.k1, spec.k2, spec.k3, spec.p1, spec.p2) if spec else (0.0,) * 5
    cx, cy = (width - 1) / 2, (height - 1) / 2
    focal_mm = optics.focal_mm or (spec.focal_mm if spec else None)
    calibrated = _calibrated(optics, width, height, zoom, notes)
    if calibrated is not None:
        fx, fy, cx, cy = calibrated
        source = "maker calibration in the file"
    elif focal_mm and spec is not None:
        fx, fy = (f * zoom for f in _from_database(focal_mm, spec, width, height, notes))
        source = f"camera database {spec.make_model}"
        if not optics.focal_mm:
            source += f" (focal length {focal_mm:g} mm from the database)"
    elif optics.focal_mm and optics.focal_plane_x_res_per_mm:
        fx, fy = (
            f * zoom
            for f in _from_exif(
                optics, optics.focal_mm, optics.focal_plane_x_res_per_mm, width, height, notes
            )
        )
        source = "EXIF focal-plane resolution"
        dist = (0.0,) * 5
    elif optics.focal_35mm:
        diag = math.hypot(width, height)
        fx = fy = optics.focal_35mm * zoom * diag / FULL_FRAME_DIAGONAL_MM
        source = "EXIF 35 mm equivalent"
        dist = (0.0,) * 5
    else:
        raise IntrinsicsError(
            f"no focal length and pixel pitch for camera {optics.make!r} {optics.model!r}"
            + (f" ({'; '.join(notes)})" if notes else "")
        )
    notes.insert(0, source)
    logger.debug("intrinsics for %s %s: fx=%.1f (%s)", optics.make, optics.model, fx, source)
    return Camera(
        width=width,
        height=height,
        fx=fx,
        fy=fy,
        cx=cx,
        cy=cy,
        k1=dist[0],
        k2=dist[1],
        k3=dist[2],
        p1=dist[3],
        p2=dist[4],
        model=f"{optics.make} {optics.model}".strip(),
        thermal=thermal,
        notes=tuple(notes),
    )
