"""The database drops the dispatcher's connections mid-run: it waits, reconnects, and
still records every capture exactly once (PostgreSQL, where connections can be cut)."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest
from distributed import Client, LocalCluster
from sqlalchemy import create_engine, text

from imagery.dispatch import Dispatcher, DispatchSettings
from store.db import make_engine
from tests.dispatch.helpers import assert_exactly_once, make_flight

N = 80


@pytest.mark.postgres
def test_cut_connections_lose_and_repeat_nothing(
    postgres_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="imagery.dispatch.dispatcher")
    engine = make_engine(postgres_url)
    flight_id = make_flight(engine, tmp_path / "f", N, sleep_s=0.02)
    killer = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    cuts = 0
    finished = threading.Event()

    def cut_connections() -> None:
        nonlocal cuts
        with killer.connect() as conn:
            while not finished.wait(0.05):
                cuts += conn.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalar_one()

    settings = DispatchSettings(lease_s=2, batch_size=4, poll_interval_s=0.05, retry_delay_s=0)
    cutter = threading.Thread(target=cut_connections)
    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=2,
            processes=False,
            dashboard_address="127.0.0.1:0",
            scheduler_kwargs={"dashboard": False},
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        cutter.start()
        try:
            started = time.monotonic()
            report = Dispatcher(engine, client, settings=settings).run(
                drain=True, should_stop=lambda: time.monotonic() - started > 90
            )
        finally:
            finished.set()
            cutter.join()
    killer.dispose()
    outages = [r for r in caplog.records if "database unavailable" in r.getMessage()]
    assert cuts > 0 and outages, "no connection was cut mid-operation"
    assert report.written <= N
    assert_exactly_once(engine, flight_id, N)
    engine.dispose()
