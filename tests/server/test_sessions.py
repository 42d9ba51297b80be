"""Sessions end when they should, sign-in throttling cannot lock the real user out,
the signing secret survives a restart, and weak passwords are refused with a reason."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient
from pydantic import ValidationError
from typer.testing import CliRunner

from server.cli import register
from server.passwords import password_problem
from server.settings import Settings
from server.throttle import LoginThrottle

from .conftest import PASSWORD

LOGIN = "/api/v1/login/access-token"
ME = "/api/v1/users/me"


def _sign_in(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    r = client.post(LOGIN, data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    client.cookies.clear()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_logout_ends_every_token_of_the_user(client: TestClient) -> None:
    laptop, phone = _sign_in(client, "inspector"), _sign_in(client, "inspector")
    other = _sign_in(client, "operator")
    assert client.get(ME, headers=phone).status_code == 200
    assert client.post("/api/v1/logout", headers=laptop).status_code == 200
    assert client.get(ME, headers=laptop).status_code == 401
    assert client.get(ME, headers=phone).status_code == 401
    assert client.get(ME, headers=other).status_code == 200  # another user's session stays
    assert client.get(ME, headers=_sign_in(client, "inspector")).status_code == 200


def test_password_change_ends_old_tokens(client: TestClient) -> None:
    old = _sign_in(client, "inspector")
    stolen = _sign_in(client, "inspector")
    body = {"current_password": PASSWORD, "new_password": "a new long passphrase"}
    assert client.patch(ME, json=body, headers=old).status_code == 200
    assert client.get(ME, headers=stolen).status_code == 401
    assert client.get(ME, headers=_sign_in(client, "inspector", "a new long passphrase")).is_success


def test_admin_reset_ends_the_users_tokens(client: TestClient, headers) -> None:
    victim = _sign_in(client, "operator")
    operator_id = client.get(ME, headers=victim).json()["id"]
    r = client.patch(
        f"/api/v1/users/{operator_id}",
        json={"password": "reset by the admin 1"},
        headers=headers["admin"],
    )
    assert r.status_code == 200, r.text
    assert client.get(ME, headers=victim).status_code == 401


def test_failures_from_elsewhere_do_not_lock_the_user_out() -> None:
    throttle = LoginThrottle(max_failures=10, max_address_failures=50, window_s=600)
    for _ in range(10):
        throttle.failed("admin", "203.0.113.9")  # the attacker's address
    assert throttle.retry_after("admin", "203.0.113.9") > 0
    assert throttle.retry_after("admin", "192.0.2.1") == 0  # the real user's address
    # spraying 50 accounts from one address stops that address for every account
    for n in range(50):
        throttle.failed(f"user{n}", "198.51.100.7")
    assert throttle.retry_after("someone-else", "198.51.100.7") > 0
    assert throttle.retry_after("someone-else", "192.0.2.1") == 0


def test_secret_is_kept_in_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ECOPATROL_SECRET_KEY", raising=False)
    first = Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    again = Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    kept = first.secret_key.get_secret_value()
    assert kept == again.secret_key.get_secret_value() and len(kept.encode()) >= 32
    mode = stat.S_IMODE((tmp_path / "secret_key").stat().st_mode)
    assert mode == 0o600


def test_short_secret_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        Settings(data_dir=tmp_path, secret_key="x" * 31)
    monkeypatch.setenv("ECOPATROL_SECRET_KEY", "too-short")
    monkeypatch.setenv("ECOPATROL_DATA_DIR", str(tmp_path))
    app = typer.Typer()
    register(app)
    out = CliRunner().invoke(app, ["user", "add", "chief", "--password-stdin"], input="x\n")
    assert out.exit_code == 2
    lines = out.output.strip().splitlines()
    assert len(lines) == 1 and "secret" in lines[0] and "at least 32 bytes" in lines[0]
    assert "too-short" not in out.output


def test_short_kept_secret_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ECOPATROL_SECRET_KEY", raising=False)
    (tmp_path / "secret_key").write_text("tampered\n")
    with pytest.raises(ValidationError, match="delete the file"):
        Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("password", "common"),
        ("PassWord123", "common"),
        (" " * 8, "blank"),
        ("short", "at least 8"),
    ],
)
def test_weak_passwords_are_refused_everywhere(
    client: TestClient, headers, password: str, reason: str
) -> None:
    problem = password_problem(password)
    assert problem is not None and reason in problem
    admin = headers["admin"]
    r = client.post("/api/v1/users", json={"username": "weak", "password": password}, headers=admin)
    assert r.status_code == 422 and reason in r.json()["detail"]
    body = {"current_password": PASSWORD, "new_password": password}
    r = client.patch(ME, json=body, headers=headers["inspector"])
    assert r.status_code == 422 and reason in r.json()["detail"]
    operator_id = client.get(ME, headers=headers["operator"]).json()["id"]
    r = client.patch(f"/api/v1/users/{operator_id}", json={"password": password}, headers=admin)
    assert r.status_code == 422 and reason in r.json()["detail"]
    assert password not in r.text or password == "password"  # never echoed back


def test_cli_refuses_a_weak_password(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, engine
) -> None:
    monkeypatch.setenv("ECOPATROL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("ECOPATROL_DATABASE_URL", settings.db_url)
    monkeypatch.setenv("ECOPATROL_SECRET_KEY", settings.secret_key.get_secret_value())
    app = typer.Typer()
    register(app)
    out = CliRunner().invoke(
        app, ["user", "add", "chief", "--password-stdin"], input="qwertyuiop\n"
    )
    assert out.exit_code == 2 and "common" in out.output
    out = CliRunner().invoke(
        app, ["user", "add", "chief", "--password-stdin"], input="a sound passphrase\n"
    )
    assert out.exit_code == 0, out.output
