"""Browser-ready JPEG previews of captures (thermal TIFFs included), cached on disk."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from imagery.errors import UnreadableImageError
from imagery.limits import ImageTooLargeError, check_image_size
from server.errors import NotFoundError, UploadRejectedError

logger = logging.getLogger(__name__)
PREVIEW_SIZES = (256, 512, 1024, 1600, 2048)


def _to_8bit(image: Image.Image) -> Image.Image:
    """Stretch single-band 16-bit or float images (radiometric thermal) to 0..255 by percentile."""
    if image.mode in ("RGB", "L"):
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        data = np.asarray(image, dtype=np.float64)
        low, high = np.nanpercentile(data, [1, 99])
        scaled = np.clip((data - low) / max(high - low, 1e-9), 0, 1) * 255
        return Image.fromarray(scaled.astype(np.uint8), mode="L")
    return image.convert("RGB")


def preview_size(max_px: int) -> int:
    """The allowed size that serves a request for ``max_px``: the smallest not below it.

    Only these sizes are ever built, so the cache holds at most
    ``len(PREVIEW_SIZES)`` files per capture whatever clients ask for.
    """
    return next((size for size in PREVIEW_SIZES if size >= max_px), PREVIEW_SIZES[-1])


def preview(source: Path, cache_dir: Path, *, key: str, max_px: int, max_pixels: int) -> Path:
    """A JPEG of ``source`` at most :func:`preview_size` of ``max_px`` on its long side.

    Built once per size, then reused. The image's size is read from its header
    first: one over ``max_pixels`` is refused (ImageTooLargeError) undecoded.
    """
    if not source.is_file():
        raise NotFoundError(f"image file {source.name} is missing on disk")
    size = preview_size(max_px)
    target = cache_dir / f"{key}_{size}.jpg"
    if target.is_file() and target.stat().st_mtime >= source.stat().st_mtime:
        return target
    try:
        check_image_size(source, max_pixels=max_pixels)
        with Image.open(source) as image:
            image.draft("RGB", (size, size))  # JPEG: decode at a reduced scale
            image.thumbnail((size, size))
            out = _to_8bit(image)
            cache_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".part")
            os.close(fd)
            out.save(tmp, format="JPEG", quality=85)
    except ImageTooLargeError:
        raise
    except UnreadableImageError as exc:
        raise UploadRejectedError(str(exc)) from exc
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as exc:
        raise UploadRejectedError(f"{source.name} is not a readable image: {exc}") from exc
    os.replace(tmp, target)
    return target
