"""Photo poses from CAMERA_FEEDBACK, written to the capture manifest as they come.

ArduPilot's CAMERA_FEEDBACK carries the vehicle's attitude at the shutter, not
the camera's. The camera's is the vehicle's rotation followed by the gimbal's
body-frame angles (MOUNT_STATUS or GIMBAL_DEVICE_ATTITUDE_STATUS, whichever
the vehicle sends, latest before the photo), expressed back as NED Euler
angles (Z-Y-X: yaw, then pitch, then roll).
"""

from __future__ import annotations

import logging
import math
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import numpy as np
from numpy.typing import NDArray

from missions.manifest import CapturePose

logger = logging.getLogger(__name__)

#: CAMERA_FEEDBACK times before this are boot-relative, not UTC.
_YEAR_2001_US = 978_307_200_000_000


def rotation(roll_deg: float, pitch_deg: float, yaw_deg: float) -> NDArray[np.float64]:
    """Body-to-NED rotation matrix (3, 3) for Z-Y-X Euler angles in degrees."""
    r, p, y = (math.radians(a) for a in (roll_deg, pitch_deg, yaw_deg))
    cr, sr, cp, sp, cy, sy = (
        math.cos(r),
        math.sin(r),
        math.cos(p),
        math.sin(p),
        math.cos(y),
        math.sin(y),
    )
    return np.array(
        [
            [cp * cy, sr * sp * cy - cr * sy, cr * sp * cy + sr * sy],
            [cp * sy, sr * sp * sy + cr * cy, cr * sp * sy - sr * cy],
            [-sp, sr * cp, cr * cp],
        ]
    )


def euler(matrix: NDArray[np.float64]) -> tuple[float, float, float]:
    """Z-Y-X Euler angles (roll, pitch, yaw) in degrees; yaw in [0, 360).

    Looking straight down (pitch -90) roll and yaw describe the same turn; the
    turn is then put in yaw (roll 0), so yaw is where the image's top points.
    """
    pitch = math.asin(max(-1.0, min(1.0, -matrix[2, 0])))
    if math.cos(pitch) > 1e-6:
        roll = math.atan2(matrix[2, 1], matrix[2, 2])
        yaw = math.atan2(matrix[1, 0], matrix[0, 0])
    else:
        roll = 0.0
        yaw = math.atan2(-matrix[0, 1], matrix[1, 1])
    return math.degrees(roll), math.degrees(pitch), math.degrees(yaw) % 360.0


def camera_attitude(
    vehicle_rpy_deg: tuple[float, float, float], gimbal_rpy_deg: tuple[float, float, float]
) -> tuple[float, float, float]:
    """Camera roll, pitch, yaw in NED from the vehicle's and the gimbal's body-frame angles."""
    return euler(rotation(*vehicle_rpy_deg) @ rotation(*gimbal_rpy_deg))


def quaternion_to_euler(q: tuple[float, float, float, float]) -> tuple[float, float, float]:
    """(w, x, y, z) quaternion to roll, pitch, yaw in degrees (via :func:`euler`)."""
    w, x, y, z = q
    norm = math.sqrt(w * w + x * x + y * y + z * z) or 1.0
    w, x, y, z = w / norm, x / norm, y / norm, z / norm
    matrix = np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )
    return euler(matrix)


def feedback_time_utc(time_usec: int) -> str:
    """CAMERA_FEEDBACK's timestamp as ISO UTC; the receive time if it is not UTC."""
    if time_usec > _YEAR_2001_US:
        moment = datetime.fromtimestamp(time_usec / 1e6, UTC)
    else:
        moment = datetime.now(UTC)
    return moment.isoformat(timespec="milliseconds")


class ManifestWriter:
    """Appends one JSON line per capture and flushes it at once.

    Opened in append mode, so a reconnect or a second writer on the same
    flight directory continues the file; indices already written are skipped.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._seen: set[int] = set()
        if path.exists():
            from missions.manifest import read_manifest

            self._seen = {pose.index for pose in read_manifest(path)}
        self._fh: TextIO | None = path.open("a", encoding="utf-8")

    @property
    def count(self) -> int:
        return len(self._seen)

    def write(self, pose: CapturePose) -> bool:
        """Append ``pose``; False when its index is already in the manifest."""
        if pose.index in self._seen or self._fh is None:
            return False
        self._fh.write(pose.to_json() + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._seen.add(pose.index)
        return True

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
