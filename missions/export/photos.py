"""Planned photo points as JSON, for comparing with where the vehicle actually shot.

One file per sortie: a list of objects with ``lat``, ``lon``, ``alt_m`` (in the
mission's altitude frame), ``agl_m``, ``target_id``, ``pattern`` and
``trigger_seq`` (the DO_SET_CAM_TRIGG_DIST item that starts the leg).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from missions.errors import PlanFormatError
from missions.export.files import write_atomic
from missions.sortie import PhotoPoint


def write_photo_points(points: Sequence[PhotoPoint], path: str | Path) -> Path:
    """Write planned photo points to ``path``."""
    return write_atomic(path, json.dumps([asdict(p) for p in points], indent=1) + "\n")


def read_photo_points(path: str | Path) -> list[PhotoPoint]:
    """Read planned photo points written by :func:`write_photo_points`."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return [PhotoPoint(**entry) for entry in raw]
    except FileNotFoundError:
        raise PlanFormatError(f"{path}: no such file") from None
    except (OSError, ValueError, TypeError) as exc:
        raise PlanFormatError(f"{path}: not a photo points file ({exc})") from None
