"""The web UI's pages and the offline API docs; all but the login page need a session."""

from __future__ import annotations

from importlib.resources import files
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlmodel import Session

from server.api.deps import user_from_token
from server.security import COOKIE_NAME
from store.models import User

router = APIRouter(include_in_schema=False)
STATIC = files("server") / "static"


def _page(name: str) -> HTMLResponse:
    return HTMLResponse(
        (STATIC / name).read_text(encoding="utf-8"), headers={"Cache-Control": "no-store"}
    )


def _session_user(request: Request) -> User | None:
    with Session(request.app.state.engine) as session:
        return user_from_token(
            session, request.cookies.get(COOKIE_NAME), request.app.state.settings
        )


def safe_next(target: str | None) -> str:
    """``target`` when it is a path on this site, else ``/``: never an open redirect.

    Refused: anything with a scheme or host, a leading ``//``, and backslashes,
    control characters or their %-escapes, which browsers read as ``/`` or drop
    (``/\\evil.example`` and ``/%5Cevil.example`` both lead off-site).
    """
    if not target or not target.startswith("/"):
        return "/"
    decoded = unquote(target)
    if decoded.startswith("//") or "\\" in decoded or any(ord(c) < 32 for c in decoded):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def _guarded(request: Request, name: str) -> Response:
    if _session_user(request) is None:
        return RedirectResponse(f"/login?next={quote(request.url.path, safe='/')}", status_code=303)
    return _page(name)


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    """The sign-in form; someone already signed in goes straight on (to this site only)."""
    if _session_user(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _page("login.html")


@router.get("/")
def map_page(request: Request) -> Response:
    return _guarded(request, "index.html")


@router.get("/plan")
def plan_page(request: Request) -> Response:
    return _guarded(request, "plan.html")


@router.get("/alerts")
def alerts_page(request: Request) -> Response:
    """Air-quality alerts, their likely sources on the map, a patrol over them in one click."""
    return _guarded(request, "alerts.html")


@router.get("/fleet")
def fleet_page(request: Request) -> Response:
    """Every flight in the air on one map, each with its own controls."""
    return _guarded(request, "fleet.html")


@router.get("/review")
def review_page(request: Request) -> Response:
    return _guarded(request, "review.html")


@router.get("/sites/{site_id}")
def site_page(request: Request, site_id: str) -> Response:
    """A site's patrols over time; the page reads the site id from its own address."""
    return _guarded(request, "site.html")


@router.get("/docs")
def docs_page(request: Request) -> Response:
    return _guarded(request, "docs.html")


@router.get("/api/v1/openapi.json")
def openapi_schema(request: Request) -> Response:
    if _session_user(request) is None and not _bearer_user(request):
        return JSONResponse({"detail": "not signed in"}, status_code=401)
    schema: dict[str, Any] = request.app.openapi()
    return JSONResponse(schema)


def _bearer_user(request: Request) -> bool:
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("bearer "):
        return False
    with Session(request.app.state.engine) as session:
        return user_from_token(session, auth[7:].strip(), request.app.state.settings) is not None
