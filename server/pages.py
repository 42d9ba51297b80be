"""The web UI's pages and the offline API docs; all but the login page need a session."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

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


def _guarded(request: Request, name: str) -> Response:
    if _session_user(request) is None:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    return _page(name)


@router.get("/login")
def login_page() -> Response:
    return _page("login.html")


@router.get("/")
def map_page(request: Request) -> Response:
    return _guarded(request, "index.html")


@router.get("/plan")
def plan_page(request: Request) -> Response:
    return _guarded(request, "plan.html")


@router.get("/review")
def review_page(request: Request) -> Response:
    return _guarded(request, "review.html")


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
