"""Other ground stations follow an EcoPatrol flight through ``forward``, on ArduCopter
SITL (skipped without a binary): here a DroneKit script, as a pilot's tool would."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import dronekit
import pytest
from pymavlink import mavutil

from missions.flight.errors import FlightAbortedError
from missions.flight.fly import fly_mission
from missions.plan import Sortie
from sitl.instance import Home, Sitl
from tests.sitl.missions import box_mission

pytestmark = [pytest.mark.sitl, pytest.mark.timeout(300)]

#: DroneKit's own system id: not the ground station's (255), so its heartbeats are
#: not what keeps ArduCopter's GCS failsafe quiet during EcoPatrol's flight.
DRONEKIT_SYSID = 253


@dataclass(frozen=True)
class Seen:
    """One look of the DroneKit script at the vehicle."""

    mode: str
    armed: bool
    next_item: int
    alt_m: float | None


@dataclass
class Follower:
    """A DroneKit script in its own thread, listening where EcoPatrol forwards to."""

    port: int
    #: the pilot's take-over: RTL once the mission's current item reaches this one
    take_over_at: int | None = None
    seen: list[Seen] = field(default_factory=list)
    error: BaseException | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _ready: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="dronekit", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=30)

    def _run(self) -> None:
        try:
            vehicle = dronekit.connect(
                f"udpin:127.0.0.1:{self.port}", _initialize=False, source_system=DRONEKIT_SYSID
            )
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.error = exc
            return

        # DroneKit's initialize waits for the first heartbeat and then for the
        # parameter download to start, a few seconds through the forward; the
        # script looks from its first heartbeat on, as its own thread does
        def initialize() -> None:
            vehicle.initialize(heartbeat_timeout=60)
            self._ready.set()

        starting = threading.Thread(target=initialize, daemon=True)
        starting.start()
        try:
            while not self._stop.is_set():
                where = vehicle.location.global_relative_frame
                if vehicle.mode is not None and vehicle.mode.name is not None:
                    self.seen.append(
                        Seen(vehicle.mode.name, vehicle.armed, vehicle.commands.next, where.alt)
                    )
                    self._take_over(vehicle)
                time.sleep(0.02)
        except BaseException as exc:
            self.error = exc
        finally:
            vehicle.close()
            starting.join(timeout=10)

    def _take_over(self, vehicle: dronekit.Vehicle) -> None:
        last = self.seen[-1]
        if (
            self.take_over_at is not None
            and self._ready.is_set()  # the pilot's tool has started: it knows the modes
            and last.mode == "AUTO"
            and last.armed  # a copter left in AUTO on the ground says its old mission's item
            and last.next_item >= self.take_over_at
        ):
            vehicle.mode = dronekit.VehicleMode("RTL")
            self.take_over_at = None


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def changes(values: list[object]) -> list[object]:
    """Each value once per run of equal ones, in order."""
    return [v for i, v in enumerate(values) if i == 0 or v != values[i - 1]]


async def test_a_dronekit_script_follows_the_flight_through_the_forward(
    copter: Sitl, sample_sortie: Sortie, tmp_path: Path
) -> None:
    home = Home(*sample_sortie.home)
    mission = box_mission(home, side_m=100)
    follower = Follower(free_udp_port())
    follower.start()
    try:
        result = await fly_mission(
            copter, mission, out_dir=tmp_path, forward=[f"udp:127.0.0.1:{follower.port}"]
        )
    finally:
        follower.stop()
    assert follower.error is None, follower.error
    seen = follower.seen
    assert seen, "DroneKit never heard the vehicle through the forward"
    # from before take-off to after landing: disarmed, armed, disarmed again
    # (twice armed when a start is lost: Vehicle.start_mission arms again)
    armed = changes([s.armed for s in seen])
    assert armed[0] is False and armed[-1] is False and True in armed
    assert abs(seen[0].alt_m or 0.0) < 1.0
    # the mode changes EcoPatrol made: armed in GUIDED (for a heartbeat or so: it may
    # fall between two looks), then the mission in AUTO to the end
    modes = changes([s.mode for s in seen if s.armed])
    assert modes[-1] == "AUTO" and set(modes) <= {"GUIDED", "AUTO"}, modes
    # the current item, as the mission went on: every waypoint of the box in order, to
    # the RTL item; once landed ArduCopter's finished mission reports item 0 again
    items = changes([s.next_item for s in seen if s.mode == "AUTO" and s.armed])
    rtl = len(mission.items) - 1
    assert rtl in items, items
    flown, after = items[: items.index(rtl) + 1], items[items.index(rtl) + 1 :]
    assert flown == sorted(flown) and after in ([], [0]), items
    waypoints = [4, 5, 6, 7]  # the box's four corners (tests/sitl/missions.py)
    assert set(waypoints) <= set(flown), items
    assert set(waypoints) <= set(result.items_reached)
    # the position: up to the box's 30 m, and back on the ground at the end
    heights = [s.alt_m for s in seen if s.alt_m is not None]
    assert max(heights) == pytest.approx(30.0, abs=2.0)
    assert abs(seen[-1].alt_m or 0.0) < 1.0 and not seen[-1].armed


async def test_a_pilot_takes_over_through_the_forward_and_the_flight_says_so(
    copter: Sitl, sample_sortie: Sortie, tmp_path: Path
) -> None:
    home = Home(*sample_sortie.home)
    mission = box_mission(home, side_m=100)
    follower = Follower(free_udp_port(), take_over_at=5)  # RTL on the way to the second corner
    follower.start()
    try:
        with pytest.raises(FlightAbortedError, match=r"without reaching items \[5, 6, 7\]"):
            await fly_mission(
                copter, mission, out_dir=tmp_path, forward=[f"udp:127.0.0.1:{follower.port}"]
            )
    finally:
        follower.stop()
    assert follower.error is None, follower.error
    modes = changes([s.mode for s in follower.seen])
    assert modes[-2:] == ["AUTO", "RTL"], modes  # the pilot's RTL, flown home
    assert not follower.seen[-1].armed and abs(follower.seen[-1].alt_m or 0.0) < 1.0
    # the flight's record holds the pilot's command, under the script's system id
    (tlog,) = tmp_path.glob("flight-*/flight.tlog")
    log = mavutil.mavlink_connection(str(tlog))
    told = []
    while (msg := log.recv_match(type=["SET_MODE", "COMMAND_LONG"])) is not None:
        if msg.get_srcSystem() == DRONEKIT_SYSID:
            told.append(msg.get_type())
    assert told, "no command from the DroneKit script in the flight's tlog"
