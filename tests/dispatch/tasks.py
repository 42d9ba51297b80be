"""Tasks and writers the dispatcher tests run (importable by every Dask worker).

``detect_marks`` reads a small text file and finds each line that says
``mark x y``: a cheap stand-in with the pipeline's shape (a path in, a small
picklable result out), so the tests can say which findings must exist.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session

from imagery.dispatch import JobOutcome
from store.models import Capture, CaptureStatus, Finding

TASK = "tests.dispatch.tasks:detect_marks"
WRITER = "tests.dispatch.tasks:write_marks"


def write_capture(path: Path, marks: Sequence[tuple[int, int]]) -> None:
    path.write_text("".join(f"mark {x} {y}\n" for x, y in marks), encoding="utf-8")


def marks_for(index: int) -> list[tuple[int, int]]:
    """The marks capture ``index`` holds: 0 to 2 of them."""
    return [(index, k) for k in range(index % 3)]


def detect_marks(params: dict[str, Any]) -> list[tuple[int, int]]:
    time.sleep(float(params.get("sleep_s", 0.0)))
    marks = []
    for line in Path(params["path"]).read_text(encoding="utf-8").splitlines():
        word, x, y = line.split()
        if word == "mark":
            marks.append((int(x), int(y)))
    return marks


def always_fails(params: dict[str, Any]) -> None:
    raise ValueError(f"cannot read {params['path']}")


def kill_worker(params: dict[str, Any]) -> None:
    """Takes its worker process down with it, as a segfaulting library would."""
    os._exit(13)


def write_marks(session: Session, outcomes: Sequence[JobOutcome]) -> None:
    """Idempotent: a finding whose dedupe key exists already is left alone."""
    keys = {
        f"{o.job.capture_id}:{x}:{y}:{o.job.pipeline_version}": (o, x, y)
        for o in outcomes
        for x, y in o.result
    }
    existing = set(
        session.execute(
            select(Finding.dedupe_key).where(Finding.dedupe_key.in_(list(keys)))  # type: ignore[attr-defined]
        ).scalars()
    )
    for key, (o, x, y) in keys.items():
        if key not in existing:
            session.add(
                Finding(
                    id=uuid.uuid4(),
                    dedupe_key=key,
                    capture_id=o.job.capture_id,
                    flight_id=o.job.flight_id,
                    kind="mark",
                    detector="marks",
                    detector_version=o.job.pipeline_version,
                    lat=float(x),
                    lon=float(y),
                )
            )
    session.execute(
        update(Capture)
        .where(Capture.id.in_([o.job.capture_id for o in outcomes]))  # type: ignore[attr-defined]
        .values(status=CaptureStatus.PROCESSED)
    )


def write_marks_refusing_capture_4(session: Session, outcomes: Sequence[JobOutcome]) -> None:
    """A writer whose rows for capture 4 break a constraint (the database's own refusal:
    two findings with one dedupe key), as a writer's bug would."""
    write_marks(session, outcomes)
    for o in outcomes:
        if any(x == 4 for x, _ in o.result):
            for _ in range(2):
                session.add(
                    Finding(
                        dedupe_key="capture-4-twice",
                        capture_id=o.job.capture_id,
                        kind="mark",
                        detector="marks",
                        detector_version=o.job.pipeline_version,
                        lat=4.0,
                        lon=0.0,
                    )
                )
    session.flush()
