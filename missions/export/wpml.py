"""A sortie as DJI WPML: one KMZ (``wpmz/template.kml`` + ``wpmz/waylines.wpml``) per sortie.

Written against DJI's published WPML documentation (the Cloud API's "DJI
WPML" chapter; element rules in :mod:`missions.export.wpml_rules`), not a
library: the one package on PyPI (``djikmz`` 0.1.0, a single release) is not
kept up. The sortie's MAVLink mission is translated item by item, so the
wayline is the MAVLink route itself:

- NAV_TAKEOFF and every NAV_WAYPOINT become waypoints in order (the take-off
  one straight above the dock at the take-off height), NAV_LAND at the dock
  the finish action ``autoLand``, RETURN_TO_LAUNCH ``goHome``.
- DO_CHANGE_SPEED sets the speed from the waypoint before it on
  (``waypointSpeed`` is the speed towards the next waypoint, as ArduPilot runs
  a DO item on reaching the waypoint before it).
- DO_MOUNT_CONTROL's pitch becomes a ``gimbalRotate`` at that waypoint. Both
  are earth-frame pitch: degrees from the horizon, negative down (ArduPilot's
  MAVLink targeting is horizon-locked; DJI's ``absoluteAngle``).
- DO_SET_ROI_LOCATION turns the heading ``towardPOI`` from that waypoint until
  DO_SET_ROI_NONE. DJI yaws the aircraft only, so the gimbal is also pitched
  at the point of interest from the first waypoint of the leg (an orbit ring is
  level around its stack, so that pitch holds the whole ring).
- DO_SET_CAM_TRIGG_DIST(d) ... (0) becomes an action group triggered
  ``multipleDistance`` every d metres over those waypoints; "trigger now"
  adds a photo on reaching the first.

Heights are in the model above take-off (the dock); see
:mod:`missions.export.wpml_heights` for the file frames. What WPML cannot say
(the geofence, rally points, ArduPilot's failsafe parameters, DJI's own
return path) is listed by :func:`limitations` and written beside the KMZ.
"""

from __future__ import annotations

import io
import math
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.export.files import write_atomic
from missions.export.wpml_heights import Geoid, WpmlError
from missions.export.wpml_rules import KML_NS, WPML_NS, validate
from missions.geo import distance_m
from missions.items import Mission, MissionItem

Finish = Literal["goHome", "autoLand", "noAction", "gotoFirstWaypoint"]
#: DJI's dock range for the safe take-off height (waylines.wpml, takeOffSecurityHeight).
TAKEOFF_SECURITY_M = (8.0, 1500.0)
SPEED_RANGE_M_S = (1.0, 15.0)
RELATIVE_FRAMES = frozenset(
    {mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT, mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT}
)
AMSL_FRAMES = frozenset({mavlink.MAV_FRAME_GLOBAL, mavlink.MAV_FRAME_GLOBAL_INT})
TURN_MODE = "toPointAndStopWithDiscontinuityCurvature"  # straight legs, as the plan flies


@dataclass(frozen=True)
class DroneModel:
    """A DJI aircraft and payload as WPML names them (product-support enumerations)."""

    key: str
    label: str
    drone: int
    drone_sub: int
    payload: int
    lenses: str  # payloadLensIndex / imageFormat: which lenses each photo stores


DRONES = {
    d.key: d
    for d in (
        DroneModel("m30t", "Matrice 30T", 67, 1, 53, "wide,ir"),
        DroneModel("m3td", "Matrice 3TD (DJI Dock 2)", 91, 1, 81, "visable,ir"),
        DroneModel("m4td", "Matrice 4TD (DJI Dock 3)", 100, 1, 99, "visable,ir"),
        DroneModel("m350-h20t", "Matrice 350 RTK + Zenmuse H20T", 89, 0, 43, "wide,ir"),
        DroneModel("m350-h30t", "Matrice 350 RTK + Zenmuse H30T", 89, 0, 83, "wide,ir"),
    )
}


@dataclass(frozen=True)
class Waypoint:
    """One WPML waypoint; heights in metres above the take-off point (the dock).

    ``speed_m_s`` is the speed from here to the next waypoint; ``poi`` (lat,
    lon, height above take-off) turns the heading towards it on that leg;
    ``gimbal_pitch_deg`` (earth frame, negative down) and ``photo`` are actions
    on reaching the waypoint.
    """

    lat: float
    lon: float
    height_m: float
    speed_m_s: float
    poi: tuple[float, float, float] | None = None
    gimbal_pitch_deg: float | None = None
    photo: bool = False


@dataclass(frozen=True)
class DistanceShots:
    """Photos every ``interval_m`` metres from waypoint ``first`` to ``last`` (indices)."""

    first: int
    last: int
    interval_m: float


@dataclass(frozen=True)
class Wayline:
    """A sortie as WPML expresses it; heights above take-off.

    ``takeoff`` is the take-off point (lat, lon, ground altitude AMSL) when known.
    """

    waypoints: tuple[Waypoint, ...]
    shots: tuple[DistanceShots, ...] = ()
    takeoff_height_m: float = 20.0
    rth_height_m: float = 60.0
    transit_speed_m_s: float = 10.0
    finish: Finish = "goHome"
    drone: DroneModel | None = None
    takeoff: tuple[float, float, float] | None = None
    unsupported: tuple[str, ...] = field(default=(), compare=False)


# -- mission -> wayline ------------------------------------------------------


@dataclass
class _Walk:
    """The state of a walk through a mission's items."""

    home_alt_amsl_m: float
    speed_m_s: float
    points: list[Waypoint] = field(default_factory=list)
    shots: list[DistanceShots] = field(default_factory=list)
    shots_from: tuple[int, float] | None = None
    poi: tuple[float, float, float] | None = None
    finish: Finish = "noAction"
    unsupported: list[str] = field(default_factory=list)

    def height(self, item: MissionItem) -> float:
        """The item's altitude above take-off (the dock, home)."""
        if item.command == mavlink.MAV_CMD_NAV_TAKEOFF or item.frame in RELATIVE_FRAMES:
            return float(item.z)
        if item.frame in AMSL_FRAMES:
            return float(item.z) - self.home_alt_amsl_m
        raise WpmlError(
            f"item {item.seq}: altitude frame {item.frame} has no WPML equivalent "
            "(only above take-off or absolute)"
        )

    def amend_last(self, **changes: object) -> None:
        """Change the last waypoint: a DO item acts on the waypoint before it."""
        if not self.points:
            raise WpmlError("the mission has a DO command before its first waypoint")
        self.points[-1] = replace(self.points[-1], **changes)  # type: ignore[arg-type]


def wayline_from_mission(
    mission: Mission,
    *,
    home_alt_amsl_m: float,
    cruise_speed_m_s: float | None = None,
    drone: DroneModel | None = None,
) -> Wayline:
    """The WPML wayline that flies ``mission`` (see the module docstring for the mapping).

    Parameters
    ----------
    mission : Mission
        A sortie's items; item 0 is home at the dock.
    home_alt_amsl_m : float
        The dock's ground altitude AMSL (``Dock.ground_alt_m``): absolute
        altitudes minus this are heights above take-off.
    cruise_speed_m_s : float, optional
        The speed before the first DO_CHANGE_SPEED, and DJI's transit speed;
        by default the first DO_CHANGE_SPEED's (each sortie sets its cruise
        speed right after take-off).
    """
    if cruise_speed_m_s is None:
        cruise_speed_m_s = _first_speed(mission)
    walk = _Walk(home_alt_amsl_m, cruise_speed_m_s)
    for item in mission.items[1:]:
        _step(walk, item)
    if walk.shots_from is not None:
        raise WpmlError("the camera trigger is still on when the mission ends")
    if not walk.points:
        raise WpmlError("the mission has no waypoint")
    home = mission.home
    return Wayline(
        waypoints=tuple(walk.points),
        shots=tuple(walk.shots),
        takeoff_height_m=_takeoff_height(walk.points[0]),
        rth_height_m=_rth_height(mission, walk.points),
        transit_speed_m_s=_speed(cruise_speed_m_s),
        finish=walk.finish,
        drone=drone,
        takeoff=(home.lat, home.lon, home_alt_amsl_m),
        unsupported=tuple(walk.unsupported),
    )


def _first_speed(mission: Mission) -> float:
    for item in mission.items:
        if item.command == mavlink.MAV_CMD_DO_CHANGE_SPEED:
            return float(item.param2)
    raise WpmlError("the mission sets no speed: give the cruise speed")


def _takeoff_height(first: Waypoint) -> float:
    lo, hi = TAKEOFF_SECURITY_M
    return min(max(first.height_m, lo), hi)


def _rth_height(mission: Mission, points: Sequence[Waypoint]) -> float:
    """ArduPilot's RTL_ALT (cm above home) as DJI's return height; else the highest waypoint."""
    rtl_cm = mission.params.get("RTL_ALT")
    height = rtl_cm / 100.0 if rtl_cm else max(p.height_m for p in points)
    return round(min(max(height, 2.0), 1500.0), 2)


def _speed(speed_m_s: float) -> float:
    lo, hi = SPEED_RANGE_M_S
    if not lo <= speed_m_s <= hi:
        raise WpmlError(f"speed {speed_m_s:g} m/s is outside WPML's {lo:g}..{hi:g} m/s")
    return round(speed_m_s, 2)


def _step(walk: _Walk, item: MissionItem) -> None:
    """Apply one mission item to the walk."""
    cmd = item.command
    if cmd in (mavlink.MAV_CMD_NAV_TAKEOFF, mavlink.MAV_CMD_NAV_WAYPOINT):
        point = Waypoint(item.lat, item.lon, round(walk.height(item), 2), _speed(walk.speed_m_s))
        walk.points.append(replace(point, poi=walk.poi))
    elif cmd == mavlink.MAV_CMD_DO_CHANGE_SPEED:
        walk.speed_m_s = float(item.param2)
        walk.amend_last(speed_m_s=_speed(walk.speed_m_s))
    elif cmd == mavlink.MAV_CMD_DO_MOUNT_CONTROL:
        walk.amend_last(gimbal_pitch_deg=round(float(item.param1), 2))
    elif cmd == mavlink.MAV_CMD_DO_SET_ROI_LOCATION:
        walk.poi = (item.lat, item.lon, round(walk.height(item), 2))
        walk.amend_last(poi=walk.poi, gimbal_pitch_deg=_pitch_at(walk.points[-1], walk.poi))
    elif cmd == mavlink.MAV_CMD_DO_SET_ROI_NONE:
        walk.poi = None
        walk.amend_last(poi=None)
    elif cmd == mavlink.MAV_CMD_DO_SET_CAM_TRIGG_DIST:
        _trigger(walk, float(item.param1), now=bool(item.param3))
    else:
        _finish(walk, item)


def _finish(walk: _Walk, item: MissionItem) -> None:
    if item.command == mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH:
        walk.finish = "goHome"
    elif item.command == mavlink.MAV_CMD_NAV_LAND:
        last = walk.points[-1] if walk.points else None
        if last is None or distance_m(last.lat, last.lon, item.lat, item.lon) > 0.5:
            raise WpmlError(f"item {item.seq}: NAV_LAND away from the last waypoint")
        walk.finish = "autoLand"
    else:
        walk.unsupported.append(f"item {item.seq}: MAVLink command {item.command}")


def _trigger(walk: _Walk, interval_m: float, *, now: bool) -> None:
    here = len(walk.points) - 1
    if interval_m > 0:
        walk.shots_from = (here, interval_m)
        if now:
            walk.amend_last(photo=True)
        return
    if walk.shots_from is not None:
        first, interval = walk.shots_from
        if here > first:
            walk.shots.append(DistanceShots(first, here, round(interval, 3)))
        walk.shots_from = None


def _pitch_at(point: Waypoint, poi: tuple[float, float, float]) -> float:
    """Earth-frame gimbal pitch (deg, negative down) from ``point`` to the point of interest."""
    distance = distance_m(point.lat, point.lon, poi[0], poi[1])
    return round(math.degrees(math.atan2(poi[2] - point.height_m, max(distance, 0.01))), 2)


# -- wayline -> XML ----------------------------------------------------------


def _sub(parent: ET.Element, name: str, text: object = None) -> ET.Element:
    element = ET.SubElement(parent, f"{{{WPML_NS}}}{name}")
    if text is not None:
        element.text = _fmt(text)
    return element


def _fmt(value: object) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".") if value == round(value, 2) else repr(value)
    return str(value)


def _mission_config(parent: ET.Element, line: Wayline) -> None:
    config = _sub(parent, "missionConfig")
    _sub(config, "flyToWaylineMode", "safely")
    _sub(config, "finishAction", line.finish)
    # on a lost link DJI flies on along the checked route and returns at its end
    # (goContinue); its immediate goBack would fly straight home, unchecked
    _sub(config, "exitOnRCLost", "goContinue")
    _sub(config, "executeRCLostAction", "goBack")
    _sub(config, "takeOffSecurityHeight", line.takeoff_height_m)
    _sub(config, "globalTransitionalSpeed", line.transit_speed_m_s)
    _sub(config, "globalRTHHeight", line.rth_height_m)
    drone = line.drone or DRONES["m3td"]
    info = _sub(config, "droneInfo")
    _sub(info, "droneEnumValue", drone.drone)
    _sub(info, "droneSubEnumValue", drone.drone_sub)
    payload = _sub(config, "payloadInfo")
    _sub(payload, "payloadEnumValue", drone.payload)
    _sub(payload, "payloadPositionIndex", 0)


def _heading(parent: ET.Element, point: Waypoint, name: str = "waypointHeadingParam") -> None:
    heading = _sub(parent, name)
    _sub(heading, "waypointHeadingMode", "towardPOI" if point.poi else "followWayline")
    if point.poi:
        lat, lon, height = point.poi
        _sub(heading, "waypointPoiPoint", f"{lat:.7f},{lon:.7f},{height:.2f}")
    _sub(heading, "waypointHeadingPathMode", "followBadArc")


def _turn(parent: ET.Element) -> None:
    turn = _sub(parent, "waypointTurnParam")
    _sub(turn, "waypointTurnMode", TURN_MODE)
    _sub(turn, "waypointTurnDampingDist", 0)


class _Groups:
    """Action groups of one file, numbered from 0 in the order written."""

    def __init__(self, lenses: str) -> None:
        self.next_id = 0
        self.lenses = lenses

    def group(
        self, parent: ET.Element, first: int, last: int, trigger: tuple[str, float | None]
    ) -> ET.Element:
        """An action group on waypoints ``first``..``last`` with its trigger (kind, parameter)."""
        group = _sub(parent, "actionGroup")
        _sub(group, "actionGroupId", self.next_id)
        self.next_id += 1
        _sub(group, "actionGroupStartIndex", first)
        _sub(group, "actionGroupEndIndex", last)
        _sub(group, "actionGroupMode", "sequence")
        kind, param = trigger
        trig = _sub(group, "actionTrigger")
        _sub(trig, "actionTriggerType", kind)
        if param is not None:
            _sub(trig, "actionTriggerParam", param)
        return group

    def photo(self, group: ET.Element, action_id: int, suffix: str) -> None:
        """A takePhoto storing the aircraft's lenses; ``suffix`` ends the file names."""
        params = _action(group, action_id, "takePhoto")
        _sub(params, "payloadPositionIndex", 0)
        _sub(params, "fileSuffix", suffix)
        _sub(params, "payloadLensIndex", self.lenses)
        _sub(params, "useGlobalPayloadLensIndex", 0)


def _action(group: ET.Element, action_id: int, func: str) -> ET.Element:
    action = _sub(group, "action")
    _sub(action, "actionId", action_id)
    _sub(action, "actionActuatorFunc", func)
    return _sub(action, "actionActuatorFuncParam")


def _gimbal(group: ET.Element, action_id: int, pitch_deg: float) -> None:
    params = _action(group, action_id, "gimbalRotate")
    _sub(params, "payloadPositionIndex", 0)
    _sub(params, "gimbalHeadingYawBase", "north")
    _sub(params, "gimbalRotateMode", "absoluteAngle")
    for axis, enable, angle in (("Pitch", 1, pitch_deg), ("Roll", 0, 0.0), ("Yaw", 0, 0.0)):
        _sub(params, f"gimbal{axis}RotateEnable", enable)
        _sub(params, f"gimbal{axis}RotateAngle", angle)
    _sub(params, "gimbalRotateTimeEnable", 0)
    _sub(params, "gimbalRotateTime", 0)


def _actions(placemark: ET.Element, line: Wayline, index: int, groups: _Groups) -> None:
    """The waypoint's own actions (gimbal, one photo), then distance shots starting here."""
    point = line.waypoints[index]
    if point.gimbal_pitch_deg is not None or point.photo:
        group = groups.group(placemark, index, index, ("reachPoint", None))
        action_id = 0
        if point.gimbal_pitch_deg is not None:
            _gimbal(group, action_id, point.gimbal_pitch_deg)
            action_id += 1
        if point.photo:
            groups.photo(group, action_id, f"wp{index}")
    for shots in line.shots:
        if shots.first == index:
            group = groups.group(
                placemark, shots.first, shots.last, ("multipleDistance", shots.interval_m)
            )
            groups.photo(group, 0, f"leg{shots.first}")


@dataclass(frozen=True)
class _Heights:
    """A waypoint's height in the file frames (see :mod:`missions.export.wpml_heights`)."""

    execute_m: float  # waylines.wpml executeHeight
    template_m: float  # template.kml height (above take-off, or EGM96)
    ellipsoid_m: float  # template.kml ellipsoidHeight


def _heights(line: Wayline, point: Waypoint, geoid: Geoid | None) -> _Heights:
    if geoid is None:
        return _Heights(point.height_m, point.height_m, point.height_m)
    if line.takeoff is None:
        raise WpmlError("absolute heights need the take-off point's altitude")
    amsl = line.takeoff[2] + point.height_m
    ellipsoid = round(geoid.to_ellipsoid(point.lon, point.lat, amsl), 3)
    return _Heights(ellipsoid, round(amsl, 3), ellipsoid)


def _placemark(
    folder: ET.Element,
    line: Wayline,
    index: int,
    *,
    template: bool,
    heights: _Heights,
    groups: _Groups,
) -> None:
    """One waypoint; template.kml's carries its ``useGlobal*`` switches, all off."""
    point = line.waypoints[index]
    placemark = ET.SubElement(folder, f"{{{KML_NS}}}Placemark")
    point_element = ET.SubElement(placemark, f"{{{KML_NS}}}Point")
    coords = ET.SubElement(point_element, f"{{{KML_NS}}}coordinates")
    coords.text = f"{point.lon:.7f},{point.lat:.7f}"
    _sub(placemark, "index", index)
    if template:
        _sub(placemark, "useGlobalHeight", 0)
        _sub(placemark, "ellipsoidHeight", heights.ellipsoid_m)
        _sub(placemark, "height", heights.template_m)
        _sub(placemark, "useGlobalSpeed", 0)
    else:
        _sub(placemark, "executeHeight", heights.execute_m)
    _sub(placemark, "waypointSpeed", point.speed_m_s)
    if template:
        _sub(placemark, "useGlobalHeadingParam", 0)
    _heading(placemark, point)
    if template:
        _sub(placemark, "useGlobalTurnParam", 0)
    _turn(placemark)
    _actions(placemark, line, index, groups)


def _root() -> tuple[ET.Element, ET.Element]:
    root = ET.Element(f"{{{KML_NS}}}kml")
    return root, ET.SubElement(root, f"{{{KML_NS}}}Document")


def waylines_xml(line: Wayline, geoid: Geoid | None = None) -> ET.Element:
    """``waylines.wpml``: what the aircraft executes."""
    root, doc = _root()
    _mission_config(doc, line)
    folder = ET.SubElement(doc, f"{{{KML_NS}}}Folder")
    _sub(folder, "templateId", 0)
    _sub(folder, "executeHeightMode", "relativeToStartPoint" if geoid is None else "WGS84")
    _sub(folder, "waylineId", 0)
    _sub(folder, "autoFlightSpeed", line.transit_speed_m_s)
    groups = _Groups((line.drone or DRONES["m3td"]).lenses)
    for k, point in enumerate(line.waypoints):
        heights = _heights(line, point, geoid)
        _placemark(folder, line, k, template=False, heights=heights, groups=groups)
    return root


def template_xml(line: Wayline, geoid: Geoid | None = None, *, time_ms: int = 0) -> ET.Element:
    """``template.kml``: the waypoint template DJI Pilot 2 and FlightHub 2 reopen and edit."""
    root, doc = _root()
    _sub(doc, "author", "EcoPatrol")
    _sub(doc, "createTime", time_ms)
    _sub(doc, "updateTime", time_ms)
    _mission_config(doc, line)
    folder = ET.SubElement(doc, f"{{{KML_NS}}}Folder")
    _sub(folder, "templateType", "waypoint")
    _sub(folder, "templateId", 0)
    system = _sub(folder, "waylineCoordinateSysParam")
    _sub(system, "coordinateMode", "WGS84")
    _sub(system, "heightMode", "relativeToStartPoint" if geoid is None else "EGM96")
    _sub(system, "positioningType", "GPS")
    _sub(folder, "autoFlightSpeed", line.transit_speed_m_s)
    _sub(folder, "globalHeight", _heights(line, line.waypoints[0], geoid).template_m)
    _sub(folder, "caliFlightEnable", 0)
    _sub(folder, "gimbalPitchMode", "manual")
    _heading(folder, replace(line.waypoints[0], poi=None), "globalWaypointHeadingParam")
    _sub(folder, "globalWaypointTurnMode", TURN_MODE)
    _sub(folder, "globalUseStraightLine", 1)
    payload = _sub(folder, "payloadParam")
    _sub(payload, "payloadPositionIndex", 0)
    _sub(payload, "imageFormat", (line.drone or DRONES["m3td"]).lenses)
    groups = _Groups((line.drone or DRONES["m3td"]).lenses)
    for k, point in enumerate(line.waypoints):
        heights = _heights(line, point, geoid)
        _placemark(folder, line, k, template=True, heights=heights, groups=groups)
    return root


def _xml_bytes(root: ET.Element) -> bytes:
    ET.register_namespace("", KML_NS)
    ET.register_namespace("wpml", WPML_NS)
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)


def kmz_bytes(line: Wayline, geoid: Geoid | None = None, *, time_ms: int = 0) -> bytes:
    """The KMZ archive: ``wpmz/template.kml`` and ``wpmz/waylines.wpml``, both validated."""
    files = {
        "template.kml": template_xml(line, geoid, time_ms=time_ms),
        "waylines.wpml": waylines_xml(line, geoid),
    }
    problems = [p for name, root in files.items() for p in validate(root, name)]
    if problems:
        raise WpmlError(f"the WPML breaks DJI's rules: {problems[0]}")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, root in files.items():
            info = zipfile.ZipInfo(f"wpmz/{name}", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, _xml_bytes(root))
    return buffer.getvalue()


def limitations(mission: Mission, line: Wayline) -> list[str]:
    """What the plan holds that the KMZ does not: one line each."""
    notes = []
    if mission.fence:
        notes.append(
            "geofence: WPML has no geofence; the inclusion polygon and the no-fly exclusions "
            "of the .plan are not in the KMZ (set custom flight areas in FlightHub 2)"
        )
    if mission.rally:
        notes.append("rally points: WPML has none; DJI returns to the dock only")
    if line.finish == "goHome":
        notes.append(
            f"return: DJI's return-to-home climbs to {line.rth_height_m:g} m above take-off and "
            "flies straight to the dock; it does not route around no-fly areas as the plan's "
            "checked ArduPilot return does"
        )
    notes.append(
        "link loss: the aircraft flies on along the route and returns at its end (goContinue); "
        "ArduPilot returns once the link has been lost for FS_GCS_TIMEOUT"
    )
    notes.append(
        f"turns: the aircraft stops at each of the {len(line.waypoints)} waypoints to keep the "
        "planned straight legs (ArduPilot rounds its corners), so the sortie takes longer"
    )
    params = sorted(k for k in mission.params if k != "RTL_ALT")
    if params:
        notes.append(f"vehicle parameters: {', '.join(params)} have no WPML element")
    if line.shots:
        notes.append(
            "photos: distance-interval shooting; DJI does not document whether the first photo "
            "is at the leg's start, ArduPilot's comes one interval after it"
        )
    if any(p.poi for p in line.waypoints):
        notes.append(
            "orbits: DJI's towardPOI turns the aircraft only; the gimbal is pitched at the "
            "stack once per ring"
        )
    notes += [f"not exported: {u}" for u in line.unsupported]
    return notes


def write_wpml(
    mission: Mission,
    path: str | Path,
    *,
    home_alt_amsl_m: float,
    cruise_speed_m_s: float,
    drone: DroneModel,
    geoid: Geoid | None = None,
    time_ms: int = 0,
) -> tuple[Path, list[str]]:
    """Write the sortie's KMZ to ``path`` and its limits beside it (:func:`note_path`).

    Returns the KMZ's path and the limitations (also in the note file).
    """
    path = Path(path)
    line = wayline_from_mission(
        mission, home_alt_amsl_m=home_alt_amsl_m, cruise_speed_m_s=cruise_speed_m_s, drone=drone
    )
    data = kmz_bytes(line, geoid, time_ms=time_ms)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    notes = limitations(mission, line)
    header = f"{path.name}: what this WPML route cannot express (the MAVLink plan has it)\n"
    write_atomic(note_path(path), header + "".join(f"- {n}\n" for n in notes))
    return path, notes


def note_path(kmz: Path) -> Path:
    """The note file beside a KMZ: ``sortie-1.kmz`` -> ``sortie-1.wpml-limits.txt``."""
    return kmz.with_name(f"{kmz.stem}.wpml-limits.txt")
