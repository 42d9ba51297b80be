"""Routing: OR-Tools beats the greedy baseline; several docks and drones share the work."""

from __future__ import annotations

from dataclasses import replace

import pytest

from missions.plan import plan_patrol


def test_optimised_patrol_is_no_longer_than_nearest_neighbour(zone) -> None:
    patrol = plan_patrol(zone, time_limit_s=1.0, compare_baseline=True)
    assert patrol.baseline_length_m is not None
    assert patrol.routed_length_m <= patrol.baseline_length_m
    # the routing model's estimate is close to what the built missions fly
    assert abs(patrol.length_m - patrol.routed_length_m) / patrol.length_m < 0.1


def test_drones_at_one_dock_take_turns(zone) -> None:
    south = replace(zone.docks[0], drones=2)
    one_dock = replace(zone, docks=(south,))
    patrol = plan_patrol(one_dock, time_limit_s=0.5, patterns=("survey",))
    assert {s.dock.id for s in patrol.sorties} == {south.id}
    assert {s.drone for s in patrol.sorties} == {1, 2}


def test_each_dock_takes_the_targets_near_it(zone) -> None:
    patrol = plan_patrol(zone, targets=["ent-01", "ent-12"], time_limit_s=0.5, patterns=("survey",))
    by_target = {t: s.dock.id for s in patrol.sorties for t in s.targets}
    assert by_target == {"ent-01": "dock-south", "ent-12": "dock-north"}


def test_two_drones_halve_the_makespan(zone) -> None:
    one = replace(zone, docks=(replace(zone.docks[0], drones=1),))
    two = replace(zone, docks=(replace(zone.docks[0], drones=2),))
    kwargs = {
        "time_limit_s": 0.3,
        "patterns": ("survey",),
        "targets": ["ent-01", "ent-02", "ent-03", "ent-06", "ent-07"],
    }
    single = plan_patrol(one, **kwargs)
    pair = plan_patrol(two, **kwargs)
    assert single.makespan_s == pytest.approx(single.duration_s)
    assert pair.makespan_s <= 0.75 * pair.duration_s
