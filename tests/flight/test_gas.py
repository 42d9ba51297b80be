"""Gas readings along the track: named values placed on the autopilot's clock and track.

Against the scripted vehicle of :mod:`tests.flight.peer` (no SITL): it sends
the autopilot's positions and SYSTEM_TIME, and a second codec on its
connection plays a sensor component of the same system (158), as ArduPilot
forwards one's NAMED_VALUE_FLOAT to the ground station.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.flight.vehicle import Vehicle
from missions.gas import (
    AHEAD_MS,
    BEHIND_MS,
    CATCH_UP_MS,
    CLOCK_ARRIVAL,
    CLOCK_BOOT,
    GAS_NAME,
    MG_M3,
    PPB,
    UG_M3,
    Fix,
    Gas,
    GasRecorder,
    GasWriter,
    gas_of,
    place,
    read_gas,
    reading_time,
)
from tests.flight.peer import ScriptedVehicle

#: 2025-11-28T12:00:00Z, in microseconds
NOON_US = 1_764_331_200_000_000


def test_gas_names_are_matched_without_case_or_padding() -> None:
    assert gas_of("TVOC") == Gas("TVOC", UG_M3)
    assert gas_of("pm2.5") == gas_of("PM25\0\0\0\0\0\0") == Gas("PM2.5", UG_M3)
    assert gas_of("CO") == Gas("CO", MG_M3)
    assert gas_of("no2_ppb") == Gas("NO2", PPB)
    assert gas_of("RPM") is None and gas_of("") is None


def test_a_time_between_two_positions_is_placed_on_the_line_between_them() -> None:
    fixes = [Fix(1000, 34.8, 113.5, 142.0, 30.0), Fix(1250, 34.80002, 113.50004, 143.0, 31.0)]
    # 1100 ms is 100 / 250 = 0.4 of the way: 34.8 + 0.4 x 0.00002, 113.5 + 0.4 x 0.00004,
    # 142 + 0.4 x 1, 30 + 0.4 x 1; the positions are 250 ms apart
    fix, gap = place(fixes, 1100)
    assert fix.lat == pytest.approx(34.800008, abs=1e-12)
    assert fix.lon == pytest.approx(113.500016, abs=1e-12)
    assert (fix.alt_amsl_m, fix.alt_rel_home_m) == pytest.approx((142.4, 30.4))
    assert gap == 250
    assert place(fixes, 1250) == (fixes[1], 0)  # at a position's own time
    assert place(fixes, 900) == (fixes[0], 100)  # before them: the first held, 100 ms off
    assert place(fixes, 1400) == (fixes[1], 150)  # after them: the last held


def test_a_stamp_is_taken_on_the_autopilots_clock_unless_it_cannot_be() -> None:
    def when(stamp: int, newest: int, *, autopilot: bool = False) -> tuple[int, str] | None:
        """Heard when the newest autopilot time was 90 s, judged when it is ``newest``."""
        return reading_time(stamp, from_autopilot=autopilot, arrival_ms=90_000, newest_ms=newest)

    # the autopilot's own reading: its stamp, whatever
    assert when(5, 90_000, autopilot=True) == (5, CLOCK_BOOT)
    # a component's within [arrival - BEHIND_MS, newest + AHEAD_MS]: its stamp
    assert when(90_000 - BEHIND_MS, 90_000) == (90_000 - BEHIND_MS, CLOCK_BOOT)
    assert when(90_000 + AHEAD_MS, 90_000) == (90_000 + AHEAD_MS, CLOCK_BOOT)
    # behind it (its own clock, or none): when it arrived
    assert when(89_999 - BEHIND_MS, 90_000) == (90_000, CLOCK_ARRIVAL)
    assert when(0, 90_000) == (90_000, CLOCK_ARRIVAL)
    # ahead of every autopilot time heard (after a drop-out): not known until the
    # autopilot's clock comes within AHEAD_MS of it...
    assert when(93_000, 90_000) is None
    assert when(93_000, 92_000) == (93_000, CLOCK_BOOT)
    # ... or has run CATCH_UP_MS past the arrival without doing so: another clock
    assert when(4_000_000, 90_000 + CATCH_UP_MS) is None
    assert when(4_000_000, 90_001 + CATCH_UP_MS) == (90_000, CLOCK_ARRIVAL)


def _position(peer: ScriptedVehicle, time_ms: int, lat: float, lon: float, amsl: float) -> None:
    """GLOBAL_POSITION_INT from the autopilot; 112 m AMSL is home."""
    peer.send(
        peer.mav.global_position_int_encode(
            time_ms, round(lat * 1e7), round(lon * 1e7), round(amsl * 1000),
            round((amsl - 112.0) * 1000), 0, 0, 0, 0,
        )
    )  # fmt: skip


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


async def test_a_sensors_readings_are_written_at_the_vehicles_position_and_utc(
    peer: ScriptedVehicle, tmp_path: Path
) -> None:
    path = tmp_path / "gas.jsonl"
    vehicle = await Vehicle.connect(peer.url, heartbeat_interval_s=0.1, timeout_s=5.0)
    sensor = mavlink.MAVLink(peer.mav.file, srcSystem=1, srcComponent=158)
    try:
        vehicle.record_gas(path)
        _position(peer, 1000, 34.8, 113.5, 142.0)
        sensor.send(sensor.named_value_float_encode(1100, b"TVOC", 250.5))  # waits for 1250
        _position(peer, 1250, 34.80002, 113.50004, 143.0)  # ... and for UTC
        peer.send(peer.mav.system_time_encode(NOON_US, 900))  # noon is boot 900 ms
        peer.send(peer.mav.named_value_float_encode(1250, b"NO2", 40.0))  # the autopilot's own
        sensor.send(sensor.named_value_float_encode(1260, b"RPM", 3000.0))  # not gas
        # far ahead of the autopilot: its own clock, or a drop-out the positions will catch up
        sensor.send(sensor.named_value_float_encode(4_000_000, b"SO2", 7.0))
        sensor.send(sensor.named_value_float_encode(1400, b"CO", 0.8))  # waits for 1500
        _position(peer, 1500, 34.80005, 113.50004, 144.0)
        sensor.send(sensor.named_value_float_encode(1600, b"PM25", 35.0))  # no later position
        await vehicle.wait_until(lambda: _lines(path) >= 3, 3.0, "three readings written")
    finally:
        await vehicle.close()  # the flight cut short: the ones still waiting are written too

    tvoc, no2, co, so2, pm25 = read_gas(path)
    # TVOC at 1100 ms: 0.4 of the way from the 1000 ms position to the 1250 ms one
    # (see the test above); 200 ms after noon on the clock SYSTEM_TIME ties to UTC
    assert (tvoc.pollutant, tvoc.value, tvoc.unit, tvoc.component) == ("TVOC", 250.5, UG_M3, 158)
    assert (tvoc.time_boot_ms, tvoc.clock, tvoc.position_gap_ms) == (1100, CLOCK_BOOT, 250)
    assert (tvoc.lat, tvoc.lon) == pytest.approx((34.800008, 113.500016), abs=1e-9)
    assert (tvoc.alt_amsl_m, tvoc.alt_rel_home_m) == pytest.approx((142.4, 30.4))
    assert tvoc.time_utc == "2025-11-28T12:00:00.200+00:00"
    # the autopilot's own, at a position's very time
    assert (no2.component, no2.time_boot_ms, no2.position_gap_ms) == (1, 1250, 0)
    assert (no2.lat, no2.lon, no2.alt_rel_home_m) == (34.80002, 113.50004, 31.0)
    # stamped 4000 s ahead, never caught up: placed when it came, at the 1250 ms position
    assert (so2.time_boot_ms, so2.clock, so2.lat) == (1250, CLOCK_ARRIVAL, 34.80002)
    # CO at 1400 ms: 150 / 250 = 0.6 from 1250 to 1500, 34.80002 + 0.6 x 0.00003
    assert (co.lat, co.alt_amsl_m, co.position_gap_ms) == (pytest.approx(34.800038), 143.6, 250)
    assert (co.unit, co.time_utc) == (MG_M3, "2025-11-28T12:00:00.500+00:00")
    # PM2.5 at 1600 ms, after the last position: that one held, 100 ms off
    assert (pm25.pollutant, pm25.lat, pm25.position_gap_ms) == ("PM2.5", 34.80005, 100)


def test_a_bad_line_is_refused_naming_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "gas.jsonl"
    path.write_text('{"time_utc": "2026-01-01T00:00:00+00:00"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"gas\.jsonl:1: not a gas reading"):
        read_gas(path)


def test_a_recorder_that_heard_nothing_closes_to_an_empty_file(tmp_path: Path) -> None:
    """A flight stopped before arming (a parameter refused) closes its recorder without a
    position or a reading: an empty gas.jsonl, no error."""
    path = tmp_path / GAS_NAME
    GasRecorder(GasWriter(path)).close()
    assert path.exists() and read_gas(path) == []
