"""A capture drawn where it lies: its image warped onto its ground footprint, for the web map.

Frames, in and out:

- In: ``Capture.footprint`` is a GeoJSON Polygon in lon/lat degrees WGS84 of the
  ground the frame sees (:meth:`imagery.georef.Georef.footprint`, turned to
  lon/lat by the pipeline). Its ring starts at the ground point of image pixel
  (0, 0), the centre of the top-left pixel (image rows run down from row 0 at the
  top), and goes clockwise in the image: along the top edge, down the right,
  back along the bottom and up the left, the same number of points per edge.
  A footprint of four corners is the same rule with one point per edge.
- Out: an RGBA PNG whose pixel grid is linear in web mercator (EPSG:3857) over
  the footprint's lon/lat box, row 0 at its north edge and column 0 at its west:
  exactly what Leaflet's ``L.imageOverlay(url, [[south, west], [north, east]])``
  stretches over that box. Transparent outside the footprint.

The image is mapped by the projective transform (a homography) fitted to the
footprint's points, exact for a pinhole camera over flat ground; lens
distortion and relief bend the true outline a little, and a frame that sees the
horizon (its footprint cut at range) is only roughly placed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from skimage.transform import ProjectiveTransform, warp

from server.basemap import mercator
from server.errors import UploadRejectedError
from server.previews import preview

OVERLAY_PX = 512  # the overlay's long side; the image is read from the preview of this size

Bounds = tuple[float, float, float, float]


class FootprintError(UploadRejectedError):
    """A capture's footprint is not a ring of its image's edges (cannot be drawn)."""


def footprint_points(footprint: dict[str, Any]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The footprint's ground points and where each is in the image.

    Returns
    -------
    lonlat : (N, 2) ndarray of float64, degrees WGS84 (lon, lat), without the closing point.
    image : (N, 2) ndarray of float64, (column, row) as fractions of the image from the
        centre of its top-left pixel (0, 0) to the centre of its bottom-right pixel (1, 1).
    """
    try:
        ring = np.asarray(footprint["coordinates"][0], dtype=np.float64)[:, :2]
    except (KeyError, IndexError, TypeError, ValueError):
        raise FootprintError("the capture's footprint is not a GeoJSON polygon") from None
    if len(ring) > 1 and np.array_equal(ring[0], ring[-1]):
        ring = ring[:-1]
    n = len(ring)
    if n < 4 or n % 4 or not np.isfinite(ring).all():
        raise FootprintError(f"the capture's footprint has {n} points, not a ring of image edges")
    per_edge = n // 4
    s = (np.arange(n) % per_edge) / per_edge  # position along each edge, from its start
    edge = np.arange(n) // per_edge  # 0 top (left to right), 1 right (down), 2 bottom, 3 left
    col = np.select([edge == 0, edge == 1, edge == 2], [s, 1.0, 1.0 - s], 0.0)
    row = np.select([edge == 0, edge == 1, edge == 2], [0.0, s, 1.0], 1.0 - s)
    return ring, np.stack([col, row], axis=1)


def footprint_bounds(footprint: dict[str, Any]) -> Bounds:
    """(west, south, east, north) of the footprint, degrees WGS84."""
    lonlat, _image = footprint_points(footprint)
    (west, south), (east, north) = lonlat.min(axis=0), lonlat.max(axis=0)
    return float(west), float(south), float(east), float(north)


def footprint_digest(footprint: dict[str, Any]) -> str:
    """A short digest of the footprint: the overlay's cache key and URL version."""
    return hashlib.sha256(json.dumps(footprint, sort_keys=True).encode()).hexdigest()[:16]


def render_overlay(
    image: Image.Image, source_size: tuple[int, int], footprint: dict[str, Any]
) -> Image.Image:
    """``image`` (a preview of a ``source_size`` (width, height) capture) on its footprint.

    RGBA, :data:`OVERLAY_PX` on its long side, pixel grid linear in web mercator
    over :func:`footprint_bounds` with row 0 north (see the module's frames).
    """
    lonlat, fraction = footprint_points(footprint)
    xy = mercator(lonlat[:, 0], lonlat[:, 1])  # (N, 2) metres, x east, y north
    (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
    if not (x1 > x0 and y1 > y0):
        raise FootprintError("the capture's footprint has no area")
    scale = OVERLAY_PX / max(x1 - x0, y1 - y0)
    out_w, out_h = max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale))
    # output pixel (column, row) of each point, pixel centres at integers
    out_px = np.stack(
        [(xy[:, 0] - x0) / (x1 - x0) * out_w - 0.5, (y1 - xy[:, 1]) / (y1 - y0) * out_h - 0.5],
        axis=1,
    )
    # the same point in the preview: source pixel u = fraction * (W - 1), its centre scaled
    src = np.asarray(source_size, dtype=np.float64)
    seen = np.asarray(image.size, dtype=np.float64)
    in_px = (fraction * (src - 1) + 0.5) * seen / src - 0.5
    transform = ProjectiveTransform.from_estimate(out_px, in_px)  # output -> preview pixels
    if not transform:
        raise FootprintError("the capture's footprint gives no projective transform")
    rgb = np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0
    rgba = np.concatenate([rgb, np.ones((*rgb.shape[:2], 1))], axis=2)  # alpha 1 on the image
    warped = warp(rgba, transform, output_shape=(out_h, out_w), order=1, mode="constant", cval=0)
    return Image.fromarray(np.round(warped * 255).astype(np.uint8), mode="RGBA")


def overlay_png(
    source: Path,
    data_dir: Path,
    *,
    key: str,
    footprint: dict[str, Any],
    source_size: tuple[int, int],
    max_pixels: int,
) -> Path:
    """The capture's overlay PNG, rendered once per footprint into ``data_dir/overlays``.

    The image is read through :func:`server.previews.preview` (its
    :data:`OVERLAY_PX` JPEG, cached in ``data_dir/previews`` as the captures'
    previews are), which refuses an image over ``max_pixels`` before decoding it.
    """
    jpeg = preview(source, data_dir / "previews", key=key, max_px=OVERLAY_PX, max_pixels=max_pixels)
    target = data_dir / "overlays" / f"{key}_{footprint_digest(footprint)}_{OVERLAY_PX}.png"
    if target.is_file() and target.stat().st_mtime >= jpeg.stat().st_mtime:
        return target
    with Image.open(jpeg) as image:
        picture = render_overlay(image, source_size, footprint)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
    os.close(fd)
    picture.save(tmp, format="PNG", optimize=True)
    os.replace(tmp, target)
    return target
