"""The password policy: long enough, not blank, not one of the passwords guessed first.

Applied wherever a password is set (``ecopatrol user add``, an administrator's
reset, a user's own change) through :data:`NewPassword`, so every path gives
the same reason.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Annotated

from pydantic import AfterValidator, Field

MIN_LENGTH = 8
MAX_LENGTH = 256


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list (``server/data/common-passwords.txt``), lower-cased."""
    text = (files("server") / "data" / "common-passwords.txt").read_text(encoding="utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and line[0] != "#"
    )


def password_problem(password: str) -> str | None:
    """Why ``password`` may not be used, or None when it may."""
    if not password.strip():
        return "the password must not be blank (spaces only)"
    if len(password) < MIN_LENGTH:
        return f"the password must be at least {MIN_LENGTH} characters long"
    if password.strip().lower() in common_passwords():
        return "the password is one of the most common passwords; choose another"
    return None


def _check(password: str) -> str:
    problem = password_problem(password)
    if problem:
        raise ValueError(problem)
    return password


NewPassword = Annotated[str, Field(max_length=MAX_LENGTH), AfterValidator(_check)]
