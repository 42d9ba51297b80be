"""Reading a DJI WPML KMZ (ours, or one made in DJI Pilot 2 or FlightHub 2) back into EcoPatrol.

Only ``wpmz/waylines.wpml`` is read: it is what the aircraft executes
(``template.kml`` is the editable template DJI's tools generate it from). Its
``Folder`` elements are flown one after the other, so their waypoints are
joined in file order. Heights come back above the take-off point:
``relativeToStartPoint`` as they are, ``WGS84`` ellipsoidal heights through the
EGM96 geoid minus the take-off point's AMSL altitude (see
:mod:`missions.export.wpml_heights`); ``realTimeFollowSurface`` is refused,
its heights are above a surface only the aircraft measures. Actions EcoPatrol
has no item for (zoom, hover, yaw turns...) are listed in
``Wayline.unsupported``, not dropped silently.

:func:`mission_from_wayline` turns the wayline into MAVLink mission items
(above home frame) so the planner's checks and maps read it like any plan.
"""

from __future__ import annotations

import io
import math
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.export.wpml import (
    DRONES,
    DistanceShots,
    DroneModel,
    Finish,
    Wayline,
    Waypoint,
)
from missions.export.wpml_heights import Geoid, WpmlError
from missions.export.wpml_rules import local
from missions.geo import distance_m
from missions.items import Mission, MissionItem, to_e7

FINISHES: tuple[Finish, ...] = ("goHome", "autoLand", "noAction", "gotoFirstWaypoint")
RELATIVE = mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT
COMMAND = mavlink.MAV_FRAME_MISSION
#: A first waypoint this close to home is the take-off climb itself.
SAME_PLACE_M = 0.5


def _children(parent: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in parent if local(c.tag) == name]


def _text(parent: ET.Element, name: str, default: str | None = None) -> str:
    found = _children(parent, name)
    if not found:
        if default is None:
            raise WpmlError(f"waylines.wpml: <{local(parent.tag)}> has no <{name}>")
        return default
    return (found[0].text or "").strip()


def _number(parent: ET.Element, name: str, default: float | None = None) -> float:
    text = _text(parent, name, None if default is None else repr(default))
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise WpmlError(f"waylines.wpml: <{name}> is {text!r}, not a number")
    return value


def read_waylines(source: str | Path | bytes) -> ET.Element:
    """The parsed ``wpmz/waylines.wpml`` of a KMZ file (path or bytes)."""
    name = "the KMZ" if isinstance(source, bytes) else str(source)
    try:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            member = next((n for n in archive.namelist() if n.endswith("waylines.wpml")), None)
            if member is None:
                raise WpmlError(f"{name}: no wpmz/waylines.wpml inside")
            return ET.fromstring(archive.read(member))
    except FileNotFoundError:
        raise WpmlError(f"{name}: no such file") from None
    except (OSError, zipfile.BadZipFile) as exc:
        raise WpmlError(f"{name}: not a KMZ archive ({exc})") from None
    except ET.ParseError as exc:
        raise WpmlError(f"{name}: waylines.wpml is not XML ({exc})") from None


@dataclass
class _Heights:
    """How the file's heights become heights above take-off."""

    mode: str
    takeoff_amsl_m: float | None
    geoid: Geoid | None

    def above_takeoff(self, lon: float, lat: float, value: float) -> float:
        """A file height at (lon, lat) as metres above the take-off point."""
        if self.mode == "relativeToStartPoint":
            return value
        if self.mode != "WGS84":
            raise WpmlError(f"waylines.wpml: executeHeightMode {self.mode!r} cannot be checked")
        if self.geoid is None or self.takeoff_amsl_m is None:
            raise WpmlError(
                "waylines.wpml has WGS84 ellipsoid heights: reading them needs an EGM96 geoid "
                "grid (--geoid-grid) and the take-off dock"
            )
        return self.geoid.to_amsl(lon, lat, value) - self.takeoff_amsl_m


@dataclass
class _Read:
    points: list[Waypoint] = field(default_factory=list)
    shots: list[DistanceShots] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)


def wayline_from_kmz(
    source: str | Path | bytes,
    *,
    takeoff_amsl_m: float | None = None,
    geoid: Geoid | None = None,
) -> Wayline:
    """Read a WPML KMZ into a :class:`Wayline` (heights above take-off).

    ``takeoff_amsl_m`` (the dock's ground altitude AMSL) and ``geoid`` are
    needed only for a file in the WGS84 ellipsoid frame.
    """
    doc = next(iter(read_waylines(source)), None)
    if doc is None:
        raise WpmlError("waylines.wpml has no Document")
    config = next(iter(_children(doc, "missionConfig")), None)
    if config is None:
        raise WpmlError("waylines.wpml has no <wpml:missionConfig>")
    read = _Read()
    speed = 0.0
    for folder in _children(doc, "Folder"):
        heights = _Heights(_text(folder, "executeHeightMode"), takeoff_amsl_m, geoid)
        speed = _number(folder, "autoFlightSpeed")
        _read_folder(folder, heights, speed, read)
    if not read.points:
        raise WpmlError("waylines.wpml has no waypoint")
    return _wayline(config, read, speed, takeoff_amsl_m)


def _wayline(config: ET.Element, read: _Read, speed: float, takeoff: float | None) -> Wayline:
    finish = _text(config, "finishAction")
    if finish not in FINISHES:
        raise WpmlError(f"waylines.wpml: finishAction {finish!r} is not one of DJI's")
    highest = max(p.height_m for p in read.points)
    return Wayline(
        waypoints=tuple(read.points),
        shots=tuple(read.shots),
        takeoff_height_m=_number(config, "takeOffSecurityHeight", 20.0),
        rth_height_m=_number(config, "globalRTHHeight", highest),
        transit_speed_m_s=_number(config, "globalTransitionalSpeed", speed),
        finish=finish,
        drone=_drone(config),
        unsupported=tuple(read.unsupported),
    )


def _drone(config: ET.Element) -> DroneModel | None:
    info = next(iter(_children(config, "droneInfo")), None)
    payload = next(iter(_children(config, "payloadInfo")), None)
    if info is None:
        return None
    key = (
        int(_number(info, "droneEnumValue")),
        int(_number(info, "droneSubEnumValue", 0)),
        None if payload is None else int(_number(payload, "payloadEnumValue")),
    )
    return next((d for d in DRONES.values() if (d.drone, d.drone_sub, d.payload) == key), None)


def _read_folder(folder: ET.Element, heights: _Heights, speed: float, read: _Read) -> None:
    offset = len(read.points)
    placemarks = sorted(_children(folder, "Placemark"), key=lambda p: _number(p, "index"))
    for placemark in placemarks:
        read.points.append(_waypoint(placemark, heights, speed))
    for placemark in placemarks:
        for group in _children(placemark, "actionGroup"):
            _action_group(group, offset, read)


def _waypoint(placemark: ET.Element, heights: _Heights, speed: float) -> Waypoint:
    point = next(iter(_children(placemark, "Point")), None)
    if point is None:
        raise WpmlError("waylines.wpml: a Placemark has no Point")
    lat, lon = _lat_lon(_text(point, "coordinates"))
    height = heights.above_takeoff(lon, lat, _number(placemark, "executeHeight"))
    return Waypoint(
        lat=lat,
        lon=lon,
        height_m=round(height, 3),
        speed_m_s=_number(placemark, "waypointSpeed", speed),
        poi=_poi(placemark, heights),
    )


def _lat_lon(text: str) -> tuple[float, float]:
    """(lat, lon) from KML's ``lon,lat[,alt]``; a clear error for anything else."""
    try:
        lon, lat = (float(v) for v in text.split(",")[:2])
    except ValueError:
        raise WpmlError(f"waylines.wpml: coordinates {text[:40]!r} are not lon,lat") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise WpmlError(f"waylines.wpml: coordinates {text[:40]!r} are not lon,lat in degrees")
    return lat, lon


def _poi(placemark: ET.Element, heights: _Heights) -> tuple[float, float, float] | None:
    heading = next(iter(_children(placemark, "waypointHeadingParam")), None)
    if heading is None or _text(heading, "waypointHeadingMode") != "towardPOI":
        return None
    text = _text(heading, "waypointPoiPoint")
    try:
        lat, lon, height = (float(v) for v in text.split(","))
    except ValueError:
        raise WpmlError("waylines.wpml: waypointPoiPoint is not lat,lon,height") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180 and math.isfinite(height)):
        raise WpmlError(f"waylines.wpml: waypointPoiPoint {text[:40]!r} is out of range")
    return lat, lon, height


def _action_group(group: ET.Element, offset: int, read: _Read) -> None:
    first = offset + int(_number(group, "actionGroupStartIndex"))
    last = offset + int(_number(group, "actionGroupEndIndex"))
    if not (0 <= first <= last < len(read.points)):
        raise WpmlError(f"waylines.wpml: action group on waypoints {first}..{last} out of range")
    trigger = next(iter(_children(group, "actionTrigger")), None)
    kind = "reachPoint" if trigger is None else _text(trigger, "actionTriggerType")
    for action in _children(group, "action"):
        func = _text(action, "actionActuatorFunc")
        params = next(iter(_children(action, "actionActuatorFuncParam")), action)
        if kind == "multipleDistance" and func == "takePhoto" and trigger is not None:
            read.shots.append(DistanceShots(first, last, _number(trigger, "actionTriggerParam")))
        elif kind == "reachPoint" and first == last and func == "takePhoto":
            read.points[first] = replace(read.points[first], photo=True)
        elif kind == "reachPoint" and first == last and func == "gimbalRotate":
            _gimbal(params, first, read)
        else:
            read.unsupported.append(f"waypoints {first}..{last}: {func} ({kind})")


def _gimbal(params: ET.Element, index: int, read: _Read) -> None:
    if _text(params, "gimbalPitchRotateEnable", "1") == "1":
        pitch = _number(params, "gimbalPitchRotateAngle")
        read.points[index] = replace(read.points[index], gimbal_pitch_deg=pitch)
    if _text(params, "gimbalYawRotateEnable", "0") == "1":
        read.unsupported.append(f"waypoint {index}: gimbal yaw")


# -- wayline -> MAVLink items -------------------------------------------------


def mission_from_wayline(line: Wayline, *, home: tuple[float, float, float]) -> Mission:
    """MAVLink items flying ``line`` from ``home`` (lat, lon, ground altitude AMSL).

    Waypoints are above home (MAV_FRAME_GLOBAL_RELATIVE_ALT_INT). A first
    waypoint over home is the NAV_TAKEOFF; otherwise NAV_TAKEOFF climbs to the
    wayline's safe take-off height first, as DJI's aircraft do.
    """
    lat, lon, alt = home
    items = [_item(mavlink.MAV_CMD_NAV_WAYPOINT, lat, lon, alt, frame=mavlink.MAV_FRAME_GLOBAL)]
    first = line.waypoints[0]
    over_home = distance_m(lat, lon, first.lat, first.lon) <= SAME_PLACE_M
    if not over_home:
        items.append(_item(mavlink.MAV_CMD_NAV_TAKEOFF, lat, lon, line.takeoff_height_m))
    state = _State(speed=line.transit_speed_m_s)
    for k, point in enumerate(line.waypoints):
        command = mavlink.MAV_CMD_NAV_TAKEOFF if k == 0 and over_home else None
        items += _waypoint_items(line, k, point, state, command)
    items += _finish_items(line, home)
    return Mission(items=tuple(it.with_seq(n) for n, it in enumerate(items)))


@dataclass
class _State:
    speed: float
    poi: tuple[float, float, float] | None = None
    interval_m: float | None = None


def _item(command: int, lat: float, lon: float, z: float, *, frame: int = RELATIVE) -> MissionItem:
    return MissionItem(0, frame, command, x=to_e7(lat), y=to_e7(lon), z=round(z, 2))


def _do(command: int, *params: float) -> MissionItem:
    p = [*params, 0.0, 0.0, 0.0, 0.0][:4]
    return MissionItem(0, COMMAND, command, param1=p[0], param2=p[1], param3=p[2], param4=p[3])


def _waypoint_items(
    line: Wayline, k: int, point: Waypoint, state: _State, command: int | None
) -> list[MissionItem]:
    """The NAV item of waypoint ``k`` and the DO items run on reaching it."""
    items = [_item(command or mavlink.MAV_CMD_NAV_WAYPOINT, point.lat, point.lon, point.height_m)]
    if abs(point.speed_m_s - state.speed) > 1e-6 or k == 0:
        items.append(_do(mavlink.MAV_CMD_DO_CHANGE_SPEED, 1, point.speed_m_s, -1))
        state.speed = point.speed_m_s
    if point.poi != state.poi:
        if point.poi is None:
            items.append(_do(mavlink.MAV_CMD_DO_SET_ROI_NONE))
        else:
            items.append(_item(mavlink.MAV_CMD_DO_SET_ROI_LOCATION, *point.poi))
        state.poi = point.poi
    if point.gimbal_pitch_deg is not None:
        items.append(_do(mavlink.MAV_CMD_DO_MOUNT_CONTROL, point.gimbal_pitch_deg))
    ending = [s for s in line.shots if s.last == k]
    starting = [s for s in line.shots if s.first == k]
    if ending:
        items.append(_do(mavlink.MAV_CMD_DO_SET_CAM_TRIGG_DIST, 0))
    for shots in starting:
        items.append(_do(mavlink.MAV_CMD_DO_SET_CAM_TRIGG_DIST, shots.interval_m, 0, point.photo))
    if point.photo and not starting:
        # param5 (x) 1: take one picture now
        items.append(MissionItem(0, COMMAND, mavlink.MAV_CMD_DO_DIGICAM_CONTROL, x=1))
    return items


def _finish_items(line: Wayline, home: tuple[float, float, float]) -> list[MissionItem]:
    last = line.waypoints[-1]
    if line.finish == "goHome":
        return [_do(mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH)]
    if line.finish == "autoLand":
        return [_item(mavlink.MAV_CMD_NAV_LAND, last.lat, last.lon, 0.0)]
    if line.finish == "gotoFirstWaypoint":
        first = line.waypoints[0]
        return [_item(mavlink.MAV_CMD_NAV_WAYPOINT, first.lat, first.lon, first.height_m)]
    return []


def first_position(source: str | Path | bytes) -> tuple[float, float]:
    """(lat, lon) of a KMZ's first waypoint: where its take-off dock is looked for."""
    for placemark in read_waylines(source).iter():
        if local(placemark.tag) == "Placemark":
            point = next(iter(_children(placemark, "Point")), None)
            if point is not None:
                return _lat_lon(_text(point, "coordinates"))
    raise WpmlError("waylines.wpml has no waypoint")
