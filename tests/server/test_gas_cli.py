"""``ecopatrol gas locate`` on a flight folder: the transect of ``test_flight_gas`` (two lanes
downwind of Huanghe Pharma's stack, from a plume written out in that test) located at the
stack from the sites file alone, and what it cannot work from refused in one line."""

from __future__ import annotations

import re
from pathlib import Path

import typer
from pyproj import Geod
from typer.testing import CliRunner

from ecopatrol.gas import register

from .conftest import SITES
from .test_flight_gas import STACK, WIND_FROM_DEG, WIND_SPEED_M_S, transect, write_gas

runner = CliRunner()
GEOD = Geod(ellps="WGS84")


def app() -> typer.Typer:
    root = typer.Typer()
    register(root)
    return root


def _locate(flight: Path, *extra: str) -> tuple[int, str]:
    args = ["gas", "locate", str(flight), "--sites", str(SITES)]
    wind = ["--wind-from-deg", str(WIND_FROM_DEG), "--wind-speed-m-s", str(WIND_SPEED_M_S)]
    result = runner.invoke(app(), [*args, *wind, *extra])
    return result.exit_code, result.output.strip()


def test_the_transect_is_located_at_the_stack(tmp_path: Path) -> None:
    write_gas(tmp_path / "gas.jsonl", transect().readings)
    code, out = _locate(tmp_path)
    print(out)
    assert code == 0, out
    lat, lon = (float(v) for v in re.search(r"source at ([\d.]+), ([\d.]+)", out).groups())  # type: ignore[union-attr]
    assert GEOD.inv(STACK[0], STACK[1], lon, lat)[2] < 30.0
    assert out.startswith("TVOC: ") and "ent-02-s1" in out


def test_what_it_cannot_locate_from_is_one_line(tmp_path: Path) -> None:
    code, out = _locate(tmp_path / "nowhere")
    assert (code, out) == (2, f"error: {tmp_path / 'nowhere'}: no such flight folder")
    code, out = _locate(tmp_path)  # a folder with no gas.jsonl
    assert (code, out) == (2, "error: the flight heard no gas sensor")
    write_gas(tmp_path / "gas.jsonl", transect().readings)
    code, out = _locate(tmp_path, "--stability", "Q")
    assert code == 2 and len(out.splitlines()) == 1 and "Q" in out, out
    code, out = _locate(tmp_path, "--pollutant", "SO2")
    assert code == 2 and len(out.splitlines()) == 1 and "TVOC" in out, out
