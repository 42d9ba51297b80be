"""Every finding carries the source it is attributed to: a hot stack mouth in the air at its
stack, a discoloured patch at an outfall on the ground, and nothing for a hot spot on
open ground.

The detections are given (a stub detector returns a box, as a learned model would);
where each box lies is worked out by the scene's own camera (tests/scenes, numpy
only), so what is tested is the pipeline's placement and attribution.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from imagery.detect.base import Detection, Frame
from imagery.pipeline import FindingResult, process_capture
from tests.imagery.told import told
from tests.scenes.render import LocalFrame, camera_axes
from tests.scenes.stacks import (
    CAMERA,
    GROUND_M,
    LAT0,
    LON0,
    View,
    ring_view,
    write_capture,
    write_sites,
)
from zone.sites import load_sites

OUTFALL = ("ent-07-outfall", 40.0, -70.0)  # id, east and north of ent-07-s1 (m)


@dataclass
class _Boxes:
    """A detector that reports given pixel boxes (column, row centre; half size) as ``kind``."""

    boxes: list[tuple[float, float, int]]
    kind: str
    name: str = "test_boxes"
    version: str = "0"
    kinds: frozenset[str] = frozenset({"rgb"})
    seen: list[Frame] = field(default_factory=list)

    def detect(self, frame: Frame) -> list[Detection]:
        out = []
        for col, row, half in self.boxes:
            box = (int(row) - half, int(col) - half, int(row) + half + 1, int(col) + half + 1)
            mask = np.ones((2 * half + 1, 2 * half + 1), dtype=bool)
            out.append(Detection(self.kind, 0.9, box, mask, {"stub": True}))
        return out


def _pixel(view: View, east: float, north: float, alt: float) -> tuple[float, float]:
    axes = camera_axes(view.yaw_deg, view.pitch_deg, 0.0)
    col, row = CAMERA.project(*axes, view.origin, np.array([east, north, alt]))
    return float(col), float(row)


def _run(tmp_path: Path, view: View, detector: _Boxes) -> tuple[FindingResult, ...]:
    sites_path = write_sites(tmp_path / "sites.geojson")
    collection = json.loads(sites_path.read_text())
    lon, lat = LocalFrame(LON0, LAT0).lonlat(OUTFALL[1], OUTFALL[2])
    collection["features"].append(
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": {"kind": "outfall", "id": OUTFALL[0], "enterprise": "ent-07"},
        }
    )
    sites_path.write_text(json.dumps(collection))
    image = write_capture(tmp_path / "frame.jpg", view)
    pose, camera = told(view)
    result = process_capture(
        image, pose=pose, camera=camera, sites=load_sites(sites_path), detectors=[detector]
    )
    assert result.ok, result.failure_reason
    return result.findings


def test_a_hot_mouth_is_placed_on_its_stack_in_the_air(tmp_path: Path) -> None:
    # From the south ring point the s1 wall 2 m below its mouth (78 m up, 110 + 78 AMSL) is
    # in front of the camera; the boiler stack's column stands between them, lower down.
    view = ring_view(180.0)
    col, row = _pixel(view, 0.0, -3.5, GROUND_M + 78.0)  # the wall facing the camera
    (finding,) = _run(tmp_path, view, _Boxes([(col, row, 2)], "hotspot"))
    assert finding.source_id == "ent-07-s1" and finding.site_id == "ent-07"
    assert finding.height_agl_m is not None and abs(finding.height_agl_m - 78.0) < 3.0
    assert finding.source_distance_m is not None and finding.source_distance_m < 5.0
    assert finding.ground_polygon is None


def test_a_hot_spot_on_open_ground_has_no_source(tmp_path: Path) -> None:
    # 40 m west and 40 m south of s1: 40 m from the boiler stack, 57 m from s1, 125 m from s2.
    view = ring_view(180.0)
    col, row = _pixel(view, -40.0, -40.0, GROUND_M)
    (finding,) = _run(tmp_path, view, _Boxes([(col, row, 3)], "hotspot"))
    assert finding.source_id is None and finding.height_agl_m is None
    assert finding.ground_polygon is not None


def test_discoloured_water_at_an_outfall_is_attributed_to_it(tmp_path: Path) -> None:
    # A patch 10 m east of the outfall, seen from a camera 100 m above it, looking down.
    b = math.radians(200.0)
    east, north = OUTFALL[1] + 60 * math.sin(b), OUTFALL[2] + 60 * math.cos(b)
    lon, lat = LocalFrame(LON0, LAT0).lonlat(east, north)
    look = math.degrees(math.atan2(OUTFALL[1] - east, OUTFALL[2] - north)) % 360
    view = View(
        lon, lat, GROUND_M + 100, 100.0, look, -55.0, np.array([east, north, GROUND_M + 100])
    )
    col, row = _pixel(view, OUTFALL[1] + 10.0, OUTFALL[2], GROUND_M)
    (finding,) = _run(tmp_path, view, _Boxes([(col, row, 4)], "water_discolouration"))
    assert finding.source_id == OUTFALL[0] and finding.height_agl_m is None
    # The patch (about 2 m across here) starts some 9 m from the outfall.
    assert finding.source_distance_m is not None and 5.0 < finding.source_distance_m < 12.0


@pytest.mark.parametrize("kind", ["hotspot", "water_discolouration"])
def test_findings_far_from_any_outfall_have_none(tmp_path: Path, kind: str) -> None:
    view = ring_view(180.0)
    col, row = _pixel(view, -40.0, -40.0, GROUND_M)  # 98 m from the outfall
    (finding,) = _run(tmp_path, view, _Boxes([(col, row, 3)], kind))
    assert finding.source_id is None
