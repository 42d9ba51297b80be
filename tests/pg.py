"""Throwaway PostgreSQL databases for the tests marked ``postgres``.

``tools/test.sh`` starts a cluster on loopback and exports
``ECOPATROL_TEST_POSTGRES_URL``; without it (or with the server unreachable)
the tests skip and say why.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

POSTGRES_ENV = "ECOPATROL_TEST_POSTGRES_URL"


def admin_url() -> str:
    """The test server's URL, or a skip that says why there is none."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set (tools/test.sh starts PostgreSQL)")
    try:
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:  # any connection failure means: skip, with the reason
        pytest.skip(f"PostgreSQL at {POSTGRES_ENV} is unreachable: {exc}")
    return url


def database_url(admin: str, name: str) -> str:
    return make_url(admin).set(database=name).render_as_string(hide_password=False)


@contextmanager
def scratch_database(prefix: str, *, template: str | None = None) -> Iterator[str]:
    """A new database (copied from ``template`` if given), dropped on exit; yields its URL."""
    admin = admin_url()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    copy = f' TEMPLATE "{template}"' if template else ""
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    try:
        yield database_url(admin, name)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()
