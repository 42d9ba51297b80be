"""Detector quality on synthetic scenes with known anomalies.

Scenes are built around a zone's stacks and rivers: a plume downwind of a
stack, a hotspot in the yard, discoloured water in a river, plus scenes with
nothing injected. Each scene is flown as a short nadir pass of colour and
thermal captures whose recorded pose carries GNSS and attitude noise, then
processed like real captures, grouped, and matched to the truth.

Recall counts truths seen by at least one capture; precision counts groups
(objects), not per-frame findings; the geolocation error is the distance
between a matched group's mean position and the truth.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from shapely.geometry import Point, shape

from imagery.grouping import Located, group
from imagery.pipeline import CaptureResult, FindingResult, process_capture
from imagery.synthetic import Anomaly, SurveyLine, make_basemap, render_captures, synthetic_camera
from zone.frames import offset_true
from zone.sites import Sites, Stack

logger = logging.getLogger(__name__)

MATCH_RADIUS_M = {"plume": 20.0, "hotspot": 8.0, "water_discolouration": 25.0}
CAPTURE_KIND = {"plume": "rgb", "hotspot": "thermal", "water_discolouration": "rgb"}


@dataclass(frozen=True, slots=True)
class Scene:
    name: str
    centre: tuple[float, float]
    bearing_deg: float
    anomalies: tuple[Anomaly, ...]


@dataclass(frozen=True, slots=True)
class Metrics:
    kind: str
    truths: int
    groups: int
    matched: int
    false_groups: int
    errors_m: tuple[float, ...]

    @property
    def recall(self) -> float:
        return self.matched / self.truths if self.truths else float("nan")

    @property
    def precision(self) -> float:
        total = self.matched + self.false_groups
        return self.matched / total if total else float("nan")

    @property
    def median_error_m(self) -> float:
        return statistics.median(self.errors_m) if self.errors_m else float("nan")

    def line(self) -> str:
        return (
            f"{self.kind:22s} truths={self.truths:2d} groups={self.groups:2d} "
            f"recall={self.recall:.2f} precision={self.precision:.2f} "
            f"median_error={self.median_error_m:.2f} m"
        )


def plume_downwind(stack: Stack, wind_deg: float) -> Anomaly:
    """A plume painted 18 m downwind of ``stack``, scored at the stack it rises from."""
    lon, lat = offset_true(
        stack.lon,
        stack.lat,
        18 * math.sin(math.radians(wind_deg)),
        18 * math.cos(math.radians(wind_deg)),
    )
    return Anomaly(
        "plume",
        lon,
        lat,
        radius_m=9.0,
        bearing_deg=wind_deg,
        strength=0.85,
        source=(stack.lon, stack.lat),
    )


def build_scenes(sites: Sites, *, seed: int = 0, stacks: int = 4, rivers: int = 2) -> list[Scene]:
    """Scenes with anomalies around the first stacks and along the rivers, and empty ones."""
    rng = np.random.default_rng(seed)
    scenes = []
    for i, stack in enumerate(sites.stacks[:stacks]):
        wind = float(rng.uniform(0, 360))
        ang = float(rng.uniform(0, 2 * math.pi))
        dist = float(rng.uniform(15, 28))
        hx, hy = offset_true(stack.lon, stack.lat, dist * math.cos(ang), dist * math.sin(ang))
        anomalies: tuple[Anomaly, ...] = (
            plume_downwind(stack, wind),
            Anomaly(
                "hotspot",
                hx,
                hy,
                radius_m=float(rng.uniform(1.5, 3.0)),
                rise_c=float(rng.uniform(20, 45)),
            ),
        )
        scenes.append(
            Scene(
                f"stack-{stack.id}",
                (stack.lon, stack.lat),
                float(rng.uniform(0, 360)),
                anomalies if i % 4 != 3 else (),
            )
        )
    for j, river in enumerate(sites.rivers[:rivers]):
        for k, frac in enumerate((0.35, 0.7)):
            line = river.centerline
            here = line.interpolate(frac, normalized=True)
            ahead = line.interpolate(min(frac + 0.02, 1.0), normalized=True)
            coslat = math.cos(math.radians(here.y))
            bearing = math.degrees(math.atan2((ahead.x - here.x) * coslat, ahead.y - here.y))
            patch = offset_true(
                here.x,
                here.y,
                20 * math.sin(math.radians(bearing)),
                20 * math.cos(math.radians(bearing)),
            )
            colour = [(0.55, 0.38, 0.18), (0.35, 0.55, 0.25), (0.70, 0.70, 0.62)][(j + k) % 3]
            anomalies = (
                (
                    Anomaly(
                        "water_discolouration", *patch, radius_m=12.0, strength=0.9, colour=colour
                    ),
                )
                if k == 0 or j == 0
                else ()
            )
            scenes.append(Scene(f"river-{river.id}-{k}", (here.x, here.y), bearing, anomalies))
    return scenes


def run_scene(
    scene: Scene,
    sites: Sites,
    out_dir: Path,
    *,
    seed: int = 0,
    rgb_width: int = 1200,
    alt_rel_m: float = 100.0,
    pose_sigma: tuple[float, float] = (1.5, 0.5),
) -> list[CaptureResult]:
    """Render and process one scene's pass (three colour and three thermal captures)."""
    lon, lat = scene.centre
    half = 0.0016  # 180 m: the pass (70 m) plus half a colour footprint (75 m) and margin
    basemap = make_basemap(
        sites,
        bounds_lonlat=(lon - half * 1.25, lat - half, lon + half * 1.25, lat + half),
        gsd_m=0.3,
        seed=seed,
    )
    b = math.radians(scene.bearing_deg)
    start = offset_true(lon, lat, -35 * math.sin(b), -35 * math.cos(b))
    poses = SurveyLine(
        *start, scene.bearing_deg, 35.0, 3, alt_rel_m=alt_rel_m, ground_alt_m=basemap.ground_alt_m
    ).poses()
    results: list[CaptureResult] = []
    for kind in ("rgb", "thermal"):
        cam = synthetic_camera(kind, width=rgb_width)
        paths = render_captures(
            poses,
            basemap=basemap,
            anomalies=scene.anomalies,
            camera=cam,
            out_dir=out_dir / scene.name / kind,
            kind=kind,
            seed=seed,
            pose_sigma=pose_sigma,
        )
        results.extend(process_capture(p, sites=sites) for p in paths)
    return results


def _visible(truth: Anomaly, results: Sequence[CaptureResult]) -> bool:
    want = CAPTURE_KIND[truth.kind]
    return any(
        r.footprint and r.kind == want and shape(r.footprint).contains(Point(truth.lon, truth.lat))
        for r in results
    )


@dataclass
class _Tally:
    truths: int = 0
    groups: int = 0
    matched: int = 0
    false_groups: int = 0
    errors: list[float] = field(default_factory=list)


def _match(
    truth: tuple[float, float], mine: list[list[FindingResult]], used: set[int], radius: float
) -> tuple[float, int] | None:
    """The nearest unused group within ``radius`` metres of the ``truth`` (lon, lat)."""
    best = None
    for gi, members in enumerate(mine):
        lat = float(np.mean([m.lat for m in members]))
        lon = float(np.mean([m.lon for m in members]))
        d = math.hypot((lon - truth[0]) * math.cos(math.radians(lat)), lat - truth[1]) * 111_320.0
        if d <= radius and gi not in used and (best is None or d < best[0]):
            best = (d, gi)
    return best


def score(scenes: Sequence[tuple[Scene, Sequence[CaptureResult]]]) -> dict[str, Metrics]:
    """Recall, precision and geolocation error per finding kind over processed scenes."""
    totals = {k: _Tally() for k in MATCH_RADIUS_M}
    for scene, results in scenes:
        findings: list[FindingResult] = [f for r in results for f in r.findings]
        ids = group([Located.of(f, f.dedupe_key) for f in findings])
        groups: dict[str, list[FindingResult]] = {}
        for f in findings:
            groups.setdefault(ids[f.dedupe_key], []).append(f)
        for kind, radius in MATCH_RADIUS_M.items():
            tally = totals[kind]
            truths = [a for a in scene.anomalies if a.kind == kind and _visible(a, results)]
            mine = [g for g in groups.values() if g[0].kind == kind]
            tally.truths += len(truths)
            tally.groups += len(mine)
            used: set[int] = set()
            for truth in truths:
                best = _match(truth.reported_at, mine, used, radius)
                if best is not None:
                    used.add(best[1])
                    tally.matched += 1
                    tally.errors.append(best[0])
            tally.false_groups += len(mine) - len(used)
    return {
        k: Metrics(k, t.truths, t.groups, t.matched, t.false_groups, tuple(t.errors))
        for k, t in totals.items()
    }
