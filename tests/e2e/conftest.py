"""The demo, run once for the end-to-end checks and for the inspector who reviews its patrol."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecopatrol.demo import DemoSummary, run_demo


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoSummary, Path]:
    """The README's main job as it runs here: sortie 1 flown in SITL where a binary exists
    (it does on CI), else the planned photo points; each way some 650 captures rendered and
    processed, about two minutes. Returns its summary and its data directory."""
    data_dir = tmp_path_factory.mktemp("demo")
    return run_demo(data_dir=data_dir, speedup=20, rgb_width_px=800), data_dir
