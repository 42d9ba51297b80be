"""Concurrent drones kept apart in time: trajectories, launch delays, and the plan's own check.

Positions are laid out with pyproj.Geod (WGS84 geodesics), not with the
module's own local frame, and every expected time is summed by hand in the
test's docstring. Altitudes: the home item is AMSL (100 m), the others are
above home (GLOBAL_RELATIVE_ALT), as the planner writes them.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from pymavlink.dialects.v20 import ardupilotmega as mavlink
from pyproj import Geod, Proj

from missions.deconflict import (
    FleetSchedule,
    Separation,
    check_schedule,
    deconflict,
    patrol_waves,
    trajectory,
)
from missions.errors import InfeasibleError
from missions.items import Mission, MissionItem, MissionType, to_e7
from missions.plan import Patrol

GEOD = Geod(ellps="WGS84")
CROSSING = (34.80, 113.52)  # lat, lon of the point where the test routes cross
HOME_AMSL_M = 100.0
REL = mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT


def _at(lat: float, lon: float, azimuth_deg: float, distance_m: float) -> tuple[float, float]:
    """The point ``distance_m`` from (lat, lon) along true azimuth ``azimuth_deg`` (geodesic)."""
    lon2, lat2, _ = GEOD.fwd(lon, lat, azimuth_deg, distance_m)
    return lat2, lon2


def _geod_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    return float(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def _mission(
    home: tuple[float, float],
    steps: list[tuple[str, float, float, float]],
    params: dict[str, float] | None = None,
) -> Mission:
    """Home (AMSL), then ("takeoff"|"wp"|"speed"|"land"|"rtl", lat, lon, alt above home or m/s)."""
    items = [
        MissionItem(0, mavlink.MAV_FRAME_GLOBAL, mavlink.MAV_CMD_NAV_WAYPOINT,
                    x=to_e7(home[0]), y=to_e7(home[1]), z=HOME_AMSL_M),
    ]  # fmt: skip
    for kind, lat, lon, z in steps:
        seq = len(items)
        if kind == "speed":
            items.append(MissionItem(seq, 2, mavlink.MAV_CMD_DO_CHANGE_SPEED, 1, z, -1))
        elif kind == "rtl":
            items.append(MissionItem(seq, 2, mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH))
        else:
            cmd = {
                "takeoff": mavlink.MAV_CMD_NAV_TAKEOFF,
                "wp": mavlink.MAV_CMD_NAV_WAYPOINT,
                "land": mavlink.MAV_CMD_NAV_LAND,
            }[kind]
            items.append(MissionItem(seq, REL, cmd, x=to_e7(lat), y=to_e7(lon), z=z))
    return Mission(tuple(items), params=dict(params or {}))


def _crossing(azimuth_deg: float, alt_m: float, *, run_m: float = 500.0) -> Mission:
    """Take off ``run_m`` before the crossing, fly through it along ``azimuth_deg``, land beyond."""
    home = _at(*CROSSING, azimuth_deg + 180, run_m)
    far = _at(*CROSSING, azimuth_deg, run_m)
    return _mission(
        home,
        [
            ("takeoff", *home, alt_m),
            ("wp", *CROSSING, alt_m),
            ("wp", *far, alt_m),
            ("land", 0.0, 0.0, 0.0),
        ],
    )


def _arrival_s(tr, lat: float, lon: float, alt_amsl_m: float, *, after_s: float = 0.0) -> float:
    """The sample time, after ``after_s``, nearest the point (geodesic and vertical distance)."""
    later = tr.t_s >= after_s
    dist = [
        math.hypot(_geod_m(la, lo, lat, lon), z - alt_amsl_m)
        for la, lo, z in zip(tr.lat[later], tr.lon[later], tr.alt_amsl_m[later], strict=True)
    ]
    assert min(dist) < 6.0  # at 10 m/s a sample is at most 5 m from any point passed
    return float(tr.t_s[later][int(np.argmin(dist))])


def test_trajectory_times_each_phase_as_summed_by_hand() -> None:
    """Take-off, two legs at the speeds in force, and ArduCopter's RTL, phase by phase.

    Take-off to 30 m at WPNAV_SPEED_UP 2.5 m/s: 12 s (t = 12). 500 m north at
    WPNAV_SPEED 10 m/s: 50 s (t = 62). A right-angle corner, the default
    aircraft's turn_time_s: 3 s (t = 65). DO_CHANGE_SPEED 5 m/s, 100 m east:
    20 s (t = 85). RTL with RTL_ALT 50 m and no cone: climb 20 m at 2.5 m/s,
    8 s (t = 93); back sqrt(500^2 + 100^2) = 509.9 m at WPNAV_SPEED (RTL_SPEED
    0: the parameter, not the 5 m/s DO_CHANGE_SPEED set) 51.0 s (t = 144.0);
    loiter RTL_LOIT_TIME 5 s (t = 149.0); land: 40 m to LAND_ALT_LOW 10 m at
    WPNAV_SPEED_DN 1.5 m/s, 26.7 s (t = 175.7), the last 10 m at LAND_SPEED
    0.5 m/s, 20 s: on the ground at t = 195.7.
    """
    home = CROSSING
    north = _at(*home, 0.0, 500.0)
    east = _at(*north, 90.0, 100.0)
    mission = _mission(
        home,
        [("takeoff", *home, 30.0), ("wp", *north, 30.0), ("speed", 0, 0, 5.0),
         ("wp", *east, 30.0), ("rtl", 0, 0, 0)],
        params={"RTL_ALT": 5000.0, "RTL_CONE_SLOPE": 0.0},
    )  # fmt: skip
    tr = trajectory(mission)
    assert tr.t_s[0] == 0.0 and np.allclose(np.diff(tr.t_s)[:-1], 1.0)
    top = HOME_AMSL_M + 30.0
    assert _arrival_s(tr, *home, top) == pytest.approx(12.0, abs=1.0)
    assert _arrival_s(tr, *north, top) == pytest.approx(62.0, abs=1.0)
    at_corner = [_geod_m(la, lo, *north) < 1.0 for la, lo in zip(tr.lat, tr.lon, strict=True)]
    assert sum(at_corner) == pytest.approx(3 + 1, abs=1)  # the corner's 3 s, sampled each second
    assert _arrival_s(tr, *east, top) == pytest.approx(85.0, abs=1.0)
    assert _arrival_s(tr, *east, HOME_AMSL_M + 50.0) == pytest.approx(93.0, abs=1.0)
    assert _arrival_s(tr, *home, HOME_AMSL_M + 50.0, after_s=100) == pytest.approx(144.0, abs=1.5)
    leaving = tr.t_s[(tr.alt_amsl_m >= HOME_AMSL_M + 50.0 - 1e-6)].max()
    assert leaving == pytest.approx(149.0, abs=1.5)
    assert _arrival_s(tr, *home, HOME_AMSL_M + 10.0, after_s=100) == pytest.approx(175.7, abs=1.5)
    assert tr.duration_s == pytest.approx(195.7, abs=1.5)
    assert tr.alt_amsl_m[-1] == pytest.approx(HOME_AMSL_M)
    assert tr.alt_amsl_m.max() == pytest.approx(HOME_AMSL_M + 50.0)


def _item(seq: int, cmd: int, p1: float = 0.0, p2: float = 0.0, *, at=None, z: float = 0.0):
    """A mission item; ``at`` (lat, lon) puts it somewhere, above home (0, 0: where it is)."""
    lat, lon = at if at is not None else (0.0, 0.0)
    return MissionItem(seq, REL, cmd, p1, p2, x=to_e7(lat), y=to_e7(lon), z=z)


def test_holds_jumps_and_delays_are_timed() -> None:
    """LOITER_TIME, a waypoint's hold, DO_JUMP once, NAV_DELAY and a LAND, summed by hand.

    Take-off to 20 m: 8 s (t = 8). 200 m north: 20 s (t = 28), hold 10 s (t =
    38). Back home as a 15 s LOITER_TIME: 20 s + 15 s (t = 73). DO_JUMP to the
    waypoint, once more: t = 93 north (103 after its hold), t = 123 home, 138
    after the loiter. NAV_DELAY 7 s (t = 145). LAND here: 10 m at 1.5 m/s,
    6.7 s, the last 10 m at 0.5 m/s, 20 s: on the ground at t = 171.7.
    """
    home = CROSSING
    north = _at(*home, 0.0, 200.0)
    c = mavlink
    items = (
        MissionItem(0, c.MAV_FRAME_GLOBAL, c.MAV_CMD_NAV_WAYPOINT,
                    x=to_e7(home[0]), y=to_e7(home[1]), z=HOME_AMSL_M),
        _item(1, c.MAV_CMD_NAV_TAKEOFF, z=20.0),
        _item(2, c.MAV_CMD_NAV_WAYPOINT, 10.0, at=north, z=20.0),
        _item(3, c.MAV_CMD_NAV_LOITER_TIME, 15.0, at=home, z=20.0),
        _item(4, c.MAV_CMD_DO_JUMP, 2, 1),
        _item(5, c.MAV_CMD_NAV_DELAY, 7.0),
        _item(6, c.MAV_CMD_NAV_LAND),
    )  # fmt: skip
    tr = trajectory(Mission(items))
    top = HOME_AMSL_M + 20.0
    assert _arrival_s(tr, *north, top) == pytest.approx(28.0, abs=1.0)
    assert _arrival_s(tr, *north, top, after_s=60) == pytest.approx(93.0, abs=1.0)
    at_north = np.array(
        [_geod_m(la, lo, *north) < 1.0 for la, lo in zip(tr.lat, tr.lon, strict=True)]
    )
    assert at_north.sum() == pytest.approx(2 * 11, abs=2)  # two 10 s holds
    assert tr.duration_s == pytest.approx(171.7, abs=1.5)
    assert _geod_m(tr.lat[-1], tr.lon[-1], *home) < 1.0

    for bad in (
        _item(4, c.MAV_CMD_DO_JUMP, 2, -1),  # for ever
        _item(4, c.MAV_CMD_NAV_LOITER_UNLIM, at=home, z=20.0),
        _item(4, c.MAV_CMD_NAV_DELAY, -1.0),  # until a clock time
    ):
        with pytest.raises(InfeasibleError):
            trajectory(Mission((*items[:4], bad, items[6])))
    with pytest.raises(InfeasibleError, match="ends in the air"):
        trajectory(Mission(items[:4]))


def test_loiter_turns_go_round_the_ring_clockwise() -> None:
    """One turn of radius 30 m round a point 100 m north, at 10 m/s, then LAND.

    Take-off to 30 m: 12 s. The ring's nearest point is 70 m north: 7 s (t =
    19). CIRCLE_RATE 20 deg/s would be 10.5 m/s on 30 m, so 10/30 rad/s: a turn
    takes 2 pi * 3 = 18.85 s (t = 37.85), clockwise from the south point: west
    a quarter in (t = 23.7), east at three quarters (t = 33.1). Landing from
    30 m: 13.3 s + 20 s, on the ground at t = 71.2.
    """
    home = CROSSING
    centre = _at(*home, 0.0, 100.0)
    c = mavlink
    items = (
        MissionItem(0, c.MAV_FRAME_GLOBAL, c.MAV_CMD_NAV_WAYPOINT,
                    x=to_e7(home[0]), y=to_e7(home[1]), z=HOME_AMSL_M),
        _item(1, c.MAV_CMD_NAV_TAKEOFF, z=30.0),
        MissionItem(2, REL, c.MAV_CMD_NAV_LOITER_TURNS, 1.0, 0.0, 30.0,
                    x=to_e7(centre[0]), y=to_e7(centre[1]), z=30.0),
        _item(3, c.MAV_CMD_NAV_LAND),
    )  # fmt: skip
    tr = trajectory(Mission(items))
    on_ring = (tr.t_s >= 19.5) & (tr.t_s <= 37.5)
    radii = [
        _geod_m(la, lo, *centre) for la, lo in zip(tr.lat[on_ring], tr.lon[on_ring], strict=True)
    ]
    assert np.allclose(radii, 30.0, atol=1.0)
    west, east = int(np.searchsorted(tr.t_s, 24.0)), int(np.searchsorted(tr.t_s, 33.0))
    assert GEOD.inv(centre[1], centre[0], tr.lon[west], tr.lat[west])[0] % 360 == pytest.approx(
        270, abs=8
    )
    assert GEOD.inv(centre[1], centre[0], tr.lon[east], tr.lat[east])[0] % 360 == pytest.approx(
        90, abs=8
    )
    assert tr.duration_s == pytest.approx(71.2, abs=1.5)


def test_rtl_goes_to_the_nearest_rally_point_and_lands_there() -> None:
    """1 km north of home with a rally point 100 m short of it: RTL lands on the rally point.

    RTL_ALT 15 m < 40 m flown: no climb; the cone (default slope 3) caps the
    return at max(3 x 100 m, 40 m): 40 m. After 16 s of take-off (40 m at 2.5
    m/s) and 100 s of leg, 100 m back at 10 m/s, 5 s loiter, 30 m down at 1.5
    m/s and 10 m at 0.5 m/s: on the ground at 116 + 10 + 5 + 20 + 20 = 171 s.
    """
    home = CROSSING
    north = _at(*home, 0.0, 1000.0)
    rally_at = _at(*home, 0.0, 900.0)
    mission = _mission(home, [("takeoff", *home, 40.0), ("wp", *north, 40.0), ("rtl", 0, 0, 0)])
    rally = MissionItem(0, REL, mavlink.MAV_CMD_NAV_RALLY_POINT, x=to_e7(rally_at[0]),
                        y=to_e7(rally_at[1]), z=30.0, mission_type=MissionType.RALLY)  # fmt: skip
    tr = trajectory(Mission(mission.items, rally=(rally,)))
    assert _geod_m(tr.lat[-1], tr.lon[-1], *rally_at) < 1.0
    assert tr.alt_amsl_m.max() == pytest.approx(HOME_AMSL_M + 40.0)
    assert tr.duration_s == pytest.approx(171.0, abs=1.5)


def test_crossing_at_one_height_makes_the_second_wait_until_clear() -> None:
    """Two routes crossing at right angles at 30 m, both at the crossing at t = 62 s.

    Each takes off 500 m before the crossing (12 s climb + 50 s at 10 m/s). With
    B launched d s after A, A's planned point at elapsed a and B's at b are
    within 50 m only if (10 (a - 62))^2 + (10 (b - 62))^2 < 50^2, so a - b <
    5 sqrt(2) = 7.1 s. A vehicle e s after launch may be where it planned to be
    at any time within 10 + 0.05 e of e, so a planned point a is flown within
    (10 + 0.05 a) / 0.95 of it; the two can meet while d <= (a - b) + (20 +
    0.05 (a + b)) / 0.95, with a + b near 124 s: d <= 7.1 + 27.6 = 34.7 s. So
    B must wait more than 34.7 s; the 5 s search steps and the half-step
    allowance for sampling (+10 m, +1 s: 8.5 + 27.6 + 1 = 37.1) make it 40 s.
    At 40 s their planned closest approach is halfway: both 10 * 40 / 2 = 200
    m from the crossing, 200 sqrt(2) = 283 m apart.
    """
    missions = {1: _crossing(0.0, 30.0), 2: _crossing(90.0, 30.0)}
    schedule = deconflict(missions)
    assert schedule.start_s[1] == 0.0
    assert 34.7 < schedule.start_s[2] <= 40.0
    assert check_schedule(missions, schedule) == []
    (closest,) = schedule.closest
    assert closest.apart
    assert closest.horizontal_m == pytest.approx(10 * schedule.start_s[2] / math.sqrt(2), abs=10)
    assert len(schedule.notes) == 1 and schedule.notes[0].startswith("sortie 2 waits 40 s")

    together = FleetSchedule({1: 0.0, 2: 0.0}, (), ())
    (violation,) = check_schedule(missions, together)
    assert (violation.sortie_a, violation.sortie_b) == (1, 2)
    assert not violation.apart
    assert _geod_m(violation.lat, violation.lon, *CROSSING) < 10.0
    assert violation.t_s == pytest.approx(62.0, abs=2.0)


def test_crossing_twenty_metres_apart_needs_no_wait() -> None:
    """The same crossing with B at 50 m and A at 30 m: 20 m apart vertically, over the 15 m.

    Even with half a second's climb at 2.5 m/s each (2.5 m) added for sampling,
    17.5 m < 20 m: no wait. B's climb to 50 m takes 20 s, so it reaches the
    crossing at 70 s, A at 62 s; the nearest they come (the vertical gap being
    20 m throughout) is at 66 s, each 40 m from the crossing: 40 sqrt(2) =
    56.6 m horizontally (the pyproj positions put them 1 m nearer).
    """
    missions = {1: _crossing(0.0, 30.0), 2: _crossing(90.0, 50.0)}
    schedule = deconflict(missions)
    assert schedule.start_s == {1: 0.0, 2: 0.0}
    assert schedule.notes == ()
    assert check_schedule(missions, schedule) == []
    (closest,) = schedule.closest
    assert closest.vertical_m == pytest.approx(20.0, abs=0.01)
    assert closest.horizontal_m == pytest.approx(40 * math.sqrt(2), abs=3.0)
    assert closest.t_s == pytest.approx(66.0, abs=1.0)
    assert closest.apart


def test_priority_decides_who_waits() -> None:
    """Sortie 2 first: then sortie 1 waits, by the same 40 s (the crossing is symmetric)."""
    missions = {1: _crossing(0.0, 30.0), 2: _crossing(90.0, 30.0)}
    schedule = deconflict(missions, priority=[2])
    assert schedule.start_s == {2: 0.0, 1: 40.0}
    assert check_schedule(missions, schedule) == []


def test_no_delay_within_the_limit_is_refused_in_one_line() -> None:
    """B needs 40 s (above); allowed 30 s at most, the planner refuses rather than cut margins."""
    missions = {1: _crossing(0.0, 30.0), 2: _crossing(90.0, 30.0)}
    with pytest.raises(InfeasibleError) as err:
        deconflict(missions, max_wait_s=30.0)
    message = str(err.value)
    assert "\n" not in message
    assert "sortie 2" in message and "30 s" in message


def test_sample_zone_waves_deconflict_cleanly(patrol: Patrol) -> None:
    """The sample zone's two docks: wave k is each drone's k-th sortie, and each wave is clean.

    Each dock has one drone, so a wave holds at most one sortie per dock. Two
    sorties of the same dock, imagined flying at once, start from the same
    point: launched together they meet at the dock at once, so one must wait.
    """
    for s in patrol.sorties:  # the routing estimate, an independent model, agrees
        flown_s = trajectory(s.mission, aircraft=patrol.aircraft).duration_s
        assert flown_s == pytest.approx(s.duration_s, rel=0.1), s.number
    waves = patrol_waves(patrol)
    by_drone: dict[tuple[str, int], list[int]] = {}
    for s in patrol.sorties:
        by_drone.setdefault((s.dock.id, s.drone), []).append(s.number)
    assert len(by_drone) == 2
    for k, wave in enumerate(waves):
        assert sorted(wave) == sorted(v[k] for v in by_drone.values() if len(v) > k)
    first = waves[0]
    assert {s.dock.id for s in patrol.sorties if s.number in first} == {"dock-south", "dock-north"}
    schedule = deconflict(first)
    assert set(schedule.start_s) == set(first)
    assert check_schedule(first, schedule) == []

    south = sorted(v for (dock, _), v in by_drone.items() if dock == "dock-south")[0][:2]
    north = sorted(v for (dock, _), v in by_drone.items() if dock == "dock-north")[0][:2]
    same_docks = {n: s.mission for s in patrol.sorties for n in [*south, *north] if s.number == n}
    began = time.perf_counter()
    schedule = deconflict(same_docks)
    assert time.perf_counter() - began < 2.0
    assert schedule.start_s[south[1]] > 0 and schedule.start_s[north[1]] > 0
    assert check_schedule(same_docks, schedule) == []
    at_once = FleetSchedule(dict.fromkeys(same_docks, 0.0), (), ())
    assert {(v.sortie_a, v.sortie_b) for v in check_schedule(same_docks, at_once)} >= {
        tuple(south),
        tuple(north),
    }


def test_an_hour_long_wave_of_four_deconflicts_in_well_under_two_seconds() -> None:
    """Four drones mowing the same 1 km square for about an hour each: the worst case for speed."""
    missions = {}
    for n, corner in enumerate((0.0, 90.0, 180.0, 270.0), start=1):
        home = _at(*CROSSING, corner + 45.0, 720.0)
        lanes = []
        for k in range(9):  # 9 lanes of 1 km there and back: 18 km at 5 m/s, 3600 s
            a = _at(*CROSSING, corner, -500.0 + 110.0 * k)
            lanes += [("wp", *_at(*a, corner + 90, -500.0), 40.0),
                      ("wp", *_at(*a, corner + 90, 500.0), 40.0)]  # fmt: skip
        steps = [("takeoff", *home, 40.0), ("speed", 0, 0, 5.0), *lanes, ("rtl", 0, 0, 0)]
        missions[n] = _mission(home, steps)
    assert all(3500 < trajectory(m).duration_s < 4000 for m in missions.values())
    began = time.perf_counter()
    try:
        schedule = deconflict(missions, max_wait_s=2 * 3600)
    except InfeasibleError:
        schedule = None
    assert time.perf_counter() - began < 2.0
    if schedule is not None:
        assert check_schedule(missions, schedule) == []


UTM49 = Proj(proj="utm", zone=49, ellps="WGS84")


def _meet_brute_force(
    missions: dict[int, Mission], start_s: dict[int, float], sep: Separation
) -> list[tuple[float, float, float]]:
    """Moments two vehicles could meet, found the slow way from the rule as stated.

    At each global time t (every 0.5 s) each vehicle may be at any airborne
    point it planned for within 10 + 0.05 e of its elapsed time e (every 0.5 s
    of plan, positions in UTM zone 49 by pyproj, not the module's frame); a
    meeting is a pair of such points under 50 m horizontally and 15 m
    vertically. Returns (t, horizontal, vertical) of each.
    """
    dense = {}
    for n, m in missions.items():
        tr = trajectory(m)
        t = np.arange(0.25, tr.duration_s, 0.25)
        x, y = UTM49(np.interp(t, tr.t_s, tr.lon), np.interp(t, tr.t_s, tr.lat))
        dense[n] = (t, np.column_stack([x, y, np.interp(t, tr.t_s, tr.alt_amsl_m)]))
    (na, (ta, pa)), (nb, (tb, pb)) = dense.items()
    found = []
    end = max(start_s[na] + ta[-1], start_s[nb] + tb[-1]) + 1
    for t in np.arange(0.0, end, 0.5):
        ea, eb = t - start_s[na], t - start_s[nb]
        sa = pa[np.abs(ta - ea) <= 10 + 0.05 * max(ea, 0.0)]
        sb = pb[np.abs(tb - eb) <= 10 + 0.05 * max(eb, 0.0)]
        if len(sa) and len(sb):
            d = sa[:, None, :] - sb[None, :, :]
            h, v = np.hypot(d[..., 0], d[..., 1]), np.abs(d[..., 2])
            close = (h < sep.horizontal_m) & (v < sep.vertical_m)
            if close.any():
                found.append((float(t), float(h[close].min()), float(v[close].min())))
    return found


def test_brute_force_agrees_on_the_crossing() -> None:
    """The slow check sees the crossing flown at once or 30 s apart, and nothing after the wait.

    30 s is under the 33.3 s worked out by hand for the rule taken at the
    true elapsed time (the test above), which the slow check applies as stated.
    """
    missions = {1: _crossing(0.0, 30.0), 2: _crossing(90.0, 30.0)}
    assert _meet_brute_force(missions, {1: 0.0, 2: 0.0}, Separation())
    assert _meet_brute_force(missions, {1: 0.0, 2: 30.0}, Separation())
    schedule = deconflict(missions)
    assert _meet_brute_force(missions, schedule.start_s, Separation()) == []


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    azimuth_a=st.floats(0, 360),
    turn=st.floats(20, 160),
    run_a=st.floats(100, 800),
    run_b=st.floats(100, 800),
    alt_a=st.floats(15, 80),
    alt_b=st.floats(15, 80),
    speed_a=st.floats(3, 12),
    speed_b=st.floats(3, 12),
)
def test_deconflicted_crossings_always_check_clean(
    azimuth_a: float,
    turn: float,
    run_a: float,
    run_b: float,
    alt_a: float,
    alt_b: float,
    speed_a: float,
    speed_b: float,
) -> None:
    """Two straight legs crossing at any angle, heights and speeds: the schedule checks clean."""
    note(f"A {azimuth_a:.1f} deg {run_a:.0f} m at {alt_a:.0f} m, {speed_a:.1f} m/s")
    note(f"B {azimuth_a + turn:.1f} deg {run_b:.0f} m at {alt_b:.0f} m, {speed_b:.1f} m/s")
    missions = {}
    for n, (az, run, alt, speed) in enumerate(
        [(azimuth_a, run_a, alt_a, speed_a), (azimuth_a + turn, run_b, alt_b, speed_b)], start=1
    ):
        home = _at(*CROSSING, az + 180, run)
        steps = [("takeoff", *home, alt), ("speed", 0, 0, speed),
                 ("wp", *_at(*CROSSING, az, run), alt), ("land", 0, 0, 0)]  # fmt: skip
        missions[n] = _mission(home, steps)
    schedule = deconflict(missions, separation=Separation(50.0, 15.0))
    note(f"start {schedule.start_s}")
    assert check_schedule(missions, schedule) == []
    assert all(c.apart for c in schedule.closest)
    assert _meet_brute_force(missions, schedule.start_s, Separation()) == []
