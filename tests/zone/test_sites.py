"""The one site model: the sample zone loads; every fault gets one message naming the feature;
outfalls are sites, a stack is not a feature of its own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zone.errors import InvalidSiteError
from zone.sites import Sites, check_site, load_sites, parse_sites

ZONE_PATH = (
    Path(__file__).resolve().parents[2] / "examples" / "zhengzhou-hightech" / "sites.geojson"
)
ZONE_TEXT = ZONE_PATH.read_text()


@pytest.fixture(scope="module")
def zone() -> Sites:
    return load_sites(ZONE_PATH)


def test_sample_zone_has_what_the_readme_promises(zone) -> None:
    assert len(zone.enterprises) == 12
    assert len(zone.rivers) == 2
    assert len(zone.no_fly) >= 2
    assert len(zone.docks) == 2
    assert all(d.ground_alt_m > 0 for d in zone.docks)
    assert sum(len(e.stacks) for e in zone.enterprises) >= 8
    assert all(r.width_m > 0 for r in zone.rivers)
    # near 34.81 N, 113.53 E
    # every enterprise names its trade (the source ranking weighs it), in lower case
    assert all(e.industry and e.industry == e.industry.lower() for e in zone.enterprises)
    for e in zone.enterprises:
        c = e.boundary.centroid
        assert abs(c.y - 34.81) < 0.02 and abs(c.x - 113.53) < 0.02


def _fc(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def _feature(kind: str, geometry: dict[str, Any], **props: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {"kind": kind, "id": props.pop("id", "x1"), **props},
        "geometry": geometry,
    }


SQUARE = {
    "type": "Polygon",
    "coordinates": [
        [[113.5, 34.8], [113.501, 34.8], [113.501, 34.801], [113.5, 34.801], [113.5, 34.8]]
    ],
}
BOWTIE = {
    "type": "Polygon",
    "coordinates": [
        [[113.5, 34.8], [113.501, 34.801], [113.501, 34.8], [113.5, 34.801], [113.5, 34.8]]
    ],
}


@pytest.mark.parametrize(
    ("feature", "message"),
    [
        (_feature("enterprise", BOWTIE, id="ent-bad"), "'ent-bad'): self-intersecting polygon"),
        (
            _feature("enterprise", {"type": "Point", "coordinates": [113.5, 34.8]}),
            "wrong geometry Point",
        ),
        (_feature("river", SQUARE), "wrong geometry Polygon"),
        (
            _feature(
                "river", {"type": "LineString", "coordinates": [[113.5, 34.8], [113.51, 34.8]]}
            ),
            "missing property 'width_m'",
        ),
        (_feature("no_fly", SQUARE), "missing property 'reason'"),
        (
            _feature("dock", {"type": "Point", "coordinates": [113.5, 34.8]}),
            "missing property 'ground_alt_m'",
        ),
        (
            _feature("dock", {"type": "Point", "coordinates": [34.8, 113.5]}, ground_alt_m=100),
            "out of range",
        ),
        (_feature("lake", SQUARE), "property 'kind' is 'lake'"),
        (
            _feature("river", {"type": "LineString", "coordinates": [[113.5, 34.8]]}, width_m=5),
            "malformed LineString coordinates (IllegalArgumentException: point array",
        ),
        (
            _feature(
                "enterprise",
                {
                    "type": "Polygon",
                    "coordinates": [
                        [[113.5, 34.8], [113.501, 34.8], [113.501, 34.801], [113.5, 34.801]]
                    ],
                },
            ),
            "not closed",
        ),
        (
            _feature(
                "enterprise",
                SQUARE,
                stacks=[{"id": "s", "coordinates": [113.6, 34.8], "height_m": 30}],
            ),
            "outside the enterprise",
        ),
        (
            _feature(
                "enterprise", SQUARE, stacks=[{"id": "s", "coordinates": [113.5005, 34.8005]}]
            ),
            "missing property 'height_m'",
        ),
        (_feature("enterprise", SQUARE, industry=7), "'industry' must be a name"),
        (
            _feature(
                "river",
                {"type": "LineString", "coordinates": [[113.5, 34.8], [113.51, 34.8]]},
                width_m=-3,
            ),
            "width_m must be positive",
        ),
    ],
)
def test_bad_feature_is_named_with_its_fault(feature: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSiteError, match=r"feature #0 .*") as info:
        parse_sites(_fc(feature))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_id_and_duplicate_id() -> None:
    f = _feature("enterprise", SQUARE)
    del f["properties"]["id"]
    with pytest.raises(InvalidSiteError, match="feature #0: missing 'id'"):
        parse_sites(_fc(f))
    f["id"] = "feature-level"
    assert list(parse_sites(_fc(f)).targets) == ["feature-level"]
    with pytest.raises(InvalidSiteError, match=r"feature #1 \('x1'\): duplicate id"):
        parse_sites(_fc(_feature("enterprise", SQUARE), _feature("enterprise", SQUARE)))


def test_file_faults_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidSiteError, match="no such file"):
        load_sites(tmp_path / "missing.geojson")
    bad = tmp_path / "bad.geojson"
    bad.write_text("{not json")
    with pytest.raises(InvalidSiteError, match=r"bad.geojson: not valid JSON .*line 1"):
        load_sites(bad)
    bad.write_text(json.dumps({"type": "Feature"}))
    with pytest.raises(InvalidSiteError, match="expected a GeoJSON FeatureCollection"):
        load_sites(bad)


def test_unknown_target_lists_the_known_ones(zone) -> None:
    with pytest.raises(InvalidSiteError, match=r"unknown target 'nope' .*ent-01"):
        zone.target("nope")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(["enterprise", "river", "no_fly", "dock", "outfall", "stack", None]),
    key=st.sampled_from(
        ["geometry", "coordinates", "width_m", "reason", "ground_alt_m", "stacks", "id", "type"]
    ),
    value=json_values,
)
def test_any_malformed_feature_gives_one_site_error_never_a_crash(kind, key, value) -> None:
    base = json.loads(ZONE_TEXT)["features"]
    feature = next((f for f in base if f["properties"]["kind"] == kind), base[0])
    if key == "coordinates":
        feature["geometry"]["coordinates"] = value
    elif key in ("geometry", "type"):
        feature[key] = value
    else:
        feature["properties"][key] = value
    try:
        parse_sites({"type": "FeatureCollection", "features": [feature]})
    except InvalidSiteError as exc:
        assert str(exc) and "\n" not in str(exc)


POINT = {"type": "Point", "coordinates": [113.5005, 34.8005]}
LINE = {"type": "LineString", "coordinates": [[113.5, 34.8], [113.51, 34.8], [113.51, 34.81]]}


def test_a_stack_is_listed_in_its_enterprise_not_a_feature_of_its_own() -> None:
    with pytest.raises(InvalidSiteError) as info:
        parse_sites(_fc(_feature("stack", POINT, id="s1", height_m=30, enterprise="x1")))
    assert str(info.value) == (
        "feature #0 ('s1'): a stack is not a site of its own; "
        "list it in its enterprise's 'stacks' (with coordinates and height_m)"
    )
    listed = _feature(
        "enterprise", SQUARE, stacks=[{"coordinates": POINT["coordinates"], "height_m": 30}]
    )
    (stack,) = parse_sites(_fc(listed)).stacks
    # no id given: the enterprise's id and the stack's place in its list, from 1
    assert (stack.id, stack.site_id, stack.height_m, stack.radius_m) == ("x1-s1", "x1", 30.0, 3.0)


def test_a_stack_id_twice_in_one_enterprise_is_refused() -> None:
    twice = [{"id": "s", "coordinates": POINT["coordinates"], "height_m": 30}] * 2
    with pytest.raises(InvalidSiteError, match=r"^feature #0 \('x1'\): stack 's' is listed twice$"):
        parse_sites(_fc(_feature("enterprise", SQUARE, stacks=twice)))


def test_an_outfall_is_a_site_of_its_enterprise() -> None:
    sites = parse_sites(
        _fc(
            _feature("enterprise", SQUARE, id="ent"),
            _feature("outfall", POINT, id="out-1", enterprise="ent", ground_alt_m=101.5),
            _feature("outfall", POINT, id="out-2"),
        )
    )
    owned, alone = sites.outfalls
    assert (owned.id, owned.site_id, owned.lon, owned.lat, owned.ground_alt_m) == (
        "out-1",
        "ent",
        113.5005,
        34.8005,
        101.5,
    )
    assert (alone.site_id, alone.name, alone.ground_alt_m) == ("out-2", "out-2", None)
    assert list(sites.targets) == ["ent"]  # an outfall is not flown over on its own
    with pytest.raises(InvalidSiteError, match="wrong geometry Polygon"):
        parse_sites(_fc(_feature("outfall", SQUARE)))


def test_a_river_drawn_downstream_to_upstream_says_flow_reverse() -> None:
    (drawn,) = parse_sites(_fc(_feature("river", LINE, width_m=20))).rivers
    (reverse,) = parse_sites(_fc(_feature("river", LINE, width_m=20, flow="reverse"))).rivers
    assert drawn.centerline.coords[0] == (113.5, 34.8)
    assert reverse.centerline.coords[0] == (113.51, 34.81)  # the last position drawn
    with pytest.raises(InvalidSiteError, match="'flow' must be 'downstream' or 'reverse'"):
        parse_sites(_fc(_feature("river", LINE, width_m=20, flow="up")))


def test_an_empty_name_is_the_id() -> None:
    dock = _feature("dock", POINT, id="d1", name="", ground_alt_m=100)
    assert parse_sites(_fc(dock)).docks[0].name == "d1"


def test_one_site_on_its_own_is_named_by_its_id() -> None:
    with pytest.raises(InvalidSiteError) as info:
        check_site(_feature("no_fly", SQUARE, id="nfz-9"))
    assert str(info.value) == "site 'nfz-9': missing property 'reason'"
    check_site(_feature("no_fly", SQUARE, id="nfz-9", reason="prison"))


def _positions(coords: Any) -> list[list[float]]:
    """Every [lon, lat] position in a GeoJSON coordinates array, however nested."""
    if isinstance(coords[0], int | float):
        return [coords]
    return [p for part in coords for p in _positions(part)]


def test_bounds_hold_every_site(zone: Sites) -> None:
    features = json.loads(ZONE_TEXT)["features"]
    positions = [p for f in features for p in _positions(f["geometry"]["coordinates"])]
    west, south, east, north = zone.bounds
    assert west == min(p[0] for p in positions) and east == max(p[0] for p in positions)
    assert south == min(p[1] for p in positions) and north == max(p[1] for p in positions)
