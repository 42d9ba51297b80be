"""Rules of grouping and patrol comparison that hold for every input."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from imagery.detect.change import GroupSummary, compare_patrols
from imagery.grouping import Located, group

KINDS = st.sampled_from(["hotspot", "plume", "water_discolouration"])
POINTS = st.lists(
    st.tuples(KINDS, st.floats(-300, 300), st.floats(-300, 300), st.floats(0.5, 6)),
    max_size=25,
)


def _located(points: list[tuple[str, float, float, float]]) -> list[Located]:
    return [
        Located(
            i,
            kind,
            34.8 + n / 111_320,
            113.5 + e / (111_320 * math.cos(math.radians(34.8))),
            err,
            4.0,
            f"k{i:03d}",
        )
        for i, (kind, e, n, err) in enumerate(points)
    ]


@settings(max_examples=80, deadline=None)
@given(POINTS, st.randoms(use_true_random=False))
def test_grouping_ignores_order_and_never_mixes_kinds(points, rnd) -> None:
    items = _located(points)
    ids = group(items)
    shuffled = items[:]
    rnd.shuffle(shuffled)
    assert group(shuffled) == ids
    for a in items:
        for b in items:
            if ids[a.key] == ids[b.key]:
                assert a.kind == b.kind


def test_the_same_object_in_overlapping_frames_is_one_group() -> None:
    items = _located(
        [("hotspot", 0.0, 0.0, 2.5), ("hotspot", 1.2, -0.8, 2.5), ("hotspot", 40.0, 0.0, 2.5)]
    )
    ids = group(items)
    assert ids[0] == ids[1] != ids[2]


@settings(max_examples=80, deadline=None)
@given(POINTS, POINTS)
def test_every_group_gets_one_status_and_previous_ones_are_matched_or_gone(cur, prev) -> None:
    def summaries(points, tag):
        return [
            GroupSummary(f"{tag}{i}", it.kind, None, it.lat, it.lon, it.position_error_m)
            for i, it in enumerate(_located(points))
        ]

    current, previous = summaries(cur, "c"), summaries(prev, "p")
    changes = compare_patrols(current, previous)
    statuses = {c.current_group: c.status for c in changes if c.current_group}
    assert set(statuses) == {g.group_id for g in current}
    assert set(statuses.values()) <= {"new", "recurring"}
    matched = [c.previous_group for c in changes if c.status == "recurring"]
    gone = [c.previous_group for c in changes if c.status == "gone"]
    assert len(matched) == len(set(matched))
    assert sorted(matched + gone) == sorted(g.group_id for g in previous)
    # Comparing a patrol with itself: everything recurs.
    assert all(c.status == "recurring" for c in compare_patrols(current, current))


def _in_air(key: int, source: str | None, e: float, n: float, alt: float) -> Located:
    return Located(
        key,
        "plume",
        34.8 + n / 111_320,
        113.5 + e / (111_320 * math.cos(math.radians(34.8))),
        3.0,
        4 * math.pi,  # 12.6 m2 seen: a plume root 2 m in radius
        f"k{key:03d}",
        None,
        source,
        alt,
    )


def test_plumes_in_the_air_group_by_source_and_3d_position() -> None:
    # Errors 3 m each, radii 2 m: linked within 3 * sqrt(2) + 2 = 6.24 m in 3-D.
    items = [
        _in_air(0, "s1", 0.0, 0.0, 190.0),
        _in_air(1, "s1", 2.0, 1.0, 192.0),  # 3.0 m from 0 in 3-D: the same plume
        _in_air(2, "s1", 0.0, 0.0, 200.0),  # 10 m above 0, sqrt(4 + 1 + 64) = 8.3 m from 1
        _in_air(3, "s2", 1.0, 0.0, 190.0),  # 1 m from 0 but another stack's
        _in_air(4, None, 0.0, 1.0, 190.0),  # no source: never linked in the air
    ]
    # A plume on the ground right under 0: not linked to the air.
    ground = Located(5, "plume", 34.8, 113.5, 3.0, 4 * math.pi, "k005")
    ids = group([*items, ground])
    assert ids[0] == ids[1]
    assert len({ids[0], ids[2], ids[3], ids[4], ids[5]}) == 5
