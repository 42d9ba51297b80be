"""Where a finding belongs (imagery.sites.assign), over the zone's one site model.

The zone, near 34.8 N where a degree of longitude is 111 320 * cos(34.8 deg) = 91 406 m:
an enterprise ``ent`` (the square 113.500-113.501 E, 34.800-34.801 N) with one stack at
its centre, an outfall of ``ent`` 0.0025 deg east of the stack, and a river along
34.790 N from 113.49 to 113.52 E, 20 m wide.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from imagery.sites import assign
from zone.sites import Sites, parse_sites

STACK = (113.5005, 34.8005)
OUTFALL = (113.503, 34.8005)


def _zone(*, flow: str = "downstream") -> Sites:
    square = [[[113.5, 34.8], [113.501, 34.8], [113.501, 34.801], [113.5, 34.801], [113.5, 34.8]]]

    def feature(geometry: dict[str, Any], **properties: Any) -> dict[str, Any]:
        return {"type": "Feature", "geometry": geometry, "properties": properties}

    return parse_sites(
        {
            "type": "FeatureCollection",
            "features": [
                feature(
                    {"type": "Polygon", "coordinates": square},
                    kind="enterprise",
                    id="ent",
                    stacks=[{"coordinates": list(STACK), "height_m": 40}],
                ),
                feature(
                    {"type": "Point", "coordinates": list(OUTFALL)},
                    kind="outfall",
                    id="out",
                    enterprise="ent",
                ),
                feature(
                    {"type": "LineString", "coordinates": [[113.49, 34.79], [113.52, 34.79]]},
                    kind="river",
                    id="riv",
                    width_m=20,
                    flow=flow,
                ),
            ],
        }
    )


def _m_per_deg_lon(lat: float) -> float:
    return 111_320.0 * math.cos(math.radians(lat))


def test_a_plume_belongs_to_its_stacks_enterprise() -> None:
    # 0.001 deg north of the stack: 111.32 m (within three times the 100 m reach)
    got = assign(_zone(), STACK[0], STACK[1] + 0.001, "plume")
    assert got == {"site_id": "ent", "stack_id": "ent-s1", "distance_m": 111.3}


def test_a_hot_spot_beside_an_outfall_belongs_to_the_outfalls_enterprise() -> None:
    # 0.0001 deg east of the outfall (9.1 m), 0.0021 deg (192 m) east of the enterprise
    got = assign(_zone(), OUTFALL[0] + 0.0001, OUTFALL[1], "hotspot")
    expected = 0.0001 * _m_per_deg_lon(OUTFALL[1])
    assert got["site_id"] == "ent"
    assert got["distance_m"] == pytest.approx(expected, abs=0.05) and 9.0 < expected < 9.2


@pytest.mark.parametrize(("flow", "from_upstream_deg"), [("downstream", 0.01), ("reverse", 0.02)])
def test_water_is_placed_along_its_river_from_the_upstream_end(
    flow: str, from_upstream_deg: float
) -> None:
    # 0.0001 deg north of the river at 113.50 E: 0.01 deg from its west end, 0.02 from its east
    lat = 34.7901
    got = assign(_zone(flow=flow), 113.50, lat, "water_discolouration")
    assert got["site_id"] == "riv"
    assert got["river_km"] == pytest.approx(
        from_upstream_deg * _m_per_deg_lon(lat) / 1000, abs=1e-3
    )
    assert got["distance_m"] == pytest.approx(0.0001 * _m_per_deg_lon(lat), abs=0.05)


def test_far_from_every_site_a_finding_has_none() -> None:
    # 0.01 deg (914 m) east of the outfall: beyond the 100 m reach
    assert assign(_zone(), OUTFALL[0] + 0.01, OUTFALL[1], "hotspot") == {}
