"""Thermal hotspots: warm regions standing out of their background.

The background is a coarse median surface (so vignetting and large smooth
gradients are not hotspots), the noise a robust sigma (MAD) of the residual.
Pixels above ``high_sigma`` seed regions that grow through pixels above
``low_sigma`` (hysteresis); regions smaller than ``min_area_m2`` (or
``min_area_px`` without a georeference) are dropped. Calibrated frames must
also rise ``min_rise_c`` degrees above their background: a sun-heated roof
runs up to about ten degrees above grass on a summer day, the leaks, hot
discharges and fires looked for run well above that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from skimage.filters import apply_hysteresis_threshold
from skimage.measure import label

from imagery.detect.base import Detection, Frame, regions_to_detections, register


def background(
    values: NDArray[np.float32], *, blocks: int = 16, size: int = 9
) -> NDArray[np.float32]:
    """A smooth background: medians of ``blocks`` x ``blocks`` tiles, median-filtered over
    ``size`` tiles (about half the frame, so a large warm roof stays above it), resampled."""
    rows, cols = values.shape
    block = max(min(rows, cols) // blocks, 1)
    br, bc = max(rows // block, 1), max(cols // block, 1)
    tiles = np.median(values[: br * block, : bc * block].reshape(br, block, bc, block), axis=(1, 3))
    smooth = ndimage.median_filter(tiles, size=min(size, *tiles.shape), mode="nearest")
    zoom = (rows / smooth.shape[0], cols / smooth.shape[1])
    return np.asarray(ndimage.zoom(smooth, zoom, order=1, mode="nearest"), dtype=np.float32)


@dataclass
class HotspotDetector:
    """Background-relative thermal hotspots with hysteresis and a minimum area."""

    name: str = "thermal_hotspot"
    version: str = "1.0"
    kinds: frozenset[str] = frozenset({"thermal"})
    high_sigma: float = 12.0
    low_sigma: float = 5.0
    min_area_px: int = 6
    min_area_m2: float = 0.25
    min_rise_c: float = 12.0

    def detect(self, frame: Frame) -> list[Detection]:
        if frame.thermal is None:
            return []
        values = frame.thermal.values
        bg = background(values)
        resid = values - bg
        # Noise from the cold half only: large warm objects must not inflate it.
        centre = float(np.median(resid))
        cold = centre - resid[resid <= centre]
        sigma = max(1.4826 * float(np.median(cold)), 1e-3)
        z = resid / sigma
        hot = apply_hysteresis_threshold(z, self.low_sigma, self.high_sigma)
        gsd = frame.gsd_m()
        min_px = self.min_area_px
        if gsd:
            min_px = max(min_px, int(np.ceil(self.min_area_m2 / gsd**2)))
        calibrated = frame.thermal.calibrated

        def measure(mask: NDArray[np.bool_], box: tuple[int, int, int, int]) -> object:
            r0, c0, r1, c1 = box
            v = values[r0:r1, c0:c1][mask]
            b = bg[r0:r1, c0:c1][mask]
            zz = z[r0:r1, c0:c1][mask]
            rise = float(np.max(v - b))
            if calibrated and rise < self.min_rise_c:
                return None
            peak = float(zz.max())
            m: dict[str, float | str | bool] = {
                "peak_sigma": round(peak, 2),
                "mean_sigma": round(float(zz.mean()), 2),
                "rise": round(rise, 2),
                "mean_rise": round(float(np.mean(v - b)), 2),
                "max": round(float(v.max()), 2),
                "background": round(float(np.median(b)), 2),
                "area_px": int(mask.sum()),
                "calibrated": calibrated,
                "units": frame.thermal.units if frame.thermal else "",
            }
            if calibrated:
                m["max_temp_c"] = m["max"]
                m["rise_c"] = m["rise"]
            score = float(min(1.0, peak / (3 * self.high_sigma)))
            return score, m

        return regions_to_detections(
            label(hot, connectivity=2), kind="hotspot", min_area_px=min_px, measure=measure
        )


register(HotspotDetector())
