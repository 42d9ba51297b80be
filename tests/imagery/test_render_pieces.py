"""A flight rendered in pieces (the demo's worker processes) is the flight rendered whole:
the same files, byte for byte, and the demo's pieces cover every capture once, balanced."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ecopatrol.demo import RENDER_COST_S, render_pieces
from imagery.synthetic import SurveyLine, make_basemap, render_captures
from zone.sites import Sites


def _digests(paths: list[Path]) -> list[tuple[str, str]]:
    return [(p.name, hashlib.sha256(p.read_bytes()).hexdigest()) for p in paths]


def test_pieces_render_as_the_whole(zone_sites: Sites, tmp_path: Path) -> None:
    site = zone_sites.enterprises[0].boundary.centroid
    basemap = make_basemap(
        zone_sites,
        bounds_lonlat=(site.x - 0.001, site.y - 0.001, site.x + 0.001, site.y + 0.001),
        gsd_m=0.5,
    )
    poses = SurveyLine(site.x, site.y, 90.0, 20.0, 4, alt_rel_m=60).poses()
    for kind in ("rgb", "thermal"):
        options = {"basemap": basemap, "kind": kind, "seed": 3, "pose_sigma": (1.0, 0.3)}
        whole = render_captures(poses, out_dir=tmp_path / "whole" / kind, **options)
        pieces = render_captures(
            poses[:1], out_dir=tmp_path / "pieces" / kind, manifest=False, **options
        ) + render_captures(
            poses[1:], out_dir=tmp_path / "pieces" / kind, first_index=1, manifest=False, **options
        )
        assert _digests(pieces) == _digests(whole)


def test_the_demos_pieces_cover_each_capture_once_and_balance() -> None:
    # 650 captures on 2 workers: 650 x (0.29 + 0.08) = 240.5 s of work, pieces of about
    # 240.5 / 4 = 60.1 s: colour in round(188.5 / 60.1) = 3 pieces, thermal (52 s) in 1
    pieces = render_pieces(650, 2)
    assert sorted(k for k, _, _ in pieces) == ["rgb", "rgb", "rgb", "thermal"]
    for kind in RENDER_COST_S:
        spans = sorted((a, b) for k, a, b in pieces if k == kind)
        assert [i for a, b in spans for i in range(a, b)] == list(range(650))
    costs = [(b - a) * RENDER_COST_S[k] for k, a, b in pieces]
    assert max(costs) < 1.2 * min(costs[:3])  # the colour pieces are even (62.9 or 62.6 s)
    # 3 captures on 1 worker: pieces of 3 x 0.37 / 2 = 0.555 s; colour 0.87 s in 2 pieces
    assert sorted(render_pieces(3, 1)) == [("rgb", 0, 2), ("rgb", 2, 3), ("thermal", 0, 3)]
