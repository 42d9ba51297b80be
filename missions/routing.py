"""Ordering tasks into sorties: a vehicle routing problem solved with OR-Tools.

Each task (one pattern over one target) is a node with a service time (flying
it) and an item count; a task that may be flown either way round is a pair of
nodes of which exactly one is visited. Each possible sortie is a vehicle that
starts and ends at its dock; a time dimension keeps every sortie within the
aircraft's usable endurance (endurance less reserve, less take-off and
landing), an item dimension keeps it within the autopilot's mission capacity,
and each sortie costs its take-off and landing time, so the solver merges
sorties only when that saves flight time. Travel
between tasks uses the no-fly-avoiding route lengths.

A greedy nearest-neighbour tour over the same data is the baseline the
benchmark compares against.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from missions.airspace import Airspace
from missions.camera import Aircraft
from missions.errors import CapacityError, RangeError
from missions.path import Task

logger = logging.getLogger(__name__)

SCALE = 10  # time in deciseconds for the integer solver
ROUTED_HOP_ITEMS = 6  # allowance for the waypoints of a hop routed around no-fly areas
SORTIE_OVERHEAD_ITEMS = 8  # home, takeoff, speed, final hops, RTL
SMALL_PROBLEM = 12  # task variants up to which greedy descent is enough
SOLUTION_LIMIT = 400
"""Solutions the guided local search may visit: where it stops on any machine, so a zone
plans the same sorties on a fast laptop and a loaded server (a time limit alone gives a
loaded machine fewer steps and another plan). The sample zone's best is found by then."""


@dataclass(frozen=True)
class DockSpec:
    """A dock for routing: local position, ground altitude, drones housed."""

    id: str
    xy: tuple[float, float]
    drones: int = 1


@dataclass(frozen=True)
class SortiePlan:
    """One sortie: the dock it flies from and the tasks in flying order."""

    dock: int
    tasks: tuple[Task, ...]
    estimated_length_m: float
    estimated_duration_s: float


@dataclass(frozen=True)
class RoutingResult:
    sorties: tuple[SortiePlan, ...]
    length_m: float
    missing: tuple[int, ...] = ()  # tasks left unplaced (only with ``allow_missing``)


def task_items(task: Task) -> int:
    """Mission items the builder emits for ``task`` (an upper bound)."""
    count = 2  # speed on and back to cruise
    for leg in task.legs:
        count += len(leg.points) + 1  # waypoints + gimbal or ROI
        count += (leg.lead_in is not None) + (leg.lead_out is not None)
        count += 2 if leg.trigger_m is not None else 0
        count += 1 if leg.roi is not None else 0
    return count


def task_duration_s(task: Task, aircraft: Aircraft) -> float:
    """Time to fly a task at its speed, with a pause per sharp turn and its steps over obstacles."""
    pts = np.asarray(task.waypoints())
    if len(pts) < 2:
        return 0.0
    d = np.diff(pts, axis=0)
    seg = np.hypot(*d.T)
    heading = np.arctan2(d[:, 0], d[:, 1])[seg > 0.01]
    turn = np.abs((np.degrees(np.diff(heading)) + 180) % 360 - 180)
    turns = np.count_nonzero(turn > 30) * aircraft.turn_time_s
    return float(seg.sum() / task.speed_m_s + turns + task.climb_s)


def flight_overhead_s(aircraft: Aircraft, altitude_m: float) -> float:
    """Take-off climb and landing descent."""
    return altitude_m / aircraft.climb_rate_m_s + altitude_m / aircraft.descent_rate_m_s


class RoutingProblem:
    """Tasks, docks and the travel matrix, built once for the solver and the baseline.

    Node ``n < len(docks)`` is a dock; the others are task variants (a task
    and, when it may be flown the other way round, its reverse).
    """

    def __init__(
        self,
        tasks: Sequence[Task],
        docks: Sequence[DockSpec],
        *,
        airspace: Airspace,
        aircraft: Aircraft,
        altitude_m: float,
    ) -> None:
        self.tasks = list(tasks)
        self.docks = list(docks)
        self.aircraft = aircraft
        self.altitude_m = altitude_m
        self.budget_s = aircraft.usable_endurance_s - flight_overhead_s(aircraft, altitude_m)
        self.variants: list[tuple[int, Task]] = []
        for k, task in enumerate(tasks):
            self.variants.append((k, task))
            if task.reversible and len(task.legs) > 0:
                rev = task.reversed()
                if rev.entry != task.entry:
                    self.variants.append((k, rev))
        points = [d.xy for d in docks]
        for _, t in self.variants:
            points.extend([t.entry, t.exit])
        dist = airspace.route_matrix(points)
        if not np.all(np.isfinite(dist)):
            cut_off = sorted(
                {
                    t.label or t.target_id
                    for v, (_, t) in enumerate(self.variants)
                    if not np.all(np.isfinite(dist[len(docks) + 2 * v]))
                }
            )
            raise RangeError(
                "no route around the no-fly areas reaches "
                + (", ".join(cut_off) if cut_off else "every dock")
            )
        pts = np.asarray(points)
        euclid = np.hypot(*(pts[:, None] - pts[None, :]).transpose(2, 0, 1))
        nd = len(docks)
        self.n_nodes = nd + len(self.variants)
        entry = np.array(list(range(nd)) + [nd + 2 * v for v in range(len(self.variants))])
        exit_ = np.array(list(range(nd)) + [nd + 2 * v + 1 for v in range(len(self.variants))])
        # travel_m[i, j]: from the end of node i to the start of node j
        self.travel_m = dist[np.ix_(exit_, entry)]
        self.routed = (dist > euclid + 0.5)[np.ix_(exit_, entry)]
        self.service_s = np.array(
            [0.0] * nd + [task_duration_s(t, aircraft) for _, t in self.variants]
        )
        self.length_m = np.array([0.0] * nd + [t.length_m for _, t in self.variants])
        self.items = np.array([0] * nd + [task_items(t) for _, t in self.variants])
        self.speed = aircraft.cruise_speed_m_s
        # a hop costs its flight time and the two turns at its ends
        self.travel_s = self.travel_m / self.speed + 2 * aircraft.turn_time_s
        np.fill_diagonal(self.travel_s, 0.0)

    def _sortie(self, dock: int, nodes: list[int]) -> SortiePlan:
        nd = len(self.docks)
        seq = [dock, *nodes, dock]
        hops = list(itertools.pairwise(seq))
        length = float(sum(self.travel_m[i, j] for i, j in hops)) + float(
            sum(self.length_m[n] for n in nodes)
        )
        duration = (
            float(sum(self.travel_s[i, j] for i, j in hops))
            + float(sum(self.service_s[n] for n in nodes))
            + flight_overhead_s(self.aircraft, self.altitude_m)
        )
        return SortiePlan(dock, tuple(self.variants[n - nd][1] for n in nodes), length, duration)

    def unfit(self, capacity: int | None = None) -> dict[int, str]:
        """Tasks no sortie can fly even on its own, by index, with the reason."""
        capacity = (capacity or self.aircraft.mission_capacity) - SORTIE_OVERHEAD_ITEMS
        nd = len(self.docks)
        problems: dict[int, str] = {}
        for k, task in enumerate(self.tasks):
            nodes = [nd + v for v, (t, _) in enumerate(self.variants) if t == k]
            best = min(
                self.travel_s[d, n] + self.travel_s[n, d] + self.service_s[n]
                for n in nodes
                for d in range(nd)
            )
            name = task.label or task.target_id
            if min(int(self.items[n]) for n in nodes) + 2 > capacity:
                problems[k] = (
                    f"{name}: needs {int(self.items[nodes[0]])} mission items, more than the "
                    f"{capacity + SORTIE_OVERHEAD_ITEMS} the autopilot stores"
                )
            elif best > self.budget_s:
                problems[k] = (
                    f"{name}: a round trip takes {best / 60:.1f} min, more than the usable "
                    f"{self.budget_s / 60:.1f} min"
                )
        return problems

    def solve(
        self,
        *,
        time_limit_s: float = 10.0,
        item_capacity: int | None = None,
        time_margin: float = 1.0,
        allow_missing: bool = False,
    ) -> RoutingResult:
        """Sorties flying every task, each from and back to a dock, least total time.

        ``time_margin`` (at most 1) scales the time budget down when the
        built missions turn out longer than the model estimated. Raises
        :class:`RangeError` when some task fits no sortie (too far from every
        dock) and :class:`CapacityError` when one alone exceeds the item capacity.
        With ``allow_missing``, tasks the solver could not place under a
        tightened ``time_margin`` are returned in ``missing`` instead. The search
        stops after :data:`SOLUTION_LIMIT` solutions (the same plan everywhere), or
        at ``time_limit_s`` on a zone too large to get there in time.
        """
        if not self.tasks:
            return RoutingResult((), 0.0)
        problems = self.unfit(item_capacity)
        if problems:
            reasons = "; ".join(problems.values())
            if all("mission items" in p for p in problems.values()):
                raise CapacityError(reasons)
            raise RangeError("beyond range: " + reasons)
        capacity = (item_capacity or self.aircraft.mission_capacity) - SORTIE_OVERHEAD_ITEMS
        budget_s = self.budget_s * time_margin
        nd = len(self.docks)
        reach = float(np.mean(self.travel_m[:nd, nd:].min(axis=0))) / self.speed
        total = float(self.service_s.sum()) / max(1, len(self.variants)) * len(self.tasks)
        total += 2 * reach * len(self.tasks)
        per_dock = min(len(self.tasks), max(2, math.ceil(1.5 * total / budget_s) + 1))
        vehicle_dock = [d for d in range(nd) for _ in range(per_dock)]
        manager = pywrapcp.RoutingIndexManager(
            self.n_nodes, len(vehicle_dock), vehicle_dock, vehicle_dock
        )
        routing = pywrapcp.RoutingModel(manager)
        time_matrix = np.rint((self.travel_s + self.service_s[None, :]) * SCALE).astype(np.int64)
        item_matrix = self.items[None, :] + np.where(self.routed, ROUTED_HOP_ITEMS, 1)
        time_index = routing.RegisterTransitMatrix(time_matrix.tolist())
        routing.SetArcCostEvaluatorOfAllVehicles(time_index)
        routing.AddDimension(time_index, 0, int(budget_s * SCALE), True, "time")
        items_index = routing.RegisterTransitMatrix(item_matrix.astype(np.int64).tolist())
        routing.AddDimension(items_index, 0, capacity, True, "items")
        # a sortie costs its take-off and landing: fewer sorties only when that pays
        routing.SetFixedCostOfAllVehicles(
            round(flight_overhead_s(self.aircraft, self.altitude_m) * SCALE)
        )
        by_task: dict[int, list[int]] = {}
        for v, (k, _) in enumerate(self.variants):
            by_task.setdefault(k, []).append(manager.NodeToIndex(nd + v))
        for indices in by_task.values():
            routing.AddDisjunction(indices, 10**9, 1)
        params = pywrapcp.DefaultRoutingSearchParameters()
        params.first_solution_strategy = (
            routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
        )
        # small problems: stop at the first local optimum (near-instant, usually optimal);
        # larger ones: guided local search until the time limit
        params.local_search_metaheuristic = (
            routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
            if len(self.variants) <= SMALL_PROBLEM
            else routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
        )
        params.solution_limit = SOLUTION_LIMIT
        params.time_limit.FromMilliseconds(max(1, int(time_limit_s * 1000)))
        solution = routing.SolveWithParameters(params)
        if solution is None:
            raise RangeError(
                "no set of sorties fits the aircraft's endurance; add a dock or drones"
            )
        sorties = []
        visited: set[int] = set()
        for vehicle, dock in enumerate(vehicle_dock):
            index = routing.Start(vehicle)
            nodes = []
            while not routing.IsEnd(index):
                node = manager.IndexToNode(index)
                if node >= nd:
                    nodes.append(node)
                index = solution.Value(routing.NextVar(index))
            if nodes:
                visited.update(self.variants[n - nd][0] for n in nodes)
                sorties.append(self._sortie(dock, nodes))
        missing = [k for k in range(len(self.tasks)) if k not in visited]
        if missing and not allow_missing:
            names = [self.tasks[k].label or self.tasks[k].target_id for k in missing]
            raise RangeError(f"could not fit into any sortie: {', '.join(names)}")
        length = sum(s.estimated_length_m for s in sorties)
        logger.info(
            "routing: %d tasks into %d sorties, %.0f m", len(self.tasks), len(sorties), length
        )
        return RoutingResult(tuple(sorties), length, tuple(missing))

    def nearest_neighbour(self) -> RoutingResult:
        """Greedy baseline: from a dock, always fly to the nearest task that still fits."""
        nd = len(self.docks)
        todo = set(range(len(self.tasks)))
        sorties = []
        task_of = np.array([k for k, _ in self.variants])
        while todo:
            open_nodes = np.array([nd + v for v in range(len(self.variants)) if task_of[v] in todo])
            near = self.travel_m[:nd][:, open_nodes]
            dock = int(np.unravel_index(np.argmin(near), near.shape)[0])
            here, used, nodes = dock, 0.0, []
            while True:
                open_nodes = np.array(
                    [nd + v for v in range(len(self.variants)) if task_of[v] in todo], dtype=int
                )
                if len(open_nodes) == 0:
                    break
                cost = self.travel_s[here, open_nodes] + self.service_s[open_nodes]
                back = self.travel_s[open_nodes, dock]
                fits = used + cost + back <= self.budget_s
                if not np.any(fits):
                    break
                candidates = open_nodes[fits]
                pick = int(candidates[np.argmin(self.travel_m[here, candidates])])
                used += float(self.travel_s[here, pick] + self.service_s[pick])
                nodes.append(pick)
                todo.discard(int(task_of[pick - nd]))
                here = pick
            if not nodes:
                raise RangeError("a task fits no sortie from any dock")
            sorties.append(self._sortie(dock, nodes))
        return RoutingResult(tuple(sorties), sum(s.estimated_length_m for s in sorties))


def fit_tasks(
    tasks: Sequence[Task],
    docks: Sequence[DockSpec],
    *,
    airspace: Airspace,
    aircraft: Aircraft,
    altitude_m: float,
    item_capacity: int | None = None,
    refused: dict[str, str] | None = None,
) -> list[Task]:
    """Split tasks too long (or with too many items) for one sortie into runs of legs.

    Legs are taken in flying order while the run, with the trip from and back
    to the nearest dock, stays within 95 % of the time budget and within the
    item capacity. A task that cannot be flown (no route reaches it, or one
    of its legs cannot fit) is a :class:`RangeError`, or, given ``refused``,
    recorded there by label and left out.
    """
    budget_s = 0.95 * (aircraft.usable_endurance_s - flight_overhead_s(aircraft, altitude_m))
    capacity = (item_capacity or aircraft.mission_capacity) - SORTIE_OVERHEAD_ITEMS - 2
    nd = len(docks)
    ends = [d.xy for d in docks]
    for task in tasks:
        ends.extend([task.entry, task.exit])
    trips = airspace.route_matrix(ends)
    out: list[Task] = []
    for k, task in enumerate(tasks):
        pick = [*range(nd), nd + 2 * k, nd + 2 * k + 1]
        try:
            out.extend(
                _fit_task(
                    task,
                    trips[np.ix_(pick, pick)],
                    docks,
                    airspace=airspace,
                    aircraft=aircraft,
                    budget_s=budget_s,
                    capacity=capacity,
                )
            )
        except RangeError as exc:
            if refused is None:
                raise
            refused[task.label or task.target_id] = str(exc)
            logger.warning("leaving out: %s", exc)
    return out


def _fit_task(
    task: Task,
    trips: NDArray[np.float64],
    docks: Sequence[DockSpec],
    *,
    airspace: Airspace,
    aircraft: Aircraft,
    budget_s: float,
    capacity: int,
) -> list[Task]:
    """``task`` whole, or split into runs of legs that each fit one sortie.

    ``trips`` holds the route lengths between the docks, then the task's
    entry and exit (in that order).
    """
    nd = len(docks)
    name = task.label or task.target_id
    trip_s = min(trips[d, nd] + trips[nd + 1, d] for d in range(nd)) / aircraft.cruise_speed_m_s
    if not math.isfinite(trip_s):
        raise RangeError(f"no route around the no-fly areas reaches {name}")
    fits_whole = task_duration_s(task, aircraft) + trip_s <= budget_s
    if len(task.legs) < 2 or (fits_whole and task_items(task) <= capacity):
        return [task]
    points = [d.xy for d in docks]
    for leg in task.legs:
        points.extend([leg.start, leg.end])
    dist = airspace.route_matrix(points)

    def reach_s(a: int, b: int) -> float:
        start, end = nd + 2 * a, nd + 2 * b + 1
        return min(dist[d, start] + dist[end, d] for d in range(nd)) / aircraft.cruise_speed_m_s

    def fits(a: int, b: int) -> bool:
        run = replace(task, legs=task.legs[a : b + 1])
        return (
            task_duration_s(run, aircraft) + reach_s(a, b) <= budget_s
            and task_items(run) <= capacity
        )

    runs: list[tuple[int, int]] = []
    first = 0
    for last in range(len(task.legs)):
        if fits(first, last):
            continue
        if last > first:
            runs.append((first, last))
            first = last
        if not fits(first, last):
            run = replace(task, legs=task.legs[last : last + 1])
            need = task_duration_s(run, aircraft) + reach_s(last, last)
            raise RangeError(
                f"{name}: a round trip from the nearest dock to fly one "
                f"{task.legs[last].length_m:.0f} m leg takes {need / 60:.1f} min, "
                f"more than the usable {budget_s / 60:.1f} min"
            )
    runs.append((first, len(task.legs)))
    base = task.label or f"{task.pattern} {task.target_id}"
    logger.info("splitting %s into %d parts", base, len(runs))
    return [
        replace(task, legs=task.legs[a:b], label=f"{base} (part {k + 1}/{len(runs)})")
        for k, (a, b) in enumerate(runs)
    ]
