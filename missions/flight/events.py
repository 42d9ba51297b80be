"""What happens during a flight, as small typed records.

The CLI prints them, the server forwards them over a WebSocket and the flight
directory keeps them as JSON Lines (``events.jsonl``). Each event has a
``kind`` (its class name in snake case) and a UTC timestamp; ``to_dict()`` is
what goes on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from missions.manifest import CapturePose

logger = logging.getLogger(__name__)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True, kw_only=True)
class FlightEvent:
    """Base of every event."""

    time_utc: str = field(default_factory=utc_now)

    @property
    def kind(self) -> str:
        name = type(self).__name__
        return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}

    def __str__(self) -> str:
        details = ", ".join(f"{k}={v}" for k, v in asdict(self).items() if k != "time_utc")
        return f"{self.kind}({details})"


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkLost(FlightEvent):
    url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkRestored(FlightEvent):
    url: str
    outage_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusText(FlightEvent):
    """A STATUSTEXT from the autopilot (severity as MAV_SEVERITY: 0 worst)."""

    severity: int
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MissionUploaded(FlightEvent):
    items: int
    fence: int
    rally: int
    seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Armed(FlightEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Disarmed(FlightEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ModeChanged(FlightEvent):
    mode: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CurrentItem(FlightEvent):
    """The vehicle now heads for mission item ``seq``."""

    seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemReached(FlightEvent):
    seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress(FlightEvent):
    """Where the flight stands, about once a second."""

    lat: float
    lon: float
    alt_rel_m: float
    current_seq: int
    total_items: int
    reached: int
    distance_to_go_m: float
    eta_s: float | None
    groundspeed_m_s: float
    battery_pct: float | None
    mode: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Overdue(FlightEvent):
    """The flight has outlasted its estimate but is still making progress: not a failure.

    Times are on the vehicle's clock (simulated seconds in SITL), from the
    mission start; ``eta_s`` is ``to_go_m`` at the ground speed observed so
    far (None before the vehicle has moved).
    """

    estimate_s: float
    elapsed_s: float
    to_go_m: float
    eta_s: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Stalled(FlightEvent):
    """The vehicle made no progress for the stall window: the flight is given up.

    ``stalled_s`` and ``window_s`` on the vehicle's clock; ``to_go_m`` to the
    end of the mission in AUTO, else to the nearest of home and the rally points.
    """

    stalled_s: float
    window_s: float
    mode: str
    seq: int
    to_go_m: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Captured(FlightEvent):
    """A photo was taken (from CAMERA_FEEDBACK), with its pose."""

    pose: CapturePose


@dataclass(frozen=True, slots=True, kw_only=True)
class CapturesMissed(FlightEvent):
    """Image numbers the vehicle used but whose CAMERA_FEEDBACK never arrived."""

    first_index: int
    last_index: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Landed(FlightEvent):
    lat: float
    lon: float


class EventBus:
    """Fan-out of events to any number of async iterators and an optional log file."""

    def __init__(self, log_path: Path | None = None) -> None:
        self._queues: list[asyncio.Queue[FlightEvent]] = []
        self._log: TextIO | None = None
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = log_path.open("a", encoding="utf-8")

    def publish(self, event: FlightEvent) -> None:
        logger.debug("%s", event)
        if self._log is not None:
            self._log.write(json.dumps(event.to_dict(), separators=(",", ":")) + "\n")
            self._log.flush()
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    @contextlib.contextmanager
    def _queue(self, maxsize: int) -> Iterator[asyncio.Queue[FlightEvent]]:
        queue: asyncio.Queue[FlightEvent] = asyncio.Queue(maxsize)
        self._queues.append(queue)
        try:
            yield queue
        finally:
            self._queues.remove(queue)

    async def subscribe(self, maxsize: int = 10_000) -> AsyncIterator[FlightEvent]:
        """Every event from now on (oldest dropped if the consumer falls far behind)."""
        with self._queue(maxsize) as queue:
            while True:
                yield await queue.get()

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
