"""Planner timings: a 1 km2 and a 100 km2 survey, and a 100-site patrol with and without obstacles.

Run with ``python bench/planning.py``. Prints the time of each step (best of
a few runs) and, for the patrol, the length of the OR-Tools sorties against a
greedy nearest-neighbour baseline computed in the same run on the same data.
The same 100 sites are then planned again with a stack on every site and 50
more obstacles (masts, towers and buildings, a few too tall to overfly), and
the time is given against the run without obstacles.
Targets: 1 km2 under 50 ms, 100 km2 under 2 s, 100 sites under 5 s with or
without obstacles.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import replace

from shapely.geometry import Point, Polygon, box

from missions.camera import CAMERAS, Aircraft
from missions.path import Leg
from missions.plan import Patrol, plan_patrol
from missions.survey import plan_survey
from zone.sites import Dock, Enterprise, NoFly, Obstacle, Sites, Stack

CAM = CAMERAS["wide-20mp"]
ALT = 60.0


def best_of(runs: int, fn: Callable[[], list[Leg]]) -> tuple[float, list[Leg]]:
    best, result = math.inf, []
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def survey(side_m: float) -> list[Leg]:
    # a concave site (an L with a courtyard) so clipping and cells are exercised
    outer = box(0, 0, side_m, side_m).difference(box(0.6 * side_m, 0.6 * side_m, side_m, side_m))
    area = outer.difference(box(0.2 * side_m, 0.2 * side_m, 0.3 * side_m, 0.3 * side_m))
    scale = math.sqrt(side_m**2 / area.area)
    area = Polygon(
        [(x * scale, y * scale) for x, y in area.exterior.coords],
        [[(x * scale, y * scale) for x, y in r.coords] for r in area.interiors],
    )
    return plan_survey(
        area,
        spacing_m=CAM.lane_spacing_m(ALT, 0.7),
        trigger_m=CAM.trigger_distance_m(ALT, 0.8),
        altitude_m=ALT,
        footprint_m=CAM.footprint_m(ALT),
    )


def hundred_sites(seed: int = 7) -> Sites:
    """100 small enterprises over 8 x 8 km near Zhengzhou, 4 docks, 5 no-fly areas."""
    rng = random.Random(seed)
    lat0, lon0 = 34.81, 113.53
    m_lat = 1 / 110_900
    m_lon = 1 / (111_320 * math.cos(math.radians(lat0)))

    def ll(e: float, n: float) -> tuple[float, float]:
        return lon0 + e * m_lon, lat0 + n * m_lat

    no_fly_m = [
        box(x, y, x + 300, y + 300)
        for x, y in ((-2000, -1000), (1500, 1500), (0, 2500), (-2500, 2000), (2500, -2500))
    ]
    enterprises: list[Enterprise] = []
    while len(enterprises) < 100:
        e, n = rng.uniform(-3800, 3800), rng.uniform(-3800, 3800)
        w, h = rng.uniform(80, 180), rng.uniform(80, 180)
        site = box(e, n, e + w, n + h)
        if any(site.buffer(80).intersects(z) for z in no_fly_m):
            continue
        poly = Polygon([ll(x, y) for x, y in site.exterior.coords])
        enterprises.append(Enterprise(f"e{len(enterprises):03d}", "", poly))
    no_fly = tuple(
        NoFly(f"nfz{k}", "bench", Polygon([ll(x, y) for x, y in z.exterior.coords]))
        for k, z in enumerate(no_fly_m)
    )
    docks = []
    for k, (e, n) in enumerate(((-2000, -2000), (2000, -2000), (-2000, 2000), (2000, 2000))):
        lon, lat = ll(e, n)
        docks.append(Dock(f"dock{k}", "", lon, lat, 110.0, drones=2))
    assert not any(Point(ll(*c)).within(z.area) for z in no_fly for c in ((0, 0),))
    return Sites(tuple(enterprises), (), no_fly, tuple(docks), "bench")


def with_obstacles(sites: Sites, *, extra: int = 50, seed: int = 11) -> Sites:
    """``sites`` with a stack on every enterprise and ``extra`` obstacles around the zone.

    Stacks are 20 to 60 m tall; the obstacles are masts (points with a radius)
    and buildings (rectangles) 15 to 80 m tall, and one in ten a tower of 130
    to 180 m, over the 120 m ceiling: routes must go around those.
    """
    rng = random.Random(seed)
    enterprises = []
    for e in sites.enterprises:
        c = e.boundary.centroid
        stack = Stack(
            f"{e.id}-s1", c.x, c.y, rng.uniform(20, 60), radius_m=rng.uniform(2, 5), site_id=e.id
        )
        enterprises.append(replace(e, stacks=(stack,)))
    lon0, lat0 = sites.docks[0].lon, sites.docks[0].lat
    m_lat = 1 / 110_900
    m_lon = 1 / (111_320 * math.cos(math.radians(lat0)))
    docks = [Point(d.lon, d.lat) for d in sites.docks]
    obstacles: list[Obstacle] = []
    while len(obstacles) < extra:
        lon = lon0 + rng.uniform(-1800, 5800) * m_lon
        lat = lat0 + rng.uniform(-1800, 5800) * m_lat
        if any(p.distance(Point(lon, lat)) < 200 * m_lat for p in docks):
            continue
        if any(z.area.contains(Point(lon, lat)) for z in sites.no_fly):
            continue
        tall = len(obstacles) % 10 == 0
        height = rng.uniform(130, 180) if tall else rng.uniform(15, 80)
        k = len(obstacles)
        if k % 2:
            w, h = rng.uniform(20, 60) * m_lon, rng.uniform(20, 60) * m_lat
            footprint = box(lon, lat, lon + w, lat + h)
            obstacles.append(Obstacle(f"bldg-{k:02d}", "building", footprint, height))
        else:
            radius = rng.uniform(3, 12)
            obstacles.append(Obstacle(f"mast-{k:02d}", "mast", Point(lon, lat), height, radius))
    return replace(sites, enterprises=tuple(enterprises), obstacles=tuple(obstacles))


def timed_patrol(sites: Sites) -> tuple[float, float, Patrol]:
    """Wall and CPU seconds of one 100-site plan (the solver is given 1.5 s) and the patrol."""
    t0, c0 = time.perf_counter(), time.process_time()
    patrol = plan_patrol(
        sites,
        aircraft=Aircraft(endurance_s=30 * 60),
        patterns=("survey",),
        time_limit_s=1.5,
        compare_baseline=True,
    )
    return time.perf_counter() - t0, time.process_time() - c0, patrol


def main() -> None:
    t1, legs1 = best_of(5, lambda: survey(1000))
    print(f"survey 1 km2:    {t1 * 1000:7.1f} ms  ({len(legs1)} legs)  target < 50 ms")
    t100, legs100 = best_of(2, lambda: survey(10_000))
    print(f"survey 100 km2:  {t100 * 1000:7.1f} ms  ({len(legs100)} legs)  target < 2000 ms")
    sites = hundred_sites()
    tp, cpu, patrol = timed_patrol(sites)
    assert patrol.baseline_length_m is not None
    ratio = patrol.routed_length_m / patrol.baseline_length_m
    print(
        f"patrol 100 sites: {tp * 1000:6.0f} ms wall, {cpu * 1000:.0f} ms CPU "
        f"(1500 ms of it the solver's time limit; {len(patrol.sorties)} sorties, "
        f"{patrol.length_m / 1000:.1f} km flown)  target < 5000 ms"
    )
    print(
        f"optimised / nearest-neighbour length: {patrol.routed_length_m / 1000:.1f} km / "
        f"{patrol.baseline_length_m / 1000:.1f} km = {ratio:.3f}"
    )
    crowded = with_obstacles(sites)
    to, cpu_o, busy = timed_patrol(crowded)
    clearances = [s.clearance.distance_m for s in busy.sorties if s.clearance]
    print(
        f"patrol 100 sites + {len(crowded.enterprises)} stacks + {len(crowded.obstacles)} "
        f"obstacles: {to * 1000:6.0f} ms wall, {cpu_o * 1000:.0f} ms CPU "
        f"({len(busy.sorties)} sorties, {busy.length_m / 1000:.1f} km flown, "
        f"{len(busy.obstacles)} obstacles planned around, "
        f"tightest clearance {min(clearances, default=math.nan):.1f} m, "
        f"{len(busy.refused)} refused, {len(busy.left_out)} parts left out)  target < 5000 ms"
    )
    print(f"with / without obstacles, same run: {to:.2f} s / {tp:.2f} s = {to / tp:.2f}")


if __name__ == "__main__":
    main()
