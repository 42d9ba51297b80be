"""API latency under load: the findings list over 10,000 findings, 50 concurrent clients.

Run with ``python bench/api.py`` (SQLite; add PostgreSQL with ``--postgres-url`` or
``ECOPATROL_TEST_POSTGRES_URL``). For each database it seeds a fresh store,
starts ``uvicorn server.main:create_app`` in its own process on loopback, lets
``--clients`` clients (one asyncio task each, keep-alive connections) page through
``GET /api/v1/findings`` for ``--seconds`` after a short warm-up, mixing plain
pages, a status filter and a bounding box, and prints p50/p99 latency and
requests per second. The default run takes about half a minute per database.
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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from server.accounts import add_user
from store.db import make_engine, migrate
from store.models import Capture, Finding, FindingStatus, Flight, FlightStatus, Role

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


def seed(url: str, n: int) -> None:
    """``n`` findings over one flight, spread over the zone, statuses and a month."""
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
        rows = [
            {
                "id": uuid.uuid4(),
                "dedupe_key": f"bench-{i}",
                "capture_id": capture_id,
                "flight_id": flight_id,
                "site_id": f"ent-{rng.randint(1, 12):02d}",
                "kind": rng.choice(KINDS),
                "detector": "bench",
                "detector_version": "1",
                "score": rng.random(),
                "severity": "low",
                "pixel_box": [10, 10, 50, 50],
                "lat": 34.79 + rng.random() * 0.03,
                "lon": 113.51 + rng.random() * 0.05,
                "area_m2": rng.uniform(1, 200),
                "measurements": {"delta_t_c": round(rng.uniform(5, 40), 1)},
                "status": rng.choice(STATUSES).name,
                "created_at": base + timedelta(minutes=rng.randint(0, 60 * 24 * 30)),
            }
            for i in range(n)
        ]
        for start in range(0, n, 2000):
            conn.execute(insert(Finding), rows[start : start + 2000])
    engine.dispose()


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


def query(rng: random.Random) -> dict[str, str]:
    """A page an inspector's map or queue would ask for."""
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


BASELINE_PATH = "/api/v1/users/me"
"""The floor: the same server, token check and one-row read, under the same load."""


async def load(
    base: str, path: str, *, clients: int, seconds: float, warmup_s: float
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
                params = query(rng) if path == "/api/v1/findings" else None
                response = await http.get(path, params=params)
                t1 = time.perf_counter()
                if t0 >= measure_from:
                    if response.status_code == 200:
                        latencies.append(t1 - t0)
                    else:
                        errors += 1

    await asyncio.gather(*(client(i) for i in range(clients)))
    return latencies, errors


def run(database: str, url: str, args: argparse.Namespace) -> tuple[Result, Result]:
    """The findings list and the baseline, each under the same load on one server."""
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
                        clients=args.clients,
                        seconds=args.seconds,
                        warmup_s=args.warmup,
                    )
                )
                for path in ("/api/v1/findings", BASELINE_PATH)
            ]
        finally:
            server.terminate()
            server.wait(timeout=10)
    out = []
    for name, (latencies, errors) in zip((database, "  baseline"), measured, strict=True):
        latencies.sort()
        q = statistics.quantiles(latencies, n=100, method="inclusive")
        out.append(Result(name, len(latencies), errors, args.seconds, q[49] * 1000, q[98] * 1000))
    return out[0], out[1]


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

    results: list[tuple[Result, Result]] = []
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
        f"GET /api/v1/findings, {args.findings} findings, {args.clients} clients, loopback, "
        f"{args.workers} uvicorn worker(s); baseline: GET {BASELINE_PATH} on the same server"
    )
    print(
        f"{'database':<12}{'requests':>10}{'errors':>8}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}"
        f"{'req/s vs baseline':>19}"
    )
    for findings, baseline in results:
        for r in (findings, baseline):
            ratio = f"{r.rps / baseline.rps:>19.2f}" if r is findings else ""
            print(
                f"{r.database:<12}{r.requests:>10}{r.errors:>8}{r.rps:>10.0f}{r.p50_ms:>10.1f}"
                f"{r.p99_ms:>10.1f}{ratio}"
            )


if __name__ == "__main__":
    main()
