"""`ecopatrol worker` (a dispatcher as its own process) and `ecopatrol status` (the queue)."""

from __future__ import annotations

import logging
import os
import signal
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from imagery.dispatch.cluster import SCHEDULER_ENV, check_address, open_client
from imagery.dispatch.dispatcher import Dispatcher, DispatchSettings
from imagery.dispatch.errors import SchedulerUnreachableError
from store.db import DEFAULT_DATA_DIR, default_url, make_engine, migrate
from store.jobs import JobStatus, flight_progress, queue_stats

logger = logging.getLogger(__name__)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="ECOPATROL_DATABASE_URL",
        help="SQLAlchemy URL of the store (default: SQLite in ECOPATROL_DATA_DIR).",
        show_default=False,
    ),
]


def database_url(db: str | None) -> str:
    """``--db``, else SQLite in ``ECOPATROL_DATA_DIR`` (shared by every command of the store)."""
    if db:
        return db
    data_dir = Path(os.environ.get("ECOPATROL_DATA_DIR", str(DEFAULT_DATA_DIR))).expanduser()
    return default_url(data_dir)


def _fail(message: str, code: int = 2) -> typer.Exit:
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def worker(
    db: DbOption = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            envvar=SCHEDULER_ENV,
            help="Dask scheduler address (tcp://host:8786); default: a local cluster.",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="Local cluster worker processes (default: cores)."),
    ] = None,
    threads_per_worker: Annotated[int, typer.Option(min=1, help="Threads per local worker.")] = 1,
    lease_s: Annotated[
        float, typer.Option(min=1.0, help="Seconds a claim survives without a heartbeat.")
    ] = 60.0,
    batch_size: Annotated[int, typer.Option(min=1, help="Results written per transaction.")] = 32,
    max_in_flight: Annotated[
        int | None, typer.Option(min=1, help="Jobs held at once (default: 4 per cluster thread).")
    ] = None,
    drain: Annotated[
        bool, typer.Option("--drain", help="Exit once nothing is queued or running.")
    ] = False,
) -> None:
    """Run a dispatcher: claim processing jobs and run them on Dask until stopped."""
    try:
        settings = DispatchSettings(
            lease_s=lease_s, batch_size=batch_size, max_in_flight=max_in_flight
        )
        if scheduler:
            check_address(scheduler)
        engine = make_engine(database_url(db))  # ValueError for a URL it cannot read
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    try:
        migrate(engine)
    except DBAPIError as exc:
        raise _fail(f"cannot open the database: {exc.orig or exc}", 1) from exc
    stopping = False

    def _stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        logger.info("signal %d: finishing the current batch and stopping", signum)
        stopping = True

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with open_client(scheduler, n_workers=workers, threads_per_worker=threads_per_worker) as c:
            dispatcher = Dispatcher(engine, c, settings=settings)
            typer.echo(
                f"dispatcher {settings.worker_id} on {scheduler or 'a local Dask cluster'}",
                err=True,
            )
            report = dispatcher.run(drain=drain, should_stop=lambda: stopping)
    except SchedulerUnreachableError as exc:
        raise _fail(str(exc), 1) from exc
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        engine.dispose()
    typer.echo(
        f"wrote {report.written} results in {report.seconds:.1f} s "
        f"({report.per_second:.1f}/s), {report.failed} failed for good, "
        f"{report.lost} leases lost"
    )


def status(
    db: DbOption = None,
    window_min: Annotated[
        float, typer.Option(min=0.1, help="Throughput over the last N minutes.")
    ] = 15.0,
    failures: Annotated[int, typer.Option(min=0, help="Latest failures to list.")] = 5,
    flight: Annotated[
        str | None, typer.Option(help="Also show one flight's progress (its id).")
    ] = None,
) -> None:
    """Show the processing queue: depth, throughput and failures."""
    try:
        flight_id = uuid.UUID(flight) if flight else None
    except ValueError as exc:
        raise _fail(f"--flight {flight!r} is not a flight id (a UUID)") from exc
    try:
        engine = make_engine(database_url(db))  # ValueError for a URL it cannot read
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    try:
        with Session(engine) as session:
            stats = queue_stats(session, window_s=window_min * 60, recent_failures=failures)
            progress = flight_progress(session, flight_id) if flight_id else None
    except DBAPIError as exc:
        raise _fail(
            f"no processing queue in {engine.url.render_as_string()}: {exc.orig or exc}", 1
        ) from exc
    finally:
        engine.dispose()
    console = Console()
    counts = Table(title="processing queue", show_header=True)
    for name in (*JobStatus, "per minute"):
        counts.add_column(str(name), justify="right")
    counts.add_row(*(str(stats.counts[s]) for s in JobStatus), f"{stats.per_minute:.1f}")
    console.print(counts)
    if progress is not None:
        console.print(
            f"flight {progress.flight_id}: {progress.finished}/{progress.total} finished "
            f"({100 * progress.fraction:.0f}%), {progress.counts[JobStatus.FAILED]} failed"
        )
    if stats.oldest_queued_at is not None:
        age = datetime.now(UTC) - stats.oldest_queued_at
        console.print(f"oldest queued job waiting {age.total_seconds():.0f} s")
    if stats.recent_failures:
        table = Table(title="latest failures")
        for column in ("job", "capture", "attempts", "reason"):
            table.add_column(column)
        for f in stats.recent_failures:
            table.add_row(str(f.id)[:8], str(f.capture_id)[:8], str(f.attempts), f.reason)
        console.print(table)


def register(app: typer.Typer) -> None:
    """Add `worker` and `status` to the root app."""
    app.command("worker")(worker)
    app.command("status")(status)


def main() -> None:
    """Run these commands without the root CLI (``python -m imagery.dispatch.cli``)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
    register(app)
    app()


if __name__ == "__main__":
    main()
