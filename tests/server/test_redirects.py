"""After sign-in the browser goes back only to a page of this site (no open redirect)."""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib.resources import files

import pytest
from fastapi.testclient import TestClient

from server.pages import safe_next

from .conftest import PASSWORD

# (next as it arrives in the query string, decoded once, where the user must end up)
CASES = [
    ("/review", "/review"),
    ("/plan?patrol=a#map", "/plan?patrol=a#map"),
    ("https://evil.example/x", "/"),
    ("//evil.example/x", "/"),
    ("/\\evil.example/x", "/"),  # /%5Cevil.example/x once decoded: browsers read \ as /
    ("/%5Cevil.example/x", "/"),  # encoded twice
    ("/%2F/evil.example", "/"),
    ("/\t/evil.example", "/"),  # a tab is dropped by URL parsers: //evil.example
    ("javascript:alert(1)", "/"),
    ("", "/"),
]


@pytest.mark.parametrize(("target", "expected"), CASES)
def test_safe_next(target: str, expected: str) -> None:
    assert safe_next(target) == expected


@pytest.mark.parametrize(("target", "expected"), CASES)
def test_login_js_agrees(target: str, expected: str) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    source = (files("server") / "static" / "login.js").read_text(encoding="utf-8")
    function = source[: source.index("document.getElementById")]
    script = (
        "const location = { origin: 'http://127.0.0.1:8000' };\n"
        + function
        + f"\nprocess.stdout.write(safeNext({json.dumps(target)}));"
    )
    out = subprocess.run([node, "-e", script], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout == expected


def test_signed_in_login_page_redirects_on_site_only(client: TestClient) -> None:
    r = client.post(
        "/api/v1/login/access-token", data={"username": "inspector", "password": PASSWORD}
    )
    assert r.status_code == 200
    for query, expected in [("next=/review", "/review"), ("next=/%5Cevil.example/x", "/")]:
        page = client.get(f"/login?{query}", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == expected


def test_guarded_page_sends_its_path_to_login(client: TestClient) -> None:
    r = client.get("/review", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/review"
