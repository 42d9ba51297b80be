"""Sub-commands of `ecopatrol` for this package: ``serve`` and ``user add``."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from store.models import Role

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from server.settings import Settings

user_app = typer.Typer(help="Manage accounts.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
    app.command("serve")(serve)
    app.add_typer(user_app, name="user")


def _settings() -> Settings:
    """The settings, or a one-line error on what is wrong (never the value: it may be secret)."""
    from pydantic import ValidationError

    from ecopatrol.cli import fail
    from server.settings import get_settings

    try:
        return get_settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: "
            f"{str(e['msg']).removeprefix('Value error, ')}"
            for e in exc.errors(include_input=False, include_url=False)
        )
        raise fail(f"invalid settings: {problems}") from None


def _migrated_engine(settings: Settings) -> Engine:
    """An engine on the configured database, migrated to head; a one-line error if it cannot be."""
    from sqlalchemy.exc import SQLAlchemyError

    from ecopatrol.cli import fail
    from store.db import make_engine, migrate, printable_url

    try:
        engine = make_engine(settings.db_url)
    except ValueError as exc:
        raise fail(str(exc)) from None
    try:
        migrate(engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise fail(f"database {printable_url(settings.db_url)}: {reason}") from None
    return engine


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
) -> None:
    """Migrate the database to the latest schema, then serve the API and web UI."""
    import uvicorn

    from server.main import create_app

    settings = _settings()
    _migrated_engine(settings).dispose()
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

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    engine = _migrated_engine(_settings())
    try:
        user = add_user(engine, username, password, role=role, full_name=full_name)
    except (ValueError, ConflictError) as exc:
        raise fail(str(exc)) from None
    finally:
        engine.dispose()
    typer.echo(f"created {user.role.value} {user.username}")
