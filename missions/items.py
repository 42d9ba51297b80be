"""The in-memory mission model shared by the planner, the exporters and the flight layer.

Items mirror MAVLink's MISSION_ITEM_INT field for field, so that what the
planner writes is exactly what goes over the wire: positions are integer
degrees * 1e7 (no float32 metre loss), altitude is a float in metres in the
item's frame. Item 0 of a mission is home, as ArduPilot stores it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import IntEnum

from pymavlink.dialects.v20 import ardupilotmega as mavlink


class MissionType(IntEnum):
    """MAV_MISSION_TYPE: mission, fence and rally are separate lists on the vehicle."""

    MISSION = mavlink.MAV_MISSION_TYPE_MISSION
    FENCE = mavlink.MAV_MISSION_TYPE_FENCE
    RALLY = mavlink.MAV_MISSION_TYPE_RALLY


def to_e7(degrees: float) -> int:
    """Degrees to MAVLink's integer 1e-7 degrees, rounded (not truncated)."""
    return round(degrees * 1e7)


def from_e7(value: int) -> float:
    """MAVLink's integer 1e-7 degrees back to degrees."""
    return value / 1e7


@dataclass(frozen=True, slots=True)
class MissionItem:
    """One MISSION_ITEM_INT, without the target system/component.

    ``x``/``y`` are latitude/longitude in 1e-7 degrees for global frames (0 for
    commands with no position); ``z`` is altitude in metres in ``frame``.
    """

    seq: int
    frame: int
    command: int
    param1: float = 0.0
    param2: float = 0.0
    param3: float = 0.0
    param4: float = 0.0
    x: int = 0
    y: int = 0
    z: float = 0.0
    current: int = 0
    autocontinue: int = 1
    mission_type: MissionType = MissionType.MISSION

    @property
    def lat(self) -> float:
        return from_e7(self.x)

    @property
    def lon(self) -> float:
        return from_e7(self.y)

    @property
    def has_position(self) -> bool:
        """True when x/y/z are a place the vehicle goes or looks at."""
        return self.command in POSITION_COMMANDS

    def with_seq(self, seq: int) -> MissionItem:
        return replace(self, seq=seq)


POSITION_COMMANDS = frozenset(
    {
        mavlink.MAV_CMD_NAV_WAYPOINT,
        mavlink.MAV_CMD_NAV_TAKEOFF,
        mavlink.MAV_CMD_NAV_LAND,
        mavlink.MAV_CMD_NAV_LOITER_TURNS,
        mavlink.MAV_CMD_NAV_LOITER_TIME,
        mavlink.MAV_CMD_NAV_LOITER_UNLIM,
        mavlink.MAV_CMD_NAV_SPLINE_WAYPOINT,
        mavlink.MAV_CMD_DO_SET_ROI,
        mavlink.MAV_CMD_DO_SET_ROI_LOCATION,
        mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
        mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION,
        mavlink.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION,
        mavlink.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION,
        mavlink.MAV_CMD_NAV_FENCE_RETURN_POINT,
        mavlink.MAV_CMD_NAV_RALLY_POINT,
    }
)


@dataclass(frozen=True, slots=True)
class Mission:
    """A vehicle's mission, fence and rally lists, as uploaded together.

    ``items[0]`` is home (ArduPilot overwrites it with its own home on upload
    and returns it on download); fence and rally lists have no home item.
    ``params`` are the vehicle parameters the plan relies on (fence switched
    on, its ceiling, the failsafe return altitude...): the flight sets and
    reads them back before arming, because a fence uploaded but not enabled,
    or an RTL altitude under a stack, breaks the plan's promises.
    """

    items: tuple[MissionItem, ...]
    fence: tuple[MissionItem, ...] = ()
    rally: tuple[MissionItem, ...] = ()
    name: str = ""
    params: dict[str, float] = field(default_factory=dict, compare=False)
    metadata: dict[str, object] = field(default_factory=dict, compare=False)

    @property
    def home(self) -> MissionItem:
        return self.items[0]
