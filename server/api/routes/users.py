"""Accounts: only administrators list, create and change them."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from sqlmodel import col, func, select

from server.accounts import end_sessions, insert_user
from server.api.deps import AdminUser, SessionDep
from server.errors import ConflictError
from server.schemas import Message, UserCreate, UserPublic, UsersPublic, UserUpdate
from server.security import hash_password
from store.models import User

router = APIRouter(prefix="/users", tags=["users"])


@router.get("")
def list_users(
    session: SessionDep,
    _: AdminUser,
    skip: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> UsersPublic:
    count = session.exec(select(func.count()).select_from(User)).one()
    users = session.exec(select(User).order_by(col(User.username)).offset(skip).limit(limit)).all()
    return UsersPublic(data=[UserPublic.model_validate(u) for u in users], count=count)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={409: {"model": Message, "description": "username taken"}},
)
def create_user(session: SessionDep, _: AdminUser, body: UserCreate) -> UserPublic:
    try:
        user = insert_user(session, body)
    except ConflictError:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"username {body.username!r} is taken"
        ) from None
    return UserPublic.model_validate(user)


@router.patch("/{user_id}", responses={404: {"model": Message}})
def update_user(
    session: SessionDep, admin: AdminUser, user_id: uuid.UUID, body: UserUpdate
) -> UserPublic:
    user = session.get(User, user_id)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such user")
    if user.id == admin.id and (body.role not in (None, admin.role) or body.is_active is False):
        raise HTTPException(
            status.HTTP_409_CONFLICT, "administrators cannot demote or disable themselves"
        )
    if body.full_name is not None:
        user.full_name = body.full_name
    if body.password is not None:
        user.password_hash = hash_password(body.password)
        end_sessions(user)
    if body.role is not None:
        user.role = body.role
    if body.is_active is not None:
        user.is_active = body.is_active
    session.add(user)
    session.commit()
    session.refresh(user)
    return UserPublic.model_validate(user)
