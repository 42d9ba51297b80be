"""pytest fixtures for tests that fly ArduCopter SITL (marker ``sitl``).

Import the fixtures into a ``conftest.py``::

    from sitl.pytest_plugin import sitl_binary, sitl_copter, sitl_factory, sitl_home, sitl_speedup

Without a binary they skip, saying where the project looks for one. Every
instance started here is stopped in a finalizer, whether the test passed or
not, so no SITL process outlives the session. Override ``sitl_home`` or
``sitl_speedup`` in a conftest to move or speed up the shared instance.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sitl.errors import BinaryNotFoundError
from sitl.instance import Home, Sitl, find_binary, launch, prepare


@pytest.fixture(scope="session")
def sitl_binary() -> Path:
    """The SITL binary, or a skip that says how it is looked for."""
    try:
        return find_binary()
    except BinaryNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def sitl_home() -> Home:
    """Where the shared instance boots (override in a conftest)."""
    return Home(34.8, 113.55, 100.0, 0.0)


@pytest.fixture(scope="session")
def sitl_speedup() -> float:
    return 10.0


def _start(binary: Path, home: Home, speedup: float, params: dict[str, float] | None) -> Sitl:
    sitl = launch(home=home, speedup=speedup, params=params, binary=binary)
    try:
        asyncio.run(prepare(sitl))
    except BaseException:
        sitl.stop()
        raise
    return sitl


@pytest.fixture(scope="session")
def sitl_copter(sitl_binary: Path, sitl_home: Home, sitl_speedup: float) -> Iterator[Sitl]:
    """One ready-to-arm SITL copter shared by the session, stopped at its end."""
    sitl = _start(sitl_binary, sitl_home, sitl_speedup, None)
    try:
        yield sitl
    finally:
        sitl.stop()


@pytest.fixture
def sitl_factory(sitl_binary: Path) -> Iterator[Callable[..., Sitl]]:
    """Start extra instances in a test: ``sitl_factory(home, speedup=10, params=None)``."""
    started: list[Sitl] = []

    def factory(
        home: Home, *, speedup: float = 10.0, params: dict[str, float] | None = None
    ) -> Sitl:
        sitl = _start(sitl_binary, home, speedup, params)
        started.append(sitl)
        return sitl

    try:
        yield factory
    finally:
        for sitl in started:
            sitl.stop()
