"""What the database can store: the one check every request input passes before it is kept.

PostgreSQL refuses NUL characters in text (and in JSON text), no database can
encode a lone UTF-16 surrogate (``"\\ud800"`` is valid JSON but not valid
UTF-8), and JSON has no NaN or infinity (``1e400`` parses as infinity). A value
holding any of them would be stored on SQLite and then fail every read, or fail
the write on PostgreSQL: both surface as a 500. :func:`storable_problem` finds
them anywhere in a JSON-like value (keys included), so request models
(:class:`server.schemas.RequestModel`) and the request's query, path and form
fields (:func:`server.api.deps.storable_request`) refuse them with a 422.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

# A lone surrogate: no pair can be formed from it, and UTF-8 cannot encode it.
_UNSTORABLE_CHAR = re.compile("[\x00\ud800-\udfff]")


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored, or None."""
    found = _UNSTORABLE_CHAR.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "contains a NUL character, which cannot be stored"
    return "contains a lone UTF-16 surrogate (not valid Unicode text), which cannot be stored"


def storable_problem(value: Any, where: str = "") -> str | None:
    """``"where: why"`` for the first part of ``value`` the database cannot store, or None.

    ``value`` is JSON-like (dicts, lists, strings, numbers); ``where`` is its
    dotted path in the request, used in the message.
    """
    stack: list[tuple[str, Any]] = [(where, value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            reason = text_problem(item)
        elif isinstance(item, float):
            reason = None if math.isfinite(item) else "must be a finite number"
        elif isinstance(item, Mapping):
            for key, child in reversed(list(item.items())):
                key_reason = text_problem(key) if isinstance(key, str) else None
                if key_reason:
                    return f"{_join(path, '(a key)')}: {key_reason}"
                stack.append((_join(path, str(key)), child))
            continue
        elif isinstance(item, list | tuple):
            stack.extend((_join(path, str(i)), c) for i, c in reversed(list(enumerate(item))))
            continue
        else:
            reason = None
        if reason:
            return f"{path or 'value'}: {reason}"
    return None


def _join(path: str, part: str) -> str:
    return f"{path}.{part}" if path else part
