"""Browser-ready JPEG previews of captures (thermal TIFFs included), cached on disk."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from server.errors import NotFoundError, UploadRejectedError

logger = logging.getLogger(__name__)


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


def preview(source: Path, cache_dir: Path, *, key: str, max_px: int) -> Path:
    """A JPEG of ``source`` no larger than ``max_px`` on its long side; built once, then reused."""
    if not source.is_file():
        raise NotFoundError(f"image file {source.name} is missing on disk")
    target = cache_dir / f"{key}_{max_px}.jpg"
    if target.is_file() and target.stat().st_mtime >= source.stat().st_mtime:
        return target
    try:
        with Image.open(source) as image:
            image.thumbnail((max_px, max_px))
            out = _to_8bit(image)
            cache_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".part")
            os.close(fd)
            out.save(tmp, format="JPEG", quality=85)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as exc:
        raise UploadRejectedError(f"{source.name} is not a readable image: {exc}") from exc
    os.replace(tmp, target)
    return target
