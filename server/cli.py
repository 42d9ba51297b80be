"""Sub-commands of `ecopatrol` for this package: ``serve`` and ``user add``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from store.models import Role

user_app = typer.Typer(help="Manage accounts.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
    app.command("serve")(serve)
    app.add_typer(user_app, name="user")


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
) -> None:
    """Migrate the database to the latest schema, then serve the API and web UI."""
    import uvicorn

    from server.main import create_app
    from server.settings import get_settings
    from store.db import make_engine, migrate

    settings = get_settings()
    engine = make_engine(settings.db_url)
    try:
        migrate(engine)
    finally:
        engine.dispose()
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[Role, typer.Option(help="admin, operator or inspector.")] = Role.INSPECTOR,
    full_name: Annotated[str, typer.Option(help="Name shown in the audit trail.")] = "",
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from standard input (scripts)."),
    ] = False,
) -> None:
    """Create an account (the first administrator, typically); asks for the password."""
    from ecopatrol.cli import fail
    from server.accounts import add_user
    from server.errors import ConflictError
    from server.settings import get_settings
    from store.db import make_engine, migrate

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    settings = get_settings()
    engine = make_engine(settings.db_url)
    try:
        migrate(engine)
        user = add_user(engine, username, password, role=role, full_name=full_name)
    except (ValueError, ConflictError) as exc:
        raise fail(str(exc)) from None
    finally:
        engine.dispose()
    typer.echo(f"created {user.role.value} {user.username}")
