"""QGroundControl ``.plan`` files: mission, geofence and rally points in one JSON.

Written as QGC writes a plan for ArduPilot (``firmwareType`` 3): home goes in
``plannedHomePosition`` (item 0 of our missions), every other item is a
``SimpleItem`` whose seven ``params`` are the MAVLink parameters with
latitude/longitude in degrees. QGC writes NaN parameters as ``null``; they read
back as NaN. Positions are written with all their digits, so reading a plan
gives back exactly the integer 1e-7 degree positions that were written.

The vehicle parameters the plan relies on (``Mission.params``) go in a
top-level ``vehicleParameters`` object, ``{"FENCE_ENABLE": 1, ...}``: QGC
ignores keys it does not know, and ``ecopatrol fly`` sets them before arming.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.errors import PlanFormatError
from missions.export.files import read_text, write_atomic
from missions.export.params import check_params
from missions.geofence import fence_items, fence_shapes, rally_items
from missions.items import Mission, MissionItem, from_e7, to_e7

FIRMWARE_ARDUPILOT = mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA
VEHICLE_QUADROTOR = mavlink.MAV_TYPE_QUADROTOR


def plan_dict(
    mission: Mission, *, cruise_speed_m_s: float = 10.0, hover_speed_m_s: float = 5.0
) -> dict[str, Any]:
    """The ``.plan`` JSON document for ``mission``."""
    home = mission.home
    polygons, circles = fence_shapes(mission.fence)
    return {
        "fileType": "Plan",
        "version": 1,
        "groundStation": "EcoPatrol",
        "mission": {
            "version": 2,
            "firmwareType": FIRMWARE_ARDUPILOT,
            "vehicleType": VEHICLE_QUADROTOR,
            "cruiseSpeed": cruise_speed_m_s,
            "hoverSpeed": hover_speed_m_s,
            "plannedHomePosition": [from_e7(home.x), from_e7(home.y), home.z],
            "items": [_item(item) for item in mission.items[1:]],
        },
        "geoFence": {
            "version": 2,
            "polygons": [
                {"inclusion": inclusion, "polygon": [list(p) for p in ring], "version": 1}
                for inclusion, ring in polygons
            ],
            "circles": [
                {
                    "circle": {"center": list(center), "radius": radius},
                    "inclusion": inclusion,
                    "version": 1,
                }
                for inclusion, center, radius in circles
            ],
        },
        "rallyPoints": {
            "version": 2,
            "points": [[from_e7(r.x), from_e7(r.y), r.z] for r in mission.rally],
        },
        "vehicleParameters": {name: _json_number(v) for name, v in mission.params.items()},
    }


def _json_number(value: float) -> int | float:
    """Whole values as JSON integers (``"FENCE_ENABLE": 1``), others as they are."""
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else float(value)


def write_plan(
    mission: Mission,
    path: str | Path,
    *,
    cruise_speed_m_s: float = 10.0,
    hover_speed_m_s: float = 5.0,
) -> Path:
    """Write ``mission`` (with its fence and rally lists) as a QGC ``.plan`` file."""
    doc = plan_dict(mission, cruise_speed_m_s=cruise_speed_m_s, hover_speed_m_s=hover_speed_m_s)
    return write_atomic(path, json.dumps(doc, indent=2, allow_nan=False) + "\n")


def read_plan(path: str | Path) -> Mission:
    """Read a QGC ``.plan`` file back into a :class:`Mission` named after the file."""
    path = Path(path)
    text = read_text(path, PlanFormatError)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanFormatError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    try:
        return parse_plan(doc, name=path.stem)
    except PlanFormatError as exc:
        raise PlanFormatError(f"{path}: {exc}") from None


def parse_plan(doc: object, *, name: str = "") -> Mission:
    """A decoded ``.plan`` document as a :class:`Mission`."""
    if not isinstance(doc, Mapping) or doc.get("fileType") != "Plan":
        raise PlanFormatError("not a QGroundControl plan (fileType is not 'Plan')")
    mission = doc.get("mission")
    if not isinstance(mission, Mapping):
        raise PlanFormatError("no 'mission' section")
    home = mission.get("plannedHomePosition")
    if not (isinstance(home, list) and len(home) == 3 and all(_number(v) for v in home)):
        raise PlanFormatError("'plannedHomePosition' must be [lat, lon, alt]")
    items = [
        MissionItem(
            seq=0,
            frame=mavlink.MAV_FRAME_GLOBAL,
            command=mavlink.MAV_CMD_NAV_WAYPOINT,
            x=to_e7(home[0]),
            y=to_e7(home[1]),
            z=float(home[2]),
        )
    ]
    raw_items = mission.get("items", [])
    if not isinstance(raw_items, list):
        raise PlanFormatError("'mission.items' must be a list")
    for index, raw in enumerate(raw_items):
        items.append(_parse_item(raw, seq=len(items), index=index))
    fence: tuple[MissionItem, ...] = ()
    geofence = doc.get("geoFence")
    if isinstance(geofence, Mapping):
        polygons = []
        for k, poly in enumerate(geofence.get("polygons", [])):
            ring = poly.get("polygon") if isinstance(poly, Mapping) else None
            if not isinstance(ring, list) or len(ring) < 3 or not all(_latlon(p) for p in ring):
                raise PlanFormatError(f"geoFence polygon #{k} needs at least 3 [lat, lon] points")
            polygons.append((bool(poly.get("inclusion", True)), [(p[0], p[1]) for p in ring]))
        circles = []
        for k, circ in enumerate(geofence.get("circles", [])):
            body = circ.get("circle") if isinstance(circ, Mapping) else None
            if (
                not isinstance(body, Mapping)
                or not _latlon(body.get("center"))
                or not _number(body.get("radius"))
            ):
                raise PlanFormatError(f"geoFence circle #{k} needs a center and a radius")
            center = body["center"]
            circles.append(
                (bool(circ.get("inclusion", True)), (center[0], center[1]), float(body["radius"]))
            )
        fence = fence_items(polygons, circles)
    rally: tuple[MissionItem, ...] = ()
    rally_doc = doc.get("rallyPoints")
    if isinstance(rally_doc, Mapping):
        points = rally_doc.get("points", [])
        if not isinstance(points, list) or not all(
            isinstance(p, list) and len(p) == 3 and all(_number(v) for v in p) for p in points
        ):
            raise PlanFormatError("rallyPoints.points must be [lat, lon, alt] triples")
        rally = rally_items([(p[0], p[1], p[2]) for p in points])
    params = check_params(doc.get("vehicleParameters", {}))
    return Mission(items=tuple(items), fence=fence, rally=rally, name=name, params=params)


def _item(item: MissionItem) -> dict[str, Any]:
    params = [
        item.param1,
        item.param2,
        item.param3,
        item.param4,
        from_e7(item.x),
        from_e7(item.y),
        item.z,
    ]
    return {
        "type": "SimpleItem",
        "autoContinue": bool(item.autocontinue),
        "command": item.command,
        "doJumpId": item.seq,
        "frame": item.frame,
        "params": [None if math.isnan(p) else p for p in params],
    }


def _parse_item(raw: object, *, seq: int, index: int) -> MissionItem:
    where = f"mission item #{index}"
    if not isinstance(raw, Mapping):
        raise PlanFormatError(f"{where} is not an object")
    kind = raw.get("type")
    if kind == "ComplexItem":
        raise PlanFormatError(
            f"{where} is a QGC complex item ({raw.get('complexItemType')}); "
            "only flattened missions (SimpleItem) can be imported"
        )
    if kind != "SimpleItem":
        raise PlanFormatError(f"{where} has unknown type {kind!r}")
    params = raw.get("params")
    if not isinstance(params, list) or len(params) != 7:
        raise PlanFormatError(f"{where} needs 7 params")
    if not all(p is None or _number(p) for p in params):
        raise PlanFormatError(f"{where} has a non-numeric parameter")
    values = [math.nan if p is None else float(p) for p in params]
    command, frame = raw.get("command"), raw.get("frame")
    if not isinstance(command, int) or not isinstance(frame, int):
        raise PlanFormatError(f"{where} needs integer 'command' and 'frame'")
    return MissionItem(
        seq=seq,
        frame=frame,
        command=command,
        param1=values[0],
        param2=values[1],
        param3=values[2],
        param4=values[3],
        x=0 if math.isnan(values[4]) else to_e7(values[4]),
        y=0 if math.isnan(values[5]) else to_e7(values[5]),
        z=values[6],
        autocontinue=int(bool(raw.get("autoContinue", True))),
    )


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _latlon(value: object) -> bool:
    return isinstance(value, list) and len(value) >= 2 and _number(value[0]) and _number(value[1])
