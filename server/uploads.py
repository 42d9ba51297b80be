"""Saving uploaded captures: streamed to disk under a size limit, type sniffed, names made safe."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from imagery.errors import UnreadableImageError
from imagery.limits import DEFAULT_MAX_PIXELS, ImageTooLargeError, check_image_size
from missions.gas import GAS_NAME, parse_reading
from missions.manifest import MANIFEST_NAME, parse_pose
from server.errors import UploadRejectedError, UploadTooLargeError

logger = logging.getLogger(__name__)
CHUNK = 1024 * 1024
# Leading bytes of the formats a drone camera writes (DNG is a TIFF).
SIGNATURES: tuple[tuple[bytes, str, frozenset[str]], ...] = (
    (b"\xff\xd8\xff", "image/jpeg", frozenset({".jpg", ".jpeg"})),
    (b"\x89PNG\r\n\x1a\n", "image/png", frozenset({".png"})),
    (b"II*\x00", "image/tiff", frozenset({".tif", ".tiff", ".dng"})),
    (b"MM\x00*", "image/tiff", frozenset({".tif", ".tiff", ".dng"})),
)
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class AsyncReadable(Protocol):
    async def read(self, size: int = -1) -> bytes: ...


@dataclass(frozen=True)
class SavedUpload:
    path: Path
    sha256: str
    size: int
    media_type: str


def safe_name(filename: str | None) -> str:
    """The last path component with anything but ``[A-Za-z0-9._-]`` replaced: no traversal."""
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = _SAFE.sub("_", base).lstrip(".")
    if not base or base in {".", ".."}:
        raise UploadRejectedError("the upload has no usable file name")
    return base[:200]


def sniff(head: bytes, name: str) -> str:
    """The media type the content really is; the name's extension must agree with it."""
    suffix = Path(name).suffix.lower()
    if name in _LINE_PARSERS:
        return "application/jsonl"
    for magic, media, suffixes in SIGNATURES:
        if head.startswith(magic):
            if suffix not in suffixes:
                raise UploadRejectedError(
                    f"{name}: content is {media} but the name ends {suffix!r}"
                )
            return media
    raise UploadRejectedError(
        f"{name}: not a JPEG, PNG or TIFF image (nor {MANIFEST_NAME} or {GAS_NAME})"
    )


#: The flight's JSON-lines records an upload may be, each checked line by line.
_LINE_PARSERS = {MANIFEST_NAME: parse_pose, GAS_NAME: parse_reading}


def _check_lines(path: Path, name: str) -> None:
    parse = _LINE_PARSERS[name]
    with path.open(encoding="utf-8", errors="strict") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                try:
                    parse(line, where=f"{name} line {number}")
                except ValueError as exc:
                    raise UploadRejectedError(str(exc)) from None


def _check_pixels(path: Path, name: str, max_pixels: int) -> None:
    """Refuse an image over ``max_pixels`` (read from its header, never decoded).

    A header Pillow cannot read is let through: processing reports it for that capture.
    """
    try:
        check_image_size(path, max_pixels=max_pixels)
    except ImageTooLargeError as exc:
        reason = str(exc).split(": ", 1)[-1]
        raise UploadTooLargeError(f"{name}: {reason}") from None
    except UnreadableImageError:
        pass


async def save_upload(
    source: AsyncReadable,
    filename: str | None,
    directory: Path,
    *,
    max_bytes: int,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> SavedUpload:
    """Copy ``source`` into ``directory`` chunk by chunk, all or nothing.

    The bytes go to a temporary file beside the target (``.upload-*.part``,
    swept by :func:`sweep_partials` if the process dies mid-way) and are
    renamed into place only once complete, checked, within ``max_bytes`` and,
    for an image, within ``max_pixels``.
    """
    name = safe_name(filename)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    digest = hashlib.sha256()
    size = 0
    media = ""
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=".upload-", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := await source.read(CHUNK):
                if not media:
                    media = sniff(chunk[:16], name)
                size += len(chunk)
                if size > max_bytes:
                    raise UploadTooLargeError(f"{name}: larger than the {max_bytes} byte limit")
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise UploadRejectedError(f"{name}: the file is empty")
        if media == "application/jsonl":
            try:
                _check_lines(tmp, name)
            except UnicodeDecodeError:
                raise UploadRejectedError(f"{name}: not UTF-8 text") from None
        else:
            _check_pixels(tmp, name, max_pixels)
        sha = digest.hexdigest()
        if target.exists():
            existing = hashlib.sha256(target.read_bytes()).hexdigest()
            if existing != sha and media != "application/jsonl":
                raise UploadRejectedError(f"{name}: a different file of that name is already here")
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return SavedUpload(path=target, sha256=sha, size=size, media_type=media)


PARTIAL_SUFFIX = ".part"


def sweep_partials(root: Path, *, older_than_s: float, now: float | None = None) -> int:
    """Delete unfinished files (``*.part``) under ``root`` untouched for ``older_than_s``.

    Uploads, previews and zone files are written as ``.part`` and renamed when
    complete; a process killed mid-write leaves one behind. Younger ones may
    still be in progress and are kept. Returns how many were deleted.
    """
    now = time.time() if now is None else now
    removed = 0
    if not root.is_dir():
        return 0
    for path in root.rglob(f"*{PARTIAL_SUFFIX}"):
        try:
            if path.is_file() and now - path.stat().st_mtime > older_than_s:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue  # finished (renamed) or swept by another process meanwhile
    if removed:
        logger.info(
            "swept %d unfinished files older than %.0f s under %s", removed, older_than_s, root
        )
    return removed
