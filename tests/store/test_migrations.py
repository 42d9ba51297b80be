"""The Alembic history: every migration up and down, on SQLite and PostgreSQL, and the head
schema equal to the models (so nobody changes a table without a migration)."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect
from sqlmodel import SQLModel

from store.db import migrate
from store.migrations import config, downgrade, upgrade


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_every_revision_goes_up_and_down(engine: Engine) -> None:
    script = ScriptDirectory.from_config(config())
    revisions = list(reversed(list(script.walk_revisions())))
    assert revisions, "no migrations"
    for revision in revisions:
        upgrade(engine, revision.revision)
        with engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == revision.revision
    assert _tables(engine) >= {"user", "site", "mission", "flight", "capture", "finding", "review"}
    for revision in reversed(revisions):
        downgrade(engine, revision.down_revision or "base")
    assert _tables(engine) == set()
    migrate(engine)
    migrate(engine)  # idempotent at head
    assert _tables(engine) >= {"finding", "review"}


def test_head_matches_the_models(engine: Engine) -> None:
    migrate(engine)
    from store import jobs, models  # noqa: F401

    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata
        )
    assert diff == [], f"models changed without a migration: {diff}"


def test_offline_sql_renders() -> None:
    cfg = config()
    cfg.set_main_option("sqlalchemy.url", "postgresql://")
    command.upgrade(cfg, "head", sql=True)
