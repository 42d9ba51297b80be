"""A patrol as KML (Google Earth): one folder per sortie with its route and photo points.

Altitudes are relative to the ground without a DEM and absolute (AMSL) with
one, matching the mission's frame.
"""

from __future__ import annotations

from pathlib import Path

import simplekml

from missions.export.files import write_atomic
from missions.plan import Patrol

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
    for sortie in patrol.sorties:
        folder = kml.newfolder(name=f"Sortie {sortie.number} ({sortie.dock.id})")
        folder.description = (
            f"{sortie.length_m / 1000:.2f} km, {sortie.duration_s / 60:.1f} min, "
            f"{sortie.photo_count} photos; targets: {', '.join(sortie.targets)}"
        )
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


def write_kml(patrol: Patrol, path: str | Path) -> Path:
    """Write :func:`patrol_kml` to ``path``."""
    return write_atomic(path, patrol_kml(patrol).kml())
