"""Radiometric readers and detectors on real thermal and steam frames."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imagery.detect.base import (
    Detection,
    Detector,
    Frame,
    available,
    register,
    select,
    unregister,
)
from imagery.detect.plume import PlumeDetector
from imagery.detect.thermal import HotspotDetector
from imagery.errors import ThermalFormatError
from imagery.metadata import read_metadata
from imagery.pipeline import process_capture
from imagery.thermal import read_dji_rjpeg, read_thermal

H20T_0216 = "thermal_dji_zh20t_leipzig_GPL3/DJI_20220602143613_0216_T.JPG"
SMOKE_0_1 = (
    "smoke_rise_industrial/"
    "0-1-2019-01-17-6007-928-6509-1430-180-180-3906-1547732890-1547733065-grad-cam.png"
)


def _hotspots(path: Path) -> list[Detection]:
    thermal = read_thermal(path, read_metadata(path))
    return HotspotDetector().detect(Frame("thermal", thermal=thermal))


def test_dji_rjpeg_raw_frame_is_read_uncalibrated(real_file: Callable[[str], Path]) -> None:
    frame = read_dji_rjpeg(real_file(H20T_0216))
    assert frame.values.shape == (512, 640)
    assert not frame.calibrated and "uncalibrated" in frame.units
    assert 14000 < float(np.median(frame.values)) < 17000
    assert float(frame.values.max()) > 25000  # the sun-lit roof


def test_flir_tiff_is_converted_to_celsius(real_file: Callable[[str], Path]) -> None:
    path = real_file("thermal_flir_duo_pro_r/example_radiometric.tiff")
    frame = read_thermal(path, read_metadata(path))
    assert frame.calibrated and frame.units == "degC"
    assert float(frame.values.min()) > -5 and float(frame.values.max()) < 12


def test_jpeg_without_thermal_payload_is_refused(brighton: Path) -> None:
    with pytest.raises(ThermalFormatError, match="APP3"):
        read_dji_rjpeg(brighton / "DJI_0030.JPG")


def test_hotspots_on_roof_frames_none_on_canopy(h20t: Path) -> None:
    assert _hotspots(h20t / "DJI_20220602143532_0191_T.JPG") == []
    for name in ("0214", "0215", "0216"):
        (path,) = h20t.glob(f"*_{name}_T.JPG")
        found = _hotspots(path)
        assert found, name
        biggest = max(found, key=lambda d: d.mask.sum())
        assert biggest.mask.sum() > 5000  # the roof
    vehicle = [
        d
        for d in _hotspots(next(h20t.glob("*_0216_T.JPG")))
        if 300 <= d.box[0] <= 320 and 390 <= d.box[1] <= 410
    ]
    assert vehicle, "the vehicle at the bottom right of 0216"


def test_no_hotspot_in_vignetted_flir_frame(real_file: Callable[[str], Path]) -> None:
    assert _hotspots(real_file("thermal_flir_duo_pro_r/example_radiometric.tiff")) == []


def _strip_flags(path: Path) -> list[list[Detection]]:
    """Plumes in each of the 9 real frames on a strip's top row (224 px tiles, 244 px apart)."""
    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / np.float32(255)
    tiles = [rgb[0:224, 244 * i : 244 * i + 224] for i in range(9)]
    return [PlumeDetector().detect(Frame("rgb", rgb=t)) for t in tiles]


def test_steam_frames_are_flagged(real_file: Callable[[str], Path]) -> None:
    strip = real_file(
        "smoke_rise_industrial/"
        "0-7-2019-01-11-3544-899-4026-1381-180-180-7891-1547236155-1547236330-grad-cam.png"
    )
    flagged = sum(bool(found) for found in _strip_flags(strip))
    print(f"steam strip 0-7: {flagged}/9 frames flagged")
    assert flagged >= 6


def test_steam_under_a_blue_cast_is_flagged_on_the_steam(
    real_file: Callable[[str], Path],
) -> None:
    """Winter dusk: white steam against a dark hillside, the whole frame tinted blue.

    6 of the 9 frames are flagged (0 before white balance), each on the steam rising from the
    roof (rows 100-190, columns 100-165), not on the pale sky or the roofline.
    """
    strip = real_file(SMOKE_0_1)
    per_frame = _strip_flags(strip)
    flagged = sum(bool(found) for found in per_frame)
    print(f"blue-cast strip 0-1: {flagged}/9 frames flagged")
    assert flagged >= 6
    for found in per_frame:
        for d in found:
            r0, c0, r1, c1 = d.box
            assert r0 >= 100 and r1 <= 195 and c0 >= 100 and c1 <= 165, d.box


def test_georeferenced_frame_without_stacks_is_not_searched_for_plumes(brighton: Path) -> None:
    result = process_capture(brighton / "DJI_0025_quarter.JPG", detectors=select(["plume"]))
    assert result.ok and result.findings == ()
    assert any("Windows Photo Viewer" in w for w in result.warnings)


@dataclass
class _EveryBrightBlob:
    """What a learned detector plugs in as: name, version, kinds, detect(frame)."""

    name: str = "test_learned"
    version: str = "0.1"
    kinds: frozenset[str] = frozenset({"thermal"})

    def detect(self, frame: Frame) -> list[Detection]:
        assert frame.thermal is not None and frame.georef is not None
        v = frame.thermal.values
        r, c = np.unravel_index(int(np.argmax(v)), v.shape)
        box = (max(r - 2, 0), max(c - 2, 0), r + 3, c + 3)
        mask = np.ones((box[2] - box[0], box[3] - box[1]), dtype=bool)
        return [Detection("hotspot", 0.9, box, mask, {"model": "stub"})]


def test_a_new_detector_plugs_into_the_pipeline(real_file: Callable[[str], Path]) -> None:
    learned = _EveryBrightBlob()
    assert isinstance(learned, Detector)
    register(learned)
    try:
        assert "test_learned" in available()
        result = process_capture(
            real_file(H20T_0216),
            detectors=select(["test_learned"]),
        )
    finally:
        unregister("test_learned")
    assert "test_learned" not in available()
    (finding,) = result.findings
    assert finding.detector == "test_learned" and finding.measurements["model"] == "stub"
    assert 51.366 < finding.lat < 51.368 and finding.area_m2 > 0
    with pytest.raises(ValueError, match="unknown detector"):
        select(["no_such_detector"])
    with pytest.raises(TypeError):
        register(object())  # type: ignore[arg-type]
