"""A patrol as KML (Google Earth): one folder per sortie with its route and photo points.

Routes and photo points are relative to the ground without a DEM and absolute
(AMSL) with one, matching the mission's frame. Obstacles are always absolute:
each is its outline raised to its top (``top_amsl_m``) and extruded down to
the ground, so Google Earth shows stacks as columns and buildings as blocks;
each sortie's folder says its tightest clearance and marks where it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import simplekml

from missions.export.files import write_atomic
from missions.plan import Patrol, PlannedObstacle

COLOURS = ("ff0000ff", "ff00a5ff", "ff00ff00", "ffff0000", "ffff00ff", "ff00ffff")


def patrol_kml(patrol: Patrol) -> simplekml.Kml:
    """The patrol as a :class:`simplekml.Kml` document."""
    kml = simplekml.Kml(name="EcoPatrol patrol")
    mode = (
        simplekml.AltitudeMode.absolute
        if patrol.terrain_following
        else simplekml.AltitudeMode.relativetoground
    )
    zones = kml.newfolder(name="No-fly areas")
    for zone_id, ring in patrol.fence_exclusions:
        poly = zones.newpolygon(
            name=zone_id, outerboundaryis=[(lon, lat) for lat, lon in (*ring, ring[0])]
        )
        poly.style.polystyle.color = "550000ff"
        poly.style.linestyle.color = "ff0000ff"
    fence = kml.newfolder(name="Geofence")
    ring = patrol.fence_inclusion
    line = fence.newlinestring(
        name="inclusion", coords=[(lon, lat) for lat, lon in (*ring, ring[0])]
    )
    line.style.linestyle.color = "ff00ffff"
    if patrol.obstacles:
        obstacles = kml.newfolder(name="Obstacles")
        for obstacle in patrol.obstacles:
            _obstacle(obstacles, obstacle)
    for sortie in patrol.sorties:
        folder = kml.newfolder(name=f"Sortie {sortie.number} ({sortie.dock.id})")
        clearance = sortie.clearance
        folder.description = (
            f"{sortie.length_m / 1000:.2f} km, {sortie.duration_s / 60:.1f} min, "
            f"{sortie.photo_count} photos; targets: {', '.join(sortie.targets)}; "
            + (
                f"min clearance {clearance.distance_m:.1f} m to {clearance.obstacle_id}"
                if clearance
                else "no obstacles"
            )
        )
        if clearance is not None:
            closest = folder.newpoint(
                name=f"closest: {clearance.distance_m:.1f} m to {clearance.obstacle_id}",
                coords=[(clearance.lon, clearance.lat, clearance.alt_amsl_m)],
            )
            closest.altitudemode = simplekml.AltitudeMode.absolute
        route = folder.newlinestring(name="route")
        coords = [(float(lon), float(lat), float(alt)) for lon, lat, alt in sortie.route]
        route.coords = coords
        route.altitudemode = mode
        route.style.linestyle.color = COLOURS[(sortie.number - 1) % len(COLOURS)]
        route.style.linestyle.width = 3
        photos = folder.newfolder(name="planned photos")
        for k, photo in enumerate(sortie.photo_points):
            point = photos.newpoint(name=str(k), coords=[(photo.lon, photo.lat, photo.alt_m)])
            point.altitudemode = mode
            point.style.iconstyle.scale = 0.4
    return kml


def _obstacle(folder: simplekml.Folder, obstacle: PlannedObstacle) -> None:
    """The obstacle as a polygon at its top altitude, extruded to the ground."""
    top = obstacle.top_amsl_m
    height = f"{obstacle.height_m:.0f} m"
    poly = folder.newpolygon(
        name=obstacle.label if height in obstacle.label else f"{obstacle.label} ({height})",
        outerboundaryis=_raised(obstacle.outline.exterior.coords, top),
        innerboundaryis=[_raised(ring.coords, top) for ring in obstacle.outline.interiors],
    )
    poly.altitudemode = simplekml.AltitudeMode.absolute
    poly.extrude = 1
    poly.description = (
        f"{obstacle.kind} {obstacle.id}: {obstacle.height_m:.1f} m tall, "
        f"base {obstacle.base_amsl_m:.1f} m and top {top:.1f} m AMSL; "
        f"kept {obstacle.horizontal_m:.0f} m clear around, "
        + (
            f"overflown no lower than {obstacle.roof_amsl_m:.1f} m AMSL"
            if obstacle.overflown
            else "never overflown (routes go around)"
        )
    )
    poly.style.polystyle.color = "99336699" if obstacle.overflown else "990000cc"
    poly.style.linestyle.color = "ff336699" if obstacle.overflown else "ff0000cc"


def _raised(coords: Iterable[Sequence[float]], alt_amsl_m: float) -> list[tuple[float, ...]]:
    """A lon/lat ring at one altitude, to 1e-7 degrees (about a centimetre)."""
    return [(round(c[0], 7), round(c[1], 7), round(alt_amsl_m, 2)) for c in coords]


def write_kml(patrol: Patrol, path: str | Path) -> Path:
    """Write :func:`patrol_kml` to ``path``."""
    return write_atomic(path, patrol_kml(patrol).kml())
