"""The remote-scheduler path: `dask scheduler` and two `dask worker` processes on loopback.

The dispatcher is the same command as on a laptop; only
``ECOPATROL_DASK_SCHEDULER`` differs, and the captures are read by the worker
processes from their paths.
"""

from __future__ import annotations

import socket
from contextlib import ExitStack
from pathlib import Path

import pytest
from distributed import Client
from sqlmodel import Session, select

from imagery.dispatch import SCHEDULER_ENV
from store.db import make_engine
from store.jobs import ProcessingJob
from tests.dispatch.helpers import assert_exactly_once, make_flight
from tests.dispatch.procs import python, spawned

N = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_a_batch_runs_on_a_remote_scheduler_with_two_workers(
    sqlite_url: str, tmp_path: Path
) -> None:
    engine = make_engine(sqlite_url)
    flight_id = make_flight(engine, tmp_path / "flight", N, sleep_s=0.02)
    address = f"tcp://127.0.0.1:{free_port()}"
    log = tmp_path / "cluster.log"
    with ExitStack() as stack:
        stack.enter_context(
            spawned(
                python("-m", "dask", "scheduler", "--host", "127.0.0.1",
                       "--port", address.rsplit(":", 1)[1], "--no-dashboard"),
                log,
            )
        )  # fmt: skip
        for name in ("w1", "w2"):
            stack.enter_context(
                spawned(
                    python("-m", "dask", "worker", address, "--name", name, "--nthreads", "1",
                           "--no-dashboard", "--death-timeout", "60",
                           "--local-directory", str(tmp_path / name)),
                    log,
                )
            )  # fmt: skip
        with Client(address, timeout=60, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=60)
            workers = set(client.scheduler_info()["workers"])
        dispatcher = stack.enter_context(
            spawned(
                python("-m", "imagery.dispatch.cli", "worker", "--db", sqlite_url, "--drain"),
                tmp_path / "dispatcher.log",
                **{SCHEDULER_ENV: address},
            )
        )
        rc = dispatcher.wait(timeout=120)
        output = (tmp_path / "dispatcher.log").read_text(errors="replace")
        assert rc == 0, output[-3000:]
    assert f"on {address}" in output
    assert_exactly_once(engine, flight_id, N)
    with Session(engine) as session:
        jobs = session.exec(select(ProcessingJob)).all()
    ran_on = {(j.result or {}).get("worker") for j in jobs}
    assert ran_on == workers, (ran_on, workers)
    engine.dispose()


def test_a_bad_scheduler_address_is_one_line(sqlite_url: str, tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    with spawned(
        python("-m", "imagery.dispatch.cli", "worker", "--db", sqlite_url,
               "--scheduler", "localhost:8786"),
        log,
    ) as proc:  # fmt: skip
        assert proc.wait(timeout=60) == 2
    lines = log.read_text().strip().splitlines()
    assert lines[-1].startswith("error:") and "tcp://host:8786" in lines[-1]
    assert "Traceback" not in log.read_text()
