"""A gas sensor on board, on ArduCopter SITL (skipped without a binary).

The harness (:mod:`tests.sitl.gas_sensor`) is a peripheral of the vehicle's
system on SITL's SERIAL2: it reads the vehicle's true position on its own port
and answers each with the TVOC concentration there from a Gaussian plume of a
known stack of the sample zone under a known wind. The flight, on its own
link (SERIAL0), flies two lanes across the plume; every reading ArduPilot
forwards to it lands in ``gas.jsonl`` at the position the harness read it at,
and the highest lies on the plume's axis downwind of the stack, where
:func:`zone.sources.locate_source` finds the stack again from the track.
"""

from __future__ import annotations

import math
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from pyproj import Geod

from missions.flight.fly import fly_mission
from missions.gas import CLOCK_BOOT, GAS_NAME, UG_M3, GasReading, read_gas
from missions.plan import Sortie
from sitl.instance import Sitl, gcs_port
from tests.sitl.fixtures import SAMPLE_SITES
from tests.sitl.gas_sensor import RATE_HZ, SENSOR_COMPID, GasSensor, Plume, Sent, transect_mission
from zone.dispersion import Wind
from zone.sites import load_sites
from zone.sources import GasSample, locate_source

pytestmark = [pytest.mark.sitl, pytest.mark.timeout(300)]

#: Huanghe Pharma's stack, 28 m, about 330 m south-west of the first dock.
STACK_ID = "ent-02-s1"
#: A south-south-westerly at 3 m/s, neutral (class D): the plume drifts towards the dock.
WIND_FROM_DEG = 210.0
WIND_M_S = 3.0
#: 1 g/s of TVOC over a background of 10 µg/m³.
EMISSION_G_S = 1.0
BACKGROUND = 10.0
#: Lanes across the plume: (metres downwind of the stack, crosswind half-length).
LANES = ((160.0, 60.0), (80.0, 50.0))
ALT_M = 30.0
NOISE_SEED = 15

GEOD = Geod(ellps="WGS84")


@pytest.fixture
def plume(sample_sortie: Sortie) -> Plume:
    """The stack's plume over the zone's ground, taken flat at the dock's height."""
    (stack,) = [s for s in load_sites(SAMPLE_SITES).stacks if s.id == STACK_ID]
    return Plume(
        lat=stack.lat,
        lon=stack.lon,
        height_m=stack.height_m,
        ground_amsl_m=sample_sortie.home[2],
        wind_from_deg=WIND_FROM_DEG,
        wind_speed_m_s=WIND_M_S,
        emission_g_s=EMISSION_G_S,
        background_ug_m3=BACKGROUND,
    )


async def test_readings_on_the_vehicles_link_are_recorded_where_they_were_read(
    copter: Sitl, sample_sortie: Sortie, plume: Plume, tmp_path: Path
) -> None:
    started = time.monotonic()
    sensor = GasSensor(gcs_port(copter.instance, 2), plume)
    await sensor.start()
    try:
        mission = transect_mission(plume, sample_sortie.home, lanes=LANES, alt_m=ALT_M)
        result = await fly_mission(copter, mission, out_dir=tmp_path)
    finally:
        await sensor.stop()
    rows = read_gas(result.flight_dir / GAS_NAME)
    print(f"{len(sensor.sent)} readings sent, {len(rows)} recorded, flight "
          f"{result.duration_s:.1f} s, test {time.monotonic() - started:.1f} s")  # fmt: skip

    sent = {s.time_boot_ms: s for s in sensor.sent}
    _every_row_is_a_reading_sent(rows, sent)
    _the_flight_heard_nearly_all(rows, sensor.sent)
    _each_at_the_position_it_was_read_at(rows, sent)
    _utc_on_the_boot_clock(rows)
    _the_peak_lies_on_the_axis_downwind(rows, plume)
    _the_track_locates_the_stack(rows, plume)


def _every_row_is_a_reading_sent(rows: list[GasReading], sent: dict[int, Sent]) -> None:
    assert rows, "no gas reading reached gas.jsonl"
    for row in rows:
        assert (row.name, row.pollutant, row.unit) == ("TVOC", "TVOC", UG_M3)
        assert row.component == SENSOR_COMPID
        # stamped by the sensor with the autopilot's time: taken at its word
        assert row.clock == CLOCK_BOOT
        assert row.time_boot_ms in sent, f"a reading at {row.time_boot_ms} ms was never sent"
        assert row.value == sent[row.time_boot_ms].value


def _the_flight_heard_nearly_all(rows: list[GasReading], sent: list[Sent]) -> None:
    """Of the readings sent while the flight listened, 90 % or more are in the file.

    ArduPilot drops a forward only when the ground station's channel has no
    room; on a loaded machine a UDP socket's buffer overflows now and then
    (at a speed-up of 20 a tenth of a second of ours is 2 s of the vehicle's,
    8 readings): 96.5 to 99.6 % were seen. The flight listened from
    its start to its landing: the lanes alone are 220 m at 8 m/s, 27 s of the
    vehicle's clock, 110 readings at 4 Hz.
    """
    first, last = rows[0].time_boot_ms, rows[-1].time_boot_ms
    window = [s for s in sent if first <= s.time_boot_ms <= last]
    recorded = {r.time_boot_ms for r in rows}
    assert len(window) >= 110
    assert len(recorded & {s.time_boot_ms for s in window}) >= 0.9 * len(window)
    span_s = (last - first) / 1000
    print(
        f"{len(window) / span_s:.2f} readings a second of the vehicle's clock (asked {RATE_HZ:g})"
    )


def _each_at_the_position_it_was_read_at(rows: list[GasReading], sent: dict[int, Sent]) -> None:
    """Within 0.5 m, and 0.3 m of height, of where the sensor read it.

    The sensor read the autopilot's position of that very millisecond on its
    own port; the flight's port has positions of other milliseconds (4 Hz each,
    not in step), interpolated. In the worst case (WPNAV_ACCEL's 2.5 m/s^2
    turning the vehicle between two positions 250 ms apart) straight-line
    interpolation is off by a t^2 / 8 = 2.5 x 0.25^2 / 8 = 0.02 m: the margins
    are for SITL's own position noise.
    """
    worst_m = 0.0
    for row in rows:
        truth = sent[row.time_boot_ms]
        _, _, horizontal_m = GEOD.inv(truth.lon, truth.lat, row.lon, row.lat)
        worst_m = max(worst_m, horizontal_m)
        assert horizontal_m < 0.5, (row, truth)
        assert abs(row.alt_amsl_m - truth.alt_amsl_m) < 0.3
        assert abs(row.alt_rel_home_m - truth.alt_rel_m) < 0.3
    print(f"worst horizontal offset from the sensor's position: {worst_m:.2f} m")


def _utc_on_the_boot_clock(rows: list[GasReading]) -> None:
    """UTC is the boot time shifted by SYSTEM_TIME's tie: the same shift on every row.

    (Not the time a reading was received, which in SITL at a speed-up of 20 is
    far behind the simulation's UTC: the first readings wait for SYSTEM_TIME.)
    ArduPilot's RTC follows GPS time while disarmed and holds it armed
    (``AP_RTC::set_utc_usec``); SITL's GPS time is its own clock's.
    """
    shifts = [datetime.fromisoformat(r.time_utc).timestamp() * 1000 - r.time_boot_ms for r in rows]
    print(f"UTC - boot time varies by {max(shifts) - min(shifts):.1f} ms over the flight")
    assert max(shifts) - min(shifts) < 50.0


def _the_peak_lies_on_the_axis_downwind(rows: list[GasReading], plume: Plume) -> None:
    """The highest reading is on the 80 m lane, on the plume's axis.

    On the axis at the flight's height (z 30 m, H 28 m) the plume goes as
    exp(-(z - H)^2 / 2 sz^2) / (sy sz): sy(80) = 0.08 x 80 / sqrt(1.008) =
    6.37 m, sz(80) = 0.06 x 80 / sqrt(1.12) = 4.54 m, exp(-4 / 41.2) = 0.91;
    sy(160) = 12.7 m, sz(160) = 8.62 m, exp(-4 / 148.6) = 0.97; so the 80 m
    lane's axis is (12.7 x 8.62 x 0.91) / (6.37 x 4.54 x 0.97) = 3.5 times the
    160 m lane's. Across the lane it falls as exp(-y^2 / 2 sy^2), and readings
    come every 2 m (8 m/s at 4 Hz): the highest is within a metre of the axis;
    the margin is for the vehicle's track.
    """
    peak = max(rows, key=lambda r: r.value)
    x_m, y_m = plume.wind_frame(peak.lat, peak.lon)
    print(f"peak {peak.value:.0f} µg/m³ at {x_m:.1f} m downwind, {y_m:.1f} m across")
    assert 72.0 < x_m < 88.0, (x_m, y_m)
    assert abs(y_m) < 4.0, (x_m, y_m)
    assert abs(math.degrees(math.atan2(y_m, x_m))) < 3.0


def _the_track_locates_the_stack(rows: list[GasReading], plume: Plume) -> None:
    """From the recorded track alone, the source is found within 30 m of the stack.

    (The issue's number.) With a sensor's noise put on the recorded values: a
    factor exp(N(0, 0.2)) (about 20 %) and N(0, 5) µg/m³, seeded: the readings
    as sent are noise-free, and the harness and the locator model the same
    physics. Heights above the ground: the zone taken flat at the dock's
    height, as the plume was. The harness's wind is one speed at every height
    while the locator's grows with height: that changes the rate it finds, not
    where (the plume's shape depends on the distance downwind only).
    """
    rng = np.random.default_rng(NOISE_SEED)
    print(f"sensor noise seed {NOISE_SEED}")
    values = np.array([r.value for r in rows])
    noisy = values * np.exp(rng.normal(0.0, 0.2, values.size)) + rng.normal(0.0, 5.0, values.size)
    # (on the pad SITL's height wanders a few centimetres below the ground: the plume
    # was read there at the ground, and so is it given to the locator)
    samples = [
        GasSample(r.lon, r.lat, max(0.0, r.alt_amsl_m - plume.ground_amsl_m), float(value))
        for r, value in zip(rows, noisy, strict=True)
    ]
    found = locate_source(
        samples,
        wind=Wind(WIND_FROM_DEG, WIND_M_S),
        stability="D",
        sites=load_sites(SAMPLE_SITES),
        unit=UG_M3,
    )
    _, _, off_m = GEOD.inv(plume.lon, plume.lat, found.lon, found.lat)
    print(
        f"located {off_m:.1f} m from the stack (one sigma {found.uncertainty_m:.1f} m), "
        f"{found.height_m:.0f} m high, attributed to {found.stack_id}"
    )
    assert off_m < 30.0
    assert found.stack_id == STACK_ID
