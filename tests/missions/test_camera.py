"""Photogrammetry numbers: the same as QGroundControl's camera calculator."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from missions.camera import CAMERAS, Camera, get_camera
from missions.errors import InvalidProfileError


def test_wide_camera_at_60m_matches_qgc() -> None:
    cam = CAMERAS["wide-20mp"]
    # QGC (1" 20 MP, 8.8 mm, landscape) at 60 m: GSD 1.64 cm/px, footprint 90 x 60 m
    assert cam.gsd_cm(60) == pytest.approx(1.6447, abs=1e-4)
    assert cam.footprint_m(60) == pytest.approx((90.0, 60.0))
    assert cam.lane_spacing_m(60, 0.7) == pytest.approx(27.0)
    assert cam.trigger_distance_m(60, 0.8) == pytest.approx(12.0)


def test_thermal_core_is_640_by_512() -> None:
    cam = get_camera("thermal-640")
    assert (cam.image_width_px, cam.image_height_px) == (640, 512)
    assert cam.thermal
    # 12 um pitch, 13 mm: 5.54 cm/px at 60 m
    assert cam.gsd_cm(60) == pytest.approx(5.538, abs=1e-3)


@given(st.sampled_from(list(CAMERAS)), st.floats(0.3, 20))
def test_altitude_for_gsd_inverts_gsd(name: str, gsd: float) -> None:
    cam = CAMERAS[name]
    assert cam.gsd_cm(cam.altitude_for_gsd(gsd)) == pytest.approx(gsd)


def test_bad_profiles_are_refused() -> None:
    with pytest.raises(InvalidProfileError, match="focal_length_mm"):
        Camera("x", 13.2, 8.8, 5472, 3648, 0)
    with pytest.raises(InvalidProfileError, match="side_overlap"):
        CAMERAS["wide-20mp"].lane_spacing_m(60, 1.0)
    with pytest.raises(InvalidProfileError, match="unknown camera 'nope'"):
        get_camera("nope")
