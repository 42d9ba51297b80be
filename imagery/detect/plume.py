"""Smoke and steam plumes in colour frames, near known stacks.

Steam and smoke are bright-to-grey, unsaturated and hazy: their dark
channel (the minimum over colour and a small window, He et al.'s haze
prior) is high where the ground behind them is not. They have soft edges,
where a white roof or car has sharp ones: strong edges are cut out of the
candidate mask (so a plume drifting over a roof separates from it) and a
region whose surroundings change steeply at its rim is rejected, as is one
with a fairly steep rim and an even inside (a pale roof or slab; a plume's
density varies). Sky (blue,
smooth, touching the top edge in oblique views) is masked first. Colours
are judged after a white-patch balance, so steam under a strong colour cast
(a blue winter dusk) is still white.

Plumes live in the air above their stacks. With stacks known and the frame
georeferenced, only pixels whose rays pass within ``reach_m`` of a stack's
vertical segment (its base to its mouth plus ``rise_m`` above it) are searched:
the column of air a plume rises and drifts in, seen from wherever the camera
is (straight down it is a disc round the stack; from an orbit ring it is a
band up the stack and above its mouth). Pale roads and concrete look like grey
smoke by colour alone, so a georeferenced frame with no stack in reach is not
searched at all. A frame without georeference (a fixed camera watching a
plant) is searched whole. Which stack a plume came from, and where it is in
the air, is the pipeline's to say (:mod:`imagery.pipeline`), from the rays
of the pixels found here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from skimage.filters import apply_hysteresis_threshold, sobel
from skimage.measure import label

from imagery.detect.base import Detection, Frame, regions_to_detections, register
from imagery.sites import ray_axis_distance, source_axes


def channel_max(rgb: NDArray[np.float32]) -> NDArray[np.float32]:
    """Per-pixel maximum over colour (channel-wise, much faster than a reduction on axis 2)."""
    return np.maximum(np.maximum(rgb[..., 0], rgb[..., 1]), rgb[..., 2])


def channel_min(rgb: NDArray[np.float32]) -> NDArray[np.float32]:
    return np.minimum(np.minimum(rgb[..., 0], rgb[..., 1]), rgb[..., 2])


def sky_mask(rgb: NDArray[np.float32]) -> NDArray[np.bool_]:
    """Blue, smooth pixels connected to the top edge (empty for nadir frames)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    value = channel_max(rgb)
    local_std = np.sqrt(
        np.maximum(ndimage.uniform_filter(value**2, 7) - ndimage.uniform_filter(value, 7) ** 2, 0)
    )
    candidate = (b > r + 0.06) & (b >= g) & (local_std < 0.03) & (value > 0.35)
    labels, _ = ndimage.label(candidate)
    top = np.unique(labels[0][labels[0] > 0])
    return np.isin(labels, top)


def stack_mask(
    frame: Frame, *, reach_m: float, rise_m: float, step_px: int = 4
) -> NDArray[np.bool_] | None:
    """Pixels whose rays pass within ``reach_m`` of a stack's wall, from its base up to
    ``rise_m`` above its mouth; None when that cannot be known (no stacks or no pose).

    Rays are cast on a grid of ``step_px`` pixels and the answer spread to the
    pixels between them (a plume is many such cells across).
    """
    if frame.sites is None or frame.georef is None or not frame.sites.stacks:
        return None
    axes = [a for a in source_axes(frame.sites, frame.georef) if a.kind == "stack"]
    rows, cols = frame.shape
    grid_r, grid_c = np.mgrid[0:rows:step_px, 0:cols:step_px]
    uv = np.stack([grid_c.ravel(), grid_r.ravel()], axis=1).astype(np.float64)
    rays = frame.georef.rays(uv)
    near = np.zeros(len(uv), dtype=bool)
    for axis in axes:
        distance, _ = ray_axis_distance(frame.georef.origin, rays, axis, rise_m=rise_m)
        near |= distance <= reach_m + axis.radius_m
    coarse = near.reshape(grid_r.shape)
    return np.repeat(np.repeat(coarse, step_px, axis=0), step_px, axis=1)[:rows, :cols]


def white_balanced(
    rgb: NDArray[np.float32],
    percentile: float = 99.0,
    tolerance: float = 1.15,
    max_gain: float = 3.0,
    *,
    exclude: NDArray[np.bool_] | None = None,
) -> NDArray[np.float32]:
    """The frame under neutral light: a percentile white patch (von Kries) balance.

    Whiteness and greyness are judged against the frame's own light: under a
    colour cast (a blue winter dusk) white steam is as tinted as everything
    else. Each channel is scaled so the frame's brightest pixels (the
    ``percentile`` per channel, robust to a few clipped ones) come out neutral;
    gains only lift the weaker channels, capped at ``max_gain``. A cast within
    ``tolerance`` (what auto white balance leaves on a daylight frame, where the
    colour rules were set) is left alone, so such frames are judged as taken.
    Pixels in ``exclude`` (the sky of an oblique view: blue, not white) are not
    taken for the white patch.
    """
    step = max(min(rgb.shape[:2]) // 256, 1)
    sample = rgb[::step, ::step].reshape(-1, 3)
    if exclude is not None:
        keep = ~exclude[::step, ::step].reshape(-1)
        sample = sample[keep] if keep.sum() >= 100 else sample
    ref = np.percentile(sample, percentile, axis=0)
    gains = np.clip(ref.max() / np.maximum(ref, 1e-3), 1.0, max_gain).astype(np.float32)
    if float(gains.max()) <= tolerance:
        return rgb
    return np.minimum(rgb * gains, np.float32(1.0))


def typical_dark(rgb: NDArray[np.float32]) -> float:
    """Median dark channel of a frame, from a coarse subsample."""
    step = max(min(rgb.shape[:2]) // 128, 1)
    coarse = channel_min(rgb[::step, ::step])
    return float(np.median(ndimage.minimum_filter(coarse, size=max(5 // step, 1))))


@dataclass
class PlumeDetector:
    """Smoke/steam: haze prior + low saturation, soft edges, sky masked, in a stack's column.

    ``reach_m``: how far from a stack's wall a plume is looked for (drift);
    ``rise_m``: how far above the mouth.
    """

    name: str = "plume"
    version: str = "2.0"
    kinds: frozenset[str] = frozenset({"rgb"})
    reach_m: float = 60.0
    rise_m: float = 80.0
    high: float = 0.6
    low: float = 0.3
    min_area_frac: float = 0.002
    min_area_m2: float = 4.0
    max_rim_gradient: float = 0.085
    surface_rim_gradient: float = 0.05
    surface_texture: float = 0.045
    edge_gradient: float = 0.08

    def probability(
        self, rgb: NDArray[np.float32], *, typical: float | None = None
    ) -> NDArray[np.float32]:
        """Per-pixel plume likelihood in [0, 1] from haze, whiteness and saturation.

        ``typical`` is the frame's usual dark channel (computed from ``rgb`` when None).
        """
        mx, mn = channel_max(rgb), channel_min(rgb)
        sat = (mx - mn) / np.maximum(mx, 1e-3)
        dark = ndimage.minimum_filter(mn, size=5)
        haze = np.clip((dark - 0.45) / 0.25, 0, 1)
        # Haze added over the scene: brighter dark channel than the frame's typical ground.
        if typical is None:
            typical = typical_dark(rgb)
        lift = np.clip((dark - typical - 0.10) / 0.15, 0, 1)
        grey = np.clip((0.30 - sat) / 0.15, 0, 1)
        return np.asarray(haze * grey * lift, dtype=np.float32)

    def detect(self, frame: Frame) -> list[Detection]:
        if frame.rgb is None:
            return []
        near = stack_mask(frame, reach_m=self.reach_m, rise_m=self.rise_m)
        if frame.georef is not None and (near is None or not near.any()):
            return []
        full_rows, full_cols = frame.shape
        balanced = white_balanced(frame.rgb, exclude=sky_mask(frame.rgb))
        typical = typical_dark(balanced)
        w0, w1, v0, v1 = 0, full_rows, 0, full_cols  # work only around the stacks
        if near is not None:
            rr, cc = np.nonzero(near.any(axis=1))[0], np.nonzero(near.any(axis=0))[0]
            w0, w1, v0, v1 = int(rr[0]), int(rr[-1]) + 1, int(cc[0]), int(cc[-1]) + 1
            near = near[w0:w1, v0:v1]
        rgb = balanced[w0:w1, v0:v1]
        prob = self.probability(rgb, typical=typical)
        prob[sky_mask(rgb)] = 0
        if near is not None:
            prob[~near] = 0
        grad = sobel(channel_max(rgb))
        hard = ndimage.binary_dilation(grad > self.edge_gradient, iterations=1)
        found = apply_hysteresis_threshold(np.where(hard, 0, prob), self.low, self.high)
        found = ndimage.binary_opening(found, iterations=1)
        rows, cols = rgb.shape[:2]
        min_px = max(int(self.min_area_frac * full_rows * full_cols), 12)
        gsd = frame.gsd_m()
        if gsd:
            min_px = max(min_px, int(self.min_area_m2 / gsd**2))

        def measure(mask: NDArray[np.bool_], box: tuple[int, int, int, int]) -> object:
            r0, c0, r1, c1 = box
            pad = 4
            a0, b0 = max(r0 - pad, 0), max(c0 - pad, 0)
            a1, b1 = min(r1 + pad, rows), min(c1 + pad, cols)
            inside = np.zeros((a1 - a0, b1 - b0), dtype=bool)
            inside[r0 - a0 : r1 - a0, c0 - b0 : c1 - b0] = mask
            ring = ndimage.binary_dilation(inside, iterations=pad) & ~inside
            rim_grad = float(grad[a0:a1, b0:b1][ring].mean()) if ring.any() else 0.0
            if rim_grad > self.max_rim_gradient:
                return None
            # Density variation on luminance: under a cast the strong channel clips in steam.
            texture = float(np.std(rgb[r0:r1, c0:c1].mean(axis=2)[mask]))
            if rim_grad > self.surface_rim_gradient and texture < self.surface_texture:
                return None  # hard-edged and even: a pale roof or slab, not a plume
            p = prob[r0:r1, c0:c1][mask]
            px = rgb[r0:r1, c0:c1][mask]
            m: dict[str, float | str | bool] = {
                "mean_probability": round(float(p.mean()), 3),
                "rim_gradient": round(rim_grad, 4),
                "texture": round(texture, 4),
                "area_px": int(mask.sum()),
                "mean_brightness": round(float(np.max(px, axis=1).mean()), 3),
                "colour": "white" if float(np.min(px, axis=1).mean()) > 0.6 else "grey",
            }
            size = min(1.0, float(mask.sum()) / (5 * min_px))
            return float(p.mean()) * (0.5 + 0.5 * size), m

        found_here = regions_to_detections(
            label(found, connectivity=2), kind="plume", min_area_px=min_px, measure=measure
        )
        return [
            Detection(
                d.kind,
                d.score,
                (d.box[0] + w0, d.box[1] + v0, d.box[2] + w0, d.box[3] + v0),
                d.mask,
                d.measurements,
            )
            for d in found_here
        ]


register(PlumeDetector())
