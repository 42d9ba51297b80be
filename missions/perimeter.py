"""Perimeter patrol: one loop along an enterprise boundary, camera on.

Flown ``inset_m`` inside the fence line (0: over it) so the nadir footprint
shows both sides of the fence, starting at the vertex nearest ``start``.
"""

from __future__ import annotations

import numpy as np
from shapely.geometry import Polygon

from missions.path import Leg, fit_trigger, polyline_length


def plan_perimeter(
    boundary: Polygon,
    *,
    trigger_m: float,
    altitude_m: float,
    inset_m: float = 0.0,
    start: tuple[float, float] | None = None,
) -> list[Leg]:
    """A closed loop (local metres) along ``boundary``'s exterior."""
    shape = boundary if inset_m <= 0 else boundary.buffer(-inset_m)
    if shape.is_empty:
        shape = boundary
    if not isinstance(shape, Polygon):
        shape = max(shape.geoms, key=lambda g: g.area)
    ring = np.asarray(Polygon(shape.exterior).exterior.coords)[:-1, :2]
    if start is not None:
        k = int(np.argmin(np.hypot(*(ring - np.asarray(start)).T)))
        ring = np.roll(ring, -k, axis=0)
    loop = np.vstack([ring, ring[:1]])
    return [
        Leg(
            points=loop,
            altitude_m=altitude_m,
            trigger_m=fit_trigger(polyline_length(loop), trigger_m),
        )
    ]
