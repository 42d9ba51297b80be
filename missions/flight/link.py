"""The one place that talks pymavlink: a MAVLink 2 connection for asyncio.

pymavlink's ``mavutil`` connections block, print to stdout, return ``None`` on
timeouts and spin on a closed TCP socket, so this module keeps only its codec
(``MAVLink``: packing, parsing, signing) and does its own transport on asyncio.
Everything above this module sees typed messages (the dialect's message
classes), subscriptions that are async iterators, and exceptions from
:mod:`missions.flight.errors` instead of ``None``.

URLs, as MAVProxy and QGroundControl spell them::

    tcp:HOST:PORT        connect to a TCP server (SITL: tcp:127.0.0.1:5760)
    tcpin:HOST:PORT      listen for one TCP client
    udp:HOST:PORT        listen for UDP (same as udpin:), answer the last sender
    udpout:HOST:PORT     send UDP to HOST:PORT
    serial:DEVICE[:BAUD] or a bare /dev/... path (baud 57600 unless given)

Other ground stations (QGroundControl, Mission Planner, a DroneKit script) can
follow the vehicle through ``forward``: every frame from the vehicle goes to
each of them as it came, and what they send goes to the vehicle as they sent
it (their own system id and sequence), as MAVProxy's ``--out`` does::

    udp:HOST:PORT        send to HOST:PORT; its answers come back on the same socket
                         (QGroundControl listens on udp 14550)
    udpin:HOST:PORT      listen; whoever sends first is answered

The link sends a GCS heartbeat at ``heartbeat_interval_s``, watches the
vehicle's, writes every frame both ways to a ``.tlog`` (MAVProxy's format: a
big-endian microsecond timestamp before each frame) and, when the vehicle goes
silent or the socket closes, reopens the transport until ``close()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import struct
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, TypeAlias, TypeVar

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.flight.errors import ConnectError, LinkLostError, LinkTimeoutError

logger = logging.getLogger(__name__)

Message: TypeAlias = mavlink.MAVLink_message
M = TypeVar("M", bound=mavlink.MAVLink_message)

#: The wait before a second try at reopening a stream transport (then doubling).
REOPEN_FIRST_WAIT_S = 0.2

#: Seconds between 1970-01-01 and 2015-01-01, MAVLink signing's epoch.
_SIGNING_EPOCH = 1420070400


class LinkState(enum.Enum):
    """Whether the vehicle is being heard."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    LOST = "lost"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A parsed connection URL."""

    kind: str
    host: str = ""
    port: int = 0
    device: str = ""
    baud: int = 57600

    def __str__(self) -> str:
        if self.kind == "serial":
            return f"serial:{self.device}:{self.baud}"
        return f"{self.kind}:{self.host}:{self.port}"


def parse_url(url: str) -> Endpoint:
    """Parse a connection URL; a malformed one raises ``ConnectError`` naming it."""
    if url.startswith("/dev/") or url.upper().startswith("COM"):
        url = f"serial:{url}"
    scheme, _, rest = url.partition(":")
    scheme = scheme.lower()
    if scheme == "serial":
        device, _, baud = rest.rpartition(":") if ":" in rest else (rest, "", "")
        try:
            return Endpoint("serial", device=device, baud=int(baud) if baud else 57600)
        except ValueError:
            raise ConnectError(f"{url!r}: baud rate must be a number") from None
    kinds = {"tcp": "tcp", "tcpin": "tcpin", "udp": "udpin", "udpin": "udpin", "udpout": "udpout"}
    if scheme not in kinds:
        raise ConnectError(
            f"{url!r}: unknown connection URL (use tcp:, tcpin:, udp:, udpin:, udpout: or serial:)"
        )
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConnectError(f"{url!r}: expected {scheme}:HOST:PORT")
    return Endpoint(kinds[scheme], host=host, port=int(port))


class _Transport:
    """Bytes in and out over one kind of socket or port."""

    async def open(self) -> None:
        raise NotImplementedError

    async def read(self) -> bytes:
        """The next chunk; raises ``ConnectionError`` when the peer has gone."""
        raise NotImplementedError

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    @property
    def reopens(self) -> bool:
        """True when a lost link is worth reopening (a stream); UDP just waits."""
        return True


CLOSE_FLUSH_S = 1.0
"""Longest a closing TCP link waits for its unsent bytes to go (seconds)."""


class _TcpTransport(_Transport):
    def __init__(self, host: str, port: int) -> None:
        self._address = (host, port)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(*self._address)

    async def read(self) -> bytes:
        if self._reader is None:
            raise ConnectionError("not open")
        data = await self._reader.read(4096)
        if not data:
            raise ConnectionResetError("connection closed by the peer")
        return data

    def write(self, data: bytes) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(data)

    async def close(self) -> None:
        """Close, flushing for at most ``CLOSE_FLUSH_S`` (a peer that reads no more, such as
        a modem whose far end is gone, would hold the flush for ever), then drop the rest.

        A cancel of the caller goes through: the link's loops close the transport, and
        one that swallowed its cancel would run on and hold ``MavLink.close`` for ever.
        """
        writer, self._writer, self._reader = self._writer, None, None
        if writer is None:
            return
        writer.close()
        try:
            async with asyncio.timeout(CLOSE_FLUSH_S):
                await writer.wait_closed()
        except TimeoutError:
            writer.transport.abort()
        except OSError:
            pass


class _TcpInTransport(_Transport):
    """Listen and talk to the latest client (a vehicle that dials in)."""

    def __init__(self, host: str, port: int) -> None:
        self._address = (host, port)
        self._server: asyncio.Server | None = None
        self._clients: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue()
        )
        self._current: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def open(self) -> None:
        if self._server is None:

            async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                await self._clients.put((reader, writer))

            self._server = await asyncio.start_server(accept, *self._address)

    async def read(self) -> bytes:
        if self._current is None:
            self._current = await self._clients.get()
        data = await self._current[0].read(4096)
        if not data:
            self._current[1].close()
            self._current = None
            raise ConnectionResetError("client disconnected")
        return data

    def write(self, data: bytes) -> None:
        if self._current is not None and not self._current[1].is_closing():
            self._current[1].write(data)

    async def close(self) -> None:
        if self._current is not None:
            self._current[1].close()
            self._current = None
        if self._server is not None:
            self._server.close()
            self._server = None

    @property
    def reopens(self) -> bool:
        return False


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, inbox: asyncio.Queue[bytes], on_peer: Callable[[Any], None]) -> None:
        self._inbox = inbox
        self._on_peer = on_peer

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self._on_peer(addr)
        self._inbox.put_nowait(data)


class _UdpTransport(_Transport):
    def __init__(self, host: str, port: int, *, listen: bool) -> None:
        self._address = (host, port)
        self._listen = listen
        self._inbox: asyncio.Queue[bytes] = asyncio.Queue()
        self._peer: Any = None if listen else self._address
        self._transport: asyncio.DatagramTransport | None = None

    def _set_peer(self, addr: Any) -> None:
        if self._listen:
            self._peer = addr

    async def open(self) -> None:
        if self._transport is not None:
            return
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(self._inbox, self._set_peer),
            local_addr=self._address if self._listen else None,
            remote_addr=None if self._listen else self._address,
        )
        self._transport = transport

    async def read(self) -> bytes:
        return await self._inbox.get()

    def write(self, data: bytes) -> None:
        if self._transport is None or self._peer is None:
            return
        if self._listen:
            self._transport.sendto(data, self._peer)
        else:
            self._transport.sendto(data)

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
            await asyncio.sleep(0)  # the socket is released on the next loop pass

    @property
    def reopens(self) -> bool:
        return False


class _SerialTransport(_Transport):
    """pyserial in a worker thread: serial ports have no portable asyncio reader."""

    def __init__(self, device: str, baud: int) -> None:
        self._device = device
        self._baud = baud
        self._port: Any = None
        self._lock = threading.Lock()

    async def open(self) -> None:
        import serial  # pyserial comes with pymavlink

        self._port = await asyncio.to_thread(serial.Serial, self._device, self._baud, timeout=0.1)

    async def read(self) -> bytes:
        port = self._port
        if port is None:
            raise ConnectionError("not open")
        try:
            data: bytes = await asyncio.to_thread(port.read, 4096)
        except OSError as exc:
            raise ConnectionResetError(str(exc)) from exc
        return data

    def write(self, data: bytes) -> None:
        if self._port is not None:
            with self._lock, contextlib.suppress(OSError):
                self._port.write(data)

    async def close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            await asyncio.to_thread(port.close)


def parse_forward(url: str) -> Endpoint:
    """A ground station to forward to (see the module docstring); ``ConnectError`` otherwise."""
    scheme, _, rest = url.partition(":")
    kinds = {"udp": "udpout", "udpout": "udpout", "udpin": "udpin"}
    if scheme.lower() not in kinds:
        raise ConnectError(
            f"forward {url!r}: use udp:HOST:PORT (send to a ground station) "
            "or udpin:HOST:PORT (listen for one)"
        )
    return parse_url(f"{kinds[scheme.lower()]}:{rest}")


class _Forward:
    """One other ground station: its socket, and a codec that only reads its frames."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        listen = endpoint.kind == "udpin"
        self.transport = _UdpTransport(endpoint.host, endpoint.port, listen=listen)
        self.codec = mavlink.MAVLink(None)
        self.codec.robust_parsing = True
        self.frames_in = 0


def _transport_for(endpoint: Endpoint) -> _Transport:
    if endpoint.kind == "tcp":
        return _TcpTransport(endpoint.host, endpoint.port)
    if endpoint.kind == "tcpin":
        return _TcpInTransport(endpoint.host, endpoint.port)
    if endpoint.kind in ("udpin", "udpout"):
        return _UdpTransport(endpoint.host, endpoint.port, listen=endpoint.kind == "udpin")
    return _SerialTransport(endpoint.device, endpoint.baud)


class Subscription(AsyncIterator[Message]):
    """Messages of chosen types as they arrive; use as a context manager.

    The queue is bounded: a consumer that falls behind loses the oldest
    messages (telemetry), never blocks the link.
    """

    def __init__(self, link: MavLink, ids: frozenset[int] | None, maxsize: int) -> None:
        self._link = link
        self.ids = ids
        self._queue: asyncio.Queue[Message] = asyncio.Queue(maxsize)

    def _offer(self, msg: Message) -> None:
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(msg)

    async def get(self, timeout_s: float | None = None, *, waiting_for: str = "") -> Message:
        """The next message; ``LinkTimeoutError`` after ``timeout_s`` seconds."""
        try:
            async with asyncio.timeout(timeout_s):
                return await self._queue.get()
        except TimeoutError:
            what = waiting_for or "a reply"
            raise LinkTimeoutError(f"no {what} within {timeout_s:g} s") from None

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Message:
        return await self._queue.get()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._link._unsubscribe(self)


class _Writer:
    """What the codec writes to: the transport plus the tlog."""

    def __init__(self, link: MavLink) -> None:
        self._link = link

    def write(self, buf: bytes) -> None:
        self._link._write(bytes(buf))


class MavLink:
    """A MAVLink 2 connection to one vehicle.

    Parameters
    ----------
    url : str
        Connection URL (see the module docstring).
    tlog_path : Path, optional
        Where to record every frame both ways.
    heartbeat_interval_s : float
        GCS heartbeat period. ArduPilot's GCS failsafe counts simulated time,
        so a SITL at speed-up N wants about 1/N seconds.
    link_timeout_s : float
        Vehicle silence (no message from its autopilot; the first heartbeat connects)
        after which the link counts as lost and is reopened.
    forward : sequence of str
        Other ground stations to relay the vehicle to and from (``udp:`` or
        ``udpin:`` URLs, see the module docstring).
    """

    def __init__(
        self,
        url: str,
        *,
        source_system: int = 255,
        source_component: int = mavlink.MAV_COMP_ID_MISSIONPLANNER,
        tlog_path: Path | None = None,
        heartbeat_interval_s: float = 1.0,
        link_timeout_s: float = 5.0,
        forward: Sequence[str] = (),
    ) -> None:
        self.url = url
        self.endpoint = parse_url(url)
        self.tlog_path = tlog_path
        self.heartbeat_interval_s = heartbeat_interval_s
        self.link_timeout_s = link_timeout_s
        self.mav = mavlink.MAVLink(
            _Writer(self), srcSystem=source_system, srcComponent=source_component
        )
        self.mav.robust_parsing = True
        self.target_system = 0
        self.target_component = 0
        self.state = LinkState.CONNECTING
        self.bad_frames = 0
        self.reconnects = 0
        self.last_heard = 0.0
        self._transport = _transport_for(self.endpoint)
        self.forwards = [_Forward(parse_forward(u)) for u in forward]
        self._subscribers: list[Subscription] = []
        self._state_listeners: list[Callable[[LinkState], None]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._tlog: BinaryIO | None = None
        self._transport_open = False
        self._heard = asyncio.Event()
        self._reopen_wait_s = 0.0

    # -- life cycle ---------------------------------------------------------

    async def open(self, *, timeout_s: float = 30.0) -> None:
        """Open the transport and wait for the vehicle's first heartbeat."""
        if self.tlog_path is not None:
            self.tlog_path.parent.mkdir(parents=True, exist_ok=True)
            self._tlog = self.tlog_path.open("ab")
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                await self._transport.open()
                break
            except OSError as exc:
                if time.monotonic() > deadline:
                    await self.close()
                    raise ConnectError(f"cannot open {self.endpoint}: {exc}") from exc
                await asyncio.sleep(0.5)
        self._transport_open = True
        for fwd in self.forwards:
            try:
                await fwd.transport.open()
            except OSError as exc:
                await self.close()
                raise ConnectError(f"cannot open forward {fwd.endpoint}: {exc}") from exc
        self._tasks = [
            *(
                asyncio.create_task(self._relay_loop(fwd), name=f"mavlink-forward {fwd.endpoint}")
                for fwd in self.forwards
            ),
            asyncio.create_task(self._read_loop(), name=f"mavlink-read {self.endpoint}"),
            asyncio.create_task(self._heartbeat_loop(), name=f"mavlink-heartbeat {self.endpoint}"),
            asyncio.create_task(self._watchdog_loop(), name=f"mavlink-watchdog {self.endpoint}"),
        ]
        try:
            async with asyncio.timeout(max(0.1, deadline - time.monotonic())):
                await self._heard.wait()
        except TimeoutError:
            await self.close()
            raise ConnectError(
                f"no vehicle heartbeat on {self.endpoint} within {timeout_s:g} s"
            ) from None
        logger.info(
            "connected to system %d component %d on %s",
            self.target_system,
            self.target_component,
            self.endpoint,
        )

    async def close(self) -> None:
        """Stop the loops, close the transport and the tlog."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._transport.close()
        self._transport_open = False
        for fwd in self.forwards:
            await fwd.transport.close()
        if self._tlog is not None:
            self._tlog.close()
            self._tlog = None
        self._set_state(LinkState.CLOSED)

    async def __aenter__(self) -> MavLink:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- sending -------------------------------------------------------------

    def send(self, msg: Message) -> None:
        """Pack (and sign, when set up) one message and write it."""
        self.mav.send(msg)

    def _write(self, buf: bytes) -> None:
        self._record(buf)
        if self._transport_open:
            try:
                self._transport.write(buf)
            except OSError as exc:
                logger.debug("write failed on %s: %s", self.endpoint, exc)

    def _record(self, frame: bytes) -> None:
        """One whole frame into the tlog, with the time it passed."""
        if self._tlog is not None:
            self._tlog.write(struct.pack(">Q", int(time.time() * 1e6)) + frame)

    async def _relay_loop(self, fwd: _Forward) -> None:
        """What another ground station sends goes to the vehicle, frame by frame.

        Frames are written as that station built them (its system id, its
        sequence; unsigned unless it signs), and recorded in the tlog like our
        own, so the flight's record shows who told the vehicle what.
        """
        while True:
            data = await fwd.transport.read()
            try:
                frames = fwd.codec.parse_buffer(data) or []
            except mavlink.MAVError:
                frames = []
            for msg in frames:
                if msg.get_msgId() < 0:
                    continue
                fwd.frames_in += 1
                raw = bytes(msg.get_msgbuf())
                self._record(raw)
                if self._transport_open:
                    with contextlib.suppress(OSError):
                        self._transport.write(raw)

    def enable_signing(self, key: bytes, *, link_id: int = 1) -> None:
        """Sign everything sent from now on and refuse unsigned incoming frames."""
        if len(key) != 32:
            raise ValueError("a MAVLink signing key is 32 bytes")
        signing = self.mav.signing
        signing.secret_key = key
        signing.sign_outgoing = True
        signing.link_id = link_id
        signing.timestamp = signing_timestamp()
        signing.allow_unsigned_callback = None

    def disable_signing(self) -> None:
        """Send unsigned frames again."""
        signing = self.mav.signing
        signing.secret_key = None
        signing.sign_outgoing = False
        signing.link_id = 0

    # -- receiving -----------------------------------------------------------

    def subscribe(self, *types: type[Message], maxsize: int = 1000) -> Subscription:
        """Messages of these types (every type when none are given)."""
        ids = frozenset(t.id for t in types) if types else None
        sub = Subscription(self, ids, maxsize)
        self._subscribers.append(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        with contextlib.suppress(ValueError):
            self._subscribers.remove(sub)

    async def wait_for(
        self,
        msg_type: type[M],
        *,
        timeout_s: float,
        where: Callable[[M], bool] | None = None,
    ) -> M:
        """The next ``msg_type`` message passing ``where``; ``LinkTimeoutError`` otherwise."""
        deadline = time.monotonic() + timeout_s
        with self.subscribe(msg_type) as sub:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LinkTimeoutError(f"no {msg_type.msgname} within {timeout_s:g} s")
                msg = await sub.get(left, waiting_for=msg_type.msgname)
                if isinstance(msg, msg_type) and (where is None or where(msg)):
                    return msg

    def on_state(self, listener: Callable[[LinkState], None]) -> None:
        """Call ``listener`` on every change of :class:`LinkState`."""
        self._state_listeners.append(listener)

    async def wait_connected(self, *, timeout_s: float) -> None:
        """Return once the vehicle is heard again; ``LinkLostError`` after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while self.state is not LinkState.CONNECTED:
            if self.state is LinkState.CLOSED:
                raise LinkLostError(f"link to {self.endpoint} is closed")
            if time.monotonic() > deadline:
                raise LinkLostError(f"link to {self.endpoint} lost for more than {timeout_s:g} s")
            await asyncio.sleep(0.05)

    def _set_state(self, state: LinkState) -> None:
        if state is self.state:
            return
        logger.info("link %s: %s -> %s", self.endpoint, self.state.value, state.value)
        self.state = state
        for listener in list(self._state_listeners):
            listener(state)

    def _dispatch(self, msg: Message) -> None:
        msg_id = msg.get_msgId()
        if msg_id < 0:  # BAD_DATA / UNKNOWN: a corrupt or foreign frame
            self.bad_frames += 1
            return
        frame = bytes(msg.get_msgbuf())
        self._record(frame)
        for fwd in self.forwards:
            with contextlib.suppress(OSError):
                fwd.transport.write(frame)
        if isinstance(msg, mavlink.MAVLink_heartbeat_message) and _is_vehicle(msg):
            if self.target_system == 0:
                self.target_system = msg.get_srcSystem()
                self.target_component = msg.get_srcComponent()
            if msg.get_srcSystem() == self.target_system:
                self.last_heard = time.monotonic()
                self._reopen_wait_s = 0.0
                self._heard.set()
                self._set_state(LinkState.CONNECTED)
        if self.target_system and msg.get_srcSystem() != self.target_system:
            return
        if self.state is LinkState.CONNECTED and msg.get_srcComponent() == self.target_component:
            # any message of the autopilot's shows the link up: a log download fills a
            # narrow uplink's queue with LOG_DATA, and the heartbeats behind it come late
            self.last_heard = time.monotonic()
        for sub in list(self._subscribers):
            if sub.ids is None or msg_id in sub.ids:
                sub._offer(msg)

    async def _read_loop(self) -> None:
        while True:
            try:
                data = await self._transport.read()
            except (OSError, ConnectionError) as exc:
                logger.warning("link %s: %s", self.endpoint, exc)
                await self._reopen()
                continue
            for msg in self._parse(data):
                self._dispatch(msg)

    def _parse(self, data: bytes) -> list[Message]:
        """Decode frames, resynchronising byte by byte after a corrupt one.

        pymavlink drops a whole frame's length of bytes when a checksum fails,
        which also swallows the good frame that follows a false start marker
        (a cut or noisy link); re-scanning from the byte after the marker
        recovers it, as the C library does.
        """
        mav = self.mav
        messages: list[Message] = []
        try:
            msg = mav.parse_char(data)
            while msg is not None:
                messages.append(msg)
                raw = getattr(msg, "data", b"")
                if msg.get_msgId() < 0 and len(raw) > 1 and raw[0] in (0xFD, 0xFE):
                    mav.buf = bytearray(raw[1:]) + mav.buf[mav.buf_index :]
                    mav.buf_index = 0
                msg = mav.parse_char(b"")
        except mavlink.MAVError as exc:  # robust parsing still raises in a few cases
            self.bad_frames += 1
            logger.debug("bad frame on %s: %s", self.endpoint, exc)
        return messages

    async def _reopen(self) -> None:
        """Close and reopen a stream transport until it connects again.

        The wait between tries doubles from none to 2 s and starts again only
        once the vehicle is heard: a server that accepts and hangs up at once
        (a modem or router whose far end is down) is not called thousands of
        times a second.
        """
        self._set_state(LinkState.LOST)
        self._transport_open = False
        await self._transport.close()
        while True:
            await asyncio.sleep(self._reopen_wait_s)
            self._reopen_wait_s = min(max(2 * self._reopen_wait_s, REOPEN_FIRST_WAIT_S), 2.0)
            try:
                await self._transport.open()
            except OSError as exc:
                logger.debug("reopen %s failed: %s", self.endpoint, exc)
                continue
            self._transport_open = True
            self.reconnects += 1
            self.last_heard = time.monotonic()  # give the vehicle a full timeout to speak
            return

    async def _heartbeat_loop(self) -> None:
        while True:
            self.send(
                self.mav.heartbeat_encode(
                    mavlink.MAV_TYPE_GCS,
                    mavlink.MAV_AUTOPILOT_INVALID,
                    0,
                    0,
                    mavlink.MAV_STATE_ACTIVE,
                )
            )
            if self._tlog is not None:
                self._tlog.flush()
            await asyncio.sleep(self.heartbeat_interval_s)

    async def _watchdog_loop(self) -> None:
        while True:
            await asyncio.sleep(min(0.25, self.link_timeout_s / 4))
            silent = time.monotonic() - self.last_heard
            if silent <= self.link_timeout_s or self.state is LinkState.CONNECTING:
                continue
            if self.state is LinkState.CONNECTED:
                logger.warning("link %s: vehicle silent for %.1f s", self.endpoint, silent)
            if self._transport.reopens and self._transport_open:
                # a half-open TCP connection never reports EOF: force the reopen
                self._transport_open = False
                await self._transport.close()
            else:
                self._set_state(LinkState.LOST)


def _is_vehicle(msg: mavlink.MAVLink_heartbeat_message) -> bool:
    """A heartbeat from an autopilot, not from a GCS, gimbal or radio."""
    return bool(
        msg.autopilot != mavlink.MAV_AUTOPILOT_INVALID
        and msg.type not in (mavlink.MAV_TYPE_GCS, mavlink.MAV_TYPE_GIMBAL, mavlink.MAV_TYPE_ADSB)
    )


def signing_timestamp() -> int:
    """Now in MAVLink signing's units: 10 microseconds since 2015-01-01 UTC."""
    return int((max(time.time(), _SIGNING_EPOCH) - _SIGNING_EPOCH) * 100_000)
