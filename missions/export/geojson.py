"""A patrol as GeoJSON: routes, camera legs, planned photo points, footprints, obstacles.

One FeatureCollection for the whole patrol, every feature tagged with a
``layer`` (``route``, ``camera_leg``, ``photo``, ``footprint``, ``no_fly``,
``geofence``, ``dock``, ``obstacle``, ``clearance``) and, when it belongs to
one, its ``sortie``; ready for QGIS or geojson.io. Footprints are drawn for
nadir patterns only (an oblique orbit photo is not a rectangle).

Obstacles (stacks, buildings and masts, no-fly areas with a ceiling) are
Polygon outlines with ``kind: "obstacle"`` and their heights, every altitude
AMSL: ``base_amsl_m`` and ``top_amsl_m`` bound the solid, ``roof_amsl_m`` is
the lowest altitude the plan allows within ``clearance_m`` (horizontal) of the
outline, and ``overflown`` says whether routes may pass over it at all. Each
route carries ``min_clearance_m`` and ``nearest_obstacle`` (None in a zone
without obstacles), the smallest 3-D distance from the route to any obstacle's
solid, and a ``clearance`` Point (lon, lat, altitude AMSL) marks where it is.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from shapely.geometry import Polygon, mapping

from missions.export.files import write_atomic
from missions.geo import LocalFrame
from missions.plan import Patrol, PlannedObstacle

NADIR = frozenset({"survey", "corridor", "perimeter"})


def patrol_geojson(patrol: Patrol) -> dict[str, Any]:
    """The patrol as a GeoJSON FeatureCollection (dict)."""
    features: list[dict[str, Any]] = []
    for lat_lon_ring in (patrol.fence_inclusion,):
        ring = [[lon, lat] for lat, lon in lat_lon_ring]
        features.append(
            _feature({"type": "Polygon", "coordinates": [[*ring, ring[0]]]}, layer="geofence")
        )
    for zone_id, zone_ring in patrol.fence_exclusions:
        ring = [[lon, lat] for lat, lon in zone_ring]
        features.append(
            _feature(
                {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}, layer="no_fly", id=zone_id
            )
        )
    docks = {s.dock.id: s.dock for s in patrol.sorties}
    for dock in docks.values():
        features.append(
            _feature(
                {"type": "Point", "coordinates": [dock.lon, dock.lat]},
                layer="dock",
                id=dock.id,
                ground_alt_m=dock.ground_alt_m,
            )
        )
    features.extend(_obstacle(obstacle) for obstacle in patrol.obstacles)
    frame: LocalFrame | None = None
    footprint_w, footprint_h = patrol.footprint_m
    for sortie in patrol.sorties:
        clearance = sortie.clearance
        features.append(
            _feature(
                {"type": "LineString", "coordinates": _coords(sortie.route)},
                layer="route",
                sortie=sortie.number,
                dock=sortie.dock.id,
                drone=sortie.drone,
                length_m=round(sortie.length_m, 1),
                duration_s=round(sortie.duration_s, 1),
                photo_count=sortie.photo_count,
                targets=list(sortie.targets),
                min_clearance_m=round(clearance.distance_m, 1) if clearance else None,
                nearest_obstacle=clearance.obstacle_id if clearance else None,
            )
        )
        if clearance is not None:
            features.append(
                _feature(
                    {
                        "type": "Point",
                        "coordinates": [
                            round(clearance.lon, 7),
                            round(clearance.lat, 7),
                            round(clearance.alt_amsl_m, 2),
                        ],
                    },
                    layer="clearance",
                    sortie=sortie.number,
                    distance_m=round(clearance.distance_m, 1),
                    obstacle_id=clearance.obstacle_id,
                    alt_amsl_m=round(clearance.alt_amsl_m, 1),
                )
            )
        for target, pattern, lonlat in sortie.camera_legs:
            features.append(
                _feature(
                    {"type": "LineString", "coordinates": _coords(lonlat)},
                    layer="camera_leg",
                    sortie=sortie.number,
                    target=target,
                    pattern=pattern,
                )
            )
        by_leg: dict[int, list[int]] = {}
        for k, photo in enumerate(sortie.photo_points):
            by_leg.setdefault(photo.trigger_seq, []).append(k)
            features.append(
                _feature(
                    {"type": "Point", "coordinates": [photo.lon, photo.lat, photo.alt_m]},
                    layer="photo",
                    sortie=sortie.number,
                    index=k,
                    target=photo.target_id,
                    pattern=photo.pattern,
                    agl_m=photo.agl_m,
                    trigger_seq=photo.trigger_seq,
                )
            )
        for indices in by_leg.values():
            photos = [sortie.photo_points[k] for k in indices]
            if photos[0].pattern not in NADIR:
                continue
            if frame is None:
                frame = LocalFrame(photos[0].lon, photos[0].lat)
            xy = np.array([frame.xy(p.lon, p.lat) for p in photos])
            scale = photos[0].agl_m / patrol.altitude_m
            for k, index in enumerate(indices):
                a = xy[max(k - 1, 0)]
                b = xy[min(k + 1, len(xy) - 1)]
                heading = math.atan2(b[0] - a[0], b[1] - a[1]) if len(xy) > 1 else 0.0
                rect = _rectangle(xy[k], heading, footprint_w * scale, footprint_h * scale)
                features.append(
                    _feature(
                        mapping(frame.to_geo(rect)),
                        layer="footprint",
                        sortie=sortie.number,
                        index=index,
                    )
                )
    return {"type": "FeatureCollection", "features": features}


def write_geojson(patrol: Patrol, path: str | Path) -> Path:
    """Write :func:`patrol_geojson` to ``path``."""
    return write_atomic(path, json.dumps(patrol_geojson(patrol), separators=(",", ":")) + "\n")


def _obstacle(obstacle: PlannedObstacle) -> dict[str, Any]:
    """An obstacle's outline with its heights (AMSL) and the clearance kept from it."""
    outline = obstacle.outline
    rings = [outline.exterior, *outline.interiors]
    return _feature(
        {"type": "Polygon", "coordinates": [_coords(np.asarray(r.coords)) for r in rings]},
        layer="obstacle",
        kind="obstacle",
        obstacle_kind=obstacle.kind,
        id=obstacle.id,
        label=obstacle.label,
        height_m=round(obstacle.height_m, 1),
        base_amsl_m=round(obstacle.base_amsl_m, 1),
        top_amsl_m=round(obstacle.top_amsl_m, 1),
        roof_amsl_m=round(obstacle.roof_amsl_m, 1),
        clearance_m=round(obstacle.horizontal_m, 1),
        overflown=obstacle.overflown,
    )


def _feature(geometry: Any, **properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def _coords(array: np.ndarray) -> list[list[float]]:
    return [
        [round(float(v), 7) if i < 2 else round(float(v), 2) for i, v in enumerate(row)]
        for row in array
    ]


def _rectangle(center: np.ndarray, heading: float, across: float, along: float) -> Polygon:
    """A footprint rectangle (local metres) with its long side ``along`` the heading."""
    u = np.array([math.sin(heading), math.cos(heading)])  # along track
    v = np.array([u[1], -u[0]])  # across track
    corners = [
        center + u * along / 2 + v * across / 2,
        center + u * along / 2 - v * across / 2,
        center - u * along / 2 - v * across / 2,
        center - u * along / 2 + v * across / 2,
    ]
    return Polygon(corners)
