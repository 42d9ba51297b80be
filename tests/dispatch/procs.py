"""Starting real processes for the crash and cluster tests, and never leaving one behind.

Each process starts in a session of its own, so everything it spawns (Dask
worker processes) shares its process group and is killed with it at the end.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]


def env(**extra: str) -> dict[str, str]:
    """The test's environment, with the repository importable (for the test tasks)."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, **extra}


@contextlib.contextmanager
def spawned(args: list[str], log: Path, **extra_env: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``args`` with output to ``log``; on exit, SIGKILL its whole process group."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            args,
            cwd=REPO,
            env=env(**extra_env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        kill_group(proc)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def group_members(pgid: int) -> list[psutil.Process]:
    """Live processes in process group ``pgid`` (what a killed leader left behind)."""
    members = []
    for p in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if os.getpgid(p.pid) == pgid and p.status() != psutil.STATUS_ZOMBIE:
                members.append(p)
    return members


def dask_workers(proc: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """The Dask worker processes a dispatcher's LocalCluster spawned."""
    workers = []
    for child in psutil.Process(proc.pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "spawn_main" in " ".join(child.cmdline()):
                workers.append(child)
    return workers


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


def wait_for(
    condition: Callable[[], bool], *, timeout_s: float, what: str, log: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}\n{tail}")
        time.sleep(0.1)
