"""Alembic environment: runs against the engine :func:`store.migrations.config` was given."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine, create_engine
from sqlmodel import SQLModel

from store import jobs, models  # noqa: F401  (register the tables on SQLModel.metadata)

target_metadata = SQLModel.metadata


def _run(engine: Engine) -> None:
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    given = context.config.attributes.get("engine")
    _run(
        given
        if given is not None
        else create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    )
