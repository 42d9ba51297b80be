"""Each camera's reader on its own real frames (tests/data, else ../shared/data/real).

Expected values are the ones written in the files (read with exiftool when the
frames were collected; see tests/data/SOURCES.md) or worked out by hand below.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rasterio.shutil
from PIL import Image
from pyproj import Geod

from imagery.errors import GeoreferenceError, PoseError
from imagery.georef import Georef
from imagery.metadata import NS_DJI, NS_SKYDIO, pose_from_metadata, read_metadata
from imagery.pose import SIGMA_H_GNSS_M, SIGMA_V_BARO_M
from imagery.thermal import read_thermal

RealFile = Callable[[str], Path]
X2_THERMAL = "skydio_openathena_ios_GPL3/S1008521.JPG"
SKYDIO_2 = "skydio_openathena_ios_GPL3/skydio-catilina.jpg"
BRIGHTON = "rgb_dji_fc300s_brighton_beach/DJI_0030.JPG"
ZH20T = "thermal_dji_zh20t_leipzig_GPL3/DJI_20220602143613_0216_T.JPG"
FLIR_TIFF = "thermal_flir_duo_pro_r/example_radiometric.tiff"
FLIR_AGC = "thermal_flir_duo_pro_r/baboons.jpg"
XMP_APP1 = b"http://ns.adobe.com/xap/1.0/\x00"


def with_xmp(src: Path, dst: Path, edit: Callable[[bytes], bytes]) -> Path:
    """A byte copy of a JPEG whose XMP APP1 packet is ``edit``-ed (the rest untouched)."""
    data = src.read_bytes()
    at = data.index(XMP_APP1) - 4  # FF E1, 2-byte length, then the payload
    assert data[at : at + 2] == b"\xff\xe1"
    (length,) = struct.unpack(">H", data[at + 2 : at + 4])
    packet = edit(data[at + 4 + len(XMP_APP1) : at + 2 + length])
    segment = XMP_APP1 + packet
    dst.write_bytes(
        data[:at]
        + b"\xff\xe1"
        + struct.pack(">H", len(segment) + 2)
        + segment
        + data[at + 2 + length :]
    )
    return dst


@pytest.mark.parametrize(
    ("relative", "kind"),
    [
        (BRIGHTON, "rgb"),  # no source tag: 3-channel 4000x2250
        (ZH20T, "thermal"),  # drone-dji:ImageSource="InfraredCamera"
        (X2_THERMAL, "thermal"),  # drone-skydio:CameraSource="INFRARED" (an RGB-mode JPEG)
        (SKYDIO_2, "rgb"),  # drone-skydio:CameraSource="MAIN_VISIBLE"
        (FLIR_TIFF, "thermal"),  # xmpDM:CameraModel="Duo Pro R"
        (FLIR_AGC, "thermal"),
    ],
)
def test_thermal_or_visible_from_the_cameras_own_tags(
    real_file: RealFile, relative: str, kind: str
) -> None:
    assert read_metadata(real_file(relative)).kind == kind


def test_skydio_x2_thermal_pose_and_intrinsics(real_file: RealFile) -> None:
    meta = read_metadata(real_file(X2_THERMAL))
    assert (meta.make, meta.model, meta.width, meta.height, meta.mode) == (
        "Skydio",
        "X2 Narrow",
        640,
        512,
        "RGB",
    )
    pose = pose_from_metadata(meta)
    assert pose.source == "skydio-xmp"
    assert (pose.lat, pose.lon, pose.alt_amsl_m) == (29.785934, -95.635417, 46.021913)
    # CameraOrientationNED (the gimbal), not VehicleOrientationNED (yaw 359.996624, pitch -7.29).
    assert (pose.yaw_deg, pose.pitch_deg, pose.roll_deg) == (0.100350, -59.679573, -0.519399)
    assert pose.alt_rel_m is None  # the X2 writes no height above take-off
    # EXIF GPSHPositioningError 0.446 m; the vertical default stays.
    assert (pose.sigma_h_m, pose.sigma_v_m) == (0.446, SIGMA_V_BARO_M)

    cam = meta.camera()
    # The XMP calibration (f 4892 px, centre 1989,1444) is the 4056x3040 visible camera's:
    # left out. The database's Boson 320x256, 12 um pitch, 9.1 mm, saved at 640x512 (x2):
    # fx = 9.1 / (0.012 / 2) = 1516.67 px.
    assert any("does not fit the 640x512 image" in n for n in cam.notes)
    assert any("resized from the 320x256 readout" in n for n in cam.notes)
    assert cam.fx == pytest.approx(9.1 / 0.006, rel=1e-9)
    assert (cam.cx, cam.cy) == (319.5, 255.5)

    frame = read_thermal(real_file(X2_THERMAL), meta)
    assert (frame.calibrated, frame.source, frame.values.shape) == (False, "8bit-agc", (512, 640))


def test_skydio_x2_centre_ray_lands_where_the_pitch_says(real_file: RealFile) -> None:
    meta = read_metadata(real_file(X2_THERMAL))
    pose, cam = pose_from_metadata(meta), meta.camera()
    with pytest.raises(GeoreferenceError, match="no ground height"):
        Georef.build(cam, pose)  # no height above take-off: a DEM or a ground height is needed
    georef = Georef.build(cam, pose, ground_alt_m=27.0)
    e, n, _ = georef.pixel_to_ground(np.array([[cam.cx, cam.cy]]))[0]
    lon, lat = georef.to_lonlat(np.array([e]), np.array([n]))
    az, _, dist = Geod(ellps="WGS84").inv(pose.lon, pose.lat, float(lon[0]), float(lat[0]))
    # 46.021913 - 27 = 19.021913 m above the ground, 59.679573 deg below the horizon:
    # 19.021913 / tan(59.679573 deg) = 19.021913 / 1.71012 = 11.123 m, towards yaw 0.10 deg.
    assert dist == pytest.approx(19.021913 / math.tan(math.radians(59.679573)), abs=0.05)
    assert az == pytest.approx(0.10035, abs=0.5)


def test_skydio_2_structs_written_as_attributes(real_file: RealFile) -> None:
    meta = read_metadata(real_file(SKYDIO_2))
    pose = pose_from_metadata(meta)
    assert (pose.lat, pose.lon, pose.alt_amsl_m) == (32.518935, -110.924547, 1034.44191)
    assert (pose.yaw_deg, pose.pitch_deg, pose.roll_deg) == (127.444323, -7.468572, 0.186841)
    assert meta.xmp[NS_SKYDIO]["VehicleOrientationNED/Yaw"] == "126.820102"
    assert pose.sigma_h_m == pytest.approx(0.384)  # EXIF GPSHPositioningError
    # Calibration of the 4056-wide original; the file is a 1500x844 Photoshop export.
    assert any("does not fit the 1500x844 image" in n for n in meta.camera().notes)


def test_skydio_without_camera_orientation_is_refused(real_file: RealFile, tmp_path: Path) -> None:
    """The real X2 packet with its CameraOrientationNED struct taken out (derived case)."""

    def drop_camera_orientation(packet: bytes) -> bytes:
        start = packet.index(b"<drone-skydio:CameraOrientationNED ")
        end = packet.index(b"</drone-skydio:CameraOrientationNED>") + 36
        return packet[:start] + packet[end:]

    path = with_xmp(real_file(X2_THERMAL), tmp_path / "x2.jpg", drop_camera_orientation)
    meta = read_metadata(path)
    assert "CameraOrientationNED/Yaw" not in meta.xmp[NS_SKYDIO]
    with pytest.raises(PoseError, match=r"no CameraOrientationNED .*vehicle's attitude"):
        pose_from_metadata(meta)


def test_dji_rgb_with_gimbal_keeps_default_sigmas(real_file: RealFile) -> None:
    pose = pose_from_metadata(read_metadata(real_file(BRIGHTON)))
    assert (pose.yaw_deg, pose.pitch_deg, pose.roll_deg, pose.alt_rel_m) == (44.2, -89.9, 0.0, 40.1)
    # EXIF GPS 46 deg 50' 32.2138" N, 91 deg 59' 38.703" W (no XMP position in this firmware).
    assert pose.lat == pytest.approx(46 + 50 / 60 + 32.2138 / 3600, abs=1e-9)
    assert pose.lon == pytest.approx(-(91 + 59 / 60 + 38.703 / 3600), abs=1e-9)
    assert (pose.sigma_h_m, pose.sigma_v_m) == (SIGMA_H_GNSS_M, SIGMA_V_BARO_M)


def test_dji_tiff_with_exif_in_gdal_metadata(real_file: RealFile, tmp_path: Path) -> None:
    """GDAL's own JPEG-to-TIFF conversion of the real frame: EXIF goes to GDAL_METADATA."""
    jpeg = real_file(BRIGHTON)
    tiff = tmp_path / "DJI_0030.TIF"
    rasterio.shutil.copy(jpeg, tiff, driver="GTiff")
    with Image.open(tiff) as im:
        assert not im.getexif().get_ifd(0x8825)  # no GPS IFD in the TIFF itself
        assert "EXIF_GPSLatitude" in str(im.tag_v2[42112])
    from_tiff, from_jpeg = read_metadata(tiff), read_metadata(jpeg)
    assert (from_tiff.make, from_tiff.model, from_tiff.gps) == ("DJI", "FC300S", from_jpeg.gps)
    assert from_tiff.optics == from_jpeg.optics
    assert pose_from_metadata(from_tiff) == pose_from_metadata(from_jpeg)
    assert from_tiff.camera() == from_jpeg.camera()


def test_dji_misspelt_longitude_rtk_sigmas_and_calibration(
    real_file: RealFile, tmp_path: Path
) -> None:
    """The real ZH20T packet with the keys as the Phantom 4 RTK writes them (derived case).

    No real Phantom 4 RTK frame with a usable licence was found (tests/data/SOURCES.md).
    """
    rtk = (
        b' drone-dji:RtkFlag="50" drone-dji:RtkStdLon="0.01117" drone-dji:RtkStdLat="0.01132"'
        b' drone-dji:RtkStdHgt="0.02493" drone-dji:CalibratedFocalLength="1130.5"'
        b' drone-dji:CalibratedOpticalCenterX="322.0" drone-dji:CalibratedOpticalCenterY="254.0"'
    )

    def p4rtk_keys(packet: bytes) -> bytes:
        packet = packet.replace(b"drone-dji:GpsLongitude=", b"drone-dji:GpsLongtitude=")
        return packet.replace(b"drone-dji:GpsLatitude=", rtk + b" drone-dji:GpsLatitude=", 1)

    meta = read_metadata(with_xmp(real_file(ZH20T), tmp_path / "p4rtk.jpg", p4rtk_keys))
    assert "GpsLongitude" not in meta.xmp[NS_DJI]
    pose = pose_from_metadata(meta)
    assert (pose.lat, pose.lon) == (51.3674488, 12.309062)
    # sqrt(0.01132^2 + 0.01117^2) = sqrt(0.00012814 + 0.00012477) = 0.015903 m
    assert pose.sigma_h_m == pytest.approx(0.015903, abs=1e-6)
    assert pose.sigma_v_m == 0.02493
    cam = meta.camera()
    # 1130.5 px as written; the centre moves half a pixel to this module's pixel-centre origin.
    assert (cam.fx, cam.fy, cam.cx, cam.cy) == (1130.5, 1130.5, 321.5, 253.5)
    assert cam.notes[0] == "maker calibration in the file"


def test_dji_rtk_flag_zero_keeps_default_sigmas(real_file: RealFile, tmp_path: Path) -> None:
    def no_fix(packet: bytes) -> bytes:
        extra = b' drone-dji:RtkFlag="0" drone-dji:RtkStdLon="0" drone-dji:RtkStdLat="0"'
        return packet.replace(b"drone-dji:GpsLatitude=", extra + b" drone-dji:GpsLatitude=", 1)

    pose = pose_from_metadata(read_metadata(with_xmp(real_file(ZH20T), tmp_path / "a.jpg", no_fix)))
    assert (pose.sigma_h_m, pose.sigma_v_m) == (SIGMA_H_GNSS_M, SIGMA_V_BARO_M)


def test_flir_radiometric_tiff_is_thermal_in_celsius(real_file: RealFile) -> None:
    path = real_file(FLIR_TIFF)
    frame = read_thermal(path, read_metadata(path))
    assert (frame.calibrated, frame.units) == (True, "degC")
    # 0.04 K/count - 273.15: the flirpy example spans about -3.4..+9.9 degC.
    assert float(frame.values.min()) == pytest.approx(-3.4, abs=0.5)
    assert float(frame.values.max()) == pytest.approx(9.9, abs=0.5)


def test_frame_without_pose_fails_with_its_reason(real_file: RealFile) -> None:
    meta = read_metadata(real_file(FLIR_AGC))
    assert meta.gps is not None  # EXIF GPS only: 53.447 N, 2.813 W
    with pytest.raises(PoseError, match="no camera orientation"):
        pose_from_metadata(meta)


def test_invalid_gps_frame_fails_with_its_reason(real_file: RealFile) -> None:
    meta = read_metadata(real_file("rgb_dji_mini3pro_invalid_gps/DJI_0218_quarter.JPG"))
    with pytest.raises(PoseError, match="GpsStatus is 'Invalid'"):
        pose_from_metadata(meta)
