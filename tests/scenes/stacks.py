"""A power plant's two 80 m stacks and a 30 m boiler stack, one of them smoking, seen from
a point of an orbit ring: the scene, the sites file describing it, and the camera's pose.

Positions follow the sample zone's ent-07 (two 80 m stacks 80 m apart, east-west);
the boiler stack stands 45 m south of the western one. Everything is built with
:mod:`tests.scenes.render` (numpy only): nothing here calls the pipeline.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from tests.scenes.render import Cylinder, LocalFrame, PinholeCamera, Plume, Scene

LON0, LAT0 = 113.5263895, 34.8089179  # ent-07-s1, the smoking stack
GROUND_M = 110.0  # ground altitude AMSL, flat
CAMERA = PinholeCamera(1200, 900, 73.7)

# id, east and north of the stack's axis from ent-07-s1 (m), height (m), radius (m)
STACKS = (
    ("ent-07-s1", 0.0, 0.0, 80.0, 3.5),
    ("ent-07-s2", 80.0, 0.0, 80.0, 3.5),
    ("ent-07-boiler", 0.0, -45.0, 30.0, 1.5),
)


@dataclass(frozen=True)
class View:
    """A camera on the ring: lon/lat, altitude AMSL and above the ground, attitude (true north)."""

    lon: float
    lat: float
    alt_amsl_m: float
    alt_rel_m: float
    yaw_deg: float
    pitch_deg: float
    origin: np.ndarray


def scene(*, smoking: str = "ent-07-s1", wind_to_deg: float = 60.0) -> Scene:
    frame = LocalFrame(LON0, LAT0)
    stacks = [Cylinder(e, n, GROUND_M, h, r) for _sid, e, n, h, r in STACKS]
    mouth = next(c.mouth for c, s in zip(stacks, STACKS, strict=True) if s[0] == smoking)
    return Scene(frame, GROUND_M, stacks, [Plume(mouth, wind_to_deg)])


def ring_view(
    bearing_deg: float,
    *,
    around: str = "ent-07-s1",
    radius_m: float = 130.0,
    above_ground_m: float = 100.0,
) -> View:
    """The camera on a ring round a stack, aimed at its axis 55 m above the ground.

    ``bearing_deg``: where the camera stands, seen from the stack (clockwise from north);
    it looks back along the opposite bearing.
    """
    b = math.radians(bearing_deg)
    _sid, e0, n0, _h, _r = next(s for s in STACKS if s[0] == around)
    east, north = e0 + radius_m * math.sin(b), n0 + radius_m * math.cos(b)
    lon, lat = LocalFrame(LON0, LAT0).lonlat(east, north)
    yaw = (bearing_deg + 180.0) % 360.0
    pitch = math.degrees(math.atan2(55.0 - above_ground_m, radius_m))
    alt = GROUND_M + above_ground_m
    return View(lon, lat, alt, above_ground_m, yaw, pitch, np.array([east, north, alt]))


def write_capture(path: Path, view: View, *, smoking: str = "ent-07-s1") -> Path:
    """Render the view and save it as a JPEG (quality 95); no metadata is written."""
    pixels = scene(smoking=smoking).render(CAMERA, view.origin, view.yaw_deg, view.pitch_deg, 0.0)
    Image.fromarray(pixels).save(path, quality=95)
    return path


def mouth_lonlat_alt(stack_id: str) -> tuple[float, float, float]:
    _sid, e, n, h, _r = next(s for s in STACKS if s[0] == stack_id)
    lon, lat = LocalFrame(LON0, LAT0).lonlat(e, n)
    return lon, lat, GROUND_M + h


def write_sites(path: Path) -> Path:
    """The plant as a sites file: one enterprise with all three stacks (ids, heights, radii)."""
    frame = LocalFrame(LON0, LAT0)
    corners = [frame.lonlat(e, n) for e, n in ((-60, -80), (140, -80), (140, 40), (-60, 40))]
    stacks = []
    for sid, e, n, h, r in STACKS:
        lon, lat = frame.lonlat(e, n)
        stacks.append({"id": sid, "coordinates": [lon, lat], "height_m": h, "radius_m": r})
    feature = {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [[*corners, corners[0]]]},
        "properties": {
            "kind": "enterprise",
            "id": "ent-07",
            "ground_alt_m": GROUND_M,
            "stacks": stacks,
        },
    }
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    return path
