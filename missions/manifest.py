"""The per-flight capture manifest: one JSON object per photo, written by the
flight layer and read by the imagery pipeline.

JSON Lines so a flight cut short still leaves every line written before the
cut readable. Angles are degrees. The vehicle attitude (``roll_deg``,
``pitch_deg``, ``yaw_deg``) is what CAMERA_FEEDBACK reports: NED Euler angles
(Z-Y-X), yaw from true north. The camera attitude is in the same NED frame
(``camera_pitch_deg`` -90 looks straight down, ``camera_yaw_deg`` is the
bearing the optical axis points to, clockwise from true north).

``gimbal_frame`` says what the raw gimbal angles ``gimbal_*_deg`` (at the
trigger time) are relative to: ``"body"`` servo joint angles on the vehicle
body (pan, then roll, then tilt), ``"vehicle"`` roll and pitch from the
horizon with yaw from the vehicle heading, ``"earth"`` the same with yaw from
true north, ``"none"`` no gimbal (the camera is the vehicle).
``gimbal_gap_ms`` is 0 when a gimbal status reported the very angles the
photo was taken with, else the time between the statuses they were
interpolated from (or to the one held): large when statuses were lost.
``time_boot_ms`` is the trigger on the autopilot's boot clock and
``trigger_clock`` how it was found (``"utc"``, ``"boot"``, ``"arrival"``; see
``missions.flight.capture``).
``source`` says where the row came from: ``"camera_feedback"`` (live, from
the CAMERA_FEEDBACK message) or ``"dataflash"`` (recovered after the flight
from the vehicle's own log, its CAM and MNT records: see
``missions.flight.logs``), so a recovered pose can be told from a live one.
Manifests written before these fields read with them as None, except
``source``, which reads as ``"camera_feedback"``: the only writer then.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

MANIFEST_NAME = "captures.jsonl"

#: ``CapturePose.source``: a live CAMERA_FEEDBACK, the vehicle's dataflash log, or the plan.
SOURCE_FEEDBACK = "camera_feedback"
SOURCE_DATAFLASH = "dataflash"
#: Not flown: the plan's photo point as its pose (the demo without SITL).
SOURCE_PLANNED = "planned"


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
    gimbal_frame: str | None = None
    gimbal_roll_deg: float | None = None
    gimbal_pitch_deg: float | None = None
    gimbal_yaw_deg: float | None = None
    gimbal_gap_ms: float | None = None
    trigger_clock: str | None = None
    source: str = SOURCE_FEEDBACK

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


def read_lines(path: Path, parse: Callable[..., T]) -> list[T]:
    """Every record of a JSON-lines file, in file order: ``parse(line, where=PATH:LINE)``
    for each line that is not blank (the flight's manifest and its gas readings)."""
    with path.open(encoding="utf-8") as fh:
        return [
            parse(line, where=f"{path}:{number}")
            for number, line in enumerate(fh, start=1)
            if line.strip()
        ]


def read_manifest(path: Path) -> list[CapturePose]:
    """Every capture in a manifest file, in file order."""
    return read_lines(path, parse_pose)


def write_manifest(path: Path, poses: Iterable[CapturePose]) -> None:
    """Write a whole manifest (the flight layer appends line by line instead).

    Written beside it and renamed over it, so a crash while rewriting a
    flight's manifest (to add recovered rows) never loses the rows it had.
    """
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", encoding="utf-8") as fh:
        fh.writelines(pose.to_json() + "\n" for pose in poses)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(partial, path)
