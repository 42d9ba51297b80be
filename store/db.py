"""Engine and sessions for the store; SQLite by default, PostgreSQL by URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError
from sqlmodel import Session, create_engine

DEFAULT_DATA_DIR = Path.home() / ".local" / "share" / "ecopatrol"


def default_url(data_dir: Path = DEFAULT_DATA_DIR) -> str:
    return f"sqlite:///{data_dir / 'ecopatrol.db'}"


def printable_url(url: str) -> str:
    """``url`` fit for a log line or an error: the password masked, never shown."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(a URL that cannot be read)"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL and foreign keys so it behaves like PostgreSQL.

    The URL is used as given (``%``-escapes in a password are URL escapes, nothing
    else). ValueError for a URL that cannot be read, without echoing it: it may
    hold a password.
    """
    try:
        make_url(url)
    except ArgumentError:
        raise ValueError(
            "the database URL cannot be read (expected e.g. "
            "postgresql://user:password@host/dbname or sqlite:///path)"
        ) from None
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error (no half-written record)."""
    with Session(engine) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def database_away(exc: BaseException) -> bool:
    """Whether an error means the database cannot be reached now (worth waiting for), as
    opposed to a fault in what was written (a broken constraint), which no retry mends."""
    return isinstance(exc, OperationalError | InterfaceError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )


def migrate(engine: Engine) -> None:
    """Bring the schema up to date: Alembic upgrade to head (see store/migrations)."""
    from store.migrations import upgrade
    from store.objects import backfill

    upgrade(engine, "head")
    with session_scope(engine) as session:  # findings stored before objects existed
        backfill(session)
