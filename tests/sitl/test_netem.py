"""The link emulator on loopback, no SITL: a UDP socket plays SITL, a TCP client the ground.

Downlink units carry their number and the loop time they were sent, so the
receiver measures each one's delay and order. The tolerances are derived in
each test from the sample size; the loop's own latency (sending, TCP, waking
up) only ever adds delay, so it gets a one-sided allowance: ``LATENCY_S`` for
one unit (a stall of the process on a loaded machine), ``MEAN_LATENCY_S`` for
an average over hundreds (measured at about 1 ms with a load of 5 on 2 cores).
Every test seeds the emulator and prints the seed.
"""

from __future__ import annotations

import asyncio
import math
import socket
import statistics
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from pymavlink.dialects.v10 import ardupilotmega as mavlink1
from pymavlink.dialects.v20 import ardupilotmega as mavlink2

from sitl.netem import (
    HANDOVER,
    LTE_CELL_EDGE,
    Direction,
    LinkEmulator,
    Outage,
    Profile,
    take_frames,
)
from tests.sitl.proxy import LossyProxy

#: Allowances for the loop's latency from a send to its receipt, one-sided (seconds).
LATENCY_S = 0.1
MEAN_LATENCY_S = 0.01
UNIT = struct.Struct("<Id")  # unit number, loop time sent (s)


@dataclass
class Received:
    number: int
    sent_s: float
    received_s: float


class _FakeSitl(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.datagrams: list[tuple[bytes, float]] = []

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.datagrams.append((data, asyncio.get_running_loop().time()))


@dataclass
class Link:
    """An emulator with a fake SITL on its UDP side and a client on its TCP side."""

    emulator: LinkEmulator
    sitl: _FakeSitl
    udp: asyncio.DatagramTransport
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    started_s: float
    received: list[Received] = field(default_factory=list)

    def reading(self, size: int, *, quiet_s: float) -> asyncio.Task[list[Received]]:
        """Start :meth:`collect` before sending, so each receipt is timed as it happens."""
        return asyncio.create_task(self.collect(size, quiet_s=quiet_s))

    def send_down(self, number: int, size: int) -> None:
        now = asyncio.get_running_loop().time()
        self.udp.sendto(UNIT.pack(number, now).ljust(size, b"\0"))

    async def collect(self, size: int, *, quiet_s: float) -> list[Received]:
        """Downlink units read until none has come for ``quiet_s`` (run it while sending)."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                async with asyncio.timeout(quiet_s):
                    data = await self.reader.readexactly(size)
            except TimeoutError:
                return self.received
            number, sent_s = UNIT.unpack_from(data)
            self.received.append(Received(number, sent_s, loop.time()))


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def open_link() -> AsyncIterator[Any]:
    links: list[Link] = []

    async def make(profile: Profile, *, seed: int, emulator: LinkEmulator | None = None) -> Link:
        loop = asyncio.get_running_loop()
        emu = emulator or LinkEmulator(free_udp_port(), profile, seed=seed)
        print(f"seed {emu.seed}, profile {emu.profile}")
        await emu.start()
        started_s = loop.time()
        udp, sitl = await loop.create_datagram_endpoint(
            _FakeSitl, local_addr=("127.0.0.1", 0), remote_addr=("127.0.0.1", emu.sitl_port)
        )
        reader, writer = await asyncio.open_connection("127.0.0.1", emu.port)
        while emu.connections == 0:
            await asyncio.sleep(0.001)
        link = Link(emu, sitl, udp, reader, writer, started_s)
        links.append(link)
        return link

    yield make
    for link in links:
        link.writer.close()
        link.udp.close()
        await link.emulator.stop()


def down_only(direction: Direction, **kwargs: Any) -> Profile:
    return Profile("test", down=direction, **kwargs)


async def send_in_bursts(link: Link, count: int, *, size: int, burst: int, gap_s: float) -> None:
    for number in range(count):
        link.send_down(number, size)
        if number % burst == burst - 1:
            await asyncio.sleep(gap_s)


def times_in_order(received: list[Received]) -> int:
    """Units received after a higher-numbered one."""
    late, highest = 0, -1
    for unit in received:
        late += unit.number < highest
        highest = max(highest, unit.number)
    return late


@pytest.mark.parametrize(
    ("jitter", "delay_ms", "jitter_ms", "kurtosis"),
    # kurtosis of the delay: 3 for a normal, 3 + 6 / shape for a gamma (shape 2: 6)
    [("normal", 40.0, 10.0, 3.0), ("gamma", 60.0, 20.0, 6.0)],
)
async def test_delay_mean_and_jitter_match_the_profile(
    open_link: Any, jitter: str, delay_ms: float, jitter_ms: float, kurtosis: float
) -> None:
    seed, n = 11, 400
    spec = Direction(delay_ms=delay_ms, jitter_ms=jitter_ms, jitter=jitter)  # type: ignore[arg-type]
    link = await open_link(down_only(spec), seed=seed)
    reading = link.reading(UNIT.size, quiet_s=0.5)
    await send_in_bursts(link, n, size=UNIT.size, burst=4, gap_s=0.005)
    received = await reading
    assert len(received) == n
    delays_ms = [1000 * (u.received_s - u.sent_s) for u in received]
    mean, sd = statistics.fmean(delays_ms), statistics.stdev(delays_ms)
    # standard error of the mean: sigma / sqrt(n) = 10 / 20 = 0.5 ms (normal),
    # 20 / 20 = 1 ms (gamma); of the standard deviation: sigma * sqrt((kurtosis - 1) / 4n),
    # 10 * sqrt(2 / 1600) = 0.35 ms (normal), 20 * sqrt(5 / 1600) = 1.1 ms (gamma).
    # Five standard errors each way, plus the loop's mean latency above (it only adds
    # delay, and its spread adds in quadrature to the jitter: 10 ms of it on top of
    # 10 ms of jitter would give 14 ms, within the same allowance on the deviation)
    se_mean = jitter_ms / math.sqrt(n)
    se_sd = jitter_ms * math.sqrt((kurtosis - 1) / (4 * n))
    print(f"delay {mean:.2f} ms, jitter {sd:.2f} ms over {n} units")
    assert delay_ms - 5 * se_mean <= mean <= delay_ms + 5 * se_mean + 1000 * MEAN_LATENCY_S
    assert jitter_ms - 5 * se_sd <= sd <= jitter_ms + 5 * se_sd + 1000 * MEAN_LATENCY_S
    if jitter == "gamma":  # the floor: 60 - 20 * sqrt(2) = 31.7 ms, never undercut
        assert min(delays_ms) >= delay_ms - jitter_ms * math.sqrt(2)
    assert link.emulator.delayed["down"] == n


async def test_gilbert_elliott_loss_and_burst_length_match_the_model(open_link: Any) -> None:
    seed, n = 7, 10_000
    spec = Direction(p_good_bad=0.05, r_bad_good=0.25, loss_good=0.0, loss_bad=1.0)
    # pi_B = p / (p + r) = 0.05 / 0.30 = 1/6; mean loss = 1/6 * 1 + 5/6 * 0 = 0.1667
    assert spec.mean_loss == pytest.approx(1 / 6)
    link = await open_link(down_only(spec), seed=seed)
    emu = link.emulator
    reading = link.reading(UNIT.size, quiet_s=0.5)
    for number in range(n):
        link.send_down(number, UNIT.size)
        if number % 50 == 49:  # let the emulator read them all: no loss in the kernel
            while emu.sent["down"] + emu.dropped["down"] < number + 1:
                await asyncio.sleep(0.0005)
    received = await reading
    got = {u.number for u in received}
    lost = [i for i in range(n) if i not in got]
    runs, run = [], 0
    for i in range(n + 1):
        if i < n and i not in got:
            run += 1
        elif run:
            runs.append(run)
            run = 0
    loss = len(lost) / n
    mean_run = statistics.fmean(runs)
    print(f"loss {loss:.4f}, mean burst {mean_run:.2f} units over {len(runs)} bursts")
    # the state is a Markov chain with lambda = 1 - p - r = 0.7: the variance of the
    # loss fraction is pi (1 - pi) / n * (1 + lambda) / (1 - lambda)
    # = (1/6)(5/6) / 10000 * 5.67, so one standard error is 0.0089; five: 0.044
    assert abs(loss - 1 / 6) <= 5 * math.sqrt((1 / 6) * (5 / 6) / n * 1.7 / 0.3)
    # bursts are geometric with mean 1 / r = 4 and deviation sqrt(1 - r) / r = 3.46;
    # about n * pi_B * r = 417 of them: one standard error 0.17, five 0.85
    assert abs(mean_run - 4.0) <= 5 * math.sqrt(0.75) / 0.25 / math.sqrt(len(runs))
    assert emu.dropped["down"] == len(lost) == emu.causes["down"]["loss"]
    assert emu.sent["down"] == len(received)


async def test_units_reorder_when_jitter_exceeds_the_gap_not_without_jitter_nor_in_order(
    open_link: Any,
) -> None:
    seed, n = 5, 200
    jittery = await open_link(down_only(Direction(delay_ms=20.0, jitter_ms=5.0)), seed=seed)
    steady = await open_link(down_only(Direction(delay_ms=20.0)), seed=seed)
    in_sequence = Direction(delay_ms=20.0, jitter_ms=5.0, in_order=True)
    queued = await open_link(down_only(in_sequence), seed=seed)
    links = (jittery, steady, queued)
    readings = [link.reading(UNIT.size, quiet_s=0.5) for link in links]
    for link in links:  # bursts of 10 back to back: gaps of microseconds
        await send_in_bursts(link, n, size=UNIT.size, burst=10, gap_s=0.005)
    late = times_in_order(await readings[0])
    # within a burst the order of arrival is a random permutation of 10, where
    # 10 - H_10 = 10 - 2.93 = 7.1 units arrive after a higher one (deviation 1.2 per
    # burst, 5.3 over 20 bursts): about 141 of 200 expected, 60 is 15 deviations below
    print(f"reordered {late} of {n}")
    assert late >= 60
    assert jittery.emulator.reordered["down"] == late
    in_order = await readings[1]
    assert [u.number for u in in_order] == list(range(n))
    assert steady.emulator.reordered["down"] == 0
    # in order: the same jitter, each unit held behind the one before
    assert [u.number for u in await readings[2]] == list(range(n))
    assert queued.emulator.reordered["down"] == 0


async def test_bandwidth_cap_holds_the_throughput(open_link: Any) -> None:
    seed, n, size, rate = 3, 500, 200, 50_000.0
    spec = Direction(rate_bytes_s=rate, burst_bytes=500, queue_bytes=200_000)
    link = await open_link(down_only(spec), seed=seed)
    reading = link.reading(size, quiet_s=0.5)
    # offered 25 units of 200 B each 10 ms = 500 kB/s, ten times the cap
    await send_in_bursts(link, n, size=size, burst=25, gap_s=0.01)
    received = await reading
    assert len(received) == n
    span_s = received[-1].received_s - received[0].received_s
    throughput = (n - 1) * size / span_s
    # the bucket's 500 B let the first 2.5 units through at once, then one per
    # 200 / 50000 = 4 ms: the last leaves (100000 - 500) / 50000 = 1.99 s after the
    # first, so 99800 B / 1.99 s = 50151 B/s (+0.3 % on the cap). Lateness of the
    # first or the last delivery, up to LATENCY_S, moves it by 0.1 / 1.99 = 5 %
    expected = (n - 1) * size / ((n * size - 500) / rate)
    print(f"throughput {throughput:.0f} B/s against a cap of {rate:.0f} ({expected:.0f})")
    assert throughput == pytest.approx(expected, rel=LATENCY_S / 1.99)
    assert link.emulator.dropped["down"] == 0


async def test_queue_limit_drops_the_excess(open_link: Any) -> None:
    spec = Direction(rate_bytes_s=1000.0, burst_bytes=100, queue_bytes=500)
    link = await open_link(down_only(spec), seed=1)
    reading = link.reading(100, quiet_s=0.5)
    for number in range(20):
        link.send_down(number, 100)
    sent_s = asyncio.get_running_loop().time()
    received = await reading
    dropped = link.emulator.causes["down"]["queue"]
    # the bucket's 100 B pass the first at once; five more wait (500 B, leaving 0.1 s
    # apart at 1000 B/s); the other 14 find the queue full. A slot frees up for each
    # 0.1 s the loop takes to read the 20 (under LATENCY_S: at most one more)
    after_s = [u.received_s - sent_s for u in received]
    print(f"dropped {dropped} of 20 at the queue; received after {after_s}")
    assert dropped in (13, 14)
    assert len(received) == 20 - dropped
    # unit k leaves 0.1 k s after the first was taken in (never earlier), which is at
    # most LATENCY_S after it was sent, and reaches the client within LATENCY_S
    for k, t in enumerate(after_s):
        assert 0.1 * k - 0.001 <= t <= 0.1 * k + 2 * LATENCY_S


async def test_a_drop_out_passes_nothing_for_its_duration(open_link: Any) -> None:
    seed, start_s, duration_s = 9, 0.3, 1.0
    profile = down_only(Direction(delay_ms=100.0), outages=(Outage(start_s, duration_s),))
    link = await open_link(profile, seed=seed)
    loop = asyncio.get_running_loop()
    number = 0
    reading = link.reading(UNIT.size, quiet_s=1.3)  # the drop-out is quiet for 1 s
    while loop.time() - link.started_s < 1.6:
        link.send_down(number, UNIT.size)
        number += 1
        await asyncio.sleep(0.01)
    received = await reading
    at = [u.received_s - link.started_s for u in received]
    sent_at = [u.sent_s - link.started_s for u in received]
    print(f"{len(received)} of {number} units through")
    window_end = start_s + duration_s
    # delivered before the drop-out, a unit may still reach the client LATENCY_S into it
    assert not [t for t in at if start_s + LATENCY_S <= t < window_end]
    # the emulator took each unit in at most LATENCY_S after it was sent: a unit sent
    # in [0.2, 1.3 - LATENCY_S) either was still in flight (100 ms) at 0.3 s or met
    # the drop-out on entry, so none comes through
    assert not [s for s in sent_at if 0.2 <= s < window_end - LATENCY_S]
    assert any(s < 0.2 - LATENCY_S for s in sent_at)
    assert any(s >= window_end for s in sent_at)
    assert link.emulator.dropped["down"] == number - len(received)


async def test_uplink_frames_stay_whole_and_arrive_delayed(open_link: Any) -> None:
    link = await open_link(Profile("up", up=Direction(delay_ms=20.0)), seed=2)
    link.send_down(0, UNIT.size)  # the emulator learns SITL's address from its first datagram
    await link.collect(UNIT.size, quiet_s=0.1)
    mav = mavlink2.MAVLink(None, srcSystem=255)
    frames = [mav.ping_encode(i, i, 1, 1).pack(mav) for i in range(30)]
    stream = b"".join(frames)
    loop = asyncio.get_running_loop()
    written_s = loop.time()
    for start in range(0, len(stream), 7):  # chunks of 7 B cut frames in the middle
        link.writer.write(stream[start : start + 7])
        await link.writer.drain()
    await asyncio.sleep(0.02 + LATENCY_S)
    assert [d for d, _ in link.sitl.datagrams] == frames
    assert all(t - written_s >= 0.02 for _, t in link.sitl.datagrams)


def test_take_frames_splits_v1_v2_and_signed_frames() -> None:
    v1 = mavlink1.MAVLink(None, srcSystem=255)
    v2 = mavlink2.MAVLink(None, srcSystem=255)
    signed = mavlink2.MAVLink(None, srcSystem=255)
    signed.signing.secret_key = bytes(range(32))
    signed.signing.sign_outgoing = True
    signed.signing.link_id = 1
    signed.signing.timestamp = 1
    frames = [
        v1.heartbeat_encode(6, 8, 0, 0, 4).pack(v1),  # 9 B payload + 8
        v2.ping_encode(1, 2, 1, 1).pack(v2),
        signed.ping_encode(1, 2, 1, 1).pack(signed),
    ]
    assert [len(f) for f in frames[:1]] == [17]
    assert len(frames[2]) == len(frames[1]) + 13
    buffer = bytearray(b"\x00junk" + b"".join(frames) + frames[1][:5])
    assert take_frames(buffer) == frames
    assert buffer == frames[1][:5]  # the partial frame waits for its rest


async def test_cut_hangs_up_and_refuses_the_client_for_a_while(open_link: Any) -> None:
    link = await open_link(Profile("plain"), seed=4)
    link.emulator.cut(0.3)
    assert await link.reader.read() == b""  # hung up
    reader, writer = await asyncio.open_connection("127.0.0.1", link.emulator.port)
    assert await reader.read() == b""  # refused during the cut
    writer.close()
    await asyncio.sleep(0.35)
    reader, writer = await asyncio.open_connection("127.0.0.1", link.emulator.port)
    link.send_down(1, UNIT.size)
    async with asyncio.timeout(1.0):
        data = await reader.readexactly(UNIT.size)
    assert UNIT.unpack_from(data)[0] == 1
    assert link.emulator.connections == 2
    writer.close()


async def test_lossy_proxy_keeps_its_uniform_loss(open_link: Any) -> None:
    n = 2000
    proxy = LossyProxy(free_udp_port(), drop=0.2)
    link = await open_link(Profile("lossy"), seed=1, emulator=proxy)
    reading = link.reading(UNIT.size, quiet_s=0.5)
    for number in range(n):
        link.send_down(number, UNIT.size)
        if number % 50 == 49:
            while proxy.sent["down"] + proxy.dropped["down"] < number + 1:
                await asyncio.sleep(0.0005)
    await reading
    # binomial: standard error sqrt(0.2 * 0.8 / 2000) = 0.0089; five of them 0.045
    loss = proxy.dropped["down"] / n
    assert abs(loss - 0.2) <= 5 * math.sqrt(0.2 * 0.8 / n)
    assert proxy.delayed["down"] == 0


def test_lte_cell_edge_mean_loss_by_hand() -> None:
    # pi_B = 0.005 / 0.205 = 0.02439; 0.02439 * 0.5 + 0.97561 * 0.002 = 0.01415
    assert LTE_CELL_EDGE.down.mean_loss == pytest.approx(0.01415, abs=1e-5)


def test_a_profile_on_a_sitl_clock_keeps_its_numbers_in_the_vehicles_seconds() -> None:
    # SITL at speed-up 20: 80 ms of its clock are 4 ms of ours, 250 kB per second of
    # its clock are 5 MB per second of ours; losses per unit and bytes of queue stay
    lte = LTE_CELL_EDGE.on_clock(20)
    assert lte.name == "lte-cell-edge at speed-up 20"
    assert (lte.up.delay_ms, lte.up.jitter_ms) == (4.0, 1.5)
    assert lte.up.rate_bytes_s == 5_000_000 and lte.down.rate_bytes_s == 1_250_000
    assert lte.up.queue_bytes == LTE_CELL_EDGE.up.queue_bytes
    assert lte.down.mean_loss == LTE_CELL_EDGE.down.mean_loss
    # the gamma floor scales with the rest: still 80 - 30 * sqrt(2) = 37.6 ms, over 20
    assert lte.up.delay_ms - lte.up.jitter_ms * math.sqrt(2) == pytest.approx(37.57 / 20, 1e-3)
    (handover,) = HANDOVER.on_clock(20).outages
    assert (handover.start_s, handover.duration_s) == (0.5, 0.2)
    assert HANDOVER.on_clock(1) == HANDOVER
    with pytest.raises(ValueError, match="speed-up"):
        HANDOVER.on_clock(0)


def test_bad_parameters_are_refused_in_one_line() -> None:
    with pytest.raises(ValueError, match="p_good_bad"):
        Direction(p_good_bad=1.5)
    with pytest.raises(ValueError, match="sqrt"):
        Direction(delay_ms=10.0, jitter_ms=10.0, jitter="gamma")
    with pytest.raises(ValueError, match="outage"):
        Outage(1.0, 0.0)
