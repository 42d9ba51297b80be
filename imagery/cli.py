"""`ecopatrol process`: ingest captures, process them, write the store, summarise."""

from __future__ import annotations

import logging
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

if TYPE_CHECKING:
    from imagery.detect.change import Change
    from imagery.pipeline import CaptureResult

logger = logging.getLogger(__name__)


def _fail(message: str) -> typer.Exit:
    """One line on stderr; the exit (code 2: bad input) to raise."""
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
    app.command("process")(process)


def process(
    paths: Annotated[list[Path], typer.Argument(help="Flight directories or image files.")],
    manifest: Annotated[
        Path | None, typer.Option(help="Capture manifest (captures.jsonl) giving the poses.")
    ] = None,
    dem: Annotated[Path | None, typer.Option(help="DEM GeoTIFF to ray-cast onto.")] = None,
    db: Annotated[str | None, typer.Option(help="Database URL (default: local SQLite).")] = None,
    sites: Annotated[
        Path | None, typer.Option(help="sites.geojson with enterprises, stacks and rivers.")
    ] = None,
    ground_alt: Annotated[
        float | None, typer.Option(help="Ground height AMSL (m) instead of the take-off height.")
    ] = None,
    evidence_dir: Annotated[
        Path | None, typer.Option(help="Where thumbnails and overlays go (default: beside the DB).")
    ] = None,
    geotiff_dir: Annotated[
        Path | None, typer.Option(help="Also write each capture as a UTM GeoTIFF here.")
    ] = None,
    detector: Annotated[
        list[str] | None, typer.Option(help="Run only these detectors (repeatable).")
    ] = None,
    jobs: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Georeference captures, find emission anomalies and store them (idempotent)."""
    from imagery.detect.base import select
    from imagery.errors import ImageryError
    from imagery.ingest import collect_images, match_manifest
    from imagery.persist import finish_flight, write_results
    from imagery.pipeline import process_capture
    from imagery.pose import pose_from_manifest
    from imagery.sites import load_sites
    from missions.manifest import read_manifest
    from store.db import DEFAULT_DATA_DIR, default_url, make_engine, migrate, session_scope
    from store.findings import get_or_create_flight

    try:
        images, found_manifest = collect_images(paths)
        if not images:
            raise _fail("no images found in " + ", ".join(map(str, paths)))
        manifest = manifest or found_manifest
        poses = {}
        if manifest is not None:
            if not manifest.is_file():
                raise _fail(f"{manifest}: no such manifest")
            poses = {
                k: pose_from_manifest(v)
                for k, v in match_manifest(images, read_manifest(manifest)).items()
            }
        if dem is not None and not dem.is_file():
            raise _fail(f"{dem}: no such DEM file")
        zone = load_sites(sites) if sites is not None else None
        chosen = select(detector) if detector else None
    except (ImageryError, ValueError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from exc

    url = db or default_url()
    if evidence_dir is None:
        base = (
            Path(url.removeprefix("sqlite:///")).parent
            if url.startswith("sqlite:///") and url != "sqlite:///:memory:"
            else DEFAULT_DATA_DIR
        )
        evidence_dir = base / "evidence"
    engine = make_engine(url)
    migrate(engine)

    run = partial(
        process_capture,
        dem=dem,
        ground_alt_m=ground_alt,
        sites=zone,
        detectors=chosen,
        evidence_dir=evidence_dir,
        geotiff_dir=geotiff_dir,
    )
    results: list[CaptureResult] = []
    console = Console(stderr=True)
    progress = Progress(
        TextColumn("[bold]processing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[name]}"),
        TimeRemainingColumn(),
        console=console,
    )
    with progress:
        task = progress.add_task("process", total=len(images), name="")
        if jobs == 1:
            for i, image in enumerate(images):
                progress.update(task, name=image.name)
                results.append(run(image, pose=poses.get(image), index=i))
                progress.advance(task)
        else:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                futures = [
                    pool.submit(run, image, pose=poses.get(image), index=i)
                    for i, image in enumerate(images)
                ]
                for future in futures:
                    results.append(future.result())
                    progress.update(task, name=Path(results[-1].path).name)
                    progress.advance(task)

    directory = str(
        Path(paths[0]).resolve() if Path(paths[0]).is_dir() else Path(paths[0]).resolve().parent
    )
    with session_scope(engine) as session:
        flight = get_or_create_flight(session, directory=directory, name=Path(directory).name)
        written = write_results(session, results, flight_id=flight.id)
        changes = finish_flight(session, flight)
    _summarise(results, changes, written.findings_inserted, written.findings_removed)


def _summarise(
    results: list[CaptureResult], changes: list[Change], inserted: int, removed: int
) -> None:
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
    failed = [r for r in results if not r.ok]
    out.print(
        f"{len(results)} captures, {len(results) - len(failed)} processed, "
        f"{len(failed)} failed; {sum(len(g) for g in groups.values())} objects "
        f"({inserted} findings new in the store, {removed} removed); "
        f"{len(gone)} previous objects not seen again"
    )
    for r in failed:
        out.print(f"[yellow]failed[/] {r.path}: {r.failure_reason}", highlight=False)
