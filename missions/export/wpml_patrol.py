"""A whole patrol as DJI WPML: a KMZ and a note per sortie (``ecopatrol plan --format wpml``)."""

from __future__ import annotations

import time
from pathlib import Path

from missions.export.wpml import DRONES, DroneModel, note_path, write_wpml
from missions.export.wpml_heights import Geoid, WpmlError, geoid_for
from missions.plan import Patrol, Sortie


def wpml_options(
    aircraft: str, heights: str, geoid_grid: Path | None
) -> tuple[DroneModel, Geoid | None]:
    """The aircraft and height frame asked for, checked before any planning is done."""
    drone = DRONES.get(aircraft)
    if drone is None:
        raise WpmlError(f"unknown DJI aircraft {aircraft!r} (known: {', '.join(DRONES)})")
    return drone, geoid_for(heights, geoid_grid)


def sortie_kmz(
    sortie: Sortie, patrol: Patrol, path: Path, *, drone: DroneModel, geoid: Geoid | None
) -> list[str]:
    """Write one sortie's KMZ and note; the note's lines."""
    _, notes = write_wpml(
        sortie.mission,
        path,
        home_alt_amsl_m=sortie.dock.ground_alt_m,
        cruise_speed_m_s=patrol.aircraft.cruise_speed_m_s,
        drone=drone,
        geoid=geoid,
        time_ms=int(time.time() * 1000),  # template.kml's createTime/updateTime
    )
    return notes


def write_patrol_wpml(
    patrol: Patrol, out: Path, *, drone: DroneModel, geoid: Geoid | None
) -> list[str]:
    """Write ``sortie-N.kmz`` and ``sortie-N.wpml-limits.txt`` for every sortie in ``out``.

    Returns what to tell the user: one line per file written, and one line
    naming what WPML leaves out.
    """
    for stale in [*out.glob("sortie-*.kmz"), *out.glob("sortie-*.wpml-limits.txt")]:
        stale.unlink()
    left_out: dict[str, None] = {}
    for sortie in patrol.sorties:
        notes = sortie_kmz(
            sortie, patrol, out / f"sortie-{sortie.number}.kmz", drone=drone, geoid=geoid
        )
        left_out.update((n.split(":", 1)[0], None) for n in notes)
    first = note_path(out / "sortie-1.kmz").name
    lines = [
        f"wrote {len(patrol.sorties)} DJI WPML routes for the {drone.label} "
        f"({'heights above take-off' if geoid is None else 'WGS84 ellipsoid heights'}) to {out}",
    ]
    if left_out:
        lines.append(f"WPML cannot express: {', '.join(left_out)} (see {first} and the others)")
    return lines
