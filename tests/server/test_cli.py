"""``ecopatrol user add`` and ``ecopatrol serve`` as an administrator runs them."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import typer
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from server.cli import register

SECRET = "first-admin-password"


def _ecopatrol(
    *args: str, env: dict[str, str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ecopatrol", *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_user_add_then_serve(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "ECOPATROL_DATA_DIR": str(tmp_path / "data"),
        "ECOPATROL_SECRET_KEY": "cli-test-secret-0123456789abcdef",
    }
    env.pop("ECOPATROL_DATABASE_URL", None)
    made = _ecopatrol(
        "user", "add", "chief", "--role", "admin", "--password-stdin", env=env, stdin=SECRET + "\n"
    )
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == "created admin chief"
    again = _ecopatrol("user", "add", "chief", "--password-stdin", env=env, stdin=SECRET + "\n")
    assert again.returncode == 2 and "already exists" in again.stderr
    short = _ecopatrol("user", "add", "bob", "--password-stdin", env=env, stdin="short\n")
    assert (
        short.returncode == 2
        and "password" in short.stderr
        and "short" not in short.stderr.split(":", 1)[0]
    )
    assert (tmp_path / "data" / "ecopatrol.db").is_file()

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        ["ecopatrol", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/login").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        r = httpx.post(
            f"{base}/api/v1/login/access-token", data={"username": "chief", "password": SECRET}
        )
        assert r.status_code == 200
        me = httpx.get(
            f"{base}/api/v1/users/me",
            headers={"Authorization": f"Bearer {r.json()['access_token']}"},
        )
        assert me.json()["role"] == "admin"
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=20)
    assert SECRET not in output
    assert r.json()["access_token"] not in output


def _cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


@pytest.mark.postgres
def test_user_add_with_a_percent_escaped_password(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``p%40ss%25word`` is ``p@ss%word`` URL-escaped; no ``%`` may be read as anything else."""
    password = "p@ss%word-5ecret"
    with create_engine(postgres_url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f"CREATE ROLE eco_{tmp_path.name[-6:]} LOGIN SUPERUSER"))
    url = make_url(postgres_url).set(username=f"eco_{tmp_path.name[-6:]}", password=password)
    escaped = url.render_as_string(hide_password=False)
    assert "p%40ss%25word-5ecret" in escaped
    monkeypatch.setenv("ECOPATROL_DATABASE_URL", escaped)
    monkeypatch.setenv("ECOPATROL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ECOPATROL_SECRET_KEY", "cli-test-secret-0123456789abcdef")
    out = CliRunner().invoke(
        _cli(), ["user", "add", "chief", "--password-stdin"], input=SECRET + "\n"
    )
    assert out.exit_code == 0, out.output
    assert password not in out.output and "p%40ss" not in out.output


def test_unreachable_database_is_one_line_without_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # port 9 (discard) on loopback: nothing listens there
    monkeypatch.setenv("ECOPATROL_DATABASE_URL", "postgresql://eco:s3cr%25t%40pw@127.0.0.1:9/x")
    monkeypatch.setenv("ECOPATROL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ECOPATROL_SECRET_KEY", "cli-test-secret-0123456789abcdef")
    out = CliRunner().invoke(
        _cli(), ["user", "add", "chief", "--password-stdin"], input=SECRET + "\n"
    )
    assert out.exit_code == 2
    assert len(out.output.strip().splitlines()) == 1, out.output
    assert "***" in out.output and "s3cr" not in out.output
