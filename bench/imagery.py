"""Imagery pipeline throughput against the JPEG decode floor, in the same run.

    python bench/imagery.py [--repeat 5] [--eval]

Renders a 20 MP colour frame (5472x3648, JPEG q90, a plume beside a known
stack so the plume detector does real work) and a 640x512 radiometric
thermal frame from the sample zone, then times, per image on one core:

* the floor: a full decode of the same file (Pillow, to an array);
* the pipeline: ``process_capture`` (hash, metadata, georeference, footprint,
  reduced-resolution decode, detectors, ground placement);
* the pipeline again with a 5 m DEM (8 km square, +-10 m of rolling relief,
  written beside the frames): the same frames, every ray marched through it.

The targets are the full colour pipeline within 3x the full decode time, and
with a DEM within 1.5x of the same pipeline without one (same run). The real
DJI H20T R-JPEG is timed too when the shared data lies beside the repo.
``--eval`` also prints detector recall/precision/geolocation on synthetic scenes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

# Run as a script, this file's directory comes first on sys.path and its name would hide
# the `imagery` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import numpy as np  # noqa: E402
import rasterio  # noqa: E402
from PIL import Image  # noqa: E402
from rasterio.transform import from_origin  # noqa: E402

from imagery.camera import Camera  # noqa: E402
from imagery.metadata import pose_from_metadata, read_metadata  # noqa: E402
from imagery.pipeline import process_capture  # noqa: E402
from imagery.synthetic import Anomaly, SurveyLine, make_basemap, render_captures  # noqa: E402
from imagery.thermal import read_thermal  # noqa: E402
from zone.frames import GridFrame  # noqa: E402
from zone.sites import Sites, load_sites  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SITES = REPO / "examples" / "zhengzhou-hightech" / "sites.geojson"
H20T = REPO.parent / "shared" / "data" / "real" / "thermal_dji_zh20t_leipzig_GPL3"


def _time(*fns: Callable[[], object], repeat: int) -> list[float]:
    """Median seconds of each function, run in turn ``repeat`` times so that they share
    whatever else the machine is doing."""
    for fn in fns:
        fn()  # warm caches (pyproj transformers, camera database, DEM windows)
    runs: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, times in zip(fns, runs, strict=True):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return [statistics.median(times) for times in runs]


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


def _dem(lon: float, lat: float, ground_alt_m: float, out: Path) -> Path:
    """A 5 m DEM on the UTM grid, 8 km square around a point, ground +-10 m of hills
    (wavelengths 1.9 and 2.5 km) and level with the ground under the point."""
    frame = GridFrame.utm(lon, lat)
    x0, y0 = (float(v) for v in frame.to_grid(lon, lat))
    cell, n = 5.0, 1600
    xs = (np.arange(n) + 0.5) * cell - n * cell / 2
    gx, gy = np.meshgrid(xs, -xs)
    heights = ground_alt_m + 10.0 * np.sin(gx / 300.0) * np.cos(gy / 400.0)
    path = out / "dem-5m.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=n,
        height=n,
        count=1,
        dtype="float32",
        crs=f"EPSG:{frame.epsg}",
        transform=from_origin(x0 - n * cell / 2, y0 + n * cell / 2, cell, cell),
    ) as dst:
        dst.write(heights.astype(np.float32), 1)
    return path


def _ground_alt_m(path: Path) -> float:
    """The take-off ground a frame's pose records (AMSL minus height above take-off)."""
    ground = pose_from_metadata(read_metadata(path)).ground_alt_m
    assert ground is not None, f"{path}: no height above take-off"
    return ground


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
        stack = sites.stacks[0]
        dem = _dem(stack.lon, stack.lat, _ground_alt_m(rgb), Path(tmp))
        rows = []
        for name, path, decode in (
            ("RGB 5472x3648 JPEG (synthetic)", rgb, lambda: _decode_full(rgb)),
            (
                "thermal 640x512 TIFF (synthetic)",
                thermal,
                lambda: read_thermal(thermal, read_metadata(thermal)),
            ),
        ):
            floor, flat, with_dem = _time(
                decode,
                partial(process_capture, path, sites=sites),
                partial(process_capture, path, sites=sites, dem=dem),
                repeat=args.repeat,
            )
            found = process_capture(path, sites=sites).findings
            found_dem = process_capture(path, sites=sites, dem=dem).findings
            rows.append((name, floor, flat, len(found)))
            rows.append((name + " + 5 m DEM", floor, with_dem, len(found_dem)))
        real = sorted(H20T.glob("*_0216_T.JPG"))
        if real:
            r = real[0]
            decoded, processed = _time(
                partial(read_thermal, r, read_metadata(r)),
                partial(process_capture, r),
                repeat=args.repeat,
            )
            found = process_capture(r).findings
            rows.append(("thermal 640x512 DJI R-JPEG (real)", decoded, processed, len(found)))
    print(
        f"{'frame':44s} {'decode s':>9s} {'pipeline s':>10s} {'img/s/core':>10s} "
        f"{'ratio':>6s} findings"
    )
    for name, dec, pipe, n in rows:
        print(f"{name:44s} {dec:9.3f} {pipe:10.3f} {1 / pipe:10.2f} {pipe / dec:6.2f} {n}")
    ratio = rows[0][2] / rows[0][1]
    print(
        f"target: RGB pipeline within 3x full decode -> {ratio:.2f}x "
        f"({'met' if ratio <= 3 else 'NOT met'})"
    )
    for flat_row, dem_row in ((rows[0], rows[1]), (rows[2], rows[3])):
        dem_ratio = dem_row[2] / flat_row[2]
        print(
            f"target: {flat_row[0]} with a 5 m DEM within 1.5x of without -> {dem_ratio:.2f}x "
            f"({'met' if dem_ratio <= 1.5 else 'NOT met'})"
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
