"""A gas sensor on the vehicle's link, for SITL tests: a Gaussian plume read where SITL flies.

The harness is a MAVLink component of the vehicle's own system (system 1,
MAV_COMP_ID_PERIPHERAL 158) on SITL's third serial port (SERIAL2, which
``sitl.instance`` points at UDP 14552+10*I): it asks the autopilot for
GLOBAL_POSITION_INT at 4 Hz of the vehicle's clock on that port, and for each
position sends NAMED_VALUE_FLOAT "TVOC" with the plume's concentration there,
stamped with that position's ``time_boot_ms`` (the autopilot's boot clock, as a
sensor that keeps the vehicle's time does). ArduPilot forwards it to the ground
station's channel (a broadcast: ``MAVLink_routing::check_and_forward``).

Its truth shares nothing with EcoPatrol: its own plume (:class:`Plume`, the
Gaussian plume with ground reflection and Briggs' rural dispersion for
stability class D), pyproj's geodesics for metres on the ground, and
pymavlink's codec on its own UDP socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import struct
import time
from dataclasses import dataclass, field

from pymavlink.dialects.v20 import ardupilotmega as mavlink
from pyproj import Geod

from missions.items import Mission, MissionItem, to_e7

WGS84 = Geod(ellps="WGS84")

#: The sensor's MAVLink identity: a peripheral of the vehicle's system.
SENSOR_SYSID = 1
SENSOR_COMPID = mavlink.MAV_COMP_ID_PERIPHERAL
#: Readings per second of the vehicle's clock (one per position asked for).
RATE_HZ = 4.0


@dataclass(frozen=True, slots=True)
class Plume:
    """A stack's steady Gaussian plume over flat ground.

    ``wind_from_deg``: where the wind blows from, clockwise from true north.
    ``height_m``: the effective release height above the ground (the stack's
    mouth; a cold vent, so no plume rise). ``ground_amsl_m``: the flat ground's
    height above mean sea level. Concentration in µg/m³ (``emission_g_s`` x 1e6
    µg/g), over ``background_ug_m3``.
    """

    lat: float
    lon: float
    height_m: float
    ground_amsl_m: float
    wind_from_deg: float
    wind_speed_m_s: float
    emission_g_s: float
    background_ug_m3: float = 0.0

    @property
    def downwind_deg(self) -> float:
        return (self.wind_from_deg + 180.0) % 360.0

    def wind_frame(self, lat: float, lon: float) -> tuple[float, float]:
        """(downwind x, crosswind y) metres of a point from the stack; y positive to the
        right of the wind (clockwise from downwind), along the geodesic from the stack."""
        azimuth, _, distance = WGS84.inv(self.lon, self.lat, lon, lat)
        off = math.radians(azimuth - self.downwind_deg)
        return distance * math.cos(off), distance * math.sin(off)

    def point(self, x_m: float, y_m: float) -> tuple[float, float]:
        """(lat, lon) at ``x_m`` downwind of the stack and ``y_m`` to the right of the wind."""
        lon, lat, _ = WGS84.fwd(self.lon, self.lat, self.downwind_deg, x_m)
        if y_m:
            lon, lat, _ = WGS84.fwd(lon, lat, self.downwind_deg + 90.0, y_m)
        return lat, lon

    def concentration(self, lat: float, lon: float, alt_amsl_m: float) -> float:
        """µg/m³ at a point: the Gaussian plume with its image below the ground.

        C = Q / (2 pi u sy sz) exp(-y^2 / 2 sy^2)
            [exp(-(z - H)^2 / 2 sz^2) + exp(-(z + H)^2 / 2 sz^2)],  0 upwind,
        with Briggs' rural class D sigmas: sy = 0.08 x (1 + 0.0001 x)^-1/2,
        sz = 0.06 x (1 + 0.0015 x)^-1/2 (x, y, z, sy, sz in metres).
        """
        x, y = self.wind_frame(lat, lon)
        if x <= 1.0:
            return self.background_ug_m3
        z = max(0.0, alt_amsl_m - self.ground_amsl_m)
        sy = 0.08 * x / math.sqrt(1 + 0.0001 * x)
        sz = 0.06 * x / math.sqrt(1 + 0.0015 * x)
        h = self.height_m
        vertical = math.exp(-((z - h) ** 2) / (2 * sz**2)) + math.exp(-((z + h) ** 2) / (2 * sz**2))
        q_ug_s = self.emission_g_s * 1e6
        c = q_ug_s / (2 * math.pi * self.wind_speed_m_s * sy * sz)
        return self.background_ug_m3 + c * math.exp(-(y**2) / (2 * sy**2)) * vertical


def transect_mission(
    plume: Plume,
    home: tuple[float, float, float],
    *,
    lanes: tuple[tuple[float, float], ...],
    alt_m: float,
) -> Mission:
    """Take off, fly each lane across the plume, RTL.

    ``lanes``: (downwind metres, crosswind half-length metres) each, flown in
    turn, alternately from the left and from the right; ``alt_m`` above home.
    """
    rel = mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT
    items = [
        MissionItem(0, mavlink.MAV_FRAME_GLOBAL, mavlink.MAV_CMD_NAV_WAYPOINT,
                    x=to_e7(home[0]), y=to_e7(home[1]), z=home[2]),
        MissionItem(1, rel, mavlink.MAV_CMD_NAV_TAKEOFF, z=alt_m),
    ]  # fmt: skip
    for number, (x_m, half_m) in enumerate(lanes):
        side = -1.0 if number % 2 == 0 else 1.0
        for y_m in (side * half_m, -side * half_m):
            lat, lon = plume.point(x_m, y_m)
            items.append(
                MissionItem(len(items), rel, mavlink.MAV_CMD_NAV_WAYPOINT,
                            x=to_e7(lat), y=to_e7(lon), z=alt_m)
            )  # fmt: skip
    items.append(MissionItem(len(items), rel, mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH))
    return Mission(items=tuple(items), name="gas transect")


@dataclass(frozen=True, slots=True)
class Sent:
    """One reading as the sensor sent it, with the position it was read at."""

    time_boot_ms: int
    lat: float
    lon: float
    alt_amsl_m: float
    alt_rel_m: float
    value: float
    """As it went on the wire (float32)."""


class _Reply:
    """pymavlink's file: datagrams to SITL's port once it has been heard."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.address: tuple[str, int] | None = None

    def write(self, buf: bytes) -> None:
        if self.transport is not None and self.address is not None:
            self.transport.sendto(bytes(buf), self.address)


@dataclass
class GasSensor:
    """The sensor on UDP ``port`` (where SITL's SERIAL2 sends). ``start``, then ``stop``.

    With ``noise_seed`` its readings carry a cheap sensor's noise, seeded: the plume's
    excess times exp(N(0, 0.2)) (about 20 %), plus N(0, 5) µg/m³, never below zero.
    """

    port: int
    plume: Plume
    sent: list[Sent] = field(default_factory=list)
    last_position_at: float = 0.0
    noise_seed: int | None = None

    def __post_init__(self) -> None:
        self._rng = random.Random(self.noise_seed)
        self._reply = _Reply()
        self._mav = mavlink.MAVLink(self._reply, srcSystem=SENSOR_SYSID, srcComponent=SENSOR_COMPID)
        self._mav.robust_parsing = True
        self._heard = asyncio.Event()
        self._ask: asyncio.Task[None] | None = None
        self._beat_ms = -math.inf

    async def start(self, *, timeout_s: float = 10.0) -> None:
        """Listen, wait for the autopilot, ask for its positions (again while none come)."""
        sensor = self

        class Protocol(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                sensor._received(data, addr)

        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            Protocol, local_addr=("127.0.0.1", self.port)
        )
        self._reply.transport = transport
        async with asyncio.timeout(timeout_s):
            await self._heard.wait()
        self._ask = asyncio.create_task(self._keep_asking())

    async def stop(self) -> None:
        if self._ask is not None:
            self._ask.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ask
        if self._reply.transport is not None:
            self._set_interval(0)  # back to the port's own rate
            self._reply.transport.close()

    async def _keep_asking(self) -> None:
        while True:
            if time.monotonic() - self.last_position_at > 0.5:
                self._set_interval(round(1e6 / RATE_HZ))
            await asyncio.sleep(0.5)

    def _set_interval(self, interval_us: int) -> None:
        self._mav.send(
            self._mav.command_long_encode(
                1, 1, mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, 0,
                mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT, interval_us, 0, 0, 0, 0, 0,
            )
        )  # fmt: skip

    def _received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._reply.address = addr
        for msg in self._mav.parse_buffer(data) or []:
            if msg.get_msgId() < 0 or (msg.get_srcSystem(), msg.get_srcComponent()) != (1, 1):
                continue  # a bad frame, or not the autopilot
            self._heard.set()
            if isinstance(msg, mavlink.MAVLink_global_position_int_message):
                self._read_at(msg)

    def _read_at(self, msg: mavlink.MAVLink_global_position_int_message) -> None:
        """Send the plume's concentration where the autopilot says the vehicle is."""
        t_ms = int(msg.time_boot_ms)
        if self.sent and t_ms <= self.sent[-1].time_boot_ms:
            return  # a position already read
        self.last_position_at = time.monotonic()
        lat, lon, alt = msg.lat / 1e7, msg.lon / 1e7, msg.alt / 1000
        value = _float32(self._noisy(self.plume.concentration(lat, lon, alt)))
        self._mav.send(self._mav.named_value_float_encode(t_ms, b"TVOC", value))
        self.sent.append(Sent(t_ms, lat, lon, alt, msg.relative_alt / 1000, value))
        if t_ms - self._beat_ms >= 1000:  # a component's heartbeat, once a second
            self._beat_ms = t_ms
            self._mav.send(
                self._mav.heartbeat_encode(
                    mavlink.MAV_TYPE_ONBOARD_CONTROLLER, mavlink.MAV_AUTOPILOT_INVALID, 0, 0,
                    mavlink.MAV_STATE_ACTIVE,
                )
            )  # fmt: skip

    def _noisy(self, value: float) -> float:
        if self.noise_seed is None:
            return value
        background = self.plume.background_ug_m3
        excess = (value - background) * math.exp(self._rng.gauss(0.0, 0.2))
        return max(0.0, background + excess + self._rng.gauss(0.0, 5.0))


def _float32(value: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", value))[0])
