"""Parameters for EcoPatrol's SITL copter: the defaults file and the boot-time set.

The defaults file (``copter.parm`` beside this module) is the project's own,
not ArduPilot's test defaults. Camera and mount drivers are chosen at boot, and
a value given only in a defaults file can be reset at first boot, so
:data:`BOOT_PARAMS` is set over MAVLink and followed by a reboot.
"""

from __future__ import annotations

from pathlib import Path

DEFAULTS_FILE = Path(__file__).with_name("copter.parm")

#: Servo camera on output 9 (SERVO9_FUNCTION 10 = camera trigger) so that
#: DO_SET_CAM_TRIGG_DIST produces CAMERA_FEEDBACK; a servo gimbal on outputs
#: 10-12 (mount roll 8, tilt 7, pan 6) that reports its body-frame servo
#: outputs (``AP_Mount_Servo``), with a tilt that turns 45 degrees past
#: straight down (MNT1_PITCH_MIN -135; ArduPilot's default -90 would leave the
#: camera looking forward of nadir by the vehicle's nose-up pitch whenever it
#: brakes); Dijkstra path planning around the fence's exclusion polygons and
#: circles (OA_TYPE 2), which ArduCopter sets up only at boot and which a
#: plan's parameters ask for (``Vehicle.apply_params`` never writes it).
BOOT_PARAMS: dict[str, float] = {
    "OA_TYPE": 2,
    "CAM1_TYPE": 1,
    "SERVO9_FUNCTION": 10,
    "MNT1_TYPE": 1,
    "SERVO10_FUNCTION": 8,
    "SERVO11_FUNCTION": 7,
    "SERVO12_FUNCTION": 6,
    "MNT1_PITCH_MIN": -135,
    "MNT1_PITCH_MAX": 20,
    "MNT1_YAW_MIN": -180,
    "MNT1_YAW_MAX": 180,
}


def write_defaults(path: Path, overrides: dict[str, float] | None = None) -> Path:
    """The project's defaults with ``overrides`` appended (later lines win)."""
    text = DEFAULTS_FILE.read_text(encoding="utf-8")
    if overrides:
        text += "\n# overrides for this instance\n"
        text += "".join(f"{name} {value:g}\n" for name, value in overrides.items())
    path.write_text(text, encoding="utf-8")
    return path
