"""The case file: one PDF per site and patrol, for an enforcement notice."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["case files"])
