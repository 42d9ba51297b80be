"""A capture resampled onto the UTM grid, written as a GeoTIFF (rasterio).

Rows run along grid north (the GeoTIFF's CRS is the capture's UTM zone), not
true north: the two differ by the grid convergence, which the georeference
has already applied to the camera's true-north attitude, so a cell holds the
pixel that sees its ground. Each output cell's centre is put on the ground
(the flat ground height or the DEM), projected into the image through the
camera, and the image is sampled there (bilinear). Cells the camera did not see are nodata (an alpha
band for colour). This is a single-frame orthorectification: relief
displacement of buildings is not removed (no surface model of them).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import rasterio
from numpy.typing import NDArray
from rasterio.transform import from_origin
from scipy import ndimage

from imagery.errors import GeoreferenceError
from imagery.georef import Georef

logger = logging.getLogger(__name__)

MAX_CELLS = 64_000_000


def write_geotiff(
    image: NDArray[np.floating] | NDArray[np.integer],
    georef: Georef,
    path: Path,
    *,
    gsd_m: float | None = None,
) -> Path:
    """Write ``image`` (on ``georef``'s pixel grid) as a GeoTIFF on the capture's UTM grid.

    Parameters
    ----------
    image : (rows, cols, 3) colour in [0, 1] or uint8, or (rows, cols) values (e.g. degrees C).
    georef : the capture's georeference on the same grid as ``image``.
    gsd_m : output cell size (grid metres); the image's ground size at its centre by default.

    Raises
    ------
    GeoreferenceError
        When the output grid would be empty or unreasonably large.
    """
    rows, cols = image.shape[:2]
    if (rows, cols) != (georef.camera.height, georef.camera.width):
        raise GeoreferenceError(
            f"image is {cols}x{rows} but the georeference is for "
            f"{georef.camera.width}x{georef.camera.height}"
        )
    cell = gsd_m or georef.gsd_m()
    if not np.isfinite(cell) or cell <= 0:
        raise GeoreferenceError("cannot choose a cell size: the image centre sees no ground")
    x0, y0, x1, y1 = georef.footprint().bounds
    width, height = int(np.ceil((x1 - x0) / cell)), int(np.ceil((y1 - y0) / cell))
    if width * height > MAX_CELLS or width <= 0 or height <= 0:
        raise GeoreferenceError(f"output grid {width}x{height} at {cell:.3f} m is not usable")
    xs = x0 + (np.arange(width) + 0.5) * cell
    ys = y1 - (np.arange(height) + 0.5) * cell
    gx, gy = np.meshgrid(xs, ys)
    gh = georef.ground_height(gx.ravel(), gy.ravel())
    uv = georef.ground_to_pixel(np.stack([gx.ravel(), gy.ravel(), gh], axis=1))
    u, v = uv[:, 0], uv[:, 1]
    seen = np.isfinite(u) & (u >= -0.5) & (u <= cols - 0.5) & (v >= -0.5) & (v <= rows - 0.5)
    coords = [np.where(seen, v, 0), np.where(seen, u, 0)]
    transform = from_origin(x0, y1, cell, cell)
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "crs": f"EPSG:{georef.epsg}",
        "transform": transform,
        "compress": "deflate",
        "tiled": True,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    if image.ndim == 3:
        data = np.asarray(image, dtype=np.float32)
        if image.dtype == np.uint8:
            data = data / 255.0
        bands = [
            (ndimage.map_coordinates(data[..., k], coords, order=1) * 255).clip(0, 255)
            for k in range(data.shape[2])
        ]
        out = (np.stack([*bands, seen * 255.0]) * seen).astype(np.uint8)
        with rasterio.open(tmp, "w", count=out.shape[0], dtype="uint8", **profile) as dst:
            dst.write(out.reshape(out.shape[0], height, width))
            dst.colorinterp = [*dst.colorinterp[:-1], rasterio.enums.ColorInterp.alpha]
    else:
        values = ndimage.map_coordinates(np.asarray(image, dtype=np.float32), coords, order=1)
        values = np.where(seen, values, np.nan).astype(np.float32)
        with rasterio.open(tmp, "w", count=1, dtype="float32", nodata=np.nan, **profile) as dst:
            dst.write(values.reshape(1, height, width))
    tmp.replace(path)
    logger.info("wrote %s (%dx%d cells of %.3f m)", path, width, height, cell)
    return path
