"""`ecopatrol process` (captures processed here, now) and `ecopatrol ingest` (queued for workers).

Both take the same inputs, checked the same way (:func:`_check`), and write
the same store: `ingest` then `ecopatrol worker --drain` records what
`process` does.

Heights: ``--dem``, ``--ground-alt`` and ``--takeoff-ground-alt`` are metres AMSL.
A capture's camera height is its recorded absolute altitude AMSL, or with
``--takeoff-ground-alt`` that ground plus its height above the take-off point
(``alt_rel_m``, DJI ``RelativeAltitude``): DJI's absolute altitude is often tens of
metres off, its height above take-off a metre or two.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from imagery.dispatch.cli import DbOption

if TYPE_CHECKING:
    from imagery.batch import BatchReport
    from imagery.detect.base import Detector
    from imagery.ingest import Inputs
    from imagery.pose import Pose
    from zone.sites import Sites

logger = logging.getLogger(__name__)


def _fail(message: str) -> typer.Exit:
    """One line on stderr; the exit (code 2: bad input) to raise."""
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
    app.command("process")(process)
    app.command("ingest")(ingest)


PathsArg = Annotated[list[Path], typer.Argument(help="Flight directories or image files.")]
ManifestOption = Annotated[
    Path | None, typer.Option(help="Capture manifest (captures.jsonl) giving the poses.")
]
DemOption = Annotated[Path | None, typer.Option(help="DEM GeoTIFF to ray-cast onto.")]
SitesOption = Annotated[
    Path | None, typer.Option(help="sites.geojson with enterprises, stacks and rivers.")
]
GroundAltOption = Annotated[
    float | None, typer.Option(help="Ground height AMSL (m) instead of the take-off height.")
]
TakeoffGroundAltOption = Annotated[
    float | None,
    typer.Option(
        "--takeoff-ground-alt",
        metavar="METRES",
        help=(
            "Ground height AMSL (m) where the flight took off (the dock's ground, or the DEM "
            "there): each camera's height AMSL becomes this plus its height above take-off "
            "(DJI RelativeAltitude) instead of its recorded absolute altitude."
        ),
    ),
]
EvidenceOption = Annotated[
    Path | None, typer.Option(help="Where thumbnails and overlays go (default: beside the DB).")
]
DetectorOption = Annotated[
    list[str] | None, typer.Option(help="Run only these detectors (repeatable).")
]


@dataclass(frozen=True, slots=True)
class _Checked:
    """Command-line inputs once validated: what both `process` and `ingest` run on."""

    inputs: Inputs
    sites: Sites | None
    detectors: list[Detector] | None


def _check(
    paths: list[Path],
    *,
    manifest: Path | None,
    dem: Path | None,
    sites: Path | None,
    detector: list[str] | None,
    takeoff_ground_alt: float | None = None,
) -> _Checked:
    """Gather the captures and check every input, or fail in one line (exit 2)."""
    from imagery.detect.base import select
    from imagery.errors import ImageryError
    from imagery.ingest import gather
    from zone.sites import load_sites

    try:
        inputs = gather(paths, manifest=manifest)
        if dem is not None and not dem.is_file():
            raise _fail(f"{dem}: no such DEM file")
        zone = load_sites(sites) if sites is not None else None
        chosen = select(detector) if detector else None
    except (ImageryError, ValueError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from exc
    if takeoff_ground_alt is not None:
        _check_takeoff_anchor(inputs, takeoff_ground_alt)
    return _Checked(inputs, zone, chosen)


def _check_takeoff_anchor(inputs: Inputs, takeoff_ground_alt: float) -> None:
    """Refuse ``--takeoff-ground-alt`` for a flight with a capture it cannot re-base.

    Re-basing needs each capture's height above take-off; a flight mixing
    re-based and recorded absolute altitudes would place its captures in two
    height frames, so one capture without it refuses the option for the flight.
    """
    if not math.isfinite(takeoff_ground_alt):
        raise _fail(f"--takeoff-ground-alt {takeoff_ground_alt}: not a height")
    lacking = [
        image
        for image in inputs.images
        if _lacks_height_above_takeoff(image, inputs.poses.get(image))
    ]
    if lacking:
        others = f" (and {len(lacking) - 1} other captures)" if len(lacking) > 1 else ""
        raise _fail(
            f"--takeoff-ground-alt: {lacking[0].name}{others} records no height above "
            "take-off (RelativeAltitude) to add to the take-off ground; drop the option"
        )


def _lacks_height_above_takeoff(image: Path, pose: Pose | None) -> bool:
    """Whether the capture's pose (manifest, else its own headers) has no ``alt_rel_m``.

    A capture whose pose cannot be read at all is not counted: it fails in
    processing with its own reason, as without the option.
    """
    from imagery.errors import ImageryError
    from imagery.metadata import pose_from_metadata, read_metadata

    if pose is None:
        try:
            pose = pose_from_metadata(read_metadata(image))
        except ImageryError:
            return False
    return pose.alt_rel_m is None


def _open_store(db: str | None, evidence_dir: Path | None) -> tuple[Engine, Path]:
    """The migrated store and the evidence directory (default: beside a SQLite file)."""
    from imagery.dispatch.cli import database_url
    from store.db import DEFAULT_DATA_DIR, make_engine, migrate

    url = database_url(db)
    if evidence_dir is None:
        base = (
            Path(url.removeprefix("sqlite:///")).parent
            if url.startswith("sqlite:///") and url != "sqlite:///:memory:"
            else DEFAULT_DATA_DIR
        )
        evidence_dir = base / "evidence"
    engine = make_engine(url)
    try:
        migrate(engine)
    except DBAPIError as exc:
        raise _fail(f"cannot open the database: {exc.orig or exc}") from exc
    return engine, evidence_dir.resolve()


def ingest(
    paths: PathsArg,
    manifest: ManifestOption = None,
    db: DbOption = None,
    sites: SitesOption = None,
    dem: DemOption = None,
    ground_alt: GroundAltOption = None,
    takeoff_ground_alt: TakeoffGroundAltOption = None,
    evidence_dir: EvidenceOption = None,
    detector: DetectorOption = None,
) -> None:
    """Record a flight's captures and queue them for `ecopatrol worker` (idempotent).

    With --takeoff-ground-alt (m AMSL) each camera height AMSL becomes that take-off
    ground plus the capture's height above take-off (DJI RelativeAltitude), on the
    workers; jobs already queued keep the options they were queued with.
    """
    from imagery.dispatch.capture import ingest_flight
    from store.db import session_scope

    checked = _check(
        paths,
        manifest=manifest,
        dem=dem,
        sites=sites,
        detector=detector,
        takeoff_ground_alt=takeoff_ground_alt,
    )
    engine, evidence = _open_store(db, evidence_dir)
    try:
        with session_scope(engine) as session:
            report = ingest_flight(
                session,
                checked.inputs,
                detectors=[d.name for d in checked.detectors] if checked.detectors else None,
                dem=dem.resolve() if dem else None,
                ground_alt_m=ground_alt,
                takeoff_ground_amsl_m=takeoff_ground_alt,
                sites=sites.resolve() if sites else None,
                evidence_dir=evidence,
            )
    finally:
        engine.dispose()
    typer.echo(
        f"flight {report.flight_id}: {len(checked.inputs.images)} captures "
        f"({report.captures_new} new), {report.queued} jobs queued"
    )


def process(
    paths: PathsArg,
    manifest: ManifestOption = None,
    dem: DemOption = None,
    db: DbOption = None,
    sites: SitesOption = None,
    ground_alt: GroundAltOption = None,
    takeoff_ground_alt: TakeoffGroundAltOption = None,
    evidence_dir: EvidenceOption = None,
    geotiff_dir: Annotated[
        Path | None, typer.Option(help="Also write each capture as a UTM GeoTIFF here.")
    ] = None,
    detector: DetectorOption = None,
    jobs: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Georeference captures, find emission anomalies and store them (idempotent).

    With --takeoff-ground-alt (m AMSL) each camera height AMSL becomes that take-off
    ground plus the capture's height above take-off (DJI RelativeAltitude) instead
    of its recorded absolute altitude.

    Exit status: 0 when every capture was processed, and also when only some
    failed (a warning on stderr says how many; the others are stored); 1 when
    every capture failed; 2 for bad input.
    """
    from imagery.batch import process_flight

    checked = _check(
        paths,
        manifest=manifest,
        dem=dem,
        sites=sites,
        detector=detector,
        takeoff_ground_alt=takeoff_ground_alt,
    )
    engine, evidence = _open_store(db, evidence_dir)
    progress = Progress(
        TextColumn("[bold]processing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[name]}"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )
    try:
        with progress:
            task = progress.add_task("process", total=len(checked.inputs.images), name="")
            report = process_flight(
                checked.inputs,
                engine=engine,
                dem=dem,
                ground_alt_m=ground_alt,
                takeoff_ground_amsl_m=takeoff_ground_alt,
                sites=checked.sites,
                detectors=checked.detectors,
                evidence_dir=evidence,
                geotiff_dir=geotiff_dir,
                jobs=jobs,
                on_capture=lambda r: progress.update(task, advance=1, name=Path(r.path).name),
            )
    finally:
        engine.dispose()
    _summarise(report)
    raise _exit_status(len(report.failed), len(report.results))


EXIT_ALL_FAILED = 1


def _exit_status(failed: int, total: int) -> typer.Exit:
    """The exit a CI job can test: failure only when nothing was processed.

    A partly failed flight still stores its good captures, as a photogrammetry
    run drops unusable frames, so it exits 0 with one warning line on stderr.
    """
    err = Console(stderr=True)
    if total and failed == total:
        err.print(f"[bold red]error:[/] all {total} captures failed", highlight=False)
        return typer.Exit(EXIT_ALL_FAILED)
    if failed:
        err.print(
            f"[yellow]warning:[/] {failed} of {total} captures failed; the others are stored",
            highlight=False,
        )
    return typer.Exit(0)


def _summarise(report: BatchReport) -> None:
    results, changes = report.results, report.changes
    out = Console()
    groups: dict[tuple[str, str], set[str]] = {}
    counts: Counter[tuple[str, str]] = Counter()
    status = {c.current_group: c.status for c in changes if c.current_group}
    for change in changes:
        if change.current_group:
            groups.setdefault((change.site_id or "-", change.kind), set()).add(change.current_group)
    for r in results:
        for f in r.findings:
            counts[(f.site_id or "-", f.kind)] += 1
    table = Table(title="Findings per site and kind")
    for col in ("site", "kind", "objects", "findings", "new", "recurring"):
        table.add_column(col, justify="right" if col not in ("site", "kind") else "left")
    for (site, kind), gids in sorted(groups.items()):
        table.add_row(
            site,
            kind,
            str(len(gids)),
            str(counts[(site, kind)]),
            str(sum(status[g] == "new" for g in gids)),
            str(sum(status[g] == "recurring" for g in gids)),
        )
    out.print(table)
    gone = [c for c in changes if c.status == "gone"]
    failed = report.failed
    out.print(
        f"{len(results)} captures, {len(results) - len(failed)} processed, "
        f"{len(failed)} failed; {sum(len(g) for g in groups.values())} objects "
        f"({report.findings_inserted} findings new in the store, "
        f"{report.findings_removed} removed); "
        f"{len(gone)} previous objects not seen again"
    )
    for r in failed:
        out.print(f"[yellow]failed[/] {r.path}: {r.failure_reason}", highlight=False)
