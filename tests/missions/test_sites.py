"""Sites GeoJSON: the sample zone loads; every fault gets one message naming the feature."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zone.errors import InvalidSiteError
from zone.sites import load_sites, parse_sites

ZONE_TEXT = (
    Path(__file__).resolve().parents[2] / "examples" / "zhengzhou-hightech" / "sites.geojson"
).read_text()


def test_sample_zone_has_what_the_readme_promises(zone) -> None:
    assert len(zone.enterprises) == 12
    assert len(zone.rivers) == 2
    assert len(zone.no_fly) >= 2
    assert len(zone.docks) == 2
    assert all(d.ground_alt_m > 0 for d in zone.docks)
    assert sum(len(e.stacks) for e in zone.enterprises) >= 8
    assert all(r.width_m > 0 for r in zone.rivers)
    # near 34.81 N, 113.53 E
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
    kind=st.sampled_from(["enterprise", "river", "no_fly", "dock", "stack", None]),
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
