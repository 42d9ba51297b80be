"""Alembic migrations of the store: one history for SQLite and PostgreSQL.

The configuration lives here in code (no ``alembic.ini``) so it ships inside
the package; :func:`config` points Alembic at this folder and hands it an open
connection, which ``env.py`` uses instead of building its own engine.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

HERE = Path(__file__).resolve().parent


def config(engine: Engine | None = None) -> Config:
    """An Alembic config for this history; with ``engine``, commands run against it."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("version_path_separator", "os")
    if engine is not None:
        # ConfigParser interpolates "%": a %-escaped password (p%40ss) would break it
        url = engine.url.render_as_string(hide_password=False)
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
        cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(config(engine), revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    command.downgrade(config(engine), revision)
