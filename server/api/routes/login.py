"""Sign-in: a bearer token for API clients and the same token as an HttpOnly cookie for the UI."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm
from sqlmodel import select

from server.accounts import end_sessions
from server.api.deps import CurrentUser, SessionDep, SettingsDep, TokenDep, user_from_token
from server.schemas import Message, Token, UserPublic, UserUpdateMe
from server.security import COOKIE_NAME, create_token, hash_password, verify_password
from server.throttle import LoginThrottle
from store.models import User

logger = logging.getLogger(__name__)
router = APIRouter(tags=["login"])


@router.post(
    "/login/access-token",
    responses={
        400: {"model": Message, "description": "wrong username or password"},
        429: {"model": Message, "description": "too many failed attempts; wait"},
    },
)
def login_access_token(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> Token:
    """OAuth2 password flow; also sets the session cookie the web UI uses."""
    throttle: LoginThrottle = request.app.state.login_throttle
    address = request.client.host if request.client else "-"
    wait = throttle.retry_after(form.username, address)
    if wait:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many failed sign-ins; try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    user = session.exec(select(User).where(User.username == form.username)).first()
    if not verify_password(form.password, user.password_hash if user else None) or user is None:
        throttle.failed(form.username, address)
        logger.info("failed sign-in for %r", form.username)
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "wrong username or password")
    throttle.succeeded(form.username, address)
    if not user.is_active:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "this account is disabled")
    expires = timedelta(minutes=settings.token_expire_minutes)
    token = create_token(
        user.id,
        secret=settings.secret_key.get_secret_value(),
        expires=expires,
        version=user.token_version,
    )
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=int(expires.total_seconds()),
        httponly=True,
        secure=settings.cookie_secure,
        samesite="strict",
        path="/",
    )
    logger.info("user %s signed in", user.username)
    return Token(access_token=token)


@router.post("/logout")
def logout(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
    token: TokenDep,
) -> Message:
    """Drop the session cookie and end every session of the signed-in user (all devices)."""
    user = user_from_token(session, token or request.cookies.get(COOKIE_NAME), settings)
    if user is not None:
        end_sessions(user)
        session.add(user)
        session.commit()
        logger.info("user %s signed out", user.username)
    response.delete_cookie(COOKIE_NAME, path="/")
    return Message(message="signed out")


@router.get("/users/me")
def read_me(user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user)


@router.patch("/users/me", responses={400: {"model": Message}})
def update_me(session: SessionDep, user: CurrentUser, body: UserUpdateMe) -> UserPublic:
    """Change one's own name or password (the current password is required for the latter)."""
    if body.new_password is not None:
        if not verify_password(body.current_password or "", user.password_hash):
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "the current password is wrong")
        user.password_hash = hash_password(body.new_password)
        end_sessions(user)  # a stolen token stops working with the old password
    if body.full_name is not None:
        user.full_name = body.full_name
    session.add(user)
    session.commit()
    session.refresh(user)
    return UserPublic.model_validate(user)
