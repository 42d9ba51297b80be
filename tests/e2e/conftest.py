"""The demo, run once for the end-to-end checks and for the inspector who reviews its patrol."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ecopatrol.demo import DemoSummary, flown_in_sitl, run_demo, sample_sites
from missions.plan import plan_patrol
from sitl.errors import BinaryNotFoundError
from sitl.instance import find_binary
from zone.sites import load_sites


def sitl_here() -> bool:
    try:
        find_binary()
    except BinaryNotFoundError:
        return False
    return True


@pytest.fixture(scope="session")
def demo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[DemoSummary, Path]:
    """The README's main job as it runs here: sortie 1 flown in SITL where a binary exists
    (it does on CI), else the planned photo points; each way some 650 captures rendered and
    processed. The flight is the session's one flight of sortie 1 (``flown_sortie``, which
    ``run_demo`` would fly the same way), copied so the demo's captures stay out of it.
    Returns the summary and the demo's data directory."""
    data_dir = tmp_path_factory.mktemp("demo")
    flown = None
    if sitl_here():
        # run_demo plans the zone again: the same sortie 1, or it would render another's
        # targets over this flight (the planner stops after a count of solutions, not a
        # time, so a busy machine plans as a quiet one)
        again = plan_patrol(load_sites(sample_sites())).sorties[0]
        assert again.mission == request.getfixturevalue("sample_sortie").mission
        result = request.getfixturevalue("flown_sortie").result
        flight_dir = shutil.copytree(result.flight_dir, data_dir / "flights" / result.flight_id)
        flown = flown_in_sitl(flight_dir, result.distance_flown_m)
    return run_demo(data_dir=data_dir, speedup=20, rgb_width_px=800, flown=flown), data_dir
