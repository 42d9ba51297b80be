"""``ecopatrol check-wpml``: check a DJI WPML route against the zone before a Dock flies it.

A route drawn in FlightHub 2 or DJI Pilot 2 (or exported by ``ecopatrol plan
--format wpml``) is read from its KMZ and flown, on paper, as DJI's aircraft
fly it from its dock (:mod:`missions.export.wpml_check`): the ceiling above
the ground, the no-fly areas and the obstacle clearance are the planner's own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from missions.cli import (
    ClearanceOption,
    OverStackOption,
    OverTopOption,
    clearance_rule,
    console,
    fail_line,
)
from missions.errors import MissionError
from missions.export.wpml_check import check_kmz
from zone.errors import ZoneError
from zone.sites import load_sites


def check_wpml(
    route: Annotated[Path, typer.Argument(help="The route's KMZ (wpmz/waylines.wpml inside).")],
    sites: Annotated[Path, typer.Argument(help="Sites GeoJSON of the zone it flies in.")],
    dock: Annotated[
        str | None, typer.Option(help="Take-off dock id (default: the one nearest its start).")
    ] = None,
    max_agl_m: Annotated[float, typer.Option(help="Altitude ceiling above ground.")] = 120.0,
    dem: Annotated[Path | None, typer.Option(help="DEM GeoTIFF for the ground.")] = None,
    geoid_grid: Annotated[
        Path | None, typer.Option(help="EGM96 grid, for a route in WGS84 ellipsoid heights.")
    ] = None,
    clearance_m: ClearanceOption = 15.0,
    over_top_m: OverTopOption = 10.0,
    over_stack_m: OverStackOption = 20.0,
) -> None:
    """Check a DJI WPML route against the zone: ceiling, no-fly areas, obstacles."""
    rule = clearance_rule(clearance_m, over_top_m, over_stack_m)
    try:
        line, report = check_kmz(
            route,
            load_sites(sites),
            dock_id=dock,
            geoid_grid=geoid_grid,
            max_agl_m=max_agl_m,
            clearance=rule,
            dem=dem,
        )
    except (MissionError, ZoneError) as exc:
        fail_line(str(exc))
    console.print(
        f"{route.name}: clear of the zone's no-fly areas and obstacles from dock {report.dock_id}: "
        f"{report.waypoints} waypoints, {report.length_m / 1000:.2f} km, at most "
        f"{report.max_agl_m:.1f} m above ground (ceiling {max_agl_m:g} m)",
        highlight=False,
        soft_wrap=True,
    )
    for what in line.unsupported:
        console.print(f"[yellow]not checked[/] {what}", highlight=False, soft_wrap=True)
