"""Which files a run processes, and which manifest pose belongs to which file.

:func:`gather` is what every way of processing a flight starts with (the
inline ``ecopatrol process`` and the queued ``ecopatrol ingest``): the images,
their poses from the manifest, and the flight's directory.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from imagery.errors import ManifestMatchError, UnreadableImageError
from imagery.metadata import read_metadata
from imagery.pose import Pose, pose_from_manifest
from missions.manifest import MANIFEST_NAME, CapturePose, read_manifest

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".tif", ".tiff", ".png"}


def collect_images(paths: Sequence[Path]) -> tuple[list[Path], Path | None]:
    """Image files named or inside the directories named, and a manifest found beside them.

    Raises
    ------
    FileNotFoundError
        For a path that does not exist.
    """
    images: list[Path] = []
    manifest = None
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file or directory")
        if path.is_dir():
            images.extend(
                sorted(
                    p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                )
            )
            if (path / MANIFEST_NAME).is_file() and manifest is None:
                manifest = path / MANIFEST_NAME
        else:
            images.append(path)
    seen: set[Path] = set()
    unique = []
    for image in images:
        key = image.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(image)
    return unique, manifest


def _parse_time(text: str) -> datetime | None:
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def match_manifest(
    images: Sequence[Path], poses: Sequence[CapturePose], *, max_dt_s: float = 1.5
) -> dict[Path, CapturePose]:
    """The manifest record of each image: by file name, else by capture time, else by order.

    Order is used only when the counts agree. Images left unmatched keep their
    own EXIF/XMP pose.

    Raises
    ------
    ManifestMatchError
        When the manifest matches none of the images.
    """
    by_name = {Path(p.image).name: p for p in poses if p.image}
    matched: dict[Path, CapturePose] = {}
    for image in images:
        if image.name in by_name:
            matched[image] = by_name[image.name]
    rest = [i for i in images if i not in matched]
    free = [p for p in poses if p not in matched.values()]
    if rest and free:
        timed = [(p, _parse_time(p.time_utc)) for p in free]
        pairs = []
        for image in rest:
            try:
                taken = read_metadata(image).taken_at
            except UnreadableImageError:
                continue
            if taken is None:
                continue
            for k, (_, t) in enumerate(timed):
                if t is not None and abs((t - taken).total_seconds()) <= max_dt_s:
                    pairs.append((abs((t - taken).total_seconds()), image.name, k, image))
        used: set[int] = set()
        for _, _, k, image in sorted(pairs):  # nearest in time first, each record once
            if image not in matched and k not in used:
                matched[image] = timed[k][0]
                used.add(k)
        rest = [i for i in images if i not in matched]
        free = [p for p in poses if p not in matched.values()]
        if rest and len(rest) == len(free):
            ordered = sorted(free, key=lambda p: p.index)
            matched.update(zip(rest, ordered, strict=True))
            logger.info("matched %d images to manifest records by order", len(rest))
    if poses and not matched:
        raise ManifestMatchError(
            f"the manifest's {len(poses)} records match none of the {len(images)} images "
            "(by name, time or count)"
        )
    return matched


@dataclass(frozen=True, slots=True)
class Inputs:
    """The captures of one run: images (absolute paths), their manifest poses, the flight.

    ``directory`` names the flight in the store: the first directory given, or
    the directory of the first file. Images without a manifest pose keep the
    pose in their own EXIF/XMP.
    """

    images: list[Path]
    poses: dict[Path, Pose]
    manifest: Path | None
    directory: Path


def gather(paths: Sequence[Path], *, manifest: Path | None = None) -> Inputs:
    """Collect the images, match them to the manifest (given, or found beside them), build poses.

    Raises
    ------
    FileNotFoundError
        For a path or manifest that does not exist, or when no image is found.
    ValueError
        For a manifest that cannot be read or matches none of the images
        (:class:`~imagery.errors.ManifestMatchError`).
    """
    found, found_manifest = collect_images(paths)
    if not found:
        raise FileNotFoundError("no images found in " + ", ".join(map(str, paths)))
    images = [image.resolve() for image in found]
    manifest = manifest or found_manifest
    poses: dict[Path, Pose] = {}
    if manifest is not None:
        if not manifest.is_file():
            raise FileNotFoundError(f"{manifest}: no such manifest")
        matched = match_manifest(images, read_manifest(manifest))
        poses = {image: pose_from_manifest(record) for image, record in matched.items()}
    first = Path(paths[0]).resolve()
    return Inputs(images, poses, manifest, first if first.is_dir() else first.parent)
