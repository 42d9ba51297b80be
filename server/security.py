"""Password hashing (argon2id) and signed session tokens (JWT, HS256)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

ALGORITHM = "HS256"
COOKIE_NAME = "ecopatrol_session"

_hasher = PasswordHasher()
# Checked when the user does not exist: a missing account takes as long as a bad password.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """True when ``password`` matches; always spends one argon2 verification."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """Who a token names and which generation of that user's tokens it belongs to."""

    user_id: uuid.UUID
    version: int


def create_token(user_id: uuid.UUID, *, secret: str, expires: timedelta, version: int = 0) -> str:
    """A signed token for ``user_id``; valid while the user's ``token_version`` is ``version``."""
    now = datetime.now(UTC)
    payload = {"sub": str(user_id), "ver": version, "iat": now, "exp": now + expires}
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def read_token(token: str, *, secret: str) -> TokenClaims | None:
    """The claims of a valid, unexpired token; None for anything else."""
    try:
        payload = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub", "ver"]}
        )
        version = payload["ver"]
        if not isinstance(version, int) or isinstance(version, bool):
            return None
        return TokenClaims(uuid.UUID(str(payload["sub"])), version)
    except (jwt.PyJWTError, KeyError, ValueError):
        return None
