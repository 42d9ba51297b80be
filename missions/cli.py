"""Sub-commands of `ecopatrol` for this package: ``ecopatrol plan``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from missions.errors import MissionError
from missions.plan import DEFAULT_PATTERNS, GCS_LOSS_RETURN_S, Clearance, Patrol, plan_patrol
from zone.errors import ZoneError
from zone.obstacles import ClearanceRule
from zone.sites import load_sites

console = Console()
err_console = Console(stderr=True)

ClearanceOption = Annotated[
    float, typer.Option(help="Distance every path keeps from an obstacle's edge...")
]
OverTopOption = Annotated[float, typer.Option(help="...or height it keeps over its top.")]
OverStackOption = Annotated[
    float, typer.Option(help="Height kept over a working stack's mouth (its plume).")
]


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
    from missions.wpml_cli import check_wpml

    app.command("plan")(plan)
    app.command("check-wpml")(check_wpml)


def plan(
    sites: Annotated[
        Path, typer.Argument(help="Sites GeoJSON (enterprises, rivers, no_fly, docks).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Directory for the sortie files.")],
    targets: Annotated[
        str | None, typer.Option(help="Comma-separated enterprise/river ids (default: all).")
    ] = None,
    camera: Annotated[
        str, typer.Option(help="Camera preset: wide-20mp or thermal-640.")
    ] = "wide-20mp",
    gsd_cm: Annotated[
        float | None, typer.Option("--gsd-cm", help="Ground sample distance to reach.")
    ] = None,
    altitude_m: Annotated[
        float | None, typer.Option("--altitude-m", help="Survey height above ground (default 60).")
    ] = None,
    dem: Annotated[
        Path | None, typer.Option(help="DEM GeoTIFF for terrain-following altitudes.")
    ] = None,
    patterns: Annotated[
        str, typer.Option(help="Comma-separated: survey, orbit, corridor, perimeter.")
    ] = ",".join(DEFAULT_PATTERNS),
    front_overlap: Annotated[float, typer.Option(help="Front overlap, 0..1.")] = 0.8,
    side_overlap: Annotated[float, typer.Option(help="Side overlap, 0..1.")] = 0.7,
    max_agl_m: Annotated[float, typer.Option(help="Altitude ceiling above ground.")] = 120.0,
    orbit_offsets_m: Annotated[
        str, typer.Option(help="Stack orbit rings, metres above each stack's top (e.g. 10,-15).")
    ] = "10",
    land: Annotated[
        bool, typer.Option("--land", help="End each sortie with NAV_LAND on its dock, not RTL.")
    ] = False,
    clearance_m: ClearanceOption = 15.0,
    over_top_m: OverTopOption = 10.0,
    over_stack_m: OverStackOption = 20.0,
    gcs_loss_return_s: Annotated[
        float,
        typer.Option(
            "--gcs-loss-return-s",
            help="Seconds flown on without the ground station before returning (2-120).",
        ),
    ] = GCS_LOSS_RETURN_S,
    fmt: Annotated[
        str,
        typer.Option(
            "--format", help="mavlink: .plan/.waypoints/.params; wpml: a DJI WPML .kmz per sortie."
        ),
    ] = "mavlink",
    wpml_aircraft: Annotated[
        str, typer.Option(help="DJI aircraft: m30t, m3td, m4td, m350-h20t or m350-h30t.")
    ] = "m3td",
    wpml_heights: Annotated[
        str, typer.Option(help="WPML heights: relative (to take-off) or wgs84 (ellipsoid).")
    ] = "relative",
    geoid_grid: Annotated[
        Path | None, typer.Option(help="EGM96 geoid grid (PROJ .gtx/.tif) for wgs84 heights.")
    ] = None,
) -> None:
    """Plan a patrol: per sortie a QGC .plan, .waypoints and .params (or a DJI WPML .kmz)."""
    from missions.export.geojson import write_geojson
    from missions.export.kml import write_kml
    from missions.export.params import write_params
    from missions.export.photos import write_photo_points
    from missions.export.qgc_plan import write_plan
    from missions.export.waypoints import write_waypoints
    from missions.export.wpml_patrol import wpml_options, write_patrol_wpml

    if gsd_cm is not None and altitude_m is not None:
        fail_line("give either --gsd-cm or --altitude-m, not both")
    if fmt not in ("mavlink", "wpml"):
        fail_line(f"--format must be mavlink or wpml, got {fmt!r}")
    try:
        drone, geoid = wpml_options(wpml_aircraft, wpml_heights, geoid_grid)
    except MissionError as exc:
        fail_line(str(exc))
    try:
        offsets = [float(v) for v in orbit_offsets_m.split(",") if v.strip()]
    except ValueError:
        fail_line(f"--orbit-offsets-m must be numbers separated by commas, got {orbit_offsets_m!r}")
    rule = clearance_rule(clearance_m, over_top_m, over_stack_m)
    try:
        zone = load_sites(sites)
        patrol = plan_patrol(
            zone,
            targets=[t.strip() for t in targets.split(",") if t.strip()] if targets else None,
            camera=camera,
            altitude_m=altitude_m,
            gsd_cm=gsd_cm,
            dem=dem,
            patterns=[p.strip() for p in patterns.split(",") if p.strip()],
            front_overlap=front_overlap,
            side_overlap=side_overlap,
            max_agl_m=max_agl_m,
            orbit_offsets_m=offsets,
            clearance=rule,
            end="land" if land else "rtl",
            gcs_loss_return_s=gcs_loss_return_s,
        )
    except (MissionError, ZoneError) as exc:
        fail_line(str(exc))
    if out.exists() and not out.is_dir():
        fail_line(f"--out {out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    for stale in [
        *out.glob("sortie-*.plan"),
        *out.glob("sortie-*.waypoints"),
        *out.glob("sortie-*.params"),
        *out.glob("sortie-*.photos.json"),
    ]:
        stale.unlink()
    for sortie in patrol.sorties:
        stem = out / f"sortie-{sortie.number}"
        if fmt == "mavlink":
            write_plan(
                sortie.mission,
                stem.with_suffix(".plan"),
                cruise_speed_m_s=patrol.aircraft.cruise_speed_m_s,
                hover_speed_m_s=patrol.aircraft.max_survey_speed_m_s,
            )
            write_waypoints(sortie.mission, stem.with_suffix(".waypoints"))
            write_params(sortie.mission, stem.with_suffix(".params"))
        write_photo_points(sortie.photo_points, out / f"sortie-{sortie.number}.photos.json")
    try:
        wpml_lines = (
            write_patrol_wpml(patrol, out, drone=drone, geoid=geoid) if fmt == "wpml" else []
        )
    except MissionError as exc:
        fail_line(str(exc))
    write_geojson(patrol, out / "patrol.geojson")
    write_kml(patrol, out / "patrol.kml")
    _summary(patrol, out, files="" if wpml_lines else " (.plan, .waypoints, .params)")
    for line in wpml_lines:
        console.print(line, highlight=False, soft_wrap=True)


def clearance_rule(clearance_m: float, over_top_m: float, over_stack_m: float) -> ClearanceRule:
    """The obstacle clearance the options ask for, or a one-line failure (exit 2)."""
    try:
        return ClearanceRule(clearance_m, over_top_m, over_stack_m)
    except ValueError:
        fail_line("--clearance-m, --over-top-m and --over-stack-m must be metres, 0 or more")


def fail_line(message: str) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _summary(patrol: Patrol, out: Path, *, files: str) -> None:
    console.print(
        f"[bold]{patrol.camera.name}[/] at {patrol.altitude_m:.0f} m AGL: "
        f"GSD {patrol.gsd_cm:.2f} cm/px, footprint {patrol.footprint_m[0]:.0f} x "
        f"{patrol.footprint_m[1]:.0f} m, lanes {patrol.lane_spacing_m:.1f} m, "
        f"trigger {patrol.trigger_distance_m:.1f} m"
        + (" (terrain following)" if patrol.terrain_following else ""),
        highlight=False,
    )
    table = Table(title=f"Patrol: {len(patrol.sorties)} sorties")
    for column, justify in (
        ("sortie", "right"),
        ("dock", "left"),
        ("drone", "right"),
        ("covers", "left"),
        ("length km", "right"),
        ("duration min", "right"),
        ("photos", "right"),
        ("items", "right"),
        ("tightest clearance", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for s in patrol.sorties:
        table.add_row(
            str(s.number),
            s.dock.id,
            str(s.drone),
            ", ".join(s.targets),
            f"{s.length_m / 1000:.2f}",
            f"{s.duration_s / 60:.1f}",
            str(s.photo_count),
            str(len(s.mission.items)),
            _clearance(s.clearance),
        )
    table.add_section()
    table.add_row(
        "all",
        "",
        "",
        "",
        f"{patrol.length_m / 1000:.2f}",
        f"{patrol.duration_s / 60:.1f}",
        str(patrol.photo_count),
        "",
        _clearance(
            min((s.clearance for s in patrol.sorties if s.clearance), default=None, key=_distance)
        ),
    )
    console.print(table)
    for target, reason in patrol.refused.items():
        console.print(
            f"[yellow]refused[/] {_reason(target, reason)}", highlight=False, soft_wrap=True
        )
    for part, reason in patrol.left_out.items():
        console.print(
            f"[yellow]left out[/] {_reason(part, reason)}", highlight=False, soft_wrap=True
        )
    drones = {(s.dock.id, s.drone) for s in patrol.sorties}
    if len(drones) > 1:
        console.print(
            f"{len(drones)} drones in parallel: done in {patrol.makespan_s / 60:.1f} min of flight",
            highlight=False,
        )
    console.print(
        f"wrote {len(patrol.sorties)} sorties{files}, patrol.geojson and patrol.kml to {out}"
    )


def _clearance(clearance: Clearance | None) -> str:
    """A sortie's tightest approach to an obstacle, or a dash in a zone without any."""
    if clearance is None:
        return "\u2014"
    return f"{clearance.distance_m:.1f} m to {clearance.obstacle_id}"


def _distance(clearance: Clearance) -> float:
    return clearance.distance_m


def _reason(what: str, reason: str) -> str:
    """``what: reason`` on one line, without repeating ``what`` when the reason names it."""
    reason = " ".join(reason.split())
    return reason if reason.startswith(what) else f"{what}: {reason}"
