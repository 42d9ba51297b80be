"""The one `ecopatrol` command: each package adds its own sub-commands.

Every package exposes ``register(app)`` in its ``cli`` module. Errors that a
user can fix are printed as one line on stderr (exit 2 for bad input, 1 for a
failure at run time); set ``ECOPATROL_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

import logging
import os
import sys

import typer
from rich.console import Console

from ecopatrol import __version__

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
    from imagery import cli as imagery_cli
    from imagery.dispatch import cli as dispatch_cli
    from missions import cli as missions_cli
    from server import cli as server_cli
    from sitl import cli as sitl_cli

    for module in (missions_cli, sitl_cli, imagery_cli, dispatch_cli, server_cli):
        module.register(app)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one line on stderr and return the exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


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
