"""``ecopatrol readings import FILE.csv``: a station feed's CSV file into the store.

The format is docs/readings.md's: a header naming the columns of
:data:`store.readings.FIELDS` (in any order), one reading a line. Good rows are
stored (with the alerts they raise) whatever the bad rows hold; each refused
row is printed as ``line N: reason`` (N counts the file's lines, the header is
line 1), then a summary. The exit status is 1 when a row was refused, 2 when
the file cannot be read at all.
"""

from __future__ import annotations

import csv
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from imagery.dispatch.cli import DbOption
from store.readings import FIELDS, REQUIRED

if TYPE_CHECKING:
    from sqlalchemy import Engine

readings_app = typer.Typer(help="Air-quality readings from stations.", no_args_is_help=True)
CHUNK = 5000  # rows per transaction: a huge file neither holds one transaction nor loses rows


def register(app: typer.Typer) -> None:
    """Add the ``readings`` commands to the root app."""
    app.add_typer(readings_app, name="readings")


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """The file's rows with their line numbers; ValueError for a header that is not ours."""
    with path.open(encoding="utf-8-sig", newline="") as handle:  # utf-8-sig: Excel's BOM
        reader = csv.DictReader(handle)
        header = [name.strip() for name in reader.fieldnames or []]
        missing = [name for name in REQUIRED if name not in header]
        unknown = [name for name in header if name not in FIELDS]
        if missing or unknown:
            problem = f"no column {missing[0]!r}" if missing else f"unknown column {unknown[0]!r}"
            raise ValueError(f"{path}: {problem} (columns: {', '.join(FIELDS)})")
        reader.fieldnames = header
        for row in reader:
            yield reader.line_num, row


def _stations(engine: Engine, sites: Path | None) -> dict[str, tuple[str, ...]]:
    """The stations readings may come from: the sites file's, else the store's."""
    from sqlmodel import Session

    from server.readings import station_catalogue
    from zone.sites import load_sites

    if sites is not None:
        return {s.id: s.measures for s in load_sites(sites).stations}
    with Session(engine) as session:
        return station_catalogue(session)


@dataclass(slots=True)
class _Totals:
    stored: int = 0
    unchanged: int = 0
    refused: int = 0
    opened: int = 0
    closed: int = 0


@readings_app.command("import")
def import_csv(
    path: Annotated[Path, typer.Argument(help="CSV file (docs/readings.md).", show_default=False)],
    db: DbOption = None,
    sites: Annotated[
        Path | None,
        typer.Option(
            help="Sites GeoJSON whose stations the readings come from (default: the store's).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Store a CSV file's readings; print each refused row with its line and reason."""
    from ecopatrol.cli import fail, store_engine
    from zone.errors import InvalidSiteError

    if not path.is_file():
        raise fail(f"{path}: no such file")
    with store_engine(db) as engine:
        try:
            stations = _stations(engine, sites)
            if not stations:
                raise fail("no stations: import the zone's sites first, or give --sites")
            totals = _import(engine, path, stations)
        except (ValueError, InvalidSiteError, UnicodeDecodeError, csv.Error) as exc:
            raise fail(str(exc)) from None
    typer.echo(
        f"{totals.stored} stored, {totals.unchanged} unchanged, {totals.refused} refused; "
        f"alerts: {totals.opened} opened, {totals.closed} closed"
    )
    if totals.refused:
        raise typer.Exit(1)


def _import(engine: Engine, path: Path, stations: Mapping[str, Collection[str]]) -> _Totals:
    """Store the file chunk by chunk, each with its alerts in one transaction; print each
    chunk's refused rows in line order."""
    from sqlmodel import Session

    from server.readings import record_readings

    totals = _Totals()
    with Session(engine) as session:
        for chunk in _chunks(read_rows(path)):
            refused: list[tuple[int, str]] = []
            good: list[tuple[int, dict[str, str]]] = []
            for line, row in chunk:
                if None in row:  # csv.DictReader keeps cells past the header under None
                    refused.append((line, "more cells than the header has columns"))
                else:
                    good.append((line, row))
            result, changes = record_readings(session, [r for _, r in good], stations=stations)
            refused += [(good[r.index][0], r.reason) for r in result.refused]
            for line, reason in sorted(refused):
                typer.echo(f"line {line}: {reason}")
            totals.refused += len(refused)
            totals.stored += len(result.stored)
            totals.unchanged += result.unchanged
            totals.opened += len(changes.opened)
            totals.closed += len(changes.closed)
    return totals


def _chunks(
    rows: Iterator[tuple[int, dict[str, str]]],
) -> Iterator[list[tuple[int, dict[str, str]]]]:
    chunk: list[tuple[int, dict[str, str]]] = []
    for item in rows:
        chunk.append(item)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
