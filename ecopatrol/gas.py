"""``ecopatrol gas locate FLIGHT_DIR``: where a flight's gas transect places its source.

The same fit as ``GET /flights/{id}/gas/source`` (:func:`server.gas.estimate_source`),
for a flight folder on disk and a sites file: the flight's ``gas.jsonl``, its
heights above the ground of the zone's surveyed altitudes, the wind given (where
it blows FROM, degrees clockwise from true north, and its speed at 10 m) and a
Pasquill-Gifford class (default D, neutral: the locator tries every class and
says which fitted). Anything that stops it is one line on stderr, exit 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

gas_app = typer.Typer(help="A flight's gas sensor readings.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the ``gas`` commands to the root app."""
    app.add_typer(gas_app, name="gas")


@gas_app.command("locate")
def locate(
    flight_dir: Annotated[
        Path, typer.Argument(help="The flight's folder (with gas.jsonl).", show_default=False)
    ],
    sites: Annotated[
        Path, typer.Option(help="The zone's sites GeoJSON (ground, stacks).", show_default=False)
    ],
    wind_from_deg: Annotated[
        float, typer.Option(help="Where the wind blows FROM, degrees from true north.")
    ],
    wind_speed_m_s: Annotated[float, typer.Option(help="Wind speed at 10 m, m/s.")],
    stability: Annotated[str, typer.Option(help="Pasquill-Gifford class A-F.")] = "D",
    pollutant: Annotated[
        str | None, typer.Option(help="Which gas, if the sensor sent several.")
    ] = None,
) -> None:
    """Print the located source: position, uncertainty, height, rate and attribution."""
    from ecopatrol.cli import fail
    from server.gas import (
        GasError,
        estimate_source,
        read_flight_gas,
        transect_samples,
        zone_ground,
    )
    from zone.dispersion import Wind
    from zone.errors import ZoneError
    from zone.sites import load_sites

    if not flight_dir.is_dir():
        raise fail(f"{flight_dir}: no such flight folder")
    try:
        zone = load_sites(sites)
        wind = Wind(wind_from_deg % 360.0, wind_speed_m_s)
        readings = read_flight_gas(flight_dir)
        samples, gas, unit = transect_samples(
            readings, zone_ground(zone), pollutant=pollutant, unit=None
        )
        found = estimate_source(
            samples, wind=wind, stability=stability, sites=zone, unit=unit, pollutant=gas
        )
    except (GasError, ZoneError, ValueError) as exc:
        raise fail(str(exc)) from None
    named = found.stack_id or found.site_id
    where = f"{named}, {found.distance_m:.0f} m off" if named else "no stack or site within 50 m"
    rate = f"{found.emission_g_s:.3g} g/s" if found.emission_g_s is not None else "no rate"
    typer.echo(
        f"{gas}: source at {found.lat:.6f}, {found.lon:.6f} (one sigma {found.uncertainty_m:.1f} m)"
        f", {found.height_m:.0f} m above ground, {rate}, class {found.stability} fitted; {where}"
    )
