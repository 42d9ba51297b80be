"""Capture jobs: the pipeline version as a key, poses through the job row."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from imagery.detect.base import Detection, Frame, select
from imagery.dispatch.capture import pipeline_version, pose_from_dict
from imagery.pose import LaserTarget, Pose


@dataclass(frozen=True)
class FakeDetector:
    name: str
    version: str
    kinds: frozenset[str] = frozenset({"rgb"})

    def detect(self, frame: Frame) -> list[Detection]:
        return []


names = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=40)


@given(st.lists(st.tuples(names, names), min_size=1, max_size=8, unique_by=lambda t: t[0]))
def test_the_version_names_every_detector_and_fits_its_column(
    pairs: list[tuple[str, str]],
) -> None:
    detectors = [FakeDetector(n, v) for n, v in pairs]
    version = pipeline_version(detectors)
    assert len(version) <= 64
    assert version == pipeline_version(list(reversed(detectors)))  # order does not matter
    bumped = [FakeDetector(pairs[0][0], pairs[0][1] + "x"), *detectors[1:]]
    assert pipeline_version(bumped) != version  # a new detector version is a new key


def test_the_default_version_lists_the_registered_detectors() -> None:
    version = pipeline_version()
    assert all(f"{d.name}@{d.version}" in version for d in select())


def test_a_stored_pose_comes_back_whole() -> None:
    pose = Pose(
        lat=34.8,
        lon=113.52,
        alt_amsl_m=170.0,
        yaw_deg=90.0,
        pitch_deg=-90.0,
        roll_deg=0.0,
        alt_rel_m=60.0,
        source="manifest",
        laser=LaserTarget(34.8001, 113.5201, 110.0, 60.2),
    )
    stored = {**pose.as_dict(), "camera": {"fx": 1.0}, "warnings": ["x"]}
    assert pose_from_dict(stored) == pose
