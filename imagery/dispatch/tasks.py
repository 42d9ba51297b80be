"""What runs on a Dask worker: a job's task, found by its ``"module:function"`` path.

Workers receive the path and the job's small parameters (file paths, a pose),
import the function themselves and send back its small result, so nothing
large crosses the wire and every machine runs the same installed code.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from imagery.dispatch.errors import TaskPathError


def resolve(path: str) -> Callable[..., Any]:
    """The function named by ``"package.module:function"``."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise TaskPathError(f"task path {path!r} is not 'module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TaskPathError(f"task path {path!r}: cannot import {module_name} ({exc})") from exc
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise TaskPathError(f"task path {path!r}: {module_name} has no function {attr}")
    return fn


@dataclass(frozen=True, slots=True)
class TaskOutput:
    """A task's result and where and how long it ran (kept as the job's summary)."""

    result: Any
    worker: str
    seconds: float

    def summary(self) -> dict[str, Any]:
        return {"worker": self.worker, "seconds": round(self.seconds, 4)}


def run_task(task: str, params: dict[str, Any]) -> TaskOutput:
    """Run one job on a Dask worker (submitted by the dispatcher)."""
    from distributed import get_worker

    try:
        worker = get_worker().address
    except ValueError:  # called outside a worker, as tests and benchmarks may do
        worker = "local"
    start = time.perf_counter()
    result = resolve(task)(params)
    return TaskOutput(result=result, worker=worker, seconds=time.perf_counter() - start)
