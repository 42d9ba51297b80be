"""QGC WPL 110 ``.waypoints`` files (Mission Planner, MAVProxy, pymavlink's mavwp).

One tab-separated line per item, home first::

    seq current frame command param1 param2 param3 param4 lat lon alt autocontinue

Unlike ``mavwp.save`` (which rounds to six decimals, about 10 cm), positions
are written with seven decimals, the exact value of MAVLink's integer 1e-7
degrees, and parameters with all their digits, so reading gives the same items.
Only the mission list is stored: fence and rally have their own files.
"""

from __future__ import annotations

import math
from pathlib import Path

from missions.errors import PlanFormatError
from missions.export.files import read_text, write_atomic
from missions.items import Mission, MissionItem, to_e7

HEADER = "QGC WPL 110"


def waypoints_text(mission: Mission) -> str:
    """The ``.waypoints`` text for ``mission``'s items."""
    lines = [HEADER]
    for item in mission.items:
        fields = [
            str(item.seq),
            str(item.current),
            str(item.frame),
            str(item.command),
            *(_num(v) for v in (item.param1, item.param2, item.param3, item.param4)),
            f"{item.x / 1e7:.7f}",
            f"{item.y / 1e7:.7f}",
            _num(item.z),
            str(item.autocontinue),
        ]
        lines.append("\t".join(fields))
    return "\n".join(lines) + "\n"


def write_waypoints(mission: Mission, path: str | Path) -> Path:
    """Write ``mission``'s items as a QGC WPL 110 file."""
    return write_atomic(path, waypoints_text(mission))


def read_waypoints(path: str | Path) -> Mission:
    """Read a QGC WPL 110 file into a :class:`Mission` named after the file."""
    path = Path(path)
    text = read_text(path, PlanFormatError)
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if not lines or lines[0].strip() != HEADER:
        raise PlanFormatError(f"{path}: not a '{HEADER}' file")
    items: list[MissionItem] = []
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split()
        if len(fields) != 12:
            raise PlanFormatError(f"{path}: line {number} has {len(fields)} fields, expected 12")
        try:
            seq, current, frame, command = (int(v) for v in fields[:4])
            p1, p2, p3, p4, lat, lon, alt = (float(v) for v in fields[4:11])
            autocontinue = int(fields[11])
        except ValueError:
            raise PlanFormatError(f"{path}: line {number} has a non-numeric field") from None
        if seq != len(items):
            raise PlanFormatError(f"{path}: line {number} has seq {seq}, expected {len(items)}")
        items.append(
            MissionItem(
                seq=seq,
                frame=frame,
                command=command,
                param1=p1,
                param2=p2,
                param3=p3,
                param4=p4,
                x=to_e7(lat),
                y=to_e7(lon),
                z=alt,
                current=current,
                autocontinue=autocontinue,
            )
        )
    if not items:
        raise PlanFormatError(f"{path}: no items (a mission needs at least home)")
    return Mission(items=tuple(items), name=path.stem)


def _num(value: float) -> str:
    if math.isnan(value):
        return "nan"
    return repr(float(value))
