"""The link: URLs, heartbeats, the tlog, reconnection and signing, against the scripted peer."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import cast

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymavlink import mavutil
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.flight.errors import ConnectError, LinkError
from missions.flight.link import (
    CLOSE_FLUSH_S,
    LinkState,
    MavLink,
    _transport_for,
    parse_forward,
    parse_url,
)
from tests.flight.peer import ScriptedVehicle


@pytest.mark.parametrize(
    ("url", "kind", "host", "port"),
    [
        ("tcp:127.0.0.1:5760", "tcp", "127.0.0.1", 5760),
        ("udp:0.0.0.0:14550", "udpin", "0.0.0.0", 14550),
        ("udpin:127.0.0.1:14551", "udpin", "127.0.0.1", 14551),
        ("udpout:10.0.0.2:14550", "udpout", "10.0.0.2", 14550),
        ("tcpin:127.0.0.1:5770", "tcpin", "127.0.0.1", 5770),
    ],
)
def test_network_urls(url: str, kind: str, host: str, port: int) -> None:
    endpoint = parse_url(url)
    assert (endpoint.kind, endpoint.host, endpoint.port) == (kind, host, port)


def test_serial_urls() -> None:
    assert parse_url("/dev/ttyACM0").device == "/dev/ttyACM0"
    assert parse_url("serial:/dev/ttyUSB0:921600").baud == 921600
    assert parse_url("serial:/dev/ttyUSB0").baud == 57600


@given(st.text(max_size=40))
def test_any_text_parses_or_raises_connect_error(text: str) -> None:
    try:
        endpoint = parse_url(text)
    except ConnectError as exc:
        assert repr(text) in str(exc)
    else:
        assert endpoint.kind in {"tcp", "tcpin", "udpin", "udpout", "serial"}


async def test_nothing_listening_is_a_connect_error() -> None:
    link = MavLink("tcp:127.0.0.1:9")
    with pytest.raises(ConnectError, match=r"cannot open tcp:127\.0\.0\.1:9"):
        await link.open(timeout_s=0.3)


async def test_silent_peer_is_a_connect_error(peer: ScriptedVehicle) -> None:
    peer.faults.silent = True
    with pytest.raises(ConnectError, match="no vehicle heartbeat") as info:
        await MavLink(peer.url).open(timeout_s=0.5)
    assert isinstance(info.value, ConnectionError)


async def test_heartbeats_both_ways_and_a_tlog_of_both_directions(
    peer: ScriptedVehicle, tmp_path: Path
) -> None:
    tlog = tmp_path / "f.tlog"
    async with MavLink(peer.url, tlog_path=tlog, heartbeat_interval_s=0.05) as link:
        assert (link.target_system, link.target_component) == (1, 1)
        await asyncio.sleep(0.5)
    ours = [m for m in peer.received if isinstance(m, mavlink.MAVLink_heartbeat_message)]
    assert len(ours) >= 5
    assert ours[0].type == mavlink.MAV_TYPE_GCS
    log = mavutil.mavlink_connection(str(tlog))
    sources = set()
    while (msg := log.recv_match(type="HEARTBEAT")) is not None:
        sources.add(msg.get_srcSystem())
    assert sources == {1, 255}


async def test_reconnects_after_the_peer_hangs_up(peer: ScriptedVehicle) -> None:
    states: list[LinkState] = []
    async with MavLink(peer.url, heartbeat_interval_s=0.05, link_timeout_s=0.5) as link:
        link.on_state(states.append)
        peer.hang_up()
        await asyncio.sleep(0.2)
        await link.wait_connected(timeout_s=5)
        msg = await link.wait_for(mavlink.MAVLink_heartbeat_message, timeout_s=1)
        assert msg.get_srcSystem() == 1
    assert states[:2] == [LinkState.LOST, LinkState.CONNECTED]
    assert peer.connections == 2
    assert link.reconnects == 1


async def test_a_server_that_hangs_up_at_once_is_called_with_growing_waits(
    peer: ScriptedVehicle,
) -> None:
    # a modem or a router whose far end is down: it accepts and closes at once. Seen in
    # SITL behind the link emulator's drop-out: 3177 reconnections in 1.5 s
    calls = 0

    async def hang_up(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal calls
        calls += 1
        writer.close()

    async with MavLink(peer.url, heartbeat_interval_s=0.05, link_timeout_s=0.5) as link:
        port = peer.port
        await peer.stop()
        server = await asyncio.start_server(hang_up, "127.0.0.1", port)
        try:
            await asyncio.sleep(2.0)
        finally:
            server.close()
        # waits of 0, 0.2, 0.4, 0.8 s: four or five calls in 2 s, not thousands
        assert 3 <= calls <= 6, calls
        assert link.state is LinkState.LOST


async def test_signed_link_is_understood_only_with_the_key() -> None:
    key = bytes(range(32))
    signer = ScriptedVehicle(signing_key=key)
    await signer.start()
    try:
        async with MavLink(signer.url, heartbeat_interval_s=0.05) as link:
            link.enable_signing(key)
            await asyncio.sleep(0.3)
            assert link.bad_frames == 0
        signed = [m for m in signer.received if m.get_signed()]
        assert len(signed) >= 3
        assert signer.mav.signing.badsig_count == 0

        async with MavLink(signer.url, heartbeat_interval_s=0.05) as link:
            link.enable_signing(bytes(32))  # the wrong key: the vehicle's frames fail
            await asyncio.sleep(0.3)
            with pytest.raises(LinkError):
                await link.wait_for(mavlink.MAVLink_heartbeat_message, timeout_s=0.3)
            assert link.bad_frames > 0
    finally:
        await signer.stop()


def test_a_signing_key_is_32_bytes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        MavLink("tcp:127.0.0.1:5760").enable_signing(b"short")


class OtherStation(asyncio.DatagramProtocol):
    """Another ground station on UDP, as QGroundControl would be: its own system id
    (250) and codec, keeping every frame it hears."""

    def __init__(self) -> None:
        self.mav = mavlink.MAVLink(None, srcSystem=250, srcComponent=190)
        self.heard: list[mavlink.MAVLink_message] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.peer: tuple[str, int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.peer = addr
        self.heard += [m for m in self.mav.parse_buffer(data) or [] if m.get_msgId() >= 0]

    def send(self, msg: mavlink.MAVLink_message, to: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(msg.pack(self.mav), to)


async def station(**where: tuple[str, int]) -> OtherStation:
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_datagram_endpoint(OtherStation, **where)  # type: ignore[arg-type]
    return proto


def set_mode(other: OtherStation, mode: int) -> mavlink.MAVLink_message:
    return other.mav.command_long_encode(
        1, 1, mavlink.MAV_CMD_DO_SET_MODE, 0, 1, mode, 0, 0, 0, 0, 0
    )


def test_forward_urls_send_to_or_listen_and_nothing_else() -> None:
    # as MAVProxy's --out: udp: sends to the station (QGroundControl listens on 14550)
    assert parse_forward("udp:127.0.0.1:14550").kind == "udpout"
    assert parse_forward("udpout:10.0.0.2:14550").kind == "udpout"
    assert parse_forward("udpin:0.0.0.0:14560").kind == "udpin"
    for bad in ("tcp:127.0.0.1:5760", "udp:127.0.0.1", "serial:/dev/ttyUSB0", "14550"):
        with pytest.raises(ConnectError, match=r"forward|expected"):
            parse_forward(bad)


async def test_another_station_follows_the_vehicle_and_is_heard_by_it(
    peer: ScriptedVehicle, tmp_path: Path
) -> None:
    qgc = await station(local_addr=("127.0.0.1", 0))
    assert qgc.transport is not None
    port = qgc.transport.get_extra_info("sockname")[1]
    tlog = tmp_path / "f.tlog"
    async with MavLink(
        peer.url, tlog_path=tlog, heartbeat_interval_s=0.05, forward=[f"udp:127.0.0.1:{port}"]
    ) as link:
        await asyncio.sleep(0.5)
        # it hears the vehicle (system 1), never this end's own frames (255)
        assert {m.get_srcSystem() for m in qgc.heard} == {1}
        assert qgc.peer is not None
        qgc.send(set_mode(qgc, 5), qgc.peer)  # LOITER, from the pilot's station
        for _ in range(50):
            if peer.custom_mode == 5:
                break
            await asyncio.sleep(0.02)
        # and the vehicle's answer comes back to it
        await asyncio.sleep(0.2)
        assert link.forwards[0].frames_in == 1
    commands = [m for m in peer.received if isinstance(m, mavlink.MAVLink_command_long_message)]
    assert [(c.get_srcSystem(), c.command, c.param2) for c in commands] == [
        (250, mavlink.MAV_CMD_DO_SET_MODE, 5)
    ]
    assert peer.custom_mode == 5
    acks = [m for m in qgc.heard if isinstance(m, mavlink.MAVLink_command_ack_message)]
    assert [a.command for a in acks] == [mavlink.MAV_CMD_DO_SET_MODE]
    # the flight's record shows who told the vehicle what
    log = mavutil.mavlink_connection(str(tlog))
    told = []
    while (msg := log.recv_match(type="COMMAND_LONG")) is not None:
        told.append(msg.get_srcSystem())
    assert told == [250]
    qgc.transport.close()


async def test_a_station_that_calls_in_is_answered(peer: ScriptedVehicle) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # a free port, for the link to listen on
    async with MavLink(peer.url, heartbeat_interval_s=0.05, forward=[f"udpin:127.0.0.1:{port}"]):
        mp = await station(local_addr=("127.0.0.1", 0))
        mp.send(mp.mav.heartbeat_encode(6, 8, 0, 0, 4), ("127.0.0.1", port))  # Mission Planner
        await asyncio.sleep(0.5)
        assert {m.get_srcSystem() for m in mp.heard} == {1}
        assert any(isinstance(m, mavlink.MAVLink_heartbeat_message) for m in mp.heard)
    assert any(m.get_srcSystem() == 250 for m in peer.received)
    assert mp.transport is not None
    mp.transport.close()


async def test_closing_a_link_whose_peer_reads_no_more_ends_and_passes_a_cancel_on() -> None:
    # a far end that stopped reading: 16 MB outstanding fill both sockets' buffers
    # (loopback's are a few MB), so a flush never finishes. Seen in SITL behind the link
    # emulator: the watchdog's close swallowed MavLink.close's cancel and ran on for ever
    async def stall(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)
        writer.close()

    server = await asyncio.start_server(stall, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        cancelled = _transport_for(parse_url(f"tcp:127.0.0.1:{port}"))
        await cancelled.open()
        cancelled.write(b"\0" * 16_000_000)
        closing = asyncio.create_task(cancelled.close())
        await asyncio.sleep(0.1)
        closing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await closing

        left_alone = _transport_for(parse_url(f"tcp:127.0.0.1:{port}"))
        await left_alone.open()
        left_alone.write(b"\0" * 16_000_000)
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with asyncio.timeout(5 * CLOSE_FLUSH_S):
            await left_alone.close()
        assert loop.time() - started < 2 * CLOSE_FLUSH_S
    finally:
        server.close()


async def test_a_cancel_that_lands_as_a_message_arrives_still_cancels() -> None:
    # the race 3.11's asyncio.wait_for loses (fixed in 3.12): the message and the cancel
    # in the same loop pass, and wait_for returned the message, swallowing the cancel. A
    # link's loop that swallowed MavLink.close's cancel so ran on and held the close (in
    # SITL: a flight over the LTE profile that landed, then never ended)
    link = MavLink("udpin:127.0.0.1:14999")  # never opened
    with link.subscribe(mavlink.MAVLink_heartbeat_message) as sub:
        getting = asyncio.create_task(sub.get(5.0))
        await asyncio.sleep(0)  # waiting in get
        sub._offer(link.mav.heartbeat_encode(6, 8, 0, 0, 4))
        getting.cancel()
        for _ in range(5):
            await asyncio.sleep(0)
        assert getting.cancelled()
        # and the message is not lost: the next get has it
        assert (await sub.get(1.0)).get_type() == "HEARTBEAT"
