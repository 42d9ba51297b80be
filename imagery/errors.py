"""Exceptions raised by the imagery pipeline.

One tree, rooted in :class:`ImageryError`; each refinement also derives from
the builtin it refines so callers can catch either. A sites file that cannot be
read is the zone's own :class:`zone.errors.InvalidSiteError` (a ``ValueError``)::

    ImageryError(Exception)
    ├── UnreadableImageError(ImageryError, OSError)    file missing, truncated, not an image
    ├── MetadataError(ImageryError, ValueError)        EXIF/XMP present but unusable
    │   ├── PoseError(MetadataError)                   no usable position or orientation
    │   └── IntrinsicsError(MetadataError)             focal length / pixel pitch unknown
    ├── GeoreferenceError(ImageryError, ValueError)    a ray misses the ground, DEM not covering
    ├── ThermalFormatError(ImageryError, ValueError)   no radiometric payload where one is expected
    └── ManifestMatchError(ImageryError, ValueError)   manifest lines that match no image
"""

from __future__ import annotations


class ImageryError(Exception):
    """Base of every error raised by :mod:`imagery`."""


class UnreadableImageError(ImageryError, OSError):
    """The file cannot be decoded as an image."""


class MetadataError(ImageryError, ValueError):
    """Metadata is present but cannot be used."""


class PoseError(MetadataError):
    """Position or orientation is missing or invalid (reported, never guessed)."""


class IntrinsicsError(MetadataError):
    """Focal length or pixel pitch cannot be determined."""


class GeoreferenceError(ImageryError, ValueError):
    """A pixel or ground point cannot be mapped (ray above the horizon, DEM miss)."""


class ThermalFormatError(ImageryError, ValueError):
    """A thermal file carries no radiometric data the pipeline can read."""


class ManifestMatchError(ImageryError, ValueError):
    """Capture manifest and images do not match."""
