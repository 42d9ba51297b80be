"""A cellular link on loopback, between SITL's UDP serial port and a ground station on TCP.

SITL sends to a UDP port (:func:`sitl.instance.gcs_port`); :class:`LinkEmulator`
binds it, and serves the ground station on a TCP port (:attr:`LinkEmulator.url`).
Two directions, each impaired on its own:

- ``"down"``: vehicle to ground (the vehicle modem's cellular *uplink*, the weak
  one). Each UDP datagram from SITL is one unit.
- ``"up"``: ground to vehicle (the modem's cellular downlink). The TCP byte
  stream is cut into whole MAVLink frames, each one unit, so a loss never
  leaves half a frame.

Each unit goes through these steps, in this order:

1. drop-out: lost while a scheduled :class:`Outage` or a :meth:`LinkEmulator.cut`
   is under way;
2. burst loss (Gilbert-Elliott): the channel state steps first (good to bad
   with probability ``p_good_bad``, bad to good with ``r_bad_good``), then the
   unit is lost with that state's loss probability;
3. bandwidth cap: a token bucket on bytes (``rate_bytes_s``, depth
   ``burst_bytes``); a unit waits behind earlier ones for its tokens, and is
   lost if the bytes already waiting plus its own would pass ``queue_bytes``
   (a unit behind an empty queue always waits its turn);
4. one-way delay: it arrives at its departure time plus a delay drawn from a
   normal or a shifted gamma distribution, so units reorder when the jitter
   exceeds the gap between them, as Linux netem's delay does;
5. on arrival, lost if a drop-out began meanwhile: nothing passes during one.

Arrival times wait in one heap per direction, served by a single
``loop.call_at`` timer (SITL at speed-up sends about 1000 messages a second).
The randomness comes from ``random.Random`` seeded per direction from one
``seed``: a run is repeatable as long as the units arrive in the same order.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import math
import random
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

logger = logging.getLogger(__name__)

Jitter = Literal["normal", "gamma"]
DIRECTIONS = ("up", "down")


@dataclass(frozen=True, slots=True)
class Direction:
    """How one direction of the link treats each unit (see the module docstring).

    ``delay_ms`` is the mean one-way delay and ``jitter_ms`` its standard
    deviation, for either distribution. ``"normal"`` is clipped at zero;
    ``"gamma"`` is ``delay_ms - jitter_ms * sqrt(gamma_shape)`` plus a gamma
    variate of that shape, a floor with a tail to the right as radio
    retransmissions give (the floor must not be negative). ``in_order`` holds
    a unit until the one before it has arrived (head-of-line blocking, as LTE's
    in-sequence delivery does) instead of letting it overtake. ``rate_bytes_s``
    None means no cap.
    """

    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    jitter: Jitter = "normal"
    gamma_shape: float = 2.0
    in_order: bool = False
    p_good_bad: float = 0.0
    r_bad_good: float = 1.0
    loss_good: float = 0.0
    loss_bad: float = 0.0
    rate_bytes_s: float | None = None
    burst_bytes: int = 1500
    queue_bytes: int = 64_000

    def __post_init__(self) -> None:
        probabilities = {
            "p_good_bad": self.p_good_bad,
            "r_bad_good": self.r_bad_good,
            "loss_good": self.loss_good,
            "loss_bad": self.loss_bad,
        }
        for name, value in probabilities.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {value:g}")
        if self.p_good_bad > 0 and self.r_bad_good == 0:
            raise ValueError("r_bad_good must be positive when the bad state can be entered")
        if self.delay_ms < 0 or self.jitter_ms < 0:
            raise ValueError("delay_ms and jitter_ms must not be negative")
        if self.jitter not in ("normal", "gamma"):
            raise ValueError(f"jitter is 'normal' or 'gamma', got {self.jitter!r}")
        if self.jitter == "gamma" and self.jitter_ms * math.sqrt(self.gamma_shape) > self.delay_ms:
            raise ValueError("gamma jitter: delay_ms must be at least jitter_ms * sqrt(shape)")
        if self.rate_bytes_s is not None and self.rate_bytes_s <= 0:
            raise ValueError("rate_bytes_s must be positive (None for no cap)")
        if self.burst_bytes <= 0 or self.queue_bytes < 0:
            raise ValueError("burst_bytes must be positive and queue_bytes not negative")

    @property
    def bad_fraction(self) -> float:
        """Long-run share of units seen in the bad state: pi_B = p / (p + r)."""
        total = self.p_good_bad + self.r_bad_good
        return self.p_good_bad / total if total > 0 else 0.0

    @property
    def mean_loss(self) -> float:
        """Long-run loss from the burst model alone: pi_B * loss_bad + pi_G * loss_good."""
        bad = self.bad_fraction
        return bad * self.loss_bad + (1.0 - bad) * self.loss_good

    def on_clock(self, speedup: float) -> Direction:
        """This direction as a vehicle whose clock runs ``speedup`` times the wall's meets it.

        SITL at speed-up 20 lives 20 of its seconds in one of ours and sends 20
        times the messages: delays shrink and rates grow by the speed-up (80 ms
        of the vehicle's clock is 4 ms of the wall). Loss is per unit and stays;
        the queue and the bucket keep their bytes, so they hold the same number
        of the vehicle's seconds.
        """
        rate = None if self.rate_bytes_s is None else self.rate_bytes_s * speedup
        return replace(
            self,
            delay_ms=self.delay_ms / speedup,
            jitter_ms=self.jitter_ms / speedup,
            rate_bytes_s=rate,
        )


@dataclass(frozen=True, slots=True)
class Outage:
    """A drop-out of both directions, ``start_s`` after :meth:`LinkEmulator.start`."""

    start_s: float
    duration_s: float

    def __post_init__(self) -> None:
        if self.start_s < 0 or self.duration_s <= 0:
            raise ValueError("an outage starts at or after 0 s and lasts a positive time")


@dataclass(frozen=True, slots=True)
class Profile:
    """A named link: each direction's impairments and the scheduled drop-outs."""

    name: str
    up: Direction = field(default_factory=Direction)
    down: Direction = field(default_factory=Direction)
    outages: tuple[Outage, ...] = ()

    def on_clock(self, speedup: float) -> Profile:
        """The link on a simulated vehicle's clock (:meth:`Direction.on_clock`).

        Its drop-outs start and last ``speedup`` times less of the wall's time.
        A profile describes a network in real seconds; a SITL flight at
        speed-up N through the profile itself would meet a network N times
        slower than described, and its own time-outs (ArduPilot gives up a
        mission upload after 8 s of its clock without an item) would fire on
        a link that is only slow in our seconds.
        """
        if speedup <= 0:
            raise ValueError(f"speed-up must be positive, got {speedup:g}")
        return Profile(
            self.name if speedup == 1 else f"{self.name} at speed-up {speedup:g}",
            up=self.up.on_clock(speedup),
            down=self.down.on_clock(speedup),
            outages=tuple(
                Outage(o.start_s / speedup, o.duration_s / speedup) for o in self.outages
            ),
        )


def uniform_loss(fraction: float, *, name: str | None = None) -> Profile:
    """Each unit lost with probability ``fraction`` each way; no delay, no cap."""
    both = Direction(loss_good=fraction)
    return Profile(name or f"uniform loss {fraction:g}", up=both, down=both)


DIRECT = Profile("direct")
"""No impairment: a plain relay."""

GOOD_5G = Profile(
    "good-5g",
    up=Direction(delay_ms=12.0, jitter_ms=3.0, loss_good=0.001, rate_bytes_s=12_500_000),
    down=Direction(delay_ms=12.0, jitter_ms=3.0, loss_good=0.001, rate_bytes_s=2_500_000),
)
"""Public 5G (non-standalone) with a strong signal. Typical values, not measured
here: operator and crowd-sourced measurements report round trips of about 20 to
30 ms on good 5G, so 12 ms one way with a few ms of jitter; isolated losses of
0.1 % for UDP after the radio's retransmissions; 20 Mbit/s from the vehicle and
100 Mbit/s to it, far more than MAVLink needs."""

LTE_CELL_EDGE = Profile(
    "lte-cell-edge",
    up=Direction(
        delay_ms=80.0, jitter_ms=30.0, jitter="gamma",
        p_good_bad=0.005, r_bad_good=0.2, loss_good=0.002, loss_bad=0.5,
        rate_bytes_s=250_000, queue_bytes=64_000,
    ),
    down=Direction(
        delay_ms=80.0, jitter_ms=30.0, jitter="gamma",
        p_good_bad=0.005, r_bad_good=0.2, loss_good=0.002, loss_bad=0.5,
        rate_bytes_s=62_500, queue_bytes=32_000,
    ),
)  # fmt: skip
"""4G at the edge of a cell, the vehicle high and seeing many cells. Typical
values, not measured here: commercial LTE round trips are some 40 to 70 ms in
the middle of a cell and pass 150 ms at its edge, where HARQ and RLC
retransmissions (8 ms a HARQ round in FDD) add a tail, hence 80 ms one way with
a 30 ms deviation, gamma-shaped (floor 38 ms). Units overtake one another when
the jitter exceeds their gap, harsher than LTE, whose RLC and PDCP mostly deliver
in sequence (``in_order=True`` models that). Losses come in bursts: bad spells
of 5 units on average (1 / r) losing half, entered once in 200 units; mean loss
0.0244 * 0.5 + 0.9756 * 0.002 = 1.4 %. The modem's uplink at the edge gives a few
hundred kbit/s: 500 kbit/s from the vehicle, 2 Mbit/s to it, with half a second
of queue on the uplink. 3GPP TR 36.777 asks 60 to 100 kbit/s and 50 ms for
command and control of aerial vehicles; this link is worse on latency."""

HANDOVER = Profile(
    "handover",
    up=Direction(
        delay_ms=35.0, jitter_ms=10.0, jitter="gamma", loss_good=0.005, rate_bytes_s=250_000
    ),
    down=Direction(
        delay_ms=35.0, jitter_ms=10.0, jitter="gamma", loss_good=0.005, rate_bytes_s=125_000
    ),
    outages=(Outage(start_s=10.0, duration_s=4.0),),
)
"""A mid-cell LTE link (35 ms one way, 10 ms deviation, 0.5 % loss) that drops out
for 4 s, 10 s after the emulator starts (move it with ``dataclasses.replace``). A
successful handover interrupts data for tens of milliseconds; a failed one, or a
radio link failure (timer T310, often 1 s) then RRC re-establishment or a new
attach, takes seconds, and airborne modems meet it more often for they see many
cells (3GPP TR 36.777). Typical values, not measured here."""

LOSSY_20 = uniform_loss(0.2, name="lossy-20")
"""The project's first lossy-link test: 20 % of units lost each way, uniformly,
no delay. A stress test, not a model of a real network."""

PROFILES: dict[str, Profile] = {
    p.name: p for p in (DIRECT, GOOD_5G, LTE_CELL_EDGE, HANDOVER, LOSSY_20)
}


def take_frames(buffer: bytearray) -> list[bytes]:
    """Remove and return the whole MAVLink frames at the front of ``buffer``.

    A v1 frame (magic 0xFE) is its payload plus 8 bytes; a v2 frame (0xFD) its
    payload plus 12, plus a 13-byte signature when incompatibility flag 0x01 is
    set. Bytes before a magic are discarded; a partial frame stays in the buffer.
    """
    frames = []
    while buffer:
        if buffer[0] not in (0xFD, 0xFE):
            start = next((i for i, b in enumerate(buffer) if b in (0xFD, 0xFE)), len(buffer))
            del buffer[:start]
            continue
        if len(buffer) < 3:
            break
        signature = 13 if buffer[2] & 0x01 else 0
        size = buffer[1] + (8 if buffer[0] == 0xFE else 12 + signature)
        if len(buffer) < size:
            break
        frames.append(bytes(buffer[:size]))
        del buffer[:size]
    return frames


class _Pipe:
    """One direction: loss, shaping, delay and in-order-by-arrival delivery."""

    def __init__(
        self,
        spec: Direction,
        rng: random.Random,
        *,
        deliver: Callable[[bytes], bool],
        blocked: Callable[[float], bool],
    ) -> None:
        self.spec = spec
        self.rng = rng
        self._deliver = deliver
        self._blocked = blocked
        self.sent = 0
        self.dropped = 0
        self.delayed = 0
        self.reordered = 0
        self.causes: Counter[str] = Counter()
        self._bad = False
        self._tokens = float(spec.burst_bytes)
        self._tokens_at = -math.inf
        self._waiting: deque[tuple[float, int]] = deque()  # (departure s, bytes) shaped
        self._waiting_bytes = 0
        self._heap: list[tuple[float, int, bytes]] = []  # (arrival s, unit number, data)
        self._timer: asyncio.TimerHandle | None = None
        self._next = 0
        self._highest = -1
        self._last_arrival = -math.inf

    def push(self, data: bytes) -> None:
        """Take one unit in at the loop's current time."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._blocked(now):
            self._drop("drop-out")
            return
        if self._lost():
            self._drop("loss")
            return
        departs = self._shape(len(data), now)
        if departs is None:
            self._drop("queue")
            return
        arrives = departs + self._delay_s()
        if self.spec.in_order:
            arrives = max(arrives, self._last_arrival)
            self._last_arrival = arrives
        number = self._next
        self._next += 1
        if arrives <= now and not self._heap:
            self._arrive(number, data, arrives)
            return
        self.delayed += 1
        heapq.heappush(self._heap, (arrives, number, data))
        if self._timer is None or arrives < self._timer.when():
            self._serve(loop)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._heap.clear()

    def _drop(self, cause: str) -> None:
        self.dropped += 1
        self.causes[cause] += 1

    def _lost(self) -> bool:
        """Step the Gilbert-Elliott state, then draw the loss of this state."""
        spec = self.spec
        if self._bad:
            self._bad = self.rng.random() >= spec.r_bad_good
        elif spec.p_good_bad > 0:
            self._bad = self.rng.random() < spec.p_good_bad
        loss = spec.loss_bad if self._bad else spec.loss_good
        return loss > 0 and self.rng.random() < loss

    def _shape(self, size: int, now: float) -> float | None:
        """Departure time from the token bucket (FIFO); None when the queue is full."""
        rate = self.spec.rate_bytes_s
        if rate is None:
            return now
        while self._waiting and self._waiting[0][0] <= now:
            self._waiting_bytes -= self._waiting.popleft()[1]
        if self._waiting and self._waiting_bytes + size > self.spec.queue_bytes:
            return None
        start = max(now, self._tokens_at)
        tokens = min(self.spec.burst_bytes, self._tokens + (start - self._tokens_at) * rate)
        departs = start + max(0.0, size - tokens) / rate
        self._tokens = max(0.0, tokens - size)
        self._tokens_at = departs
        if departs > now:
            self._waiting.append((departs, size))
            self._waiting_bytes += size
        return departs

    def _delay_s(self) -> float:
        spec = self.spec
        if spec.jitter_ms == 0:
            return spec.delay_ms / 1000
        if spec.jitter == "normal":
            delay_ms = self.rng.gauss(spec.delay_ms, spec.jitter_ms)
        else:
            scale = spec.jitter_ms / math.sqrt(spec.gamma_shape)
            floor = spec.delay_ms - spec.gamma_shape * scale
            delay_ms = floor + self.rng.gammavariate(spec.gamma_shape, scale)
        return max(0.0, delay_ms) / 1000

    def _serve(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver every unit due by now; arm the timer for the next one."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        now = loop.time()
        while self._heap and self._heap[0][0] <= now:
            arrives, number, data = heapq.heappop(self._heap)
            self._arrive(number, data, arrives)
        if self._heap:
            self._timer = loop.call_at(self._heap[0][0], self._serve, loop)

    def _arrive(self, number: int, data: bytes, arrives: float) -> None:
        if self._blocked(arrives):
            self._drop("drop-out")
            return
        if not self._deliver(data):
            self._drop("no peer")
            return
        self.sent += 1
        if number < self._highest:
            self.reordered += 1
        self._highest = max(self._highest, number)


class _SitlSide(asyncio.DatagramProtocol):
    def __init__(self, emulator: LinkEmulator) -> None:
        self.emulator = emulator

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.emulator._from_sitl(data, addr)


class LinkEmulator:
    """Relay SITL's UDP serial port ``sitl_port`` to a TCP ground station through ``profile``.

    Counters per direction (``"up"``, ``"down"``): ``sent`` (delivered),
    ``dropped`` (for any reason; :attr:`causes` says which), ``delayed`` (held
    for a later delivery), ``reordered`` (delivered after a later unit).
    Downlink units are counted only while a client is connected, uplink ones
    once SITL has been heard, as there is nowhere to send them before.
    """

    def __init__(self, sitl_port: int, profile: Profile = DIRECT, *, seed: int = 1) -> None:
        self.sitl_port = sitl_port
        self.profile = profile
        self.seed = seed
        self.port = 0
        self.connections = 0
        self.pipes = {
            name: _Pipe(
                getattr(profile, name),
                random.Random(f"{seed}:{name}"),
                deliver=self._to_sitl if name == "up" else self._to_client,
                blocked=self._blocked,
            )
            for name in DIRECTIONS
        }
        self._windows: list[tuple[float, float]] = []  # drop-outs, loop time [from, until)
        self._refuse_until = -math.inf
        self._sitl_addr: Any = None
        self._udp: asyncio.DatagramTransport | None = None
        self._server: asyncio.Server | None = None
        self._client: asyncio.StreamWriter | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        """Where the ground station connects (a MAVLink URL)."""
        return f"tcp:127.0.0.1:{self.port}"

    @property
    def sent(self) -> dict[str, int]:
        return {name: pipe.sent for name, pipe in self.pipes.items()}

    @property
    def dropped(self) -> dict[str, int]:
        return {name: pipe.dropped for name, pipe in self.pipes.items()}

    @property
    def delayed(self) -> dict[str, int]:
        return {name: pipe.delayed for name, pipe in self.pipes.items()}

    @property
    def reordered(self) -> dict[str, int]:
        return {name: pipe.reordered for name, pipe in self.pipes.items()}

    @property
    def causes(self) -> dict[str, Counter[str]]:
        """Why units were dropped: drop-out, loss, queue, no peer."""
        return {name: pipe.causes for name, pipe in self.pipes.items()}

    async def start(self) -> None:
        """Bind SITL's port and the TCP port; scheduled drop-outs count from now."""
        loop = asyncio.get_running_loop()
        self._udp, _ = await loop.create_datagram_endpoint(
            lambda: _SitlSide(self), local_addr=("127.0.0.1", self.sitl_port)
        )
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        now = loop.time()
        self._windows = [
            (now + o.start_s, now + o.start_s + o.duration_s) for o in self.profile.outages
        ]
        logger.info("link emulator %s: udp %d <-> %s", self.profile.name, self.sitl_port, self.url)

    async def stop(self) -> None:
        for pipe in self.pipes.values():
            pipe.close()
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._server is not None:
            self._server.close()
        if self._udp is not None:
            self._udp.close()
        if self._handlers:  # their clients are closed: each ends at its end of file
            await asyncio.wait(list(self._handlers), timeout=1.0)

    def cut(self, seconds: float) -> None:
        """Drop out now for ``seconds``: hang up on the client and refuse it meanwhile."""
        now = asyncio.get_running_loop().time()
        self._refuse_until = now + seconds
        self._windows.append((now, now + seconds))
        if self._client is not None:
            self._client.close()
            self._client = None

    def _blocked(self, t: float) -> bool:
        return any(start <= t < end for start, end in self._windows)

    def _to_sitl(self, data: bytes) -> bool:
        if self._udp is None or self._udp.is_closing() or self._sitl_addr is None:
            return False
        self._udp.sendto(data, self._sitl_addr)
        return True

    def _to_client(self, data: bytes) -> bool:
        if self._client is None or self._client.is_closing():
            return False
        self._client.write(data)
        return True

    def _from_sitl(self, data: bytes, addr: Any) -> None:
        self._sitl_addr = addr
        if self._client is not None:
            self.pipes["down"].push(data)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if asyncio.get_running_loop().time() < self._refuse_until:
            writer.close()
            return
        self.connections += 1
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        if self._client is not None:
            self._client.close()
        self._client = writer
        pending = bytearray()
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(4096):
                pending += data
                for frame in take_frames(pending):
                    if self._sitl_addr is not None:
                        self.pipes["up"].push(frame)
        if self._client is writer:
            self._client = None
        writer.close()
