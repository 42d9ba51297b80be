"""The detector interface: a function over one image with its georeference.

A detector is any object with a ``name``, a ``version``, the capture
``kinds`` it reads ("rgb", "thermal") and a ``detect(frame)`` method returning
:class:`Detection` s in the frame's pixel grid. Rule-based detectors live in
this package; a learned model fits the same shape (load weights in
``__init__``, run them in ``detect``) and is added with :func:`register`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from imagery.georef import Georef
from imagery.thermal import ThermalFrame

if TYPE_CHECKING:
    from zone.sites import Sites

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Frame:
    """What a detector sees: one capture at working resolution.

    ``rgb`` : (rows, cols, 3) ndarray of float32 in [0, 1], or None for thermal.
    ``thermal`` : the radiometric frame, or None for colour captures.
    ``georef`` : the pixel/ground mapping on this grid, or None when the pose is unknown.
    """

    kind: str
    rgb: NDArray[np.float32] | None = None
    thermal: ThermalFrame | None = None
    georef: Georef | None = None
    sites: Sites | None = None

    @property
    def shape(self) -> tuple[int, int]:
        if self.rgb is not None:
            return self.rgb.shape[0], self.rgb.shape[1]
        assert self.thermal is not None
        return self.thermal.values.shape[0], self.thermal.values.shape[1]

    def gsd_m(self) -> float | None:
        """Ground size of a pixel at the centre, when georeferenced."""
        if self.georef is None:
            return None
        g = self.georef.gsd_m()
        return None if np.isnan(g) else g


@dataclass(frozen=True, eq=False)
class Detection:
    """One anomaly in a frame's pixel grid.

    ``box`` is (row0, col0, row1, col1), end-exclusive; ``mask`` is the
    (row1-row0, col1-col0) boolean mask inside it; ``score`` in [0, 1].
    """

    kind: str
    score: float
    box: tuple[int, int, int, int]
    mask: NDArray[np.bool_]
    measurements: dict[str, float | str | bool] = field(default_factory=dict)


@runtime_checkable
class Detector(Protocol):
    """What every detector provides (rule-based or learned)."""

    name: str
    version: str
    kinds: frozenset[str]

    def detect(self, frame: Frame) -> list[Detection]: ...


_REGISTRY: dict[str, Detector] = {}


def register(detector: Detector) -> Detector:
    """Make a detector available by name (a later registration of a name replaces it)."""
    if not isinstance(detector, Detector):
        raise TypeError(f"{detector!r} does not provide name, version, kinds and detect()")
    _REGISTRY[detector.name] = detector
    return detector


def unregister(name: str) -> None:
    """Remove a detector by name (a missing name is ignored)."""
    _REGISTRY.pop(name, None)


def available() -> dict[str, Detector]:
    """Registered detectors by name (the built-in ones are registered on import)."""
    import imagery.detect.plume
    import imagery.detect.thermal
    import imagery.detect.water  # noqa: F401

    return dict(_REGISTRY)


def select(names: Iterable[str] | None = None) -> list[Detector]:
    """Detectors by name, or all of them; an unknown name raises ValueError."""
    table = available()
    if names is None:
        return list(table.values())
    chosen = []
    for name in names:
        if name not in table:
            raise ValueError(f"unknown detector {name!r} (known: {', '.join(sorted(table))})")
        chosen.append(table[name])
    return chosen


def regions_to_detections(
    labels: NDArray[np.integer],
    *,
    kind: str,
    min_area_px: int,
    measure: object,
) -> list[Detection]:
    """Detections from a label image.

    ``measure(region_mask, box)`` returns ``(score, measurements)``, or None to drop the region.
    """
    from skimage.measure import regionprops

    out: list[Detection] = []
    for region in regionprops(labels):
        if region.area < min_area_px:
            continue
        r0, c0, r1, c1 = region.bbox
        mask = region.image
        result = measure(mask, (r0, c0, r1, c1))  # type: ignore[operator]
        if result is None:
            continue
        score, measurements = result
        out.append(Detection(kind, float(score), (r0, c0, r1, c1), mask, measurements))
    return out
