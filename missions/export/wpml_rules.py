"""DJI WPML element rules as data, and a validator that holds a file to them.

Every rule is transcribed from DJI's published WPML documentation (Cloud API,
"DJI WPML" chapter; the Chinese pages are the complete ones):

- waylines.wpml: https://developer.dji.com/doc/cloud-api-tutorial/cn/api-reference/dji-wpml/waylines-wpml.html
- template.kml: https://developer.dji.com/doc/cloud-api-tutorial/cn/api-reference/dji-wpml/template-kml.html
- common elements: https://developer.dji.com/doc/cloud-api-tutorial/cn/api-reference/dji-wpml/common-element.html
- aircraft and camera enumerations: https://developer.dji.com/doc/cloud-api-tutorial/cn/overview/product-support.html

Each table row there gives an element's parent, type, unit, values or range
and whether it is required ("必需元素"), sometimes only when a sibling has a
given value ("当且仅当 ... 时必需"). The rules below keep those columns: a
rule names the element, its kind, its allowed values or closed range, its unit
(for the reader; the file carries no units) and when it is required. Only the
elements EcoPatrol writes, and those their tables make required, are listed:
the validator checks required children, enum values and ranges, and refuses a
child that is not a number where a number is due.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

KML_NS = "http://www.opengis.net/kml/2.2"
WPML_NS = "http://www.dji.com/wpmz/1.0.2"
WPML_NS_PREFIX = "http://www.dji.com/wpmz/"


@dataclass(frozen=True)
class Rule:
    """One child element as DJI's tables describe it.

    ``kind``: ``int``, ``float``, ``bool`` (0/1), ``enum``, ``str``, ``latlonh``
    (``lat,lon,height``), ``list`` (comma-separated enum values) or ``group``
    (an element with children). ``required_if`` is ``(sibling, values)``: the
    element is required when that sibling's text is one of ``values``.
    """

    name: str
    kind: str
    required: bool = False
    values: tuple[str, ...] = ()
    lo: float | None = None
    hi: float | None = None
    unit: str = ""
    required_if: tuple[str, tuple[str, ...]] | None = None


#: Drone type/sub-type pairs (product-support page, "飞行器/遥控器/机场枚举值").
DRONE_ENUMS = {
    "Matrice 350 RTK": (89, 0),
    "Matrice 300 RTK": (60, 0),
    "Matrice 30": (67, 0),
    "Matrice 30T": (67, 1),
    "Matrice 3D": (91, 0),
    "Matrice 3TD": (91, 1),
    "Matrice 4D": (100, 0),
    "Matrice 4TD": (100, 1),
}
#: Payload types (product-support page, "相机枚举值", the ``type`` of type-subtype-gimbalindex).
PAYLOAD_ENUMS = {
    "Zenmuse H20": 42,
    "Zenmuse H20T": 43,
    "Zenmuse H20N": 61,
    "Zenmuse H30": 82,
    "Zenmuse H30T": 83,
    "Matrice 30 Camera": 52,
    "Matrice 30T Camera": 53,
    "Matrice 3D Camera": 80,
    "Matrice 3TD Camera": 81,
    "Matrice 4D Camera": 98,
    "Matrice 4TD Camera": 99,
}
LENSES = ("wide", "zoom", "ir", "narrow_band", "visable")  # "visable" is DJI's spelling
TRIGGERS = ("reachPoint", "betweenAdjacentPoints", "multipleTiming", "multipleDistance")
HEADING_MODES = ("followWayline", "manually", "fixed", "smoothTransition", "towardPOI")
TURN_MODES = (
    "coordinateTurn",
    "toPointAndStopWithDiscontinuityCurvature",
    "toPointAndStopWithContinuityCurvature",
    "toPointAndPassWithContinuityCurvature",
)
ACTUATORS = (
    "takePhoto",
    "startRecord",
    "stopRecord",
    "focus",
    "zoom",
    "customDirName",
    "gimbalRotate",
    "rotateYaw",
    "hover",
    "gimbalEvenlyRotate",
    "accurateShoot",
    "orientedShoot",
    "panoShot",
    "recordPointCloud",
)

_MISSION_CONFIG = (
    Rule("flyToWaylineMode", "enum", True, ("safely", "pointToPoint")),
    Rule("finishAction", "enum", True, ("goHome", "noAction", "autoLand", "gotoFirstWaypoint")),
    Rule("exitOnRCLost", "enum", True, ("goContinue", "executeLostAction")),
    Rule(
        "executeRCLostAction",
        "enum",
        values=("goBack", "landing", "hover"),
        required_if=("exitOnRCLost", ("executeLostAction",)),
    ),
    # dock range [8, 1500]; the remote-controller range starts at 1.2
    Rule("takeOffSecurityHeight", "float", True, lo=1.2, hi=1500, unit="m above take-off"),
    Rule("globalTransitionalSpeed", "float", True, lo=1, hi=15, unit="m/s"),
    Rule("globalRTHHeight", "float", True, lo=2, hi=1500, unit="m above take-off"),
    Rule("droneInfo", "group", True),
    Rule("payloadInfo", "group"),
)
_DRONE_INFO = (
    Rule("droneEnumValue", "int", True, tuple(str(t) for t, _ in DRONE_ENUMS.values())),
    Rule(
        "droneSubEnumValue",
        "int",
        values=("0", "1", "2", "3"),
        required_if=("droneEnumValue", ("67",)),
    ),
)
_PAYLOAD_INFO = (
    Rule("payloadEnumValue", "int", True, tuple(str(v) for v in PAYLOAD_ENUMS.values())),
    Rule("payloadPositionIndex", "int", True, ("0", "1", "2")),
)
_COMMON_FOLDER = (
    Rule("templateId", "int", True, lo=0, hi=65535),
    Rule("autoFlightSpeed", "float", True, lo=1, hi=15, unit="m/s"),
)
_WAYLINES_FOLDER = (
    *_COMMON_FOLDER,
    Rule("waylineId", "int", True, lo=0, hi=65535),
    Rule(
        "executeHeightMode",
        "enum",
        True,
        ("WGS84", "relativeToStartPoint", "realTimeFollowSurface"),
    ),
)
_TEMPLATE_FOLDER = (
    *_COMMON_FOLDER,
    Rule("templateType", "enum", True, ("waypoint", "mapping2d", "mapping3d", "mappingStrip")),
    Rule("waylineCoordinateSysParam", "group", True),
    Rule("globalWaypointTurnMode", "enum", True, TURN_MODES),
    Rule("gimbalPitchMode", "enum", True, ("manual", "usePointSetting")),
    Rule("globalHeight", "float", True, unit="m above take-off"),
    Rule("globalWaypointHeadingParam", "group"),
)
_COORDINATE_SYS = (
    Rule("coordinateMode", "enum", True, ("WGS84",)),
    Rule(
        "heightMode",
        "enum",
        True,
        ("EGM96", "relativeToStartPoint", "aboveGroundLevel", "realTimeFollowSurface"),
    ),
    Rule("positioningType", "enum", values=("GPS", "RTKBaseStation", "QianXun", "Custom")),
)
_PLACEMARK_COMMON = (
    Rule("Point", "group", True),
    Rule("index", "int", True, lo=0, hi=65535),
)
_WAYLINES_PLACEMARK = (
    *_PLACEMARK_COMMON,
    Rule("executeHeight", "float", True, unit="m in executeHeightMode's frame"),
    # required unless useGlobalSpeed is 1; waylines.wpml has no useGlobalSpeed, so always
    Rule("waypointSpeed", "float", True, lo=1, hi=15, unit="m/s"),
    Rule("waypointHeadingParam", "group", True),
    Rule("waypointTurnParam", "group", True),
)
_TEMPLATE_PLACEMARK = (
    *_PLACEMARK_COMMON,
    Rule("useGlobalHeight", "bool", True),
    Rule(
        "ellipsoidHeight",
        "float",
        unit="m, WGS84 ellipsoid",
        required_if=("useGlobalHeight", ("0",)),
    ),
    Rule(
        "height", "float", unit="m in heightMode's frame", required_if=("useGlobalHeight", ("0",))
    ),
    Rule("useGlobalSpeed", "bool", True),
    Rule("waypointSpeed", "float", lo=1, hi=15, unit="m/s", required_if=("useGlobalSpeed", ("0",))),
    Rule("useGlobalHeadingParam", "bool", True),
    Rule("waypointHeadingParam", "group", required_if=("useGlobalHeadingParam", ("0",))),
    Rule("useGlobalTurnParam", "bool", True),
    Rule("waypointTurnParam", "group", required_if=("useGlobalTurnParam", ("0",))),
)
_HEADING = (
    Rule("waypointHeadingMode", "enum", True, HEADING_MODES),
    Rule(
        "waypointHeadingAngle",
        "float",
        lo=-180,
        hi=180,
        unit="deg from true north",
        required_if=("waypointHeadingMode", ("smoothTransition",)),
    ),
    Rule("waypointPoiPoint", "latlonh", required_if=("waypointHeadingMode", ("towardPOI",))),
    Rule(
        "waypointHeadingPathMode", "enum", True, ("clockwise", "counterClockwise", "followBadArc")
    ),
)
_TURN = (
    Rule("waypointTurnMode", "enum", True, TURN_MODES),
    Rule(
        "waypointTurnDampingDist",
        "float",
        lo=0,
        unit="m",
        required_if=("waypointTurnMode", ("coordinateTurn",)),
    ),
)
_ACTION_GROUP = (
    Rule("actionGroupId", "int", True, lo=0, hi=65535),
    Rule("actionGroupStartIndex", "int", True, lo=0, hi=65535),
    Rule("actionGroupEndIndex", "int", True, lo=0, hi=65535),
    Rule("actionGroupMode", "enum", True, ("sequence",)),
    Rule("actionTrigger", "group", True),
    Rule("action", "group", True),
)
_TRIGGER = (
    Rule("actionTriggerType", "enum", True, TRIGGERS),
    Rule(
        "actionTriggerParam",
        "float",
        lo=1e-9,
        unit="s or m",
        required_if=("actionTriggerType", ("multipleTiming", "multipleDistance")),
    ),
)
_ACTION = (
    Rule("actionId", "int", True, lo=0, hi=65535),
    Rule("actionActuatorFunc", "enum", True, ACTUATORS),
    Rule("actionActuatorFuncParam", "group", True),
)
#: Parameters of the two actuators EcoPatrol writes, by ``actionActuatorFunc``.
ACTUATOR_PARAMS = {
    "takePhoto": (
        Rule("payloadPositionIndex", "int", True, ("0", "1", "2")),
        Rule("fileSuffix", "str", True),
        Rule("payloadLensIndex", "list", True, LENSES),
        Rule("useGlobalPayloadLensIndex", "bool", True),
    ),
    "gimbalRotate": (
        Rule("payloadPositionIndex", "int", True, ("0", "1", "2")),
        Rule("gimbalHeadingYawBase", "enum", True, ("north",)),
        Rule("gimbalRotateMode", "enum", True, ("absoluteAngle",)),
        Rule("gimbalPitchRotateEnable", "bool", True),
        Rule("gimbalPitchRotateAngle", "float", True, lo=-120, hi=45, unit="deg"),
        Rule("gimbalRollRotateEnable", "bool", True),
        Rule("gimbalRollRotateAngle", "float", True, unit="deg"),
        Rule("gimbalYawRotateEnable", "bool", True),
        Rule("gimbalYawRotateAngle", "float", True, unit="deg"),
        Rule("gimbalRotateTimeEnable", "bool", True),
        Rule("gimbalRotateTime", "float", True, lo=0, unit="s"),
    ),
}

#: Rules by file and parent element (local name).
RULES: dict[str, dict[str, tuple[Rule, ...]]] = {
    "waylines.wpml": {
        "missionConfig": _MISSION_CONFIG,
        "droneInfo": _DRONE_INFO,
        "payloadInfo": _PAYLOAD_INFO,
        "Folder": _WAYLINES_FOLDER,
        "Placemark": _WAYLINES_PLACEMARK,
        "waypointHeadingParam": _HEADING,
        "waypointTurnParam": _TURN,
        "actionGroup": _ACTION_GROUP,
        "actionTrigger": _TRIGGER,
        "action": _ACTION,
    },
    "template.kml": {
        "missionConfig": _MISSION_CONFIG,
        "droneInfo": _DRONE_INFO,
        "payloadInfo": _PAYLOAD_INFO,
        "Folder": _TEMPLATE_FOLDER,
        "waylineCoordinateSysParam": _COORDINATE_SYS,
        "Placemark": _TEMPLATE_PLACEMARK,
        "waypointHeadingParam": _HEADING,
        "globalWaypointHeadingParam": _HEADING,
        "waypointTurnParam": _TURN,
        "actionGroup": _ACTION_GROUP,
        "actionTrigger": _TRIGGER,
        "action": _ACTION,
    },
}


def local(tag: str) -> str:
    """An element's name without its namespace."""
    return tag.rsplit("}", 1)[-1]


def validate(root: ET.Element, file: str) -> list[str]:
    """Every way ``root`` (a parsed ``waylines.wpml`` or ``template.kml``) breaks the rules.

    Returns one line per problem, ``[]`` for a file that keeps them all.
    """
    rules = RULES[file]
    problems: list[str] = []
    if root.tag != f"{{{KML_NS}}}kml":
        problems.append(f"{file}: root element is {root.tag}, not KML's <kml>")
    for parent in root.iter():
        name = local(parent.tag)
        if name in rules:
            problems += _check(parent, rules[name], f"{file}: <{name}>")
        if name == "action":
            problems += _check_actuator(parent, file)
    return problems


def _check_actuator(action: ET.Element, file: str) -> list[str]:
    func = _child_text(action, "actionActuatorFunc")
    params = next((c for c in action if local(c.tag) == "actionActuatorFuncParam"), None)
    if func not in ACTUATOR_PARAMS or params is None:
        return []
    return _check(params, ACTUATOR_PARAMS[func], f"{file}: <{func}>")


def _child_text(parent: ET.Element, name: str) -> str | None:
    for child in parent:
        if local(child.tag) == name:
            return (child.text or "").strip()
    return None


def _check(parent: ET.Element, rules: tuple[Rule, ...], where: str) -> list[str]:
    problems = []
    for rule in rules:
        text = _child_text(parent, rule.name)
        if text is None:
            if _required(parent, rule):
                problems.append(f"{where}: required <wpml:{rule.name}> is missing")
            continue
        problem = _value_problem(rule, text)
        if problem:
            problems.append(f"{where}: <wpml:{rule.name}> {problem}")
    return problems


def _required(parent: ET.Element, rule: Rule) -> bool:
    if rule.required:
        return True
    if rule.required_if is None:
        return False
    sibling, values = rule.required_if
    return _child_text(parent, sibling) in values


def _value_problem(rule: Rule, text: str) -> str | None:
    """Why ``text`` is not a value ``rule`` allows, or None."""
    if rule.kind in ("group", "str"):
        return None
    if rule.kind == "list":
        bad = [v for v in text.split(",") if v not in rule.values]
        return f"has {', '.join(bad)!s}, not among {', '.join(rule.values)}" if bad else None
    if rule.kind == "latlonh":
        return _latlonh_problem(text)
    if rule.kind == "enum":
        return None if text in rule.values else f"is {text!r}, not one of {', '.join(rule.values)}"
    return _number_problem(rule, text)


def _number_problem(rule: Rule, text: str) -> str | None:
    try:
        value = float(text) if rule.kind == "float" else int(text)
    except ValueError:
        return f"is {text!r}, not {'a number' if rule.kind == 'float' else 'an integer'}"
    if rule.kind == "bool" and value not in (0, 1):
        return f"is {text}, not 0 or 1"
    if rule.values and text not in rule.values:
        return f"is {text}, not one of {', '.join(rule.values)}"
    if (rule.lo is not None and value < rule.lo) or (rule.hi is not None and value > rule.hi):
        return f"is {text} {rule.unit}, outside [{rule.lo}, {rule.hi}]".replace(" ,", ",")
    return None


def _latlonh_problem(text: str) -> str | None:
    try:
        lat, lon, _ = (float(v) for v in text.split(","))
    except ValueError:
        return f"is {text!r}, not lat,lon,height"
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return f"is {text!r}: latitude or longitude out of range"
    return None
