"""The one `ecopatrol` command: each package adds its own sub-commands.

Every package exposes ``register(app)`` in its ``cli`` module. Errors that a
user can fix are printed as one line on stderr (exit 2 for bad input, 1 for a
failure at run time); set ``ECOPATROL_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from ecopatrol import __version__
from store.db import DEFAULT_DATA_DIR

if TYPE_CHECKING:
    from rich.table import Table
    from sqlalchemy import Engine
    from sqlmodel import Session

    from ecopatrol.demo import DemoSummary

app = typer.Typer(
    name="ecopatrol",
    help="Environmental drone patrols: plan, fly, process, review.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err_console = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ecopatrol {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details."),
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


def _register_all() -> None:
    from ecopatrol import alerts as alerts_cli
    from ecopatrol import gas as gas_cli
    from ecopatrol import readings as readings_cli
    from ecopatrol import schedules as schedules_cli
    from imagery import cli as imagery_cli
    from imagery.dispatch import cli as dispatch_cli
    from missions import cli as missions_cli
    from server import cli as server_cli
    from sitl import cli as sitl_cli

    for module in (
        missions_cli,
        sitl_cli,
        imagery_cli,
        dispatch_cli,
        server_cli,
        readings_cli,
        alerts_cli,
        gas_cli,
        schedules_cli,
    ):
        module.register(app)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one line on stderr and return the exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def store_engine(db: str | None) -> Iterator[Engine]:
    """The migrated store at ``db`` (default: the configured one); a bad URL is one line."""
    from imagery.dispatch.cli import database_url
    from store.db import make_engine, migrate

    try:
        engine = make_engine(database_url(db))
    except ValueError as exc:
        raise fail(str(exc)) from None
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()


@contextmanager
def store_session(db: str | None) -> Iterator[Session]:
    """A session on the migrated store, committed at the end and rolled back on any error."""
    from store.db import session_scope

    with store_engine(db) as engine, session_scope(engine) as session:
        yield session


@app.command()
def demo(
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the web UI afterwards.")
    ] = True,
    data_dir: Annotated[
        Path, typer.Option(help="Where the flight, captures and database go.")
    ] = DEFAULT_DATA_DIR / "demo",
    sitl: Annotated[
        bool | None,
        typer.Option(
            "--sitl/--no-sitl",
            help="Require SITL, or skip it (default: if found).",
        ),
    ] = None,
    speedup: Annotated[float, typer.Option(min=1.0, max=50.0, help="SITL speed-up.")] = 20.0,
    host: Annotated[str, typer.Option(help="Address the web UI listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the web UI.")] = 8000,
) -> None:
    """The whole patrol on the sample zone: plan, fly in SITL, process, review."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

    from ecopatrol.demo import run_demo

    console = Console()
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
    )
    with progress:
        task = progress.add_task("starting", total=None)

        def stage(text: str) -> None:
            progress.update(task, description=text)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        summary = run_demo(
            data_dir=data_dir, use_sitl=sitl, speedup=speedup, stage=stage, advance=advance
        )
    _print_summary(console, summary)
    if not serve:
        return
    import uvicorn

    from server.main import create_app
    from server.settings import Settings

    settings = Settings(
        data_dir=data_dir,
        database_url=summary.db_url,
        basemap=[Path(summary.basemap_path)] if summary.basemap_path else [],
    )
    console.print(f"\nWeb UI: [bold]http://{host}:{port}/[/]  (Ctrl-C to stop)")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")


def _print_summary(console: Console, summary: DemoSummary) -> None:
    from rich.table import Table

    if not summary.flown_in_sitl:
        console.print(f"[yellow]note:[/] {summary.sitl_note}")
    table = Table(title="Demo patrol", show_header=False)
    flown = "distance flown" if summary.flown_in_sitl else "distance planned"
    table.add_row(flown, f"{summary.distance_m / 1000:.2f} km")
    table.add_row("captures", f"{summary.captures} ({summary.failed_captures} failed)")
    for kind, count in sorted(summary.findings_by_kind.items()):
        objects = summary.objects_by_kind.get(kind, count)
        table.add_row(f"findings: {kind}", f"{objects} (seen in {count} captures)")
    table.add_row(
        "injected anomalies found",
        f"{summary.injected_found} of {summary.injected_visible} in the flown footprints"
        f" ({summary.injected} injected)",
    )
    table.add_row("false detections (groups)", str(summary.false_groups))
    table.add_row("median position error (on the ground)", f"{summary.median_error_m:.1f} m")
    table.add_row("flight directory", summary.flight_dir)
    table.add_row("database", summary.db_url)
    for user, password in summary.logins.items():
        table.add_row(f"login: {user}", password)
    console.print(table)
    if summary.alerts:
        console.print(_alerts_table(summary))


def _alerts_table(summary: DemoSummary) -> Table:
    """The sample day's alerts: each with its likely sources and the patrol planned to them."""
    from rich.table import Table

    table = Table(title="Air-quality alerts of the sample day (web UI: /alerts)")
    for column in ("station", "pollutant", "peak / level", "likely sources", "patrol planned"):
        table.add_column(column)
    for a in summary.alerts:
        sources = ", ".join(f"{site} {score:.0%}" for site, score in a.candidates)
        table.add_row(
            a.station,
            f"{a.pollutant} ({a.reason})",
            f"{a.peak:.4g} / {a.threshold:.4g} {a.unit}",
            sources,
            f"{a.patrol!r}: {a.sorties} sortie(s), {a.length_m / 1000:.1f} km",
        )
    return table


def main() -> None:
    """Entry point: run the app, turning unexpected failures into one line."""
    _register_all()
    try:
        app(standalone_mode=True)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # last line of defence: never a traceback to a user
        if os.environ.get("ECOPATROL_DEBUG"):
            raise
        message = str(exc) or type(exc).__name__
        code = 2 if isinstance(exc, ValueError | FileNotFoundError) else 1
        err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
        sys.exit(code)
