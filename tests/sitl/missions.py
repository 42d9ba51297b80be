"""Small hand-built missions near the SITL home, for quick flights."""

from __future__ import annotations

import math

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.items import Mission, MissionItem, to_e7
from sitl.instance import Home

REL = mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT
CMD = mavlink.MAV_FRAME_MISSION


def offset(home: Home, north_m: float, east_m: float) -> tuple[int, int]:
    lat = home.lat + north_m / 111_320.0
    lon = home.lon + east_m / (111_320.0 * math.cos(math.radians(home.lat)))
    return to_e7(lat), to_e7(lon)


def box_mission(
    home: Home, *, side_m: float = 150.0, alt_m: float = 30.0, trigger_m: float = 15.0
) -> Mission:
    """Take off, photograph a square with the camera pointing down, RTL."""
    items: list[MissionItem] = [
        MissionItem(0, mavlink.MAV_FRAME_GLOBAL, mavlink.MAV_CMD_NAV_WAYPOINT,
                    x=to_e7(home.lat), y=to_e7(home.lon), z=home.alt_amsl_m),
        MissionItem(1, REL, mavlink.MAV_CMD_NAV_TAKEOFF, z=alt_m),
        MissionItem(2, CMD, mavlink.MAV_CMD_DO_MOUNT_CONTROL, param1=-90, z=2),
        MissionItem(3, CMD, mavlink.MAV_CMD_DO_SET_CAM_TRIGG_DIST, param1=trigger_m, param3=1),
    ]  # fmt: skip
    for north, east in ((side_m, 0), (side_m, side_m), (0, side_m), (0, 0)):
        x, y = offset(home, north, east)
        items.append(MissionItem(len(items), REL, mavlink.MAV_CMD_NAV_WAYPOINT, x=x, y=y, z=alt_m))
    items.append(MissionItem(len(items), CMD, mavlink.MAV_CMD_DO_SET_CAM_TRIGG_DIST))
    items.append(MissionItem(len(items), REL, mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH))
    return Mission(items=tuple(items), name="box")


def long_mission(home: Home, count: int) -> Mission:
    """``count`` items including home: a zig-zag of waypoints (capacity and speed tests)."""
    items = [
        MissionItem(0, mavlink.MAV_FRAME_GLOBAL, mavlink.MAV_CMD_NAV_WAYPOINT,
                    x=to_e7(home.lat), y=to_e7(home.lon), z=home.alt_amsl_m),
        MissionItem(1, REL, mavlink.MAV_CMD_NAV_TAKEOFF, z=30),
    ]  # fmt: skip
    while len(items) < count:
        i = len(items)
        x, y = offset(home, 5.0 * (i // 2), 40.0 * (i % 2))
        items.append(MissionItem(i, REL, mavlink.MAV_CMD_NAV_WAYPOINT, x=x, y=y, z=30 + i % 7))
    return Mission(items=tuple(items), name=f"{count} items")


def fast_survey_mission(
    home: Home,
    *,
    leg_m: float = 300.0,
    spacing_m: float = 60.0,
    alt_m: float = 40.0,
    speed_m_s: float = 15.0,
    trigger_m: float = 4.0,
) -> Mission:
    """Two fast survey legs joined by a turn, camera down, a photo every ``trigger_m``.

    At ``speed_m_s`` the copter leans well over: nose down to speed up and
    into the drag, nose up to brake at each leg's end, rolled through the turn.
    DO_CHANGE_SPEED holds for this mission only (AUTO starts at WPNAV_SPEED).
    The gimbal is pointed down before the take-off, and every photo is a
    distance trigger (no "trigger now"), taken in a mount update's loop.
    """
    items: list[MissionItem] = [
        MissionItem(0, mavlink.MAV_FRAME_GLOBAL, mavlink.MAV_CMD_NAV_WAYPOINT,
                    x=to_e7(home.lat), y=to_e7(home.lon), z=home.alt_amsl_m),
        MissionItem(1, CMD, mavlink.MAV_CMD_DO_MOUNT_CONTROL, param1=-90, z=2),
        MissionItem(2, REL, mavlink.MAV_CMD_NAV_TAKEOFF, z=alt_m),
        MissionItem(3, CMD, mavlink.MAV_CMD_DO_CHANGE_SPEED, param1=1, param2=speed_m_s,
                    param3=-1),
        MissionItem(4, CMD, mavlink.MAV_CMD_DO_SET_CAM_TRIGG_DIST, param1=trigger_m),
    ]  # fmt: skip
    for north, east in ((leg_m, 0.0), (leg_m, spacing_m), (0.0, spacing_m)):
        x, y = offset(home, north, east)
        items.append(MissionItem(len(items), REL, mavlink.MAV_CMD_NAV_WAYPOINT, x=x, y=y, z=alt_m))
    items.append(MissionItem(len(items), CMD, mavlink.MAV_CMD_DO_SET_CAM_TRIGG_DIST))
    items.append(MissionItem(len(items), REL, mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH))
    return Mission(items=tuple(items), name="fast survey")
