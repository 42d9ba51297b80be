"""API latency under load: 10,000 findings in 1,000 objects, 50 concurrent clients.

Run with ``python bench/api.py`` (SQLite; add PostgreSQL with ``--postgres-url`` or
``ECOPATROL_TEST_POSTGRES_URL``). For each database it seeds a fresh store
(findings in groups of ten, made objects by ``store.objects.sync_flight`` as
processing makes them), starts ``uvicorn server.main:create_app`` in its own
process on loopback, and lets ``--clients`` clients (one asyncio task each,
keep-alive connections) ask for ``--seconds`` after a short warm-up, one path
at a time: the findings list (plain pages, a status filter, a bounding box),
the review queue's first page of objects, the map's object layer over a view
of the zone, and the baseline ``GET /users/me``. It prints p50/p99 latency,
requests per second, and p50 as a multiple of the baseline's. The default run
takes about a minute per database.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from server.accounts import add_user
from store.db import make_engine, migrate
from store.models import Capture, Finding, FindingStatus, Flight, FlightStatus, Role
from store.objects import sync_flight

PASSWORD = "bench-password-123"
KINDS = ("thermal_hotspot", "water_discolouration", "smoke_plume")
STATUSES = tuple(FindingStatus)


@dataclass
class Result:
    database: str
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


FINDINGS_PER_OBJECT = 10


def seed(url: str, n: int) -> None:
    """``n`` findings over one flight, spread over the zone, statuses and a month, in
    objects of ``FINDINGS_PER_OBJECT`` findings each (one place, kind and status)."""
    engine = make_engine(url)
    migrate(engine)
    add_user(engine, "bench", PASSWORD, role=Role.INSPECTOR)
    rng = random.Random(1)
    flight_id, capture_id = uuid.uuid4(), uuid.uuid4()
    base = datetime(2026, 6, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(Flight).values(
                id=flight_id,
                name="bench",
                status=FlightStatus.LANDED,
                connection="",
                directory="",
                distance_m=0.0,
                created_at=base,
            )
        )
        conn.execute(
            insert(Capture).values(
                id=capture_id,
                flight_id=flight_id,
                path="bench.jpg",
                sha256="",
                kind="rgb",
                status="PROCESSED",
                created_at=base,
            )
        )
        rows = [_finding(rng, i, flight_id, capture_id, base) for i in range(n)]
        for start in range(0, n, 2000):
            conn.execute(insert(Finding), rows[start : start + 2000])
    with Session(engine) as session:
        flight = session.get(Flight, flight_id)
        assert flight is not None
        sync_flight(session, flight)
        session.commit()
    engine.dispose()


def _finding(
    rng: random.Random, i: int, flight_id: uuid.UUID, capture_id: uuid.UUID, base: datetime
) -> dict[str, object]:
    """The ``i``-th finding: one of its object's ten captures (same place within metres)."""
    place = random.Random(i // FINDINGS_PER_OBJECT)
    return {
        "id": uuid.uuid4(),
        "dedupe_key": f"bench-{i}",
        "group_id": f"bench-group-{i // FINDINGS_PER_OBJECT}",
        "capture_id": capture_id,
        "flight_id": flight_id,
        "site_id": f"ent-{place.randint(1, 12):02d}",
        "kind": place.choice(KINDS),
        "detector": "bench",
        "detector_version": "1",
        "score": rng.random(),
        "severity": rng.choice(("low", "medium", "high")),
        "pixel_box": [10, 10, 50, 50],
        "lat": 34.79 + place.random() * 0.03 + rng.gauss(0, 1e-5),
        "lon": 113.51 + place.random() * 0.05 + rng.gauss(0, 1e-5),
        "position_error_m": rng.uniform(1, 4),
        "area_m2": rng.uniform(1, 200),
        "measurements": {"rise": round(rng.uniform(5, 40), 1), "calibrated": True},
        "status": place.choice(STATUSES).name,
        "created_at": base + timedelta(minutes=rng.randint(0, 60 * 24 * 30)),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(url: str, data_dir: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ECOPATROL_DATABASE_URL": url,
        "ECOPATROL_DATA_DIR": str(data_dir),
        "ECOPATROL_SECRET_KEY": "bench-secret-0123456789abcdef0123",
    }
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "server.main:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
        "--workers",
        str(workers),
    ]
    process = subprocess.Popen(cmd, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"the server exited with {process.returncode}") from None
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the server did not start within 30 s")


def findings_query(rng: random.Random) -> dict[str, str]:
    """A page of findings an inspector's tools would ask for."""
    params = {"limit": "50", "skip": str(rng.randrange(0, 5000, 50))}
    choice = rng.random()
    if choice < 0.3:
        params["status"] = "pending"
        params["order"] = "score"
    elif choice < 0.6:
        lon, lat = 113.51 + rng.random() * 0.04, 34.79 + rng.random() * 0.02
        params["bbox"] = f"{lon:.5f},{lat:.5f},{lon + 0.01:.5f},{lat + 0.01:.5f}"
        params["skip"] = "0"
    return params


def queue_query(_: random.Random) -> dict[str, str]:
    """The review queue's first page: pending objects by severity, then site."""
    return {"status": "pending", "limit": "50"}


def map_query(rng: random.Random) -> dict[str, str]:
    """The map's object layer over a view of a fifth of the zone (about 1 x 0.7 km)."""
    lon, lat = 113.51 + rng.random() * 0.04, 34.79 + rng.random() * 0.024
    return {"bbox": f"{lon:.5f},{lat:.5f},{lon + 0.01:.5f},{lat + 0.006:.5f}", "limit": "500"}


def no_query(_: random.Random) -> None:
    return None


BASELINE_PATH = "/api/v1/users/me"
"""The floor: the same server, token check and one-row read, under the same load."""

MEASURED = (
    ("findings", "/api/v1/findings", findings_query),
    ("queue", "/api/v1/objects", queue_query),
    ("map objects", "/api/v1/objects", map_query),
    ("baseline", BASELINE_PATH, no_query),
)
"""(name, path, query) in the order they are measured, the baseline last."""


async def load(
    base: str,
    path: str,
    query: Callable[[random.Random], dict[str, str] | None],
    *,
    clients: int,
    seconds: float,
    warmup_s: float,
) -> tuple[list[float], int]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as login:
        r = await login.post(
            "/api/v1/login/access-token", data={"username": "bench", "password": PASSWORD}
        )
        r.raise_for_status()
        token = r.json()["access_token"]
    latencies: list[float] = []
    errors = 0
    measure_from = time.perf_counter() + warmup_s
    stop_at = measure_from + seconds

    async def client(number: int) -> None:
        nonlocal errors
        rng = random.Random(number)
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(
            base_url=base, timeout=30, limits=limits, headers={"Authorization": f"Bearer {token}"}
        ) as http:
            while (now := time.perf_counter()) < stop_at:
                t0 = now
                response = await http.get(path, params=query(rng))
                t1 = time.perf_counter()
                if t0 >= measure_from:
                    if response.status_code == 200:
                        latencies.append(t1 - t0)
                    else:
                        errors += 1

    await asyncio.gather(*(client(i) for i in range(clients)))
    return latencies, errors


def run(database: str, url: str, args: argparse.Namespace) -> list[Result]:
    """Every measured path and the baseline, each under the same load on one server."""
    with tempfile.TemporaryDirectory(prefix="ecopatrol-bench-") as tmp:
        if url == "sqlite":
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        t0 = time.perf_counter()
        seed(url, args.findings)
        print(
            f"{database}: seeded {args.findings} findings in {time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
        )
        port = free_port()
        server = start_server(url, Path(tmp) / "data", port, args.workers)
        try:
            measured = [
                asyncio.run(
                    load(
                        f"http://127.0.0.1:{port}",
                        path,
                        query,
                        clients=args.clients,
                        seconds=args.seconds,
                        warmup_s=args.warmup,
                    )
                )
                for _, path, query in MEASURED
            ]
        finally:
            server.terminate()
            server.wait(timeout=10)
    out = []
    for (name, _, _), (latencies, errors) in zip(MEASURED, measured, strict=True):
        latencies.sort()
        q = statistics.quantiles(latencies, n=100, method="inclusive")
        out.append(
            Result(
                f"{database} {name}",
                len(latencies),
                errors,
                args.seconds,
                q[49] * 1000,
                q[98] * 1000,
            )
        )
    return out


def postgres_database(admin_url: str) -> tuple[str, str]:
    name = f"ecopatrol_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return name, make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per database")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("ECOPATROL_TEST_POSTGRES_URL"),
        help="admin URL of a PostgreSQL server (a scratch database is made)",
    )
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()

    results: list[list[Result]] = []
    if not args.no_sqlite:
        results.append(run("sqlite", "sqlite", args))
    if args.postgres_url:
        name, url = postgres_database(args.postgres_url)
        try:
            results.append(run("postgresql", url, args))
        finally:
            drop_database(args.postgres_url, name)
    else:
        print(
            "postgresql: skipped (no --postgres-url / ECOPATROL_TEST_POSTGRES_URL)", file=sys.stderr
        )

    print(
        f"{args.findings} findings in {args.findings // FINDINGS_PER_OBJECT} objects, "
        f"{args.clients} clients, loopback, {args.workers} uvicorn worker(s); "
        f"baseline: GET {BASELINE_PATH} on the same server"
    )
    print(
        f"{'path':<24}{'requests':>10}{'errors':>8}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}"
        f"{'p50 / baseline':>16}"
    )
    for rows in results:
        baseline = rows[-1]
        for r in rows:
            print(
                f"{r.database:<24}{r.requests:>10}{r.errors:>8}{r.rps:>10.0f}{r.p50_ms:>10.1f}"
                f"{r.p99_ms:>10.1f}{r.p50_ms / baseline.p50_ms:>16.2f}"
            )


if __name__ == "__main__":
    main()
