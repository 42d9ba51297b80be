"""The link: URLs, heartbeats, the tlog, reconnection and signing, against the scripted peer."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymavlink import mavutil
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.flight.errors import ConnectError, LinkError
from missions.flight.link import LinkState, MavLink, parse_url
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
