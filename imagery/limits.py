"""How large an image may be before anyone decodes it.

A small compressed file can hold a huge image (a 13000 x 13000 PNG of one
colour is a few hundred kilobytes and 169 million pixels, over 600 MB once
decoded). :func:`check_image_size` reads only the header (Pillow's ``open`` is
lazy) and refuses an image over the pixel limit, so callers check before they
decode: the server on upload and before a preview, the pipeline before it
processes a capture.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from imagery.errors import ImageryError, UnreadableImageError

# 100 million pixels: above every drone camera in scope (61 MP full-frame, 640 x 512 thermal).
DEFAULT_MAX_PIXELS = 100_000_000


class ImageTooLargeError(ImageryError, ValueError):
    """The image has more pixels than the configured limit (refused before decoding)."""


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) in pixels from the file's header; nothing is decoded.

    Raises
    ------
    UnreadableImageError
        When the file is missing or not an image Pillow can read.
    """
    try:
        with warnings.catch_warnings():
            # Pillow warns (or raises) about bombs itself; the limit here is ours.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return image.size
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"{path.name}: {exc}") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UnreadableImageError(f"{path.name}: not a readable image ({exc})") from exc


def check_image_size(path: Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """(width, height) of ``path`` when within ``max_pixels``; ImageTooLargeError otherwise."""
    width, height = image_size(path)
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"{path.name}: {width} x {height} = {width * height / 1e6:.0f} million pixels, "
            f"over the limit of {max_pixels / 1e6:g} million"
        )
    return width, height
