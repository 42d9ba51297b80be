"""A patrol planned from an air-quality alert (``missions.targeted``), on the sample zone.

Geometry is checked with pyproj's Geod on cases worked by hand; safety with the
independent clearance checker (``tests/clearance.py``) over the exported files.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from pyproj import Geod
from shapely.geometry import LineString, Point, box

from missions.errors import InfeasibleError
from missions.export.qgc_plan import write_plan
from missions.plan import Patrol, Transect
from missions.targeted import lane_distances_m, plan_alert_patrol, plume_transects
from tests.clearance import Track, Zone, check_plan, load_zone, read_track
from zone.dispersion import Wind
from zone.errors import InvalidSiteError
from zone.sites import Enterprise, NoFly, Sites

GEOD = Geod(ellps="WGS84")
#: A south-south-westerly (FROM 210 deg true) at 3 m/s, neutral: the SITL gas test's.
WIND = Wind(210.0, 3.0)
STACK_ID = "ent-02-s1"  # Huanghe Pharma's stack, 28 m


def _stack(zone: Sites, stack_id: str = STACK_ID) -> tuple[float, float, float]:
    (stack,) = [s for s in zone.stacks if s.id == stack_id]
    return stack.lon, stack.lat, stack.height_m


def _site(zone: Sites, enterprise_id: str) -> Enterprise:
    return next(e for e in zone.enterprises if e.id == enterprise_id)


def _ends(transect: Transect) -> tuple[tuple[float, float], tuple[float, float]]:
    (lon1, lat1), (lon2, lat2) = transect.line.coords
    return (lon1, lat1), (lon2, lat2)


def _midpoint(transect: Transect) -> tuple[float, float, float, float]:
    """(lon, lat) of the line's geodesic midpoint, its azimuth (deg true) and length (m)."""
    (lon1, lat1), (lon2, lat2) = _ends(transect)
    az, _, length = GEOD.inv(lon1, lat1, lon2, lat2)
    lon, lat, _ = GEOD.fwd(lon1, lat1, az, length / 2)
    return lon, lat, az % 360.0, length


def test_lanes_lie_downwind_and_across_the_wind(zone: Sites) -> None:
    """Wind FROM 210 deg true blows towards 30 deg: lanes centred on that azimuth, across it.

    Class D, rural (Briggs): sigma_y(x) = 0.08 x / sqrt(1 + 1e-4 x).
    At 80 m: 6.4 / sqrt(1.008) = 6.375 m; half-length 3 x 6.375 + 80 tan 10 deg
    (= 14.106) = 33.23 m. At 160 m: 12.8 / sqrt(1.016) = 12.699 m; 3 x 12.699 +
    160 tan 10 deg (= 28.212) = 66.31 m. Crosswind is 30 + 90 = 120 deg (or 300).
    The stack is 28 m tall: the lanes fly 28 m above the ground. (Lanes laid out
    on the planner's UTM grid north would be turned 1.44 deg here: beyond 0.5.)
    """
    lon0, lat0, height = _stack(zone)
    near, far = plume_transects(_site(zone, "ent-02"), wind=WIND, stability="D")
    for transect, distance_m, half_m in ((near, 80.0, 33.23), (far, 160.0, 66.31)):
        lon, lat, line_az, length = _midpoint(transect)
        az, _, dist = GEOD.inv(lon0, lat0, lon, lat)
        assert az % 360 == pytest.approx(30.0, abs=0.5)
        assert dist == pytest.approx(distance_m, abs=1.0)
        assert line_az % 180 == pytest.approx(120.0, abs=0.5)
        assert length / 2 == pytest.approx(half_m, abs=0.3)
        assert transect.height_m == height == 28.0
        assert (transect.source_id, transect.target_id) == (STACK_ID, "ent-02")
        assert transect.label == f"transect {STACK_ID} {distance_m:.0f} m"


def test_a_stackless_site_is_crossed_from_its_premises_at_the_floor(zone: Sites) -> None:
    """Jinshui Power Electronics has no stack: lanes downwind of its premises' centroid, at 20 m.

    Wind from 300 deg (towards 120), class D: the same half-lengths as above.
    """
    site = _site(zone, "ent-04")
    c = site.boundary.centroid
    for transect, distance_m in zip(
        plume_transects(site, wind=Wind(300.0, 4.0), stability="D"), (80.0, 160.0), strict=True
    ):
        lon, lat, line_az, _ = _midpoint(transect)
        az, _, dist = GEOD.inv(c.x, c.y, lon, lat)
        assert az % 360 == pytest.approx(120.0, abs=0.5)
        assert dist == pytest.approx(distance_m, abs=1.0)
        assert line_az % 180 == pytest.approx(30.0, abs=0.5)
        assert transect.height_m == 20.0
        assert transect.source_id == "ent-04"


def test_a_narrow_plume_moves_the_first_lane_out() -> None:
    """The first lane where sigma_y reaches 6 m, in 10 m steps from 80 m; the second at twice.

    E: 0.06 x 100 / sqrt(1.01) = 5.97 m, 0.06 x 110 / sqrt(1.011) = 6.56 m -> 110 m.
    F: 0.04 x 150 / sqrt(1.015) = 5.96 m, 0.04 x 160 / sqrt(1.016) = 6.35 m -> 160 m.
    A to D are wider than 6 m at 80 m already (D: 6.37 m).
    """
    assert lane_distances_m("A") == (80.0, 160.0)
    assert lane_distances_m("D") == (80.0, 160.0)
    assert lane_distances_m("E") == (110.0, 220.0)
    assert lane_distances_m("F") == (160.0, 320.0)


# --------------------------------------------------------------------------- the patrol


@pytest.fixture(scope="module")
def alert_patrol(zone: Sites) -> Patrol:
    """Huanghe Pharma (one stack), Songshan Coatings (two) and Jinshui (none), best first."""
    return plan_alert_patrol(
        zone, ["ent-02", "ent-03", "ent-04"], wind=WIND, stability="D", time_limit_s=1.0
    )


@pytest.fixture(scope="module")
def checked(alert_patrol: Patrol, zone_path: Path, tmp_path_factory: pytest.TempPathFactory):
    """Each sortie's .plan file and the checker's zone."""
    out = tmp_path_factory.mktemp("alert-patrol")
    plans = [write_plan(s.mission, out / f"sortie-{s.number}.plan") for s in alert_patrol.sorties]
    return load_zone(zone_path), plans


def test_flies_orbits_and_transects_of_every_candidate(alert_patrol: Patrol) -> None:
    tasks = {t for s in alert_patrol.sorties for t in s.tasks}
    assert {"orbit ent-02-s1", "orbit ent-03-s1", "orbit ent-03-s2"} <= tasks
    for source in ("ent-02-s1", "ent-03", "ent-04"):
        assert {f"transect {source} 80 m", f"transect {source} 160 m"} <= tasks
    assert not any(t.startswith("survey") for t in tasks)
    assert alert_patrol.refused == {}


def test_flies_from_the_nearest_dock_with_a_drone(zone: Sites, alert_patrol: Patrol) -> None:
    """The stack is about 330 m from dock-south and 1.4 km from dock-north (Geod)."""
    lon0, lat0, _ = _stack(zone)
    by_distance = sorted(zone.docks, key=lambda d: GEOD.inv(lon0, lat0, d.lon, d.lat)[2])
    assert by_distance[0].id == "dock-south"
    assert {s.dock.id for s in alert_patrol.sorties} == {"dock-south"}

    emptied = replace(
        zone,
        docks=tuple(replace(d, drones=0) if d.id == "dock-south" else d for d in zone.docks),
    )
    elsewhere = plan_alert_patrol(emptied, ["ent-02"], wind=WIND, stability="D", time_limit_s=1.0)
    assert {s.dock.id for s in elsewhere.sorties} == {"dock-north"}
    allowed = plan_alert_patrol(
        zone, ["ent-02"], wind=WIND, stability="D", docks=["dock-north"], time_limit_s=1.0
    )
    assert {s.dock.id for s in allowed.sorties} == {"dock-north"}


@pytest.mark.parametrize(
    ("candidates", "docks", "says"),
    [
        (["ent-99"], None, "unknown target 'ent-99'"),
        (["river-suoxu"], None, "is a river"),
        ([], None, "no candidate"),
        (["ent-02"], ["dock-south"], "none of the docks allowed (dock-south) has a drone"),
        (["ent-02"], [], "no dock is allowed"),
        (["ent-02"], ["dock-east"], "unknown dock(s) dock-east"),
    ],
)
def test_refuses_in_one_line(
    zone: Sites, candidates: list[str], docks: list[str] | None, says: str
) -> None:
    emptied = replace(
        zone,
        docks=tuple(replace(d, drones=0) if d.id == "dock-south" else d for d in zone.docks),
    )
    with pytest.raises(InvalidSiteError) as info:
        plan_alert_patrol(emptied, candidates, wind=WIND, stability="D", docks=docks)
    assert says in str(info.value)
    assert "\n" not in str(info.value)


def test_nothing_flyable_is_an_error(zone: Sites) -> None:
    """Jinshui's premises and the air 400 m around them closed: no orbit, no transect."""
    c = _site(zone, "ent-04").boundary.centroid
    closed = NoFly(
        "nfz-test", "test closure", box(c.x - 0.0045, c.y - 0.0037, c.x + 0.0045, c.y + 0.0037)
    )
    shut = replace(zone, no_fly=(*zone.no_fly, closed))
    with pytest.raises(InfeasibleError, match="no target can be planned"):
        plan_alert_patrol(shut, ["ent-04"], wind=WIND, stability="D", time_limit_s=1.0)


def test_the_independent_checker_finds_no_violation(
    checked: tuple[Zone, list[Path]],
) -> None:
    """Every sortie, and ArduCopter's RTL from every point of it, clear of every obstacle."""
    zone, plans = checked
    for plan in plans:
        report = check_plan(zone, plan)
        assert report.ok, report.violations
        assert report.failsafe_starts > 10


def test_the_mission_flies_each_transect_at_its_height_camera_off(
    zone: Sites, checked: tuple[Zone, list[Path]]
) -> None:
    """Read by the checker: waypoints along each ent-02 lane, 28 m above its ground, no trigger.

    The checker reads altitudes above home (the dock's ground, 112 m) and its own
    ground model from the sites file; 28 m above that ground is the lane's height.
    """
    checker, plans = checked
    for transect in plume_transects(_site(zone, "ent-02"), wind=WIND, stability="D"):
        _assert_flown(transect, [read_track(p, zone=checker) for p in plans], checker)


def test_a_far_dock_keeps_the_zones_ground(zone: Sites, zone_path: Path, tmp_path: Path) -> None:
    """Flown from dock-south, Yuhua Chemical's lanes (1.1 km away, by dock-north) are at 35 m
    above the ground the sites file gives there.

    Without a DEM the zone's ground is its docks' surveyed altitudes (112 and
    118 m): a plan that dropped dock-north from the zone to fly from dock-south
    would put the ground there 5.6 m too low, and the lanes (and the stacks' roofs)
    with it.
    """
    patrol = plan_alert_patrol(
        zone, ["ent-12"], wind=WIND, stability="D", docks=["dock-south"], time_limit_s=1.0
    )
    assert {s.dock.id for s in patrol.sorties} == {"dock-south"}
    checker = load_zone(zone_path)
    plans = [write_plan(s.mission, tmp_path / f"sortie-{s.number}.plan") for s in patrol.sorties]
    assert all(check_plan(checker, p).ok for p in plans)
    for transect in plume_transects(_site(zone, "ent-12"), wind=WIND, stability="D"):
        assert transect.height_m == 35.0  # the mean of its stacks, 38 and 32 m
        _assert_flown(transect, [read_track(p, zone=checker) for p in plans], checker)


def _assert_flown(transect: Transect, tracks: list[Track], checker: Zone) -> None:
    """The tracks fly the whole lane, camera off, ``height_m`` above the checker's ground."""
    line = checker.frame.geom(transect.line)
    assert isinstance(line, LineString)
    flown = 0.0
    for track in tracks:
        pos = np.asarray(track.positions[: track.mission_end + 1])  # lat, lon, alt AMSL
        xy = checker.frame.xy(pos[:, 1], pos[:, 0])
        on = np.array([line.distance(Point(*p)) < 0.3 for p in xy])
        for k in np.flatnonzero(on[:-1] & on[1:]):
            assert not track.triggering[k], f"camera on along {transect.label}"
            flown += float(np.hypot(*(xy[k + 1] - xy[k])))
        for k in np.flatnonzero(on):
            agl = pos[k, 2] - checker.ground.at_point(*xy[k])
            assert agl == pytest.approx(transect.height_m, abs=0.05), transect.label
    assert flown == pytest.approx(line.length, abs=0.5), transect.label


def test_transects_keep_their_place_in_the_planners_grid_frame(
    zone: Sites, alert_patrol: Patrol, checked: tuple[Zone, list[Path]]
) -> None:
    """The planner's transect legs (projected to UTM, grid north, and back) lie on the
    true-north lanes within 5 cm; an unclipped one ends where its lane ends.

    Songshan Coatings' far lane crosses the hospital's no-fly area: two legs.
    """
    frame = checked[0].frame
    lanes = [
        lane
        for c in ("ent-02", "ent-03", "ent-04")
        for lane in plume_transects(_site(zone, c), wind=WIND, stability="D")
    ]
    legs = [pts for s in alert_patrol.sorties for _, p, pts in s.camera_legs if p == "transect"]
    assert len(legs) == 7
    on_lane = 0
    for pts in legs:
        leg = LineString(frame.xy(pts[:, 0], pts[:, 1]))
        lane = min(lanes, key=lambda t: frame.geom(t.line).distance(leg))
        line = frame.geom(lane.line)
        assert line.hausdorff_distance(leg) < 0.05 or (
            max(line.distance(Point(p)) for p in leg.coords) < 0.05 and leg.length < line.length
        )
        on_lane += line.hausdorff_distance(leg) < 0.05
    assert on_lane == 5
