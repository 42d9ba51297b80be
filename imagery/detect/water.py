"""Water discolouration and foam along known river sections.

The river's course (from the sites file, upstream end first) is projected
into the frame and buffered to its width less the pose uncertainty (so the
mask stays off the banks); the frame's own upstream water is the reference,
so light, season and sediment load cancel out. Pixels whose
CIELAB colour differs from that reference by more than ``high_delta_e``
(grown through ``low_delta_e``) form discolouration patches; bright,
colourless, unsaturated patches are foam. Specular glint (near-saturated
pixels) is masked from both.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
from numpy.typing import NDArray
from rasterio.features import rasterize
from shapely import ops
from shapely.geometry import LineString
from skimage.color import rgb2lab
from skimage.filters import apply_hysteresis_threshold
from skimage.measure import label

from imagery.detect.base import Detection, Frame, regions_to_detections, register
from imagery.sites import M_PER_DEG


def _describe(d_l: float, d_a: float, d_b: float) -> str:
    """A word for the colour shift an inspector can check against the thumbnail."""
    if abs(d_a) < 5 and abs(d_b) < 5:
        return "lighter (milky)" if d_l > 0 else "darker"
    if d_b > 0 and d_a > 0:
        return "brown/red"
    if d_b > 0:
        return "yellow-green"
    if d_a < 0:
        return "green/cyan"
    return "purple/blue"


def river_masks(
    frame: Frame, *, reference_frac: float
) -> list[tuple[NDArray[np.bool_], NDArray[np.bool_]]]:
    """(water, upstream reference) masks of every river section in view."""
    if frame.sites is None or frame.georef is None or not frame.sites.rivers:
        return []
    gsd = frame.gsd_m()
    if not gsd:
        return []
    error_m = frame.georef.position_error_m()
    error_m = error_m if np.isfinite(error_m) else 0.0
    rows, cols = frame.shape
    out = []
    for river in frame.sites.rivers:
        step_deg = max(gsd * 20, 1.0) / M_PER_DEG
        dense = river.centerline.segmentize(step_deg)
        coords = np.asarray(dense.coords)
        px = frame.georef.lonlat_to_pixels(coords[:, 0], coords[:, 1])
        margin = max(rows, cols)
        inside = (
            np.isfinite(px).all(axis=1)
            & (px[:, 0] > -margin)
            & (px[:, 0] < cols + margin)
            & (px[:, 1] > -margin)
            & (px[:, 1] < rows + margin)
        )
        if inside.sum() < 2:
            continue
        idx = np.flatnonzero(inside)
        line = LineString(px[idx[0] : idx[-1] + 1])
        # Keep clear of the banks by the pose uncertainty: a mask shifted onto the bank
        # would report the bank's colour as discoloured water.
        margin_m = min(error_m, 0.3 * river.width_m / 2)
        half_px = (river.width_m / 2 - margin_m) / gsd
        frame_box = LineString([(0, 0), (cols, 0), (cols, rows), (0, rows), (0, 0)]).convex_hull
        visible = line.intersection(frame_box.buffer(half_px))
        if visible.is_empty or visible.length < 4 * half_px:
            continue
        visible = ops.linemerge(visible) if visible.geom_type == "MultiLineString" else visible
        if visible.geom_type != "LineString":
            visible = max(visible.geoms, key=lambda g: g.length)
        water = rasterize([(line.buffer(half_px), 1)], out_shape=(rows, cols)).astype(bool)
        upstream = ops.substring(visible, 0, visible.length * reference_frac)
        ref = rasterize([(upstream.buffer(half_px), 1)], out_shape=(rows, cols)).astype(bool)
        if water.any() and (ref & water).sum() > 50:
            out.append((water, ref & water))
    return out


def _measure(
    m: NDArray[np.bool_],
    box: tuple[int, int, int, int],
    *,
    kind: str,
    lab: NDArray[np.float64],
    delta: NDArray[np.float64],
    ref_lab: NDArray[np.float64],
) -> tuple[float, dict[str, float | str | bool]]:
    b0, bc0, b1, bc1 = box
    patch = lab[b0:b1, bc0:bc1][m]
    de = delta[b0:b1, bc0:bc1][m]
    mean = patch.mean(axis=0)
    shift = mean - ref_lab
    meas: dict[str, float | str | bool] = {
        "delta_e_mean": round(float(de.mean()), 2),
        "delta_e_max": round(float(de.max()), 2),
        "lab": ",".join(f"{v:.1f}" for v in mean),
        "reference_lab": ",".join(f"{v:.1f}" for v in ref_lab),
        "shift": _describe(*(float(v) for v in shift)),
        "area_px": int(m.sum()),
    }
    score = min(1.0, float(de.mean()) / 40.0) if kind == "water_discolouration" else 0.6
    return score, meas


@dataclass
class WaterDetector:
    """Colour difference against the same frame's upstream water, glint masked; foam."""

    name: str = "water"
    version: str = "1.0"
    kinds: frozenset[str] = frozenset({"rgb"})
    high_delta_e: float = 18.0
    low_delta_e: float = 10.0
    reference_frac: float = 0.2
    min_area_m2: float = 20.0
    foam_lightness: float = 82.0
    foam_chroma: float = 10.0

    def detect(self, frame: Frame) -> list[Detection]:
        if frame.rgb is None:
            return []
        found: list[Detection] = []
        gsd = frame.gsd_m() or 1.0
        min_px = max(int(self.min_area_m2 / gsd**2), 10)
        for water, ref in river_masks(frame, reference_frac=self.reference_frac):
            rr, cc = np.nonzero(water)
            r0, r1, c0, c1 = rr.min(), rr.max() + 1, cc.min(), cc.max() + 1
            rgb = frame.rgb[r0:r1, c0:c1]
            w, rf = water[r0:r1, c0:c1], ref[r0:r1, c0:c1]
            glint = rgb.max(axis=2) > 0.97
            lab = rgb2lab(rgb)
            usable_ref = rf & ~glint
            if usable_ref.sum() < 20:
                continue
            ref_lab = np.median(lab[usable_ref], axis=0)
            delta = np.linalg.norm(lab - ref_lab, axis=2)
            chroma = np.hypot(lab[..., 1], lab[..., 2])
            foam = w & ~glint & (lab[..., 0] > self.foam_lightness) & (chroma < self.foam_chroma)
            odd = apply_hysteresis_threshold(
                np.where(w & ~glint & ~foam, delta, 0), self.low_delta_e, self.high_delta_e
            )
            measure = partial(_measure, lab=lab, delta=delta, ref_lab=ref_lab)
            for kind, mask in (("water_discolouration", odd), ("foam", foam)):
                for det in regions_to_detections(
                    label(mask, connectivity=2),
                    kind=kind,
                    min_area_px=min_px,
                    measure=partial(measure, kind=kind),
                ):
                    b0, bc0, b1, bc1 = det.box
                    found.append(
                        Detection(
                            det.kind,
                            det.score,
                            (b0 + r0, bc0 + c0, b1 + r0, bc1 + c0),
                            det.mask,
                            det.measurements,
                        )
                    )
        return found


register(WaterDetector())
