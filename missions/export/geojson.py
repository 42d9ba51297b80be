"""A patrol as GeoJSON: routes, camera legs, planned photo points and footprints.

One FeatureCollection for the whole patrol, every feature tagged with its
``sortie`` and a ``layer`` (``route``, ``camera_leg``, ``photo``, ``footprint``,
``no_fly``, ``geofence``, ``dock``), ready for QGIS or geojson.io. Footprints
are drawn for nadir patterns only (an oblique orbit photo is not a rectangle).
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
from missions.plan import Patrol

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
    frame: LocalFrame | None = None
    footprint_w, footprint_h = patrol.footprint_m
    for sortie in patrol.sorties:
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
