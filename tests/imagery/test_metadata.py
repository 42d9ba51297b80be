"""Pose and intrinsics from real EXIF/XMP, and refusals where the metadata is not enough."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest

from imagery.camera import Camera, ExifOptics, intrinsics
from imagery.errors import IntrinsicsError, PoseError, UnreadableImageError
from imagery.metadata import parse_xmp, pose_from_metadata, read_metadata
from imagery.pose import airframe_to_camera_angles, camera_to_enu


def test_dji_gimbal_pose_and_cropped_sensor(real_file: Callable[[str], Path]) -> None:
    meta = read_metadata(real_file("rgb_dji_fc300s_brighton_beach/DJI_0030.JPG"))
    pose = pose_from_metadata(meta)
    assert pose.source == "dji-xmp"
    assert (pose.yaw_deg, pose.pitch_deg, pose.alt_rel_m) == (44.2, -89.9, 40.1)
    assert pose.ground_alt_m == pytest.approx(158.51)
    cam = meta.camera()
    # 16:9 frame of a 4:3 sensor: same pixel pitch as the 4000 px readout, not rescaled.
    assert cam.fx == pytest.approx(3.61 / (6.3175 / 4000), rel=1e-6)
    assert any("vertical crop" in n for n in cam.notes)


def test_h20t_thermal_intrinsics_and_laser(real_file: Callable[[str], Path]) -> None:
    meta = read_metadata(real_file("thermal_dji_zh20t_leipzig_GPL3/DJI_20220602143613_0216_T.JPG"))
    assert meta.kind == "thermal"
    assert meta.camera().fx == pytest.approx(13.5 / 0.012)
    pose = pose_from_metadata(meta)
    assert pose.laser is not None and pose.laser.distance_m == pytest.approx(97.218)


def test_sensefly_airframe_attitude_and_resize_flagged(real_file: Callable[[str], Path]) -> None:
    meta = read_metadata(real_file("nir_sensefly_swinglet_seneca/IMG_0467.jpg"))
    pose = pose_from_metadata(meta)
    assert pose.source == "sensefly-xmp"
    assert pose.alt_rel_m == pytest.approx(68.422, abs=1e-3)
    # The optical axis leans from nadir by the airframe's pitch and roll combined.
    axis = camera_to_enu(pose.yaw_deg, pose.pitch_deg, pose.roll_deg)[:, 2]
    tilt = math.degrees(math.acos(-axis[2]))
    assert tilt == pytest.approx(
        math.degrees(math.acos(math.cos(math.radians(7.623)) * math.cos(math.radians(1.625)))),
        abs=0.01,
    )
    assert any("assumed a resize" in n for n in meta.camera().notes)


def test_invalid_gps_is_refused(real_file: Callable[[str], Path]) -> None:
    meta = read_metadata(real_file("rgb_dji_mini3pro_invalid_gps/DJI_0218_quarter.JPG"))
    with pytest.raises(PoseError, match="Invalid"):
        pose_from_metadata(meta)


def test_gps_without_orientation_is_not_assumed_nadir(real_file: Callable[[str], Path]) -> None:
    meta = read_metadata(real_file("rgb_autel_xl715_no_pose/test.jpg"))
    with pytest.raises(PoseError, match="no camera orientation"):
        pose_from_metadata(meta)
    # Digital zoom x3 enters the focal length (35 mm equivalent 24 mm).
    assert meta.camera().fx == pytest.approx(3 * 24 * 5000 / 43.2666, rel=1e-4)


def test_null_island_is_refused() -> None:
    packet = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
        'xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/" drone-dji:GpsLatitude="0" '
        'drone-dji:GpsLongitude="0" drone-dji:GimbalYawDegree="0" '
        'drone-dji:GimbalPitchDegree="-90" drone-dji:AbsoluteAltitude="100"/>'
        "</rdf:RDF></x:xmpmeta>"
    )
    xmp = parse_xmp(packet)
    from imagery.metadata import CaptureMeta

    meta = CaptureMeta("x.jpg", 10, 10, "RGB", "rgb", "", "", None, ExifOptics(), xmp)
    with pytest.raises(PoseError, match="0,0"):
        pose_from_metadata(meta)


def test_xmp_structs_in_every_serialisation() -> None:
    """A struct as attributes, as rdf:parseType="Resource" and as a nested rdf:Description."""
    fields = ("<s:Yaw>1.5</s:Yaw><s:Pitch>-90</s:Pitch>", 's:Yaw="1.5" s:Pitch="-90"')
    forms = [
        f"<s:O {fields[1]}/>",
        f'<s:O rdf:parseType="Resource">{fields[0]}</s:O>',
        f"<s:O><rdf:Description>{fields[0]}</rdf:Description></s:O>",
    ]
    for form in forms:
        packet = (
            '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
            'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
            f'xmlns:s="urn:s">{form}</rdf:Description></rdf:RDF></x:xmpmeta>'
        )
        assert parse_xmp(packet)["urn:s"] == {"O/Yaw": "1.5", "O/Pitch": "-90"}, form


def test_unreadable_files(tmp_path: Path) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(UnreadableImageError):
        read_metadata(bad)
    with pytest.raises(UnreadableImageError, match="no such"):
        read_metadata(tmp_path / "missing.jpg")


def test_intrinsics_need_a_focal_length() -> None:
    with pytest.raises(IntrinsicsError):
        intrinsics(ExifOptics(make="Nobody", model="X"), 100, 100)


def test_database_row_with_non_square_pixels_is_not_used() -> None:
    # The bundled "teledyne flirBOSON 640" row: 7.68/512 mm by 5.76/640 mm = 15 x 9 um.
    optics = ExifOptics(make="Teledyne FLIR", model="Boson 640", focal_mm=13.6)
    with pytest.raises(IntrinsicsError, match="non-square pixels"):
        intrinsics(optics, 640, 512, thermal=True)


def test_airframe_level_flight_looks_straight_down() -> None:
    yaw, pitch, _ = airframe_to_camera_angles(30.0, 0.0, 0.0)
    assert pitch == pytest.approx(-90.0)
    top = camera_to_enu(yaw, pitch, 0.0) @ [0.0, -1.0, 0.0]  # image "up" direction
    assert math.degrees(math.atan2(top[0], top[1])) == pytest.approx(30.0)


def test_scaled_camera_keeps_the_field_of_view() -> None:
    cam = Camera.ideal(4000, 3000, hfov_deg=80)
    assert cam.scaled(1000, 750).hfov_deg == pytest.approx(cam.hfov_deg, rel=1e-3)
