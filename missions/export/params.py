"""A sortie's vehicle parameters as a QGroundControl parameter file (``sortie-N.params``).

The file is what QGroundControl writes from its parameter page and loads back
(Mission Planner reads it too)::

    # Onboard parameters for Vehicle 1
    #
    # Vehicle-Id Component-Id Name Value Type
    1	1	FENCE_ALT_MAX	120.000000000000000000	9
    1	1	FENCE_ENABLE	1	2

one tab-separated row per parameter, the last column its MAV_PARAM_TYPE.
QGroundControl refuses the whole file when the vehicle id is not the
vehicle's system id (ArduPilot's default is 1), and skips a row whose type
is not the type the vehicle reports for that parameter: :data:`PARAM_TYPES`
holds ArduCopter's types for the parameters EcoPatrol plans with (from the
firmware's ``AP_Int8``/``AP_Int16``/``AP_Int32``/``AP_Float`` declarations);
any other parameter is written as REAL32. Floats are written with 18 decimals
of their float32 value and integers as integers, as QGroundControl writes them.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Mapping
from pathlib import Path

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.errors import PlanFormatError
from missions.export.files import read_text, write_atomic
from missions.items import Mission

INT8 = mavlink.MAV_PARAM_TYPE_INT8
INT16 = mavlink.MAV_PARAM_TYPE_INT16
INT32 = mavlink.MAV_PARAM_TYPE_INT32
REAL32 = mavlink.MAV_PARAM_TYPE_REAL32

#: MAV_PARAM_TYPE of the ArduCopter parameters a plan may rely on (ArduPilot 4.7).
PARAM_TYPES: dict[str, int] = {
    # AC_Fence (libraries/AC_Fence/AC_Fence.h)
    "FENCE_ENABLE": INT8,
    "FENCE_TYPE": INT8,
    "FENCE_ACTION": INT8,
    "FENCE_AUTOENABLE": INT8,
    "FENCE_OPTIONS": INT16,
    "FENCE_ALT_MAX": REAL32,
    "FENCE_ALT_MIN": REAL32,
    "FENCE_RADIUS": REAL32,
    "FENCE_MARGIN": REAL32,
    # ArduCopter/Parameters.h
    "RTL_ALT": INT32,
    "RTL_SPEED": INT16,
    "RTL_CONE_SLOPE": REAL32,
    "RTL_ALT_FINAL": INT16,
    "RTL_CLIMB_MIN": INT16,
    "RTL_LOIT_TIME": INT32,
    "RTL_ALT_TYPE": INT8,
    "RTL_OPTIONS": INT32,
    "FS_GCS_ENABLE": INT8,
    "FS_GCS_TIMEOUT": REAL32,
    "FS_OPTIONS": INT32,
    "GUID_OPTIONS": INT32,
    # AP_OAPathPlanner, AP_Rally, AC_Avoid, AC_WPNav, GCS
    "OA_TYPE": INT8,
    "OA_MARGIN_MAX": REAL32,
    "OA_OPTIONS": INT16,
    "RALLY_INCL_HOME": INT8,
    "RALLY_LIMIT_KM": REAL32,
    "AVOID_ENABLE": INT8,
    "AVOID_MARGIN": REAL32,
    "WPNAV_SPEED": REAL32,
    "MAV_GCS_SYSID": INT16,
}

#: What a MAVLink parameter name may be: up to 16 of A-Z, 0-9 and _.
PARAM_NAME = re.compile(r"[A-Z0-9_]{1,16}")

_HEADER = "# Vehicle-Id Component-Id Name Value Type"


def param_type(name: str) -> int:
    """The MAV_PARAM_TYPE written for ``name``: ArduCopter's, or REAL32 when not known."""
    return PARAM_TYPES.get(name, REAL32)


def check_params(raw: object, *, where: str = "vehicleParameters") -> dict[str, float]:
    """``raw`` as ``{NAME: value}``, or ``PlanFormatError`` naming the first bad entry.

    Names are MAVLink parameter names (A-Z, 0-9 and _, up to 16 characters),
    values finite numbers.
    """
    if not isinstance(raw, Mapping):
        raise PlanFormatError(f"{where} must be an object of NAME: value")
    params: dict[str, float] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not PARAM_NAME.fullmatch(name):
            raise PlanFormatError(
                f"{where}: {name!r} is not a parameter name (A-Z, 0-9 and _, up to 16 characters)"
            )
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise PlanFormatError(f"{where}.{name} must be a finite number, not {value!r}")
        params[name] = float(value)
    return params


def _float32(value: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


def _value_text(name: str, value: float) -> str:
    if param_type(name) == REAL32:
        return f"{_float32(value):.18f}"
    if not float(value).is_integer():
        raise ValueError(f"{name} is an integer parameter on ArduCopter, not {value:g}")
    return str(int(value))


def params_text(
    params: Mapping[str, float],
    *,
    vehicle_id: int = 1,
    component_id: int = mavlink.MAV_COMP_ID_AUTOPILOT1,
    title: str = "",
) -> str:
    """The parameter file's text: QGroundControl's header, then one row per parameter by name."""
    checked = check_params(dict(params), where="parameters")
    lines = [
        f"# Onboard parameters for Vehicle {vehicle_id}",
        "#",
        "# Stack: ArduPilot",
        "# Vehicle: Multi-Rotor",
    ]
    if title:
        lines.append(f"# {title}")
    lines += ["#", _HEADER]
    for name in sorted(checked):
        value = _value_text(name, checked[name])
        lines.append(f"{vehicle_id}\t{component_id}\t{name}\t{value}\t{param_type(name)}")
    return "\n".join(lines) + "\n"


def write_params(mission: Mission, path: str | Path, *, vehicle_id: int = 1) -> Path:
    """Write ``mission.params`` as a QGroundControl ``.params`` file for vehicle ``vehicle_id``.

    Raises ``ValueError`` for a non-integral value of an integer parameter
    (QGroundControl would load it rounded).
    """
    title = "Parameters the plan relies on" + (f" ({mission.name})" if mission.name else "")
    return write_atomic(path, params_text(mission.params, vehicle_id=vehicle_id, title=title))


def read_params(path: str | Path) -> dict[str, float]:
    """A QGroundControl ``.params`` file's parameters (every component's), by name.

    A malformed row raises ``PlanFormatError`` naming its line.
    """
    path = Path(path)
    text = read_text(path, PlanFormatError)
    raw: dict[str, float] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        try:
            if len(fields) != 5:
                raise ValueError
            int(fields[0]), int(fields[1]), int(fields[4])
            raw[fields[2]] = float(fields[3])
        except ValueError:
            raise PlanFormatError(
                f"{path}:{number}: expected 'vehicle component NAME value type' separated by tabs"
            ) from None
    return check_params(raw, where=str(path))
