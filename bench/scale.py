"""Captures per second through the dispatcher with 1 and 2 local Dask worker processes.

    python bench/scale.py                 # 500 captures, 1 then 2 workers, SQLite
    python bench/scale.py --captures 1000 --workers 1,2,4 --rounds 10

Synthetic captures are rendered over the example zone's sites with plumes
injected at some stacks (so the detectors find things and the writer has
findings to write). Rendering costs more than processing, so ``--views``
distinct views are rendered and copied into as many files as ``--captures``,
each made unique (a tag after the JPEG's end marker: same pixels, different
hash, so every file is its own capture with its own findings).

Each worker count gets its own database and LocalCluster, warmed up (modules
imported) before any clock starts. The captures are split into ``--rounds``
flights and the worker counts take turns, one flight each, so a change in the
machine's other load hits every count alike; a round's clock covers
claiming, processing and writing its flight. Other load still
lowers every figure, so each line also says how many cores the worker
processes actually got: when that stays flat from 1 to 2 workers, the machine
had no more CPU to give, whatever the dispatcher did.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import math
import os
import shutil
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

# Run as a script, this file's directory comes first on sys.path, where bench/imagery.py
# would hide the `imagery` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import psutil  # noqa: E402
from distributed import Client  # noqa: E402
from sqlalchemy import Engine, func, select  # noqa: E402

from imagery.dispatch import Dispatcher, DispatchSettings, open_client  # noqa: E402
from imagery.dispatch.capture import enqueue_flight_captures  # noqa: E402
from imagery.synthetic import (  # noqa: E402
    Anomaly,
    SurveyLine,
    make_basemap,
    render_captures,
    synthetic_camera,
)
from store.db import make_engine, migrate, session_scope  # noqa: E402
from store.jobs import JOBS, JobStatus  # noqa: E402
from store.models import Capture, Finding, Flight  # noqa: E402
from zone.sites import load_sites  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SITES = REPO / "examples" / "zhengzhou-hightech" / "sites.geojson"


def render_views(out_dir: Path, *, views: int, width: int) -> list[Path]:
    """``views`` nadir captures along a line over enterprises with stacks, plumes injected."""
    sites = load_sites(SITES)
    line = SurveyLine(113.5200, 34.8040, 90.0, 500.0 / max(views - 1, 1), views)
    poses = line.poses()
    lons, lats = [p.lon for p in poses], [p.lat for p in poses]
    basemap = make_basemap(
        sites,
        bounds_lonlat=(min(lons) - 0.001, min(lats) - 0.001, max(lons) + 0.001, max(lats) + 0.001),
        gsd_m=0.3,
    )
    plumes = [Anomaly("plume", s.lon + 0.0002, s.lat, radius_m=8.0) for s in sites.stacks[:6]]
    return render_captures(
        poses,
        basemap=basemap,
        anomalies=plumes,
        camera=synthetic_camera("rgb", width=width),
        out_dir=out_dir,
    )


def make_captures(views: list[Path], out_dir: Path, n: int) -> list[Path]:
    """``n`` files cycling through ``views``, each unique by a tag after the end marker."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        view = views[i % len(views)]
        path = out_dir / f"CAP_{i:05d}{view.suffix}"
        shutil.copyfile(view, path)
        with path.open("ab") as fh:
            fh.write(f"ecopatrol-bench:{i}".encode())
        paths.append(path)
    return paths


def prepare(url: str, captures: list[Path], *, rounds: int) -> tuple[Engine, list[uuid.UUID]]:
    """A migrated store holding the captures as ``rounds`` flights (nothing queued yet)."""
    engine = make_engine(url)
    migrate(engine)
    flights = []
    size = math.ceil(len(captures) / rounds)
    with session_scope(engine) as session:
        for start in range(0, len(captures), size):
            flight = Flight(name=f"bench-{start // size}")
            session.add(flight)
            session.flush()
            session.add_all(
                Capture(flight_id=flight.id, index=i, path=str(p))
                for i, p in enumerate(captures[start : start + size], start=start)
            )
            flights.append(flight.id)
    return engine, flights


def _cpu_s(processes: list[psutil.Process]) -> float:
    return sum(p.cpu_times().user + p.cpu_times().system for p in processes)


@dataclass
class Tally:
    """One worker count's totals over its rounds."""

    seconds: float = 0.0
    written: int = 0
    worker_cpu_s: float = 0.0
    dispatcher_cpu_s: float = 0.0


def drain_flight(engine: Engine, client: Client, flight_id: uuid.UUID, tally: Tally) -> None:
    """Queue one flight and time the dispatcher until it is processed (CPU time too)."""
    with session_scope(engine) as session:
        enqueue_flight_captures(session, flight_id, sites=SITES)
    dispatcher = Dispatcher(engine, client, settings=DispatchSettings(poll_interval_s=0.05))
    me = psutil.Process()
    workers = [psutil.Process(pid) for pid in client.run(os.getpid).values()]
    cpu_before, mine_before = _cpu_s(workers), _cpu_s([me])
    start = time.perf_counter()
    report = dispatcher.run(drain=True)
    tally.seconds += time.perf_counter() - start
    tally.worker_cpu_s += _cpu_s(workers) - cpu_before
    tally.dispatcher_cpu_s += _cpu_s([me]) - mine_before
    tally.written += report.written
    if report.failed:
        raise SystemExit(f"{report.failed} jobs failed: see `ecopatrol status --db {engine.url}`")


def counts_in(engine: Engine) -> tuple[int, int]:
    """(jobs done, findings) in a store."""
    with engine.connect() as conn:
        done = conn.execute(
            select(func.count()).where(JOBS.c.status == JobStatus.DONE)
        ).scalar_one()
        findings = conn.execute(select(func.count()).select_from(Finding)).scalar_one()
    return done, findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captures", type=int, default=500)
    parser.add_argument("--views", type=int, default=20, help="distinct rendered views")
    parser.add_argument("--width", type=int, default=320, help="capture width in pixels")
    parser.add_argument("--workers", default="1,2", help="worker process counts to compare")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per count")
    args = parser.parse_args(argv)
    counts = [int(w) for w in args.workers.split(",")]
    if min(args.captures, args.views, args.rounds, *counts) < 1:
        parser.error("captures, views, rounds and worker counts must be positive")
    logging.basicConfig(level=logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="ecopatrol-bench-"))
    try:
        t0 = time.perf_counter()
        views = render_views(work / "views", views=args.views, width=args.width)
        captures = make_captures(views, work / "captures", args.captures)
        print(
            f"{len(captures)} captures ({len(views)} rendered views, {args.width} px wide) "
            f"ready in {time.perf_counter() - t0:.1f} s on {os.cpu_count()} cores "
            f"(load average {os.getloadavg()[0]:.1f})"
        )
        with ExitStack() as stack:
            stores, clients = {}, {}
            for workers in counts:
                stores[workers] = prepare(
                    f"sqlite:///{work / f'w{workers}.db'}", captures, rounds=args.rounds
                )
                stack.callback(stores[workers][0].dispose)
                client = stack.enter_context(open_client(n_workers=workers))
                client.wait_for_workers(workers)
                client.run(importlib.import_module, "imagery.dispatch.capture")
                clients[workers] = client
            tallies = {w: Tally() for w in counts}
            for k in range(args.rounds):
                order = counts[k % len(counts) :] + counts[: k % len(counts)]
                for workers in order:  # alternate, so the machine's other load hits all alike
                    engine, flights = stores[workers]
                    if k < len(flights):
                        drain_flight(engine, clients[workers], flights[k], tallies[workers])
            rates = {w: t.written / t.seconds for w, t in tallies.items()}
            for workers, t in tallies.items():
                done, findings = counts_in(stores[workers][0])
                print(
                    f"{workers} worker process{'es' if workers > 1 else ''}: {done} captures in "
                    f"{t.seconds:.1f} s = {rates[workers]:.1f} captures/s ({findings} findings); "
                    f"workers used {t.worker_cpu_s / t.seconds:.2f} cores, "
                    f"{1000 * t.worker_cpu_s / t.written:.0f} ms CPU per capture; "
                    f"dispatcher {t.dispatcher_cpu_s / t.seconds:.2f} cores"
                )
        base = counts[0]
        for workers in counts[1:]:
            ratio = rates[workers] / rates[base]
            print(
                f"scaling {base} -> {workers} workers: x{ratio:.2f} "
                f"({100 * ratio / (workers / base):.0f}% of linear)"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
