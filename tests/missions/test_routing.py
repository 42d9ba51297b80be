"""Routing: OR-Tools beats the greedy baseline; several docks and drones share the work."""

from __future__ import annotations

from dataclasses import replace

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
