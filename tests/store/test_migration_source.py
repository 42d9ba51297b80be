"""Migration 0003: findings gain their source and height without losing a stored finding,
and lose them again on the way down, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

from sqlalchemy import Engine, inspect, text

from store.migrations import downgrade, upgrade

BEFORE, AFTER = "0002_token_version", "0003_finding_source"
NEW = {"source_id", "alt_amsl_m", "height_agl_m", "source_distance_m"}


def _columns(engine: Engine) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns("finding")}


def _store_one_finding(engine: Engine) -> None:
    """A capture and a finding as revision 0002 stored them (no source)."""
    # SQLAlchemy's Uuid is a native uuid on PostgreSQL, 32 hex digits on SQLite.
    native = engine.dialect.name == "postgresql"
    capture, finding = (u if native else u.hex for u in (uuid.uuid4(), uuid.uuid4()))
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO capture (id, path, sha256, kind, status, created_at) "
                "VALUES (:id, 'a.jpg', '', 'rgb', 'PROCESSED', CURRENT_TIMESTAMP)"
            ),
            {"id": capture},
        )
        conn.execute(
            text(
                "INSERT INTO finding (id, dedupe_key, capture_id, kind, detector, "
                "detector_version, score, severity, lat, lon, status, created_at) VALUES "
                "(:id, 'k', :capture, 'plume', 'plume', '1.1', 0.9, 'high', 34.8, 113.5, "
                "'PENDING', CURRENT_TIMESTAMP)"
            ),
            {"id": finding, "capture": capture},
        )


def test_a_stored_finding_survives_the_source_columns_up_and_down(engine: Engine) -> None:
    upgrade(engine, BEFORE)
    assert not NEW & _columns(engine)
    _store_one_finding(engine)
    upgrade(engine, AFTER)
    assert _columns(engine) >= NEW
    assert "ix_finding_source_id" in {i["name"] for i in inspect(engine).get_indexes("finding")}
    with engine.begin() as conn:
        assert conn.execute(text("SELECT source_id, height_agl_m FROM finding")).one() == (
            None,
            None,
        )
        conn.execute(text("UPDATE finding SET source_id = 'ent-07-s1', height_agl_m = 81.5"))
        assert conn.execute(text("SELECT source_id, height_agl_m FROM finding")).one() == (
            "ent-07-s1",
            81.5,
        )
    downgrade(engine, BEFORE)
    assert not NEW & _columns(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT kind, score FROM finding")).one() == ("plume", 0.9)
