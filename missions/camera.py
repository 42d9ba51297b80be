"""Camera and aircraft profiles, and the photogrammetry that links them.

The formulas are the ones QGroundControl's camera calculator uses, for a
nadir camera in landscape orientation (image width across the flight line)::

    gsd_cm        = sensor_width_mm * altitude_m * 100 / (focal_length_mm * image_width_px)
    footprint     = image size in px * gsd
    lane_spacing  = footprint_across * (1 - side_overlap)
    trigger_dist  = footprint_along  * (1 - front_overlap)

so the same inputs give the same numbers an operator sees in QGC.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from missions.errors import InvalidProfileError


@dataclass(frozen=True, slots=True)
class Camera:
    """A frame camera: sensor and image size, focal length, fastest trigger rate."""

    name: str
    sensor_width_mm: float
    sensor_height_mm: float
    image_width_px: int
    image_height_px: int
    focal_length_mm: float
    min_trigger_interval_s: float = 1.0
    thermal: bool = False

    def __post_init__(self) -> None:
        for key in ("sensor_width_mm", "sensor_height_mm", "focal_length_mm"):
            if not getattr(self, key) > 0:
                raise InvalidProfileError(f"camera {self.name!r}: {key} must be positive")
        if self.image_width_px <= 0 or self.image_height_px <= 0:
            raise InvalidProfileError(f"camera {self.name!r}: image size must be positive")
        if self.min_trigger_interval_s < 0:
            raise InvalidProfileError(f"camera {self.name!r}: min_trigger_interval_s < 0")

    def gsd_cm(self, altitude_m: float) -> float:
        """Ground sample distance (cm/px) at ``altitude_m`` above flat ground."""
        return (
            self.sensor_width_mm * altitude_m * 100 / (self.focal_length_mm * self.image_width_px)
        )

    def altitude_for_gsd(self, gsd_cm: float) -> float:
        """Height above ground (m) that gives ``gsd_cm``."""
        if gsd_cm <= 0:
            raise InvalidProfileError(f"gsd_cm must be positive, got {gsd_cm}")
        return gsd_cm * self.focal_length_mm * self.image_width_px / (self.sensor_width_mm * 100)

    def footprint_m(self, altitude_m: float) -> tuple[float, float]:
        """Ground footprint (across track, along track) in metres at ``altitude_m``."""
        gsd_m = self.gsd_cm(altitude_m) / 100
        return self.image_width_px * gsd_m, self.image_height_px * gsd_m

    def lane_spacing_m(self, altitude_m: float, side_overlap: float) -> float:
        """Distance between survey lines for ``side_overlap`` (0..1)."""
        _check_overlap("side_overlap", side_overlap)
        return self.footprint_m(altitude_m)[0] * (1 - side_overlap)

    def trigger_distance_m(self, altitude_m: float, front_overlap: float) -> float:
        """Distance between photos along a line for ``front_overlap`` (0..1)."""
        _check_overlap("front_overlap", front_overlap)
        return self.footprint_m(altitude_m)[1] * (1 - front_overlap)

    @property
    def hfov_deg(self) -> float:
        """Horizontal (image width) field of view."""
        return math.degrees(2 * math.atan(self.sensor_width_mm / (2 * self.focal_length_mm)))

    @property
    def vfov_deg(self) -> float:
        """Vertical (image height) field of view."""
        return math.degrees(2 * math.atan(self.sensor_height_mm / (2 * self.focal_length_mm)))


@dataclass(frozen=True, slots=True)
class Aircraft:
    """A multirotor's performance: speeds, endurance and the reserve kept back.

    ``mission_capacity`` counts every mission item including home (ArduCopter
    SITL stores about 650 with its default storage).
    """

    name: str = "quad"
    cruise_speed_m_s: float = 10.0
    max_survey_speed_m_s: float = 8.0
    climb_rate_m_s: float = 3.0
    descent_rate_m_s: float = 1.5
    endurance_s: float = 25 * 60
    reserve_fraction: float = 0.2
    turn_time_s: float = 3.0
    mission_capacity: int = 650

    def __post_init__(self) -> None:
        for key in (
            "cruise_speed_m_s",
            "max_survey_speed_m_s",
            "climb_rate_m_s",
            "descent_rate_m_s",
            "endurance_s",
        ):
            if not getattr(self, key) > 0:
                raise InvalidProfileError(f"aircraft {self.name!r}: {key} must be positive")
        if not 0 <= self.reserve_fraction < 1:
            raise InvalidProfileError(f"aircraft {self.name!r}: reserve_fraction must be in [0, 1)")
        if self.turn_time_s < 0:
            raise InvalidProfileError(f"aircraft {self.name!r}: turn_time_s must be >= 0")
        if self.mission_capacity < 10:
            raise InvalidProfileError(f"aircraft {self.name!r}: mission_capacity too small")

    @property
    def usable_endurance_s(self) -> float:
        """Flight time a sortie may plan for: endurance less the reserve."""
        return self.endurance_s * (1 - self.reserve_fraction)


def _check_overlap(name: str, value: float) -> None:
    if not 0 <= value < 1:
        raise InvalidProfileError(f"{name} must be in [0, 1), got {value}")


CAMERAS: dict[str, Camera] = {
    # A 1-inch 20 MP wide camera (13.2 x 8.8 mm, 8.8 mm lens), the common mapping payload.
    "wide-20mp": Camera(
        name="wide-20mp",
        sensor_width_mm=13.2,
        sensor_height_mm=8.8,
        image_width_px=5472,
        image_height_px=3648,
        focal_length_mm=8.8,
        min_trigger_interval_s=2.0,
    ),
    # A 640x512 radiometric thermal core (12 um pitch) behind a 13 mm lens.
    "thermal-640": Camera(
        name="thermal-640",
        sensor_width_mm=7.68,
        sensor_height_mm=6.144,
        image_width_px=640,
        image_height_px=512,
        focal_length_mm=13.0,
        min_trigger_interval_s=1.0,
        thermal=True,
    ),
}


def get_camera(name: str) -> Camera:
    """A preset camera by name."""
    try:
        return CAMERAS[name]
    except KeyError:
        raise InvalidProfileError(
            f"unknown camera {name!r} (presets: {', '.join(CAMERAS)})"
        ) from None
