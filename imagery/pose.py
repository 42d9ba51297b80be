"""Camera pose: where the camera was and where it looked.

Angles are the camera's attitude in the local NED frame, as DJI's gimbal XMP
and the flight manifest give them: ``yaw_deg`` is the bearing of the optical
axis clockwise from north, ``pitch_deg`` is -90 looking straight down and 0
at the horizon, ``roll_deg`` turns the image about the optical axis. At
pitch -90 the top of the image faces ``yaw_deg``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from imagery.errors import PoseError
from missions.manifest import CapturePose

# Default 1-sigma uncertainties of consumer drones, used when the file does not say:
# single-frequency GNSS horizontal (per axis), barometric height above take-off, gimbal
# attitude (about each camera axis).
SIGMA_H_GNSS_M = 2.5
SIGMA_V_BARO_M = 1.5
SIGMA_ATT_GIMBAL_DEG = 1.0
SIGMA_ATT_AIRFRAME_DEG = 3.0

# Camera axes (x right, y down, z optical) expressed in the gimbal body frame (x fwd, y right,
# z down): the optical axis is the body x axis.
_CAM_IN_BODY = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
_NED_TO_ENU = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])


def _rot_zyx(yaw_deg: float, pitch_deg: float, roll_deg: float) -> NDArray[np.float64]:
    """Aerospace Z-Y-X rotation (body to NED)."""
    y, p, r = (math.radians(a) for a in (yaw_deg, pitch_deg, roll_deg))
    cy, sy, cp, sp, cr, sr = (
        math.cos(y),
        math.sin(y),
        math.cos(p),
        math.sin(p),
        math.cos(r),
        math.sin(r),
    )
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1.0]])
    ry = np.array([[cp, 0, sp], [0, 1.0, 0], [-sp, 0, cp]])
    rx = np.array([[1.0, 0, 0], [0, cr, -sr], [0, sr, cr]])
    return rz @ ry @ rx


def camera_to_enu(yaw_deg: float, pitch_deg: float, roll_deg: float) -> NDArray[np.float64]:
    """Rotation taking camera-frame vectors (x right, y down, z optical) to ENU."""
    return _NED_TO_ENU @ _rot_zyx(yaw_deg, pitch_deg, roll_deg) @ _CAM_IN_BODY


def airframe_to_camera_angles(
    heading_deg: float, pitch_deg: float, roll_deg: float
) -> tuple[float, float, float]:
    """Camera yaw/pitch/roll of a nadir camera fixed to an airframe (image top to the nose).

    Fixed-wing mapping drones (senseFly) have no gimbal: the aircraft's pitch and
    roll tilt the view, so the camera angles are the airframe's composed with a
    -90 degree mount.
    """
    r = _rot_zyx(heading_deg, pitch_deg, roll_deg) @ _rot_zyx(0.0, -90.0, 0.0)
    yaw = math.degrees(math.atan2(r[1, 0], r[0, 0]))
    pitch = math.degrees(-math.asin(max(-1.0, min(1.0, r[2, 0]))))
    roll = math.degrees(math.atan2(r[2, 1], r[2, 2]))
    return yaw, pitch, roll


@dataclass(frozen=True, slots=True)
class LaserTarget:
    """The laser rangefinder's measured point (DJI H20T/M30T/M3T XMP)."""

    lat: float
    lon: float
    alt_amsl_m: float
    distance_m: float


@dataclass(frozen=True, slots=True)
class Pose:
    """Position (WGS84) and camera attitude (NED, true north) of one capture.

    ``alt_amsl_m`` is the camera's height AMSL as recorded, unless
    ``takeoff_ground_amsl_m`` is set: then it was re-based on the take-off
    ground, ``takeoff_ground_amsl_m + alt_rel_m`` (see :func:`anchored_to_takeoff`).
    ``alt_rel_m`` is the height above the take-off point (DJI ``RelativeAltitude``,
    ArduPilot's height above home). ``ground_alt_m`` is the height of flat ground
    to intersect when no DEM is given: the take-off (or dock) ground,
    ``alt_amsl_m - alt_rel_m``.

    Uncertainties are 1 sigma: ``sigma_h_m`` of the camera's position along each
    horizontal axis (east and north alike; from RTK the RMS of its east and north
    sigmas), ``sigma_v_m`` of its height above the ground model (above take-off when
    the ground is flat or the height anchored), ``sigma_att_deg`` of a rotation
    about each of the camera's three axes.
    """

    lat: float
    lon: float
    alt_amsl_m: float
    yaw_deg: float
    pitch_deg: float
    roll_deg: float
    alt_rel_m: float | None = None
    source: str = ""
    sigma_h_m: float = SIGMA_H_GNSS_M
    sigma_v_m: float = SIGMA_V_BARO_M
    sigma_att_deg: float = SIGMA_ATT_GIMBAL_DEG
    laser: LaserTarget | None = None
    takeoff_ground_amsl_m: float | None = None

    @property
    def ground_alt_m(self) -> float | None:
        if self.alt_rel_m is None:
            return None
        return self.alt_amsl_m - self.alt_rel_m

    def rotation(self) -> NDArray[np.float64]:
        return camera_to_enu(self.yaw_deg, self.pitch_deg, self.roll_deg)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form for the store's ``Capture.pose`` column."""
        out: dict[str, object] = {
            "lat": self.lat,
            "lon": self.lon,
            "alt_amsl_m": self.alt_amsl_m,
            "alt_rel_m": self.alt_rel_m,
            "yaw_deg": self.yaw_deg,
            "pitch_deg": self.pitch_deg,
            "roll_deg": self.roll_deg,
            "source": self.source,
        }
        if self.takeoff_ground_amsl_m is not None:
            out["takeoff_ground_amsl_m"] = self.takeoff_ground_amsl_m
        if self.laser is not None:
            out["laser"] = {
                "lat": self.laser.lat,
                "lon": self.laser.lon,
                "alt_amsl_m": self.laser.alt_amsl_m,
                "distance_m": self.laser.distance_m,
            }
        return out


def anchored_to_takeoff(pose: Pose, takeoff_ground_amsl_m: float) -> Pose:
    """The pose with its height re-based on the ground it took off from.

    A drone's absolute altitude (DJI ``AbsoluteAltitude``, a GNSS height) is often
    tens of metres off, while its height above take-off (barometric) holds to a
    metre or two. When the flight started on known ground (the dock's surveyed
    ``ground_alt_m``, or the DEM's height at the take-off point), that ground plus
    the height above take-off is the better camera height AMSL, and the one that
    matches a DEM's datum. The height's sigma stays the barometer's; the error of
    the take-off ground itself is not added.

    Raises
    ------
    PoseError
        When the pose has no height above take-off, or the ground is not a height.
    """
    if pose.alt_rel_m is None:
        raise PoseError(
            f"{pose.source or 'pose'}: no height above take-off to anchor on the take-off ground"
        )
    if not math.isfinite(takeoff_ground_amsl_m):
        raise PoseError(f"take-off ground {takeoff_ground_amsl_m} is not a height")
    return replace(
        pose,
        alt_amsl_m=takeoff_ground_amsl_m + pose.alt_rel_m,
        takeoff_ground_amsl_m=takeoff_ground_amsl_m,
    )


def pose_from_manifest(record: CapturePose) -> Pose:
    """A pose from the flight layer's manifest (camera attitude already in NED)."""
    return Pose(
        lat=record.lat,
        lon=record.lon,
        alt_amsl_m=record.alt_amsl_m,
        alt_rel_m=record.alt_rel_m,
        yaw_deg=record.camera_yaw_deg,
        pitch_deg=record.camera_pitch_deg,
        roll_deg=record.camera_roll_deg,
        source="manifest",
    )
