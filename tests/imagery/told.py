"""What the pipeline is told about a rendered view: its pose and an ideal camera.

The renderer in ``tests/scenes`` shares no code with ``imagery``; this is the
one place its view is handed over in the pipeline's own types.
"""

from __future__ import annotations

from imagery.camera import Camera
from imagery.pose import Pose
from tests.scenes.stacks import CAMERA, View


def told(view: View) -> tuple[Pose, Camera]:
    """The view's pose (NED angles, true north, no roll) and the renderer's pinhole camera."""
    pose = Pose(
        view.lat,
        view.lon,
        view.alt_amsl_m,
        view.yaw_deg,
        view.pitch_deg,
        0.0,
        alt_rel_m=view.alt_rel_m,
    )
    return pose, Camera.ideal(CAMERA.width, CAMERA.height, hfov_deg=CAMERA.hfov_deg)
