"""What counts as a flight's progress, on telemetry recorded from ArduCopter SITL.

The samples are GLOBAL_POSITION_INT rows of two SITL flights of
``tests/sitl/test_progress.py`` (the shared copter at the sample zone's dock,
speed-up 20), one a second of the vehicle's clock as ``Vehicle.wait_landed``
reads them there: ``(time_boot_ms, alt_rel_m, landed_state)``, with the
mission item, the mode and the distance to go given beside each table. The
stall window and the plan's estimate are worked out by hand from the box mission.
"""

from __future__ import annotations

import math

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.flight.vehicle import (
    STALL_FLOOR_S,
    FlightDeadline,
    ProgressSample,
    ProgressWatch,
)
from missions.items import Mission, MissionItem
from sitl.instance import Home
from tests.sitl.missions import box_mission

IN_AIR = mavlink.MAV_LANDED_STATE_IN_AIR
LANDING = mavlink.MAV_LANDED_STATE_LANDING
ON_GROUND = mavlink.MAV_LANDED_STATE_ON_GROUND

#: The end of a 150 m box: its RTL item (seq 9) over the dock, in AUTO. It arrives
#: (0.5 m to go, then 0), waits RTL_LOIT_TIME, and descends: LANDING from
#: 182.089 s, on the ground at 208.089 s. (time_boot_ms, to_go_m, alt_rel_m, state)
RETURN_AND_DESCENT = (
    (171339, 0.5, 29.988, IN_AIR), (172339, 0.4, 30.0, IN_AIR),
    (173339, 0.4, 29.975, IN_AIR), (174339, 0.4, 29.973, IN_AIR),
    (175339, 0.2, 29.967, IN_AIR), (176339, 0.0, 29.973, IN_AIR),
    (177339, 0.0, 29.969, IN_AIR), (178339, 0.0, 29.958, IN_AIR),
    (179339, 0.0, 29.971, IN_AIR), (180339, 0.0, 29.971, IN_AIR),
    (181339, 0.0, 29.981, IN_AIR), (182089, 0.0, 29.976, LANDING),
    (183089, 0.0, 29.355, LANDING), (184089, 0.0, 27.851, LANDING),
    (185089, 0.0, 26.335, LANDING), (186089, 0.0, 24.859, LANDING),
    (187089, 0.0, 23.363, LANDING), (188089, 0.0, 21.878, LANDING),
    (189089, 0.0, 20.379, LANDING), (190089, 0.0, 18.878, LANDING),
    (191089, 0.0, 17.373, LANDING), (192089, 0.0, 15.876, LANDING),
    (193089, 0.0, 14.387, LANDING), (194089, 0.0, 12.872, LANDING),
    (195089, 0.0, 11.368, LANDING), (196089, 0.0, 10.238, LANDING),
    (197089, 0.0, 9.277, LANDING), (198089, 0.0, 8.25, LANDING),
    (199089, 0.0, 7.252, LANDING), (200089, 0.0, 6.245, LANDING),
    (201089, 0.0, 5.241, LANDING), (202089, 0.0, 4.241, LANDING),
    (203089, 0.0, 3.235, LANDING), (204089, 0.0, 2.253, LANDING),
    (205089, 0.0, 1.272, LANDING), (206089, 0.0, 0.251, LANDING),
    (207089, 0.0, -0.036, LANDING), (208089, 0.0, -0.04, ON_GROUND),
)  # fmt: skip

#: A 200 m box switched to BRAKE just after item 5 became current (271.647 s):
#: it holds 200.2 to 200.4 m from home (the distance to go outside AUTO) at 30 m.
#: (time_boot_ms, to_go_m, alt_rel_m); all IN_AIR at item 5.
BRAKED = (
    (272647, 200.4, 29.992), (273647, 200.4, 29.998), (274647, 200.3, 29.996),
    (275647, 200.3, 29.991), (276647, 200.3, 29.985), (277647, 200.3, 29.991),
    (278647, 200.3, 29.993), (279647, 200.3, 29.982), (280647, 200.2, 29.99),
    (281647, 200.2, 29.969), (282647, 200.2, 29.977), (283647, 200.3, 30.0),
    (284647, 200.3, 29.987), (285647, 200.3, 29.984), (286649, 200.3, 29.981),
    (287897, 200.3, 30.008), (288897, 200.3, 29.983), (289897, 200.3, 29.973),
    (290897, 200.3, 29.977), (291897, 200.3, 29.997), (292899, 200.3, 30.005),
    (294147, 200.3, 30.005), (295147, 200.3, 29.99), (296147, 200.3, 29.994),
    (297147, 200.3, 30.007), (298147, 200.3, 29.995), (299149, 200.3, 29.995),
    (300397, 200.3, 29.988), (301397, 200.3, 29.986), (302397, 200.3, 29.985),
    (303397, 200.3, 29.993),
)  # fmt: skip

#: The RTL item (seq 136) of a sortie planned from an alert (``tests/sitl/test_alert_patrol.py``),
#: in AUTO, over the dock from 777.907 s: it climbs from 45 m to RTL_ALT (102 m, over the
#: zone's highest roof) and descends at 1.5 m/s; the flight was cut at 841.406 s as
#: stalled, 57 m up, before the fix. (time_boot_ms, alt_rel_m); 0 m to go, all IN_AIR.
CLIMB_THEN_DESCENT = (
    (777907, 44.989), (779156, 45.311), (780156, 46.493), (781156, 48.56), (782157, 51.035),
    (783407, 54.04), (784656, 57.087), (785657, 59.563), (786906, 62.668), (787907, 65.142),
    (789156, 68.264), (790157, 70.742), (791406, 73.892), (792407, 76.385), (793656, 79.495),
    (794657, 81.988), (795907, 85.118), (797156, 88.248), (798157, 90.759), (799406, 93.855),
    (800407, 96.377), (801656, 99.448), (802657, 101.245), (803906, 102.016), (804907, 101.929),
    (806156, 101.941), (807157, 101.977), (808407, 101.984), (809656, 102.001), (810657, 101.999),
    (811906, 101.67), (812907, 100.326), (814156, 98.41), (815157, 96.93), (816406, 95.071),
    (817407, 93.574), (818656, 91.696), (819657, 90.201), (820907, 88.329), (822156, 86.449),
    (823157, 84.964), (824406, 83.093), (825407, 81.598), (826656, 79.709), (827657, 78.194),
    (828906, 76.322), (829907, 74.849), (831156, 72.965), (832157, 71.474), (833407, 69.583),
    (834656, 67.707), (835657, 66.201), (836906, 64.341), (837907, 62.864), (839156, 60.971),
    (840157, 59.461), (841406, 57.611),
)  # fmt: skip

#: Item 5 becoming current, in AUTO, at the first corner: 600.5 m of route left
#: (0.5 m back to the corner's point, then three legs of 200 m).
ITEM_5 = ProgressSample(271.647, 5, 600.5, 29.997, "AUTO", IN_AIR)


def descent() -> list[ProgressSample]:
    return [ProgressSample(ms / 1000, 9, d, a, "AUTO", s) for ms, d, a, s in RETURN_AND_DESCENT]


def braked(mode: str = "BRAKE") -> list[ProgressSample]:
    return [ProgressSample(ms / 1000, 5, d, a, mode, IN_AIR) for ms, d, a in BRAKED]


def stalls(samples: list[ProgressSample]) -> list[float]:
    """The watch's stalled time after each sample."""
    watch = ProgressWatch()
    out = []
    for sample in samples:
        watch.observe(sample)
        out.append(watch.stalled_s)
    return out


def test_the_hold_over_the_dock_is_the_longest_pause_and_is_within_the_window() -> None:
    after = stalls(descent())
    # nothing moves from 171.339 s (0.5 m to go, within the 2 m step; the height
    # within 1 m) until LANDING at 182.089 s: 181.339 - 171.339 = 10 s at most
    assert max(after) == pytest.approx(10.0)
    assert max(after) < STALL_FLOOR_S


def test_descending_is_progress_all_the_way_down() -> None:
    samples = descent()
    after = stalls(samples)
    # from 19 m up (the case) to the ground: the band's lowest height drops
    # by 1 m at least every 2 s (at 1 m/s near the ground one second falls 0.96 m,
    # the next makes it up: 10.238 -> 9.277 -> 8.25 m)
    from_19_m = [s for sample, s in zip(samples, after, strict=True) if sample.alt_rel_m < 19]
    assert max(from_19_m) <= 1.0 + 1e-9


def test_descending_back_through_the_heights_climbed_is_progress() -> None:
    """An RTL climbs to RTL_ALT and comes down through the heights it climbed: each metre of
    the descent is progress, though the whole climb's band already held it (the band
    restarts at each step: it was kept from the item's start, and 38 s of descent from
    102 m to 45 m looked like 38 s of nothing)."""
    samples = [
        ProgressSample(ms / 1000, 136, 0.0, a, "AUTO", IN_AIR) for ms, a in CLIMB_THEN_DESCENT
    ]
    after = stalls(samples)
    # the longest pause is the hold at the top: last step up at 802.657 s (101.245 m), next
    # step down at 814.156 s (98.41 m); 812.907 s is the last sample before it
    assert max(after) == pytest.approx(812.907 - 802.657)
    assert max(after) < STALL_FLOOR_S


def test_a_braked_vehicle_stalls_once_the_window_passes() -> None:
    after = stalls([ITEM_5, *braked()])
    # progress last at item 5 (271.647 s); the switch to BRAKE changes what the
    # distance to go measures (the way home), which is no progress; 200.4 -> 200.2 m
    # and 29.969 to 30.008 m are within the steps
    assert after[-3] == pytest.approx(301.397 - 271.647)  # 29.75 s: not yet
    assert after[-1] == pytest.approx(303.397 - 271.647)  # 31.75 s: stalled
    assert after[-3] < STALL_FLOOR_S < after[-1]


def test_link_down_time_is_excused() -> None:
    watch = ProgressWatch()
    watch.observe(ITEM_5)
    samples = braked()
    for sample in samples[:10]:  # to 281.647 s
        watch.observe(sample)
    # the link is down from 281.647 s to 296.147 s: nothing heard in between
    watch.excuse()
    watch.observe(samples[23])  # 296.147 s, the first position after the outage
    assert watch.stalled_s == 0.0
    for sample in samples[24:]:
        watch.observe(sample)
    assert watch.stalled_s == pytest.approx(303.397 - 296.147)  # 7.25 s since the outage
    # the vehicle's time still counts for the overdue and the ceiling
    assert watch.elapsed_s == pytest.approx(303.397 - 271.647)


def test_holding_in_guided_is_the_operators_choice_not_a_stall() -> None:
    assert max(stalls([ITEM_5, *braked("GUIDED")])) == 0.0


def test_the_item_moving_on_is_progress_even_standing_still() -> None:
    watch = ProgressWatch()
    watch.observe(ProgressSample(100.0, 4, 50.0, 30.0, "AUTO", IN_AIR))
    watch.observe(ProgressSample(125.0, 4, 50.0, 30.0, "AUTO", IN_AIR))
    assert watch.stalled_s == 25.0
    assert watch.observe(ProgressSample(126.0, 5, 50.0, 30.0, "AUTO", IN_AIR))
    assert watch.stalled_s == 0.0
    # a jump back (DO_JUMP) is not progress
    assert not watch.observe(ProgressSample(127.0, 2, 50.0, 30.0, "AUTO", IN_AIR))


def test_the_deadline_from_the_box_plan() -> None:
    home = Home(34.8, 113.55, 100.0, 0.0)
    box = box_mission(home, side_m=150)
    deadline = FlightDeadline.for_mission(box)
    # home, then four 150 m legs round the square back to its first corner, which is
    # home: 600 m; 120 s + 2 * 600 m / 3 m/s = 520 s
    assert deadline.estimate_s == pytest.approx(520.0, abs=1.0)
    assert deadline.stall_s == STALL_FLOOR_S  # no holds: the floor
    assert deadline.ceiling_s == pytest.approx(3 * 520.0, abs=3.0)
    # an estimate made too short moves the overdue, never the ceiling
    short = FlightDeadline.for_mission(box, estimate_s=20.0)
    assert short.estimate_s == 20.0
    assert short.ceiling_s == deadline.ceiling_s


def test_a_loiter_widens_the_stall_window() -> None:
    home = Home(34.8, 113.55, 100.0, 0.0)
    box = box_mission(home, side_m=150)
    corner = box.items[4]
    loiter_s = MissionItem(
        len(box.items), corner.frame, mavlink.MAV_CMD_NAV_LOITER_TIME, param1=60.0,
        x=corner.x, y=corner.y, z=30.0,
    )  # fmt: skip
    turns = MissionItem(
        len(box.items) + 1, corner.frame, mavlink.MAV_CMD_NAV_LOITER_TURNS, param1=2.0,
        param3=10.0, x=corner.x, y=corner.y, z=30.0,
    )  # fmt: skip
    with_loiter = FlightDeadline.for_mission(
        Mission(items=(*box.items, loiter_s), name="box with a loiter")
    )
    assert with_loiter.stall_s == 60.0 + 15.0
    with_turns = FlightDeadline.for_mission(
        Mission(items=(*box.items, turns), name="box with turns")
    )
    # 2 turns of a 10 m circle at 1 m/s: 2 * 2 pi * 10 m = 125.7 s, plus 15 s
    assert with_turns.stall_s == pytest.approx(2 * 2 * math.pi * 10 + 15.0)
