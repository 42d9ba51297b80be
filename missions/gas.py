"""Gas readings along a flight's track: ``gas.jsonl``, one JSON object per reading.

A gas sensor on board sends MAVLink NAMED_VALUE_FLOAT (``name`` up to 10
characters, ``value``, ``time_boot_ms``), either from the autopilot itself
(an ArduPilot Lua script's ``gcs:send_named_float``, stamped with
``AP_HAL::millis()``: GCS_Common.cpp ``send_named_float``) or as a component of
its own on one of the autopilot's serial ports, with the vehicle's system id
(a companion or a peripheral, MAV_COMP_ID_PERIPHERAL 158). The message has no
target, so ArduPilot forwards a component's reading to every other channel it
has heard a MAVLink system on (``MAVLink_routing::check_and_forward``: a
message without ``target_system`` is a broadcast and is resent on each channel
with a learned route, except the one it came in on, when that channel has
room), and the ground station hears it among the autopilot's own telemetry.

Which names are gas (:data:`GAS_NAMES`; matched without regard to case): the
pollutants the stations measure, in the units the stations report them in
(``store.readings``: µg/m³, mg/m³ for CO), so a track compares with the
stations' readings as it is; and mixing ratios as electrochemical and PID
sensors give them, named with their unit, kept in that unit and never
converted (converting needs the air's temperature and pressure)::

    TVOC  NO2  SO2  O3  PM25 (or PM2.5, PM2_5)  PM10    µg/m³
    CO                                                   mg/m³
    TVOC_PPB  NO2_PPB  SO2_PPB  O3_PPB                   ppb
    CO_PPM                                               ppm

Every other name (an autopilot's own debug values, a script's counters) is
not gas and is left out.

Each reading is placed on the autopilot's boot clock and given the vehicle's
position there (:class:`GasRecorder`): its ``time_boot_ms`` is taken on the
autopilot's boot clock, as MAVLink's "time since system boot" of the vehicle's
system means (ArduPilot's own scripts stamp it so; a sensor of its own should
keep the autopilot's time, from SYSTEM_TIME or TIMESYNC). A component's stamp
that cannot be on that clock (a sensor counting from its own power-up, or
none) is replaced by the newest autopilot time heard when the reading arrived
(``clock: "arrival"``, late by the link's delay): one behind that time by more
than :data:`BEHIND_MS`, or one still ahead of every autopilot time heard by
more than :data:`AHEAD_MS` once the autopilot's clock has run
:data:`CATCH_UP_MS` past the reading's arrival (after a drop-out the newest
autopilot time heard is old, and a reading may come before the positions that
catch up with it). A sensor on its own clock that happens to lie within these
bounds is taken at its word. The position is GLOBAL_POSITION_INT (stamped on the same
boot clock) interpolated linearly to the reading's time between the two
positions around it; ``position_gap_ms`` is their distance apart in time (0
for a position at the reading's very time), or, for a reading outside the
positions heard, the time to the nearest one, whose position it holds.
Heights: ``alt_amsl_m`` above mean sea level, ``alt_rel_home_m`` above home,
which is where the vehicle took off: the dock. ``time_utc`` is the
reading's boot time put on UTC through SYSTEM_TIME (its UTC and boot time are
of one instant), as the capture manifest does. A reading heard before the
first SYSTEM_TIME with a UTC time waits for it up to :data:`UTC_WAIT_MS` of the
autopilot's clock; after that (an autopilot without GPS time) it takes the
time it was received, which is off by the link's delay, and in SITL by the
simulation's speed-up.

The file is appended to and flushed as each reading is placed, so a flight cut
short (the ground station's process killed) keeps every reading already heard;
it is synced to disk when closed (not line by line: at a speed-up of 20 SITL's
4 Hz is 80 lines a second, and a sync blocks the link's loop).
"""

from __future__ import annotations

import bisect
import json
import logging
import math
import os
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from missions.manifest import read_lines

logger = logging.getLogger(__name__)

GAS_NAME = "gas.jsonl"

UG_M3 = "µg/m³"
MG_M3 = "mg/m³"
PPB = "ppb"
PPM = "ppm"

#: A component's stamp is taken on the autopilot's boot clock unless it is this far
#: ahead of every autopilot time heard (ms): more than a stream period or two...
AHEAD_MS = 1_000
#: ... once the autopilot's clock has run this far (ms) past the reading's arrival
#: (positions stream at 1 Hz or more: a clock that was only behind has caught up)...
CATCH_UP_MS = 5_000
#: ... or this far behind the newest autopilot time heard at its arrival (ms): more
#: than a link's delay, even SITL's at a speed-up of 20 on a loaded machine (50 ms
#: of ours are 1 s of its).
BEHIND_MS = 10_000
#: How long a reading waits for the first SYSTEM_TIME's UTC (ms of the autopilot's clock):
#: it comes with the EXTRA3 stream, at 1 Hz or more.
UTC_WAIT_MS = 3_000
#: Positions kept to place readings between (at 4 Hz, two minutes of flight).
KEPT_POSITIONS = 512
#: The boot clock stepping back this far (ms) is a reboot: positions before it are dropped.
REBOOT_STEP_MS = 60_000

#: CLOCK_BOOT: the reading's own stamp is on the autopilot's boot clock.
CLOCK_BOOT = "boot"
#: CLOCK_ARRIVAL: the newest autopilot time heard when the reading arrived.
CLOCK_ARRIVAL = "arrival"

_YEAR_2001_US = 978_307_200_000_000


@dataclass(frozen=True, slots=True)
class Gas:
    """What a NAMED_VALUE_FLOAT name measures: the pollutant (as the stations name
    it) and the unit its value is in."""

    pollutant: str
    unit: str


#: NAMED_VALUE_FLOAT names that are gas, upper case (see the module's docstring).
GAS_NAMES: dict[str, Gas] = {
    "TVOC": Gas("TVOC", UG_M3),
    "NO2": Gas("NO2", UG_M3),
    "SO2": Gas("SO2", UG_M3),
    "O3": Gas("O3", UG_M3),
    "PM25": Gas("PM2.5", UG_M3),
    "PM2.5": Gas("PM2.5", UG_M3),
    "PM2_5": Gas("PM2.5", UG_M3),
    "PM10": Gas("PM10", UG_M3),
    "CO": Gas("CO", MG_M3),
    "TVOC_PPB": Gas("TVOC", PPB),
    "NO2_PPB": Gas("NO2", PPB),
    "SO2_PPB": Gas("SO2", PPB),
    "O3_PPB": Gas("O3", PPB),
    "CO_PPM": Gas("CO", PPM),
}


def gas_of(name: str) -> Gas | None:
    """The gas a NAMED_VALUE_FLOAT ``name`` carries (NUL padding and case ignored), or None."""
    return GAS_NAMES.get(name.rstrip("\0").strip().upper())


@dataclass(frozen=True, slots=True)
class GasReading:
    """One reading where and when it was taken (see the module's docstring for frames)."""

    time_utc: str
    time_boot_ms: int
    """On the autopilot's boot clock, however ``clock`` found it."""
    clock: str
    """``"boot"`` (the reading's own stamp) or ``"arrival"`` (when it was heard)."""
    name: str
    """The NAMED_VALUE_FLOAT name as sent."""
    pollutant: str
    value: float
    unit: str
    component: int
    """The MAVLink component id that sent it (1: the autopilot)."""
    lat: float
    lon: float
    alt_amsl_m: float
    alt_rel_home_m: float
    position_gap_ms: int

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=False)


_FIELDS = {f.name for f in fields(GasReading)}


def parse_reading(line: str, *, where: str = GAS_NAME) -> GasReading:
    """Parse one line of ``gas.jsonl``; a bad line raises ValueError naming ``where``."""
    try:
        raw = json.loads(line)
        reading = GasReading(**{k: v for k, v in raw.items() if k in _FIELDS})
    except (json.JSONDecodeError, TypeError, AttributeError) as exc:
        raise ValueError(f"{where}: not a gas reading ({exc})") from exc
    if not all(math.isfinite(v) for v in (reading.value, reading.lat, reading.lon)):
        raise ValueError(f"{where}: not a gas reading (a value or position is not a number)")
    return reading


def read_gas(path: Path) -> list[GasReading]:
    """Every reading in a ``gas.jsonl`` file, in file order (the order they were placed)."""
    return read_lines(path, parse_reading)


class GasWriter:
    """Appends one JSON line per reading and flushes it at once; synced to disk on close."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: TextIO | None = path.open("a", encoding="utf-8")

    def write(self, reading: GasReading) -> None:
        if self._fh is None:
            return
        self._fh.write(reading.to_json() + "\n")
        self._fh.flush()
        self.count += 1

    def close(self) -> None:
        if self._fh is not None:
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None


@dataclass(frozen=True, slots=True)
class Fix:
    """One GLOBAL_POSITION_INT: boot ms, lat/lon degrees, AMSL and above-home metres."""

    time_ms: int
    lat: float
    lon: float
    alt_amsl_m: float
    alt_rel_home_m: float


@dataclass(frozen=True, slots=True)
class _Pending:
    """A reading heard: its own stamp and the newest autopilot time at its arrival (ms)."""

    stamp_ms: int
    arrival_ms: int
    from_autopilot: bool
    name: str
    gas: Gas
    value: float
    component: int
    received_utc: str

    def time(self, newest_ms: int) -> tuple[int, str] | None:
        """Its time and clock with ``newest_ms`` the newest autopilot time heard now."""
        return reading_time(
            self.stamp_ms,
            from_autopilot=self.from_autopilot,
            arrival_ms=self.arrival_ms,
            newest_ms=max(newest_ms, self.arrival_ms),
        )


class GasRecorder:
    """Named values in, placed gas readings out (to a :class:`GasWriter`).

    Fed by the vehicle with the autopilot's positions
    (:meth:`position`), its SYSTEM_TIME (:meth:`system_time`) and every
    NAMED_VALUE_FLOAT of the vehicle's system (:meth:`named_value`). A
    reading waits until a position at or after its time has come and UTC is
    tied to the boot clock (or :data:`UTC_WAIT_MS` passed without it), then
    is written at once; :meth:`close` writes the ones still waiting.
    """

    def __init__(self, writer: GasWriter) -> None:
        self.writer = writer
        self._fixes: list[Fix] = []
        self._pending: list[_Pending] = []
        self._utc_minus_boot_us: int | None = None

    def system_time(self, time_unix_usec: int, time_boot_ms: int) -> None:
        """SYSTEM_TIME: the autopilot's UTC and boot clocks at one instant (0 UTC: not known)."""
        if time_unix_usec > _YEAR_2001_US:
            self._utc_minus_boot_us = time_unix_usec - time_boot_ms * 1000
            self._release()

    def position(
        self, time_boot_ms: int, lat: float, lon: float, alt_amsl_m: float, alt_rel_home_m: float
    ) -> None:
        """GLOBAL_POSITION_INT of the autopilot; places every reading it was waiting for."""
        fix = Fix(time_boot_ms, lat, lon, alt_amsl_m, alt_rel_home_m)
        if self._fixes and time_boot_ms < self._fixes[-1].time_ms - REBOOT_STEP_MS:
            self._flush()  # a reboot: what waited is placed on the old clock's positions
            self._fixes = []
        bisect.insort(self._fixes, fix, key=lambda f: f.time_ms)
        del self._fixes[:-KEPT_POSITIONS]
        self._release()

    def named_value(
        self,
        name: str,
        value: float,
        time_boot_ms: int,
        *,
        component: int,
        from_autopilot: bool,
        autopilot_ms: float | None,
    ) -> None:
        """A NAMED_VALUE_FLOAT from ``component`` of the vehicle's system; not gas is ignored.

        ``autopilot_ms``: the newest time on the autopilot's boot clock heard when
        it arrived (None before any). ``from_autopilot``: sent by the autopilot
        itself, whose stamp is its boot clock by construction.
        """
        gas = gas_of(name)
        if gas is None:
            return
        if not math.isfinite(value):
            logger.warning("gas reading %s (component %d) is %r: left out", name, component, value)
            return
        if autopilot_ms is None and not from_autopilot:
            logger.warning("gas reading %s before any autopilot time: left out", name)
            return
        arrival = time_boot_ms if autopilot_ms is None else round(autopilot_ms)
        received = datetime.now(UTC).isoformat(timespec="milliseconds")
        self._pending.append(
            _Pending(
                time_boot_ms,
                arrival,
                from_autopilot,
                name.rstrip("\0"),
                gas,
                value,
                component,
                received,
            )
        )
        self._release()

    def close(self) -> None:
        """Write the readings still waiting (at the newest position), then close the file."""
        self._flush()
        self.writer.close()

    def _release(self) -> None:
        """Write every waiting reading whose time is known, with a position at or after
        it and its UTC known (or waited for long enough)."""
        if not self._fixes:
            return
        newest = self._fixes[-1].time_ms
        tied = self._utc_minus_boot_us is not None
        waiting = []
        for pending in self._pending:
            placed = pending.time(newest)
            if placed is None or placed[0] > newest:
                waiting.append(pending)
            elif tied or newest - placed[0] >= UTC_WAIT_MS:
                self._write(pending, *placed)
            else:
                waiting.append(pending)
        self._pending = waiting

    def _flush(self) -> None:
        """Write every waiting reading: a stamp the autopilot's clock never reached is
        another clock's."""
        pending, self._pending = self._pending, []
        if not pending:
            return  # nothing heard (a flight stopped before arming closes its recorder too)
        if not self._fixes:
            logger.warning("%d gas readings came without any position: left out", len(pending))
            return
        newest = self._fixes[-1].time_ms
        for p in pending:
            self._write(p, *(p.time(newest) or (p.arrival_ms, CLOCK_ARRIVAL)))

    def _write(self, pending: _Pending, time_ms: int, clock: str) -> None:
        fix, gap_ms = place(self._fixes, time_ms)
        self.writer.write(
            GasReading(
                time_utc=self._utc(time_ms) or pending.received_utc,
                time_boot_ms=time_ms,
                clock=clock,
                name=pending.name,
                pollutant=pending.gas.pollutant,
                value=float(pending.value),
                unit=pending.gas.unit,
                component=pending.component,
                lat=round(fix.lat, 8),
                lon=round(fix.lon, 8),
                alt_amsl_m=round(fix.alt_amsl_m, 3),
                alt_rel_home_m=round(fix.alt_rel_home_m, 3),
                position_gap_ms=gap_ms,
            )
        )

    def _utc(self, time_ms: int) -> str | None:
        if self._utc_minus_boot_us is None:
            return None
        moment = datetime.fromtimestamp((time_ms * 1000 + self._utc_minus_boot_us) / 1e6, UTC)
        return moment.isoformat(timespec="milliseconds")


def reading_time(
    stamp_ms: int, *, from_autopilot: bool, arrival_ms: int, newest_ms: int
) -> tuple[int, str] | None:
    """A reading's time on the autopilot's boot clock (ms) and which clock gave it; None
    while that is not known yet.

    ``arrival_ms``: the newest autopilot time heard when the reading arrived;
    ``newest_ms``: the newest heard now. The autopilot's own readings keep
    their stamp (``"boot"``). A component's keeps it when it lies within
    [``arrival_ms`` - :data:`BEHIND_MS`, ``newest_ms`` + :data:`AHEAD_MS`];
    one behind that is put at ``arrival_ms`` (``"arrival"``), and so is one
    still ahead once ``newest_ms`` is :data:`CATCH_UP_MS` past ``arrival_ms``.
    """
    if from_autopilot:
        return stamp_ms, CLOCK_BOOT
    if stamp_ms < arrival_ms - BEHIND_MS:
        return arrival_ms, CLOCK_ARRIVAL
    if stamp_ms <= newest_ms + AHEAD_MS:
        return stamp_ms, CLOCK_BOOT
    if newest_ms - arrival_ms > CATCH_UP_MS:
        return arrival_ms, CLOCK_ARRIVAL
    return None


def place(fixes: list[Fix], time_ms: int) -> tuple[Fix, int]:
    """The position at ``time_ms`` from ``fixes`` (sorted by time, not empty), and its gap.

    Between two positions, each coordinate linearly interpolated in time
    (degrees and metres: over the fraction of a second between two positions
    the vehicle's path is straight and a degree's length constant to far below
    a centimetre); the gap is the two positions' distance apart in ms (0 at
    a position's own time). Outside them the nearest is held, and the gap is
    the time to it.
    """
    times = [f.time_ms for f in fixes]
    after = bisect.bisect_left(times, time_ms)
    if after < len(fixes) and fixes[after].time_ms == time_ms:
        return fixes[after], 0
    if after == 0:
        return fixes[0], fixes[0].time_ms - time_ms
    if after == len(fixes):
        return fixes[-1], time_ms - fixes[-1].time_ms
    a, b = fixes[after - 1], fixes[after]
    w = (time_ms - a.time_ms) / (b.time_ms - a.time_ms)
    fix = Fix(
        time_ms,
        a.lat + w * (b.lat - a.lat),
        a.lon + w * (b.lon - a.lon),
        a.alt_amsl_m + w * (b.alt_amsl_m - a.alt_amsl_m),
        a.alt_rel_home_m + w * (b.alt_rel_home_m - a.alt_rel_home_m),
    )
    return fix, b.time_ms - a.time_ms
