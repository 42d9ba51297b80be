"""Geofence and rally lists as MAVLink items, in the form ArduPilot stores them.

The planner writes these and the ``.plan`` importer rebuilds them with the
same functions, so exporting and importing gives identical items.
"""

from __future__ import annotations

from collections.abc import Sequence

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.items import MissionItem, MissionType, from_e7, to_e7

LatLon = tuple[float, float]

FENCE_FRAME = mavlink.MAV_FRAME_GLOBAL
RALLY_FRAME = mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT


def fence_items(
    polygons: Sequence[tuple[bool, Sequence[LatLon]]],
    circles: Sequence[tuple[bool, LatLon, float]] = (),
) -> tuple[MissionItem, ...]:
    """Fence vertices: ``(inclusion, [(lat, lon), ...])`` polygons, then circles.

    Each vertex carries its polygon's vertex count in param1 (as
    MAV_CMD_NAV_FENCE_POLYGON_VERTEX_* require); rings are not closed.
    """
    items: list[MissionItem] = []
    for inclusion, ring in polygons:
        command = (
            mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION
            if inclusion
            else mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION
        )
        for lat, lon in ring:
            items.append(
                MissionItem(
                    seq=len(items),
                    frame=FENCE_FRAME,
                    command=command,
                    param1=float(len(ring)),
                    x=to_e7(lat),
                    y=to_e7(lon),
                    mission_type=MissionType.FENCE,
                )
            )
    for inclusion, (lat, lon), radius in circles:
        command = (
            mavlink.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION
            if inclusion
            else mavlink.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION
        )
        items.append(
            MissionItem(
                seq=len(items),
                frame=FENCE_FRAME,
                command=command,
                param1=float(radius),
                x=to_e7(lat),
                y=to_e7(lon),
                mission_type=MissionType.FENCE,
            )
        )
    return tuple(items)


def fence_shapes(
    items: Sequence[MissionItem],
) -> tuple[list[tuple[bool, list[LatLon]]], list[tuple[bool, LatLon, float]]]:
    """The polygons and circles described by fence items (inverse of fence_items)."""
    polygons: list[tuple[bool, list[LatLon]]] = []
    circles: list[tuple[bool, LatLon, float]] = []
    remaining = 0
    for item in items:
        latlon = (from_e7(item.x), from_e7(item.y))
        if item.command in (
            mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
            mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION,
        ):
            if remaining == 0:
                inclusion = item.command == mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION
                polygons.append((inclusion, []))
                remaining = int(item.param1)
            polygons[-1][1].append(latlon)
            remaining -= 1
        elif item.command in (
            mavlink.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION,
            mavlink.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION,
        ):
            inclusion = item.command == mavlink.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION
            circles.append((inclusion, latlon, item.param1))
    return polygons, circles


def rally_items(points: Sequence[tuple[float, float, float]]) -> tuple[MissionItem, ...]:
    """Rally points ``(lat, lon, altitude above home in metres)``."""
    return tuple(
        MissionItem(
            seq=k,
            frame=RALLY_FRAME,
            command=mavlink.MAV_CMD_NAV_RALLY_POINT,
            x=to_e7(lat),
            y=to_e7(lon),
            z=float(alt),
            mission_type=MissionType.RALLY,
        )
        for k, (lat, lon, alt) in enumerate(points)
    )
