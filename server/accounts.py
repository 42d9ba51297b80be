"""Creating accounts outside the API (the first administrator comes from the command line)."""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy import Engine
from sqlmodel import Session, select

from server.errors import ConflictError
from server.schemas import UserCreate
from server.security import hash_password
from store.models import Role, User


def add_user(
    engine: Engine, username: str, password: str, *, role: Role, full_name: str = ""
) -> User:
    """Create an account; ValueError names what is wrong with the input (never the password)."""
    try:
        body = UserCreate(username=username, password=password, role=role, full_name=full_name)
    except ValidationError as exc:
        fields = ", ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors(include_input=False)
        )
        raise ValueError(fields) from None
    with Session(engine) as session:
        user = insert_user(session, body)
        session.expunge(user)
        return user


def insert_user(session: Session, body: UserCreate) -> User:
    """Store a validated account (committed); ConflictError when the username is in use."""
    if session.exec(select(User).where(User.username == body.username)).first():
        raise ConflictError(f"user {body.username!r} already exists")
    user = User(
        username=body.username,
        full_name=body.full_name,
        role=body.role,
        password_hash=hash_password(body.password),
    )
    session.add(user)
    session.commit()
    session.refresh(user)
    return user


def end_sessions(user: User) -> None:
    """Invalidate every token ``user`` holds (sign-out, new password); the caller commits.

    Tokens carry the generation they were signed in; the next request with an
    older one is refused (:func:`server.api.deps.user_from_token`).
    """
    user.token_version += 1
