"""Request dependencies: database session, settings, the signed-in user and role checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, WebSocket, status
from fastapi.exceptions import RequestValidationError
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.requests import HTTPConnection

from server.security import COOKIE_NAME, read_token
from server.settings import Settings
from server.storable import text_problem
from store.models import Role, User

# auto_error=False: the session cookie is an equal alternative to the header.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/login/access-token", auto_error=False)


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_session(request: Request) -> Iterator[Session]:
    with Session(get_engine(request)) as session:
        yield session


async def storable_request(connection: HTTPConnection) -> None:
    """Refuse query, path and form fields the database cannot store (NUL, lone surrogates).

    Request bodies get the same check from :class:`server.schemas.RequestModel`;
    this covers what no model parses (the sign-in form, filters in the URL).
    """
    fields: list[tuple[str, str, object]] = [
        ("query", k, v) for k, v in connection.query_params.multi_items()
    ]
    fields += [("path", k, v) for k, v in connection.path_params.items()]
    content_type = connection.headers.get("content-type", "")
    if isinstance(connection, Request) and content_type.startswith(
        "application/x-www-form-urlencoded"
    ):
        form = await connection.form()
        fields += [("body", k, v) for k, v in form.multi_items()]
    for where, key, value in fields:
        reason = text_problem(key) or (text_problem(value) if isinstance(value, str) else None)
        if reason:
            raise RequestValidationError(
                [{"type": "value_error", "loc": (where, key), "msg": reason, "input": None}]
            )


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_session)]
TokenDep = Annotated[str | None, Depends(oauth2_scheme)]


def user_from_token(session: Session, token: str | None, settings: Settings) -> User | None:
    """The active user a token names, or None (also for a token of an ended session)."""
    if not token:
        return None
    claims = read_token(token, secret=settings.secret_key.get_secret_value())
    if claims is None:
        return None
    user = session.get(User, claims.user_id)
    if user is None or not user.is_active or user.token_version != claims.version:
        return None  # gone, disabled, or signed out / password changed since the token
    return user


def get_current_user(
    request: Request, session: SessionDep, settings: SettingsDep, token: TokenDep
) -> User:
    user = user_from_token(session, token or request.cookies.get(COOKIE_NAME), settings)
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "not signed in (or the session expired)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require(*roles: Role) -> Callable[[User], User]:
    """A dependency that lets through only users holding one of ``roles``."""
    allowed = frozenset(roles)
    names = ", ".join(sorted(r.value for r in allowed))

    def check(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"role {user.role.value} may not do this (needs {names})"
            )
        return user

    return check


AdminUser = Annotated[User, Depends(require(Role.ADMIN))]
OperatorUser = Annotated[User, Depends(require(Role.ADMIN, Role.OPERATOR))]
InspectorUser = Annotated[User, Depends(require(Role.ADMIN, Role.INSPECTOR))]


def websocket_user(websocket: WebSocket) -> User | None:
    """The user of a WebSocket handshake: the session cookie, or a bearer Authorization header.

    Never a query parameter: URLs end up in access logs, and tokens must not.
    """
    settings: Settings = websocket.app.state.settings
    auth = websocket.headers.get("authorization", "")
    bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else None
    token = bearer or websocket.cookies.get(COOKIE_NAME)
    with Session(websocket.app.state.engine) as session:
        user = user_from_token(session, token, settings)
        if user is not None:
            session.expunge(user)
        return user
