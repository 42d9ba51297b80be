"""Sign-in, sessions and the account routes."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.server.conftest import PASSWORD, token_for


def test_login_gives_token_and_httponly_cookie(client: TestClient) -> None:
    r = client.post("/api/v1/login/access-token", data={"username": "admin", "password": PASSWORD})
    assert r.status_code == 200
    assert r.json()["token_type"] == "bearer"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    # the cookie alone signs the browser in
    me = client.get("/api/v1/users/me")
    assert me.status_code == 200 and me.json()["role"] == "admin"
    client.post("/api/v1/logout")
    assert client.get("/api/v1/users/me").status_code == 401


def test_wrong_password_and_unknown_user_read_the_same(client: TestClient) -> None:
    bad = client.post(
        "/api/v1/login/access-token", data={"username": "admin", "password": "nope-nope"}
    )
    ghost = client.post(
        "/api/v1/login/access-token", data={"username": "ghost", "password": "nope-nope"}
    )
    assert bad.status_code == ghost.status_code == 400
    assert bad.json() == ghost.json() == {"detail": "wrong username or password"}


def test_forged_or_garbage_tokens_are_refused(client: TestClient) -> None:
    import jwt

    forged = jwt.encode(
        {"sub": "00000000-0000-0000-0000-000000000000", "exp": 4102444800}, "x" * 32
    )
    for token in (forged, "garbage", ""):
        r = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, token


def test_admin_creates_and_disables_a_user(client: TestClient, headers) -> None:
    admin = headers["admin"]
    r = client.post(
        "/api/v1/users",
        json={"username": "zhang.wei", "password": "longenough1", "role": "inspector"},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    user = r.json()
    assert "password" not in str(user) and "hash" not in str(user)
    dup = client.post(
        "/api/v1/users", json={"username": "zhang.wei", "password": "longenough1"}, headers=admin
    )
    assert dup.status_code == 409
    token = token_for(client, "zhang.wei", "longenough1")
    r = client.patch(f"/api/v1/users/{user['id']}", json={"is_active": False}, headers=admin)
    assert r.status_code == 200 and r.json()["is_active"] is False
    r = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    r = client.post(
        "/api/v1/login/access-token", data={"username": "zhang.wei", "password": "longenough1"}
    )
    assert r.status_code == 400


def test_admin_cannot_lock_themselves_out(client: TestClient, headers) -> None:
    me = client.get("/api/v1/users/me", headers=headers["admin"]).json()
    r = client.patch(
        f"/api/v1/users/{me['id']}", json={"role": "inspector"}, headers=headers["admin"]
    )
    assert r.status_code == 409


def test_pages_redirect_to_login_without_session(client: TestClient) -> None:
    for page in ("/", "/plan", "/review", "/alerts", "/docs"):
        r = client.get(page, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), page
    assert client.get("/login").status_code == 200
    assert client.get("/api/v1/openapi.json").status_code == 401


def test_telemetry_socket_needs_a_session(client: TestClient, headers) -> None:
    import uuid

    import pytest
    from starlette.websockets import WebSocketDisconnect

    url = f"/api/v1/flights/{uuid.uuid4()}/telemetry"
    with pytest.raises(WebSocketDisconnect) as anonymous, client.websocket_connect(url):
        pass
    assert anonymous.value.code == 4401
    with (
        pytest.raises(WebSocketDisconnect) as unknown,
        client.websocket_connect(url, headers=headers["inspector"]),
    ):
        pass
    assert unknown.value.code == 4404


def test_repeated_failures_are_throttled(client: TestClient) -> None:
    for _ in range(10):
        r = client.post(
            "/api/v1/login/access-token", data={"username": "admin", "password": "guess"}
        )
        assert r.status_code == 400
    r = client.post("/api/v1/login/access-token", data={"username": "admin", "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert "try again" in r.json()["detail"]
