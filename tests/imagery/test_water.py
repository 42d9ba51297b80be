"""Water detector: discolouration against upstream water, foam, glint masked, sites named."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from imagery.detect.base import select
from imagery.pipeline import process_capture
from imagery.synthetic import Anomaly, SurveyLine, make_basemap, render_captures
from zone.sites import Sites


@pytest.fixture(scope="module")
def river_scene(zone_sites: Sites):
    """A nadir view over the middle of the first river, along its flow."""
    river = zone_sites.rivers[0]
    here = river.centerline.interpolate(0.5, normalized=True)
    ahead = river.centerline.interpolate(0.52, normalized=True)
    bearing = math.degrees(
        math.atan2((ahead.x - here.x) * math.cos(math.radians(here.y)), ahead.y - here.y)
    )
    basemap = make_basemap(
        zone_sites,
        bounds_lonlat=(here.x - 0.0012, here.y - 0.001, here.x + 0.0012, here.y + 0.001),
        gsd_m=0.3,
    )
    (pose,) = SurveyLine(here.x, here.y, bearing, 1.0, 1, alt_rel_m=100).poses()
    return river, here, basemap, pose


def _river_pass(zone_sites, river_scene, tmp_path: Path, anomalies: list[Anomaly], name: str):
    river, here, basemap, pose = river_scene
    (path,) = render_captures([pose], basemap=basemap, anomalies=anomalies, out_dir=tmp_path / name)
    return river, here, process_capture(path, sites=zone_sites, detectors=select(["water"]))


def test_foam_and_discolouration_downstream(zone_sites: Sites, river_scene, tmp_path: Path) -> None:
    river, here, _, _ = river_scene
    d = 1 / 111_320
    coslat = math.cos(math.radians(here.y))
    ahead = river.centerline.interpolate(river.centerline.project(here) + 25 * d)
    foam_at = river.centerline.interpolate(river.centerline.project(here) + 45 * d)
    anomalies = [
        Anomaly("water_discolouration", ahead.x, ahead.y, radius_m=10, colour=(0.55, 0.38, 0.18)),
        Anomaly(
            "water_discolouration",
            foam_at.x,
            foam_at.y,
            radius_m=6,
            strength=1.0,
            colour=(0.92, 0.92, 0.90),
        ),
    ]
    _, _, result = _river_pass(zone_sites, river_scene, tmp_path, anomalies, "dirty")
    kinds = {f.kind: f for f in result.findings}
    assert set(kinds) == {"water_discolouration", "foam"}, result.findings
    brown = kinds["water_discolouration"]
    assert brown.site_id == river.id and brown.measurements["shift"] == "brown/red"
    assert math.hypot((brown.lon - ahead.x) * coslat, brown.lat - ahead.y) / d < 6
    assert "site_river_km" in brown.measurements


def test_clean_river_gives_nothing_and_needs_sites(
    zone_sites: Sites, river_scene, tmp_path: Path
) -> None:
    _, _, result = _river_pass(zone_sites, river_scene, tmp_path, [], "clean")
    assert result.ok and result.findings == ()
    brown = Anomaly("water_discolouration", river_scene[1].x, river_scene[1].y, radius_m=10)
    _, _, dirty = _river_pass(zone_sites, river_scene, tmp_path, [brown], "nosites")
    again = process_capture(Path(dirty.path), detectors=select(["water"]))
    assert dirty.findings and again.ok and again.findings == ()
