"""The per-flight capture manifest: one JSON object per photo, written by the
flight layer and read by the imagery pipeline.

JSON Lines so a flight cut short still leaves every line written before the
cut readable. Angles are degrees. The vehicle attitude is what
CAMERA_FEEDBACK reports; the camera attitude is in the local NED frame
(``camera_pitch_deg`` -90 looks straight down, ``camera_yaw_deg`` is the
bearing the optical axis points to, clockwise from north).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

MANIFEST_NAME = "captures.jsonl"


@dataclass(frozen=True, slots=True)
class CapturePose:
    """Where and how one photo was taken."""

    index: int
    time_utc: str
    lat: float
    lon: float
    alt_amsl_m: float
    alt_rel_m: float
    roll_deg: float
    pitch_deg: float
    yaw_deg: float
    camera_roll_deg: float
    camera_pitch_deg: float
    camera_yaw_deg: float
    time_boot_ms: int | None = None
    planned_index: int | None = None
    image: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


_FIELDS = {f.name for f in fields(CapturePose)}


def parse_pose(line: str, *, where: str = "manifest") -> CapturePose:
    """Parse one manifest line; a bad line raises ValueError naming ``where``."""
    try:
        raw = json.loads(line)
        return CapturePose(**{k: v for k, v in raw.items() if k in _FIELDS})
    except (json.JSONDecodeError, TypeError) as exc:
        raise ValueError(f"{where}: not a capture record ({exc})") from exc


def read_manifest(path: Path) -> list[CapturePose]:
    """Every capture in a manifest file, in file order."""
    poses: list[CapturePose] = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                poses.append(parse_pose(line, where=f"{path}:{number}"))
    return poses


def write_manifest(path: Path, poses: Iterable[CapturePose]) -> None:
    """Write a whole manifest (the flight layer appends line by line instead)."""
    with path.open("w", encoding="utf-8") as fh:
        fh.writelines(pose.to_json() + "\n" for pose in poses)
