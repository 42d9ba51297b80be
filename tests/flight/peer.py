"""A small scripted MAVLink vehicle on loopback TCP, for protocol tests.

It speaks the mission protocol as ArduPilot does (vehicle-driven upload,
MISSION_REQUEST_INT, MISSION_ACK), the parameter protocol (PARAM_SET and
PARAM_REQUEST_READ answered with PARAM_VALUE, values kept as float32) and
acknowledges commands, and it can be told to misbehave: drop chosen frames,
go silent, refuse items, request out of order, answer with the wrong sequence
number, send garbage between frames, hang up, keep a parameter unchanged. It
uses pymavlink's codec only, like the link under test, but shares no code
with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from pymavlink.dialects.v20 import ardupilotmega as mavlink

Msg = mavlink.MAVLink_message


class _Out:
    def __init__(self) -> None:
        self.writer: asyncio.StreamWriter | None = None

    def write(self, buf: bytes) -> None:
        if self.writer is not None and not self.writer.is_closing():
            self.writer.write(bytes(buf))


@dataclass
class Faults:
    """What the peer does wrong. Predicates get each incoming message."""

    drop_in: Callable[[Msg], bool] = lambda msg: False
    drop_out: Callable[[Msg], bool] = lambda msg: False
    silent: bool = False
    max_items: int = 650
    refuse_seq: int | None = None
    #: give the upload up when this item arrives, once (ArduPilot's upload timeout)
    cancel_seq: int | None = None
    store_altitude_offset_m: float = 0.0
    wrong_seq_first: bool = False
    stale_ack_first: bool = False
    repeat_requests: bool = False
    garbage: bytes = b""
    float_items: bool = False
    #: parameters whose PARAM_SET is answered with the old value, unchanged
    read_only_params: frozenset[str] = frozenset()


@dataclass
class ScriptedVehicle:
    """The peer's state: stored lists, received messages, faults to apply."""

    faults: Faults = field(default_factory=Faults)
    lists: dict[int, list[Msg]] = field(default_factory=dict)
    received: list[Msg] = field(default_factory=list)
    signing_key: bytes | None = None
    port: int = 0
    connections: int = 0
    #: the parameters it has (an unknown name gets no answer, as on ArduPilot)
    params: dict[str, float] = field(default_factory=dict)
    #: flight mode (ArduCopter's numbers) and arming, as its heartbeat reports them
    custom_mode: int = 0
    armed: bool = False
    #: disarm this long after arming unless the mission has started (ArduCopter's
    #: DISARM_DELAY on the ground); None: never
    disarm_after_s: float | None = None

    def __post_init__(self) -> None:
        self._out = _Out()
        self.mav = mavlink.MAVLink(self._out, srcSystem=1, srcComponent=1)
        self.mav.robust_parsing = True
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._upload: tuple[int, int, list[Msg]] | None = None  # type, count, items

    @property
    def url(self) -> str:
        return f"tcp:127.0.0.1:{self.port}"

    async def start(self) -> None:
        if self.signing_key is not None:
            self.mav.signing.secret_key = self.signing_key
            self.mav.signing.sign_outgoing = True
            self.mav.signing.link_id = 0
            self.mav.signing.timestamp = 1
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.hang_up()
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def hang_up(self) -> None:
        """Close the current connection (the link should come back)."""
        if self._out.writer is not None:
            self._out.writer.close()
            self._out.writer = None

    def send(self, msg: Msg) -> None:
        if self.faults.silent or self.faults.drop_out(msg):
            return
        if self.faults.garbage:
            self._out.write(self.faults.garbage)
        self.mav.send(msg)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._out.writer = writer
        beat = asyncio.create_task(self._heartbeats(writer))
        self._tasks.add(beat)
        try:
            while data := await reader.read(4096):
                for msg in self.mav.parse_buffer(data) or []:
                    if msg.get_msgId() < 0:
                        continue
                    self.received.append(msg)
                    if not self.faults.drop_in(msg):
                        self._handle(msg)
        except ConnectionError:
            pass
        finally:
            beat.cancel()
            self._tasks.discard(beat)
            writer.close()

    async def _heartbeats(self, writer: asyncio.StreamWriter) -> None:
        while not writer.is_closing():
            self.send(
                self.mav.heartbeat_encode(
                    mavlink.MAV_TYPE_QUADROTOR,
                    mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA,
                    mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
                    | (mavlink.MAV_MODE_FLAG_SAFETY_ARMED if self.armed else 0),
                    self.custom_mode,
                    mavlink.MAV_STATE_ACTIVE if self.armed else mavlink.MAV_STATE_STANDBY,
                )
            )
            await asyncio.sleep(0.1)

    def _request(self, seq: int, kind: int) -> None:
        self.send(self.mav.mission_request_int_encode(255, 190, seq, kind))

    def _ack(self, result: int, kind: int) -> None:
        self.send(self.mav.mission_ack_encode(255, 190, result, kind))

    def _handle(self, msg: Msg) -> None:
        f = self.faults
        if isinstance(msg, mavlink.MAVLink_mission_count_message):
            if msg.count > f.max_items:
                self._ack(mavlink.MAV_MISSION_NO_SPACE, msg.mission_type)
                return
            if msg.count == 0:
                self.lists[msg.mission_type] = []
                self._ack(mavlink.MAV_MISSION_ACCEPTED, msg.mission_type)
                return
            self._upload = (msg.mission_type, msg.count, [])
            if f.stale_ack_first:
                self._ack(mavlink.MAV_MISSION_ACCEPTED, msg.mission_type)
            if f.repeat_requests:
                self._request(msg.count + 5, msg.mission_type)  # out of range: ignored
            self._request(0, msg.mission_type)
        elif isinstance(msg, mavlink.MAVLink_mission_item_int_message) and not self._upload:
            # ArduPilot: an item while no upload runs (a repeat of the final item
            # whose ACK was lost) is answered with ERROR
            self._ack(mavlink.MAV_MISSION_ERROR, msg.mission_type)
        elif isinstance(msg, mavlink.MAVLink_mission_item_int_message) and self._upload:
            kind, count, items = self._upload
            if msg.mission_type != kind or msg.seq != len(items):
                # out of order: a NAK, then ask again (ArduPilot re-requests on a timer)
                self._ack(mavlink.MAV_MISSION_INVALID_SEQUENCE, kind)
                self._request(len(items), kind)
                return
            if msg.seq == f.refuse_seq:
                self._upload = None
                self._ack(mavlink.MAV_MISSION_INVALID_PARAM1, kind)
                return
            if msg.seq == f.cancel_seq:
                f.cancel_seq = None
                self._upload = None
                self._ack(mavlink.MAV_MISSION_OPERATION_CANCELLED, kind)
                return
            items.append(msg)
            if len(items) == count:
                self._upload = None
                self.lists[kind] = items
                self._ack(mavlink.MAV_MISSION_ACCEPTED, kind)
            else:
                if f.repeat_requests and msg.seq > 0:
                    self._request(msg.seq - 1, kind)  # a stale repeat before the real one
                self._request(len(items), kind)
        elif isinstance(msg, mavlink.MAVLink_mission_request_list_message):
            stored = self.lists.get(msg.mission_type, [])
            self.send(self.mav.mission_count_encode(255, 190, len(stored), msg.mission_type))
        elif isinstance(msg, mavlink.MAVLink_mission_request_int_message):
            stored = self.lists.get(msg.mission_type, [])
            if not 0 <= msg.seq < len(stored):
                self._ack(mavlink.MAV_MISSION_INVALID_SEQUENCE, msg.mission_type)
                return
            if f.wrong_seq_first and msg.seq + 1 < len(stored):
                self._send_item(stored[msg.seq + 1])
            self._send_item(stored[msg.seq])
        elif isinstance(msg, mavlink.MAVLink_mission_clear_all_message):
            self.lists[msg.mission_type] = []
            self._ack(mavlink.MAV_MISSION_ACCEPTED, msg.mission_type)
        elif isinstance(msg, mavlink.MAVLink_command_long_message):
            self._command(msg)
        elif isinstance(msg, mavlink.MAVLink_param_set_message):
            name = msg.param_id
            if name not in self.params:
                return
            if name not in f.read_only_params:
                self.params[name] = _float32(msg.param_value)
            self._param_value(name)
        elif (
            isinstance(msg, mavlink.MAVLink_param_request_read_message)
            and msg.param_id in self.params
        ):
            self._param_value(msg.param_id)

    def _command(self, msg: Msg) -> None:
        """Accept every command; keep the mode and arming as ArduCopter would.

        MISSION_START switches to AUTO whether armed or not, as ArduCopter's
        does; only an armed vehicle then flies (and stops counting towards
        its disarm on the ground).
        """
        if msg.command == mavlink.MAV_CMD_DO_SET_MODE:
            self.custom_mode = int(msg.param2)
        elif msg.command == mavlink.MAV_CMD_COMPONENT_ARM_DISARM:
            self.armed = msg.param1 == 1
            if self.armed and self.disarm_after_s is not None:
                asyncio.get_running_loop().call_later(self.disarm_after_s, self._disarm_unflown)
        elif msg.command == mavlink.MAV_CMD_MISSION_START:
            self.custom_mode = _AUTO
        self.send(self.mav.command_ack_encode(msg.command, mavlink.MAV_RESULT_ACCEPTED))

    def _disarm_unflown(self) -> None:
        if self.armed and self.custom_mode != _AUTO:
            self.armed = False

    def _param_value(self, name: str) -> None:
        names = sorted(self.params)
        self.send(
            self.mav.param_value_encode(
                name.encode(),
                self.params[name],
                mavlink.MAV_PARAM_TYPE_REAL32,
                len(names),
                names.index(name),
            )
        )

    def _send_item(self, m: Msg) -> None:
        z = m.z + self.faults.store_altitude_offset_m
        if self.faults.float_items:
            self.send(
                self.mav.mission_item_encode(
                    255, 190, m.seq, m.frame, m.command, m.current, m.autocontinue,
                    m.param1, m.param2, m.param3, m.param4, m.x / 1e7, m.y / 1e7, z,
                    m.mission_type,
                )
            )  # fmt: skip
            return
        self.send(
            self.mav.mission_item_int_encode(
                255, 190, m.seq, m.frame, m.command, m.current, m.autocontinue,
                m.param1, m.param2, m.param3, m.param4, m.x, m.y, z, m.mission_type,
            )
        )  # fmt: skip


_AUTO = 3  # ArduCopter's AUTO


def _float32(value: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", value))[0])
