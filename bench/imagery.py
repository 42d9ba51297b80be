"""Imagery pipeline throughput against the JPEG decode floor, in the same run.

    python bench/imagery.py [--repeat 5] [--eval]

Renders a 20 MP colour frame (5472x3648, JPEG q90, a plume beside a known
stack so the plume detector does real work) and a 640x512 radiometric
thermal frame from the sample zone, then times, per image on one core:

* the floor: a full decode of the same file (Pillow, to an array);
* the pipeline: ``process_capture`` (hash, metadata, georeference, footprint,
  reduced-resolution decode, detectors, ground placement).

The target is the full colour pipeline within 3x the full decode time. The
real DJI H20T R-JPEG is timed too when the shared data lies beside the repo.
``--eval`` also prints detector recall/precision/geolocation on synthetic scenes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# Run as a script, this file's directory comes first on sys.path and its name would hide
# the `imagery` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from imagery.camera import Camera  # noqa: E402
from imagery.metadata import read_metadata  # noqa: E402
from imagery.pipeline import process_capture  # noqa: E402
from imagery.sites import Sites, load_sites  # noqa: E402
from imagery.synthetic import Anomaly, SurveyLine, make_basemap, render_captures  # noqa: E402
from imagery.thermal import read_thermal  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SITES = REPO / "examples" / "zhengzhou-hightech" / "sites.geojson"
H20T = REPO.parent / "shared" / "data" / "real" / "thermal_dji_zh20t_leipzig_GPL3"


def _time(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm caches (pyproj transformers, camera database)
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def _frames(sites: Sites, out: Path) -> tuple[Path, Path]:
    stack = sites.stacks[0]
    half = 0.0012
    basemap = make_basemap(
        sites,
        bounds_lonlat=(stack.lon - half, stack.lat - half, stack.lon + half, stack.lat + half),
        gsd_m=0.1,
    )
    plume = Anomaly("plume", stack.lon + 0.0001, stack.lat + 0.0001, radius_m=9.0)
    poses = SurveyLine(
        stack.lon, stack.lat, 30.0, 1.0, 1, alt_rel_m=90.0, ground_alt_m=basemap.ground_alt_m
    ).poses()
    rgb_cam = Camera.ideal(5472, 3648, hfov_deg=73.7, model="EcoPatrol SYN-RGB")
    (rgb,) = render_captures(
        poses, basemap=basemap, anomalies=[plume], camera=rgb_cam, out_dir=out / "rgb", quality=90
    )
    (thermal,) = render_captures(
        poses, basemap=basemap, anomalies=[plume], kind="thermal", out_dir=out / "thermal"
    )
    return rgb, thermal


def _decode_full(path: Path) -> None:
    with Image.open(path) as im:
        np.asarray(im.convert("RGB") if im.mode not in ("I;16", "I;16B") else im)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--eval", action="store_true", help="also score detectors")
    args = parser.parse_args()
    sites = load_sites(SITES)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        rgb, thermal = _frames(sites, Path(tmp))
        print(f"rendered test frames in {time.perf_counter() - t0:.1f} s")
        rows = []
        floor = _time(lambda: _decode_full(rgb), args.repeat)
        full = _time(lambda: process_capture(rgb, sites=sites), args.repeat)
        found = process_capture(rgb, sites=sites).findings
        rows.append(("RGB 5472x3648 JPEG (synthetic)", floor, full, len(found)))
        tfloor = _time(lambda: read_thermal(thermal, read_metadata(thermal)), args.repeat)
        tfull = _time(lambda: process_capture(thermal, sites=sites), args.repeat)
        rows.append(
            (
                "thermal 640x512 TIFF (synthetic)",
                tfloor,
                tfull,
                len(process_capture(thermal, sites=sites).findings),
            )
        )
        real = sorted(H20T.glob("*_0216_T.JPG"))
        if real:
            r = real[0]
            rows.append(
                (
                    "thermal 640x512 DJI R-JPEG (real)",
                    _time(lambda: read_thermal(r, read_metadata(r)), args.repeat),
                    _time(lambda: process_capture(r), args.repeat),
                    len(process_capture(r).findings),
                )
            )
    print(
        f"{'frame':36s} {'decode s':>9s} {'pipeline s':>10s} {'img/s/core':>10s} "
        f"{'ratio':>6s} findings"
    )
    for name, dec, pipe, n in rows:
        print(f"{name:36s} {dec:9.3f} {pipe:10.3f} {1 / pipe:10.2f} {pipe / dec:6.2f} {n}")
    ratio = rows[0][2] / rows[0][1]
    print(
        f"target: RGB pipeline within 3x full decode -> {ratio:.2f}x "
        f"({'met' if ratio <= 3 else 'NOT met'})"
    )
    if args.eval:
        from imagery.evaluate import build_scenes, run_scene, score

        with tempfile.TemporaryDirectory() as tmp:
            scenes = build_scenes(sites, seed=1, stacks=8, rivers=2)
            done = [(s, run_scene(s, sites, Path(tmp), seed=i)) for i, s in enumerate(scenes)]
        for m in score(done).values():
            print(m.line())


if __name__ == "__main__":
    main()
