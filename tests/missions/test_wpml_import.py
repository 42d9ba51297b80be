"""WPML import: DJI's own sample route reads and passes the zone checks; heights through a geoid."""

from __future__ import annotations

import io
import json
import math
import struct
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from pymavlink.dialects.v20 import ardupilotmega as mavlink
from typer.testing import CliRunner

from missions.errors import AltitudeLimitError, ClearanceError, NoFlyViolationError, RangeError
from missions.export.wpml import (
    DRONES,
    Wayline,
    Waypoint,
    kmz_bytes,
    wayline_from_mission,
    waylines_xml,
)
from missions.export.wpml_check import check_wayline
from missions.export.wpml_heights import Geoid, WpmlError, find_egm96_grid, geoid_for
from missions.export.wpml_read import mission_from_wayline, wayline_from_kmz
from missions.export.wpml_rules import WPML_NS
from missions.plan import Patrol
from zone.sites import Sites, parse_sites

SAMPLE = Path(__file__).parents[1] / "data" / "wpml" / "dji_msdk_v5_MIT" / "waypointsample.kmz"
# DJI's sample, as its waylines.wpml gives it (lon, lat): four corners in Shenzhen
CORNERS = [
    (113.958298915883, 22.5428601764565),
    (113.957794329494, 22.5424452667718),
    (113.958521145289, 22.5422044098946),
    (113.958625522112, 22.5425843949767),
]
M_PER_DEG = 6378137 * math.pi / 180


def test_djis_sample_reads_as_written() -> None:
    line = wayline_from_kmz(SAMPLE)
    assert [(p.lon, p.lat) for p in line.waypoints] == CORNERS
    assert [p.height_m for p in line.waypoints] == [100.0] * 4  # relativeToStartPoint
    assert {p.speed_m_s for p in line.waypoints} == {5.0}
    assert (line.finish, line.takeoff_height_m, line.transit_speed_m_s) == ("goHome", 20.0, 5.0)
    # no globalRTHHeight in this 1.0.0 file: the return climbs to the highest waypoint
    assert line.rth_height_m == 100.0
    assert line.drone is None  # a Matrice 30 (67/0 + 52): not among the thermal presets
    assert line.unsupported == () and line.shots == ()


def _zone(features: list[dict[str, object]]) -> Sites:
    """A zone around DJI's sample: a dock 30 m south-west of its first waypoint, 10 m AMSL."""
    lon, lat = CORNERS[0]
    dock = {
        "type": "Feature",
        "properties": {"kind": "dock", "id": "dock-sz", "ground_alt_m": 10.0},
        "geometry": {"type": "Point", "coordinates": [lon - 0.0002, lat - 0.0002]},
    }
    return parse_sites({"type": "FeatureCollection", "features": [dock, *features]})


def _square(kind: str, fid: str, lon: float, lat: float, half_m: float, **props: object) -> dict:
    d_lat = half_m / M_PER_DEG
    d_lon = d_lat / math.cos(math.radians(lat))
    ring = [
        [lon - d_lon, lat - d_lat],
        [lon + d_lon, lat - d_lat],
        [lon + d_lon, lat + d_lat],
        [lon - d_lon, lat + d_lat],
        [lon - d_lon, lat - d_lat],
    ]
    return {
        "type": "Feature",
        "properties": {"kind": kind, "id": fid, **props},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def _far_away() -> list[dict[str, object]]:
    """A no-fly area and a 60 m building, both about 300 m east of the route."""
    lon, lat = CORNERS[3]
    east = 300 / (M_PER_DEG * math.cos(math.radians(lat)))
    return [
        _square("no_fly", "nfz-school", lon + east, lat, 40, reason="school"),
        _square("obstacle", "tower", lon + east, lat + 0.002, 15, height_m=60.0),
    ]


def test_djis_sample_passes_the_checks_in_a_zone_it_keeps_clear_of() -> None:
    report = check_wayline(wayline_from_kmz(SAMPLE), _zone(_far_away()))
    assert report.dock_id == "dock-sz"
    # flat ground at the dock's 10 m: 100 m above take-off is 100 m above ground
    assert report.max_agl_m == pytest.approx(100.0, abs=1e-6)
    assert report.waypoints == 4


def test_the_checks_refuse_what_breaks_the_zone() -> None:
    line = wayline_from_kmz(SAMPLE)
    with pytest.raises(AltitudeLimitError, match="over the 90 m ceiling"):
        check_wayline(line, _zone(_far_away()), max_agl_m=90.0)
    # a no-fly area on the route's second leg
    (lon1, lat1), (lon2, lat2) = CORNERS[1], CORNERS[2]
    across = _square("no_fly", "nfz-leg", (lon1 + lon2) / 2, (lat1 + lat2) / 2, 10, reason="x")
    with pytest.raises(NoFlyViolationError, match="nfz-leg"):
        check_wayline(line, _zone([*_far_away(), across]))
    # a 95 m mast under the third waypoint: its top plus the 10 m clearance is 105 m over
    # the ground, the route flies at 100 m there
    lon3, lat3 = CORNERS[2]
    mast = _square("obstacle", "mast", lon3, lat3, 3, height_m=95.0)
    with pytest.raises(ClearanceError, match="too low"):
        check_wayline(line, _zone([*_far_away(), mast]))


def test_djis_sample_becomes_mavlink_items() -> None:
    line = wayline_from_kmz(SAMPLE)
    mission = mission_from_wayline(line, home=(22.5427, 113.9581, 10.0))
    commands = [i.command for i in mission.items]
    # home, take-off to the safe height (the first waypoint is not over home), 4 waypoints
    assert commands[:2] == [mavlink.MAV_CMD_NAV_WAYPOINT, mavlink.MAV_CMD_NAV_TAKEOFF]
    assert mission.items[1].z == 20.0
    nav = [i for i in mission.items[2:] if i.command == mavlink.MAV_CMD_NAV_WAYPOINT]
    assert [(i.y / 1e7, i.x / 1e7, i.z) for i in nav] == [
        (round(lon, 7), round(lat, 7), 100.0) for lon, lat in CORNERS
    ]
    assert commands[-1] == mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH


def _gtx(path: Path, values: np.ndarray, *, lat0: float, lon0: float, step: float) -> Path:
    """A PROJ GTX vertical grid: big-endian header (lower-left lat, lon, steps, rows, cols),
    then float32 rows from south to north."""
    rows, cols = values.shape
    header = struct.pack(">4d2i", lat0, lon0, step, step, rows, cols)
    path.write_bytes(header + values.astype(">f4").tobytes())
    return path


def _sloped_geoid(tmp_path: Path) -> Geoid:
    """N = -30 + 0.5 (lat - 30) + 1.0 (lon - 110) m over 30..40 N, 110..120 E: linear, so PROJ's
    bilinear interpolation gives it exactly; at 34.8 N 113.5 E, N = -30 + 2.4 + 3.5 = -24.1 m."""
    lat = 30 + np.arange(11)[:, None]
    lon = 110 + np.arange(11)[None, :]
    values = -30 + 0.5 * (lat - 30) + 1.0 * (lon - 110)
    return Geoid(_gtx(tmp_path / "sloped.gtx", values, lat0=30, lon0=110, step=1))


def test_geoid_grid_gives_the_undulation_worked_by_hand(tmp_path: Path) -> None:
    geoid = _sloped_geoid(tmp_path)
    assert geoid.undulation_m(113.5, 34.8) == pytest.approx(-24.1, abs=1e-4)
    # 172 m EGM96 (112 m dock + 60 m) is 172 - 24.1 = 147.9 m on the ellipsoid
    assert geoid.to_ellipsoid(113.5, 34.8, 172.0) == pytest.approx(147.9, abs=1e-4)
    assert geoid.to_amsl(113.5, 34.8, 147.9) == pytest.approx(172.0, abs=1e-4)
    with pytest.raises(WpmlError, match="does not cover"):
        geoid.undulation_m(100.0, 34.8)


def _line() -> Wayline:
    points = (
        Waypoint(34.8, 113.5, 60.0, 10.0, gimbal_pitch_deg=-90.0),
        Waypoint(34.81, 113.52, 75.5, 8.0),
    )
    return Wayline(points, drone=DRONES["m4td"], takeoff=(34.8, 113.5, 112.0))


def test_wgs84_export_converts_and_reads_back(tmp_path: Path) -> None:
    geoid = _sloped_geoid(tmp_path)
    root = waylines_xml(_line(), geoid)
    heights = [float(e.text or "") for e in root.iter(f"{{{WPML_NS}}}executeHeight")]
    # waypoint 2 at 34.81 N 113.52 E: N = -30 + 2.405 + 3.52 = -24.075 m;
    # 112 + 75.5 = 187.5 m EGM96 is 163.425 m on the ellipsoid
    assert heights == pytest.approx([147.9, 163.425], abs=1e-3)
    back = wayline_from_kmz(kmz_bytes(_line(), geoid), takeoff_amsl_m=112.0, geoid=geoid)
    assert [p.height_m for p in back.waypoints] == pytest.approx([60.0, 75.5], abs=1e-3)
    with pytest.raises(WpmlError, match="needs an EGM96 geoid grid"):
        wayline_from_kmz(kmz_bytes(_line(), geoid))


def test_wgs84_without_a_grid_is_refused_in_one_line(tmp_path: Path) -> None:
    # without an EGM96 grid installed the frame is refused; with one, it works (below)
    if find_egm96_grid() is None:
        with pytest.raises(WpmlError, match="need an EGM96 geoid grid"):
            geoid_for("wgs84", None)
    with pytest.raises(WpmlError, match="no such file"):
        geoid_for("wgs84", tmp_path / "missing.gtx")
    assert geoid_for("relative", None) is None


def test_bad_archives_are_one_line_errors(tmp_path: Path) -> None:
    not_zip = tmp_path / "a.kmz"
    not_zip.write_text("hello", encoding="utf-8")
    with pytest.raises(WpmlError, match="not a KMZ archive"):
        wayline_from_kmz(not_zip)
    empty = tmp_path / "b.kmz"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("wpmz/template.kml", "<kml/>")
    with pytest.raises(WpmlError, match=r"no wpmz/waylines\.wpml inside"):
        wayline_from_kmz(empty)
    with pytest.raises(WpmlError, match="no such file"):
        wayline_from_kmz(tmp_path / "none.kmz")
    follow = tmp_path / "c.kmz"
    with zipfile.ZipFile(SAMPLE) as archive:
        original = archive.read("wpmz/waylines.wpml").decode()
    text = original.replace("relativeToStartPoint", "realTimeFollowSurface")
    assert text != original
    with zipfile.ZipFile(follow, "w") as archive:
        archive.writestr("wpmz/waylines.wpml", text)
    with pytest.raises(WpmlError, match="realTimeFollowSurface' cannot be checked"):
        wayline_from_kmz(follow)


# NGA's EGM96 test points (outintpt.dat, shipped with NGA's interpolation program INTPT):
# latitude, longitude (east, 0..360), geoid height in metres. NGA interpolates the 15'
# grid with its own spline; PROJ's vgridshift is bilinear on the same grid, which moves
# these points by up to 6 cm.
NGA_POINTS = [
    (38.6281550, 269.7791550, -31.628),
    (-14.6212170, 305.0211140, -2.969),
    (46.8743190, 102.4487290, -43.575),
    (-23.6174460, 133.8747120, 15.871),
    (38.6254730, 359.9995000, 50.066),
    (-0.4667440, 0.0023000, 17.329),
]
needs_egm96 = pytest.mark.skipif(
    find_egm96_grid() is None,
    reason="no EGM96 grid (Debian's proj-data puts egm96_15.gtx in /usr/share/proj)",
)


@needs_egm96
def test_the_real_egm96_grid_gives_ngas_test_values() -> None:
    grid = find_egm96_grid()
    assert grid is not None
    geoid = Geoid(grid)
    for lat, lon_east, n in NGA_POINTS:
        lon = lon_east - 360 if lon_east > 180 else lon_east
        assert geoid.undulation_m(lon, lat) == pytest.approx(n, abs=0.1), (lat, lon)


@needs_egm96
def test_a_sample_zone_sortie_round_trips_through_the_ellipsoid(patrol: Patrol) -> None:
    geoid = geoid_for("wgs84", None)
    assert geoid is not None
    sortie = patrol.sorties[0]
    home = sortie.dock.ground_alt_m
    line = wayline_from_mission(sortie.mission, home_alt_amsl_m=home)
    root = waylines_xml(line, geoid)
    executed = [float(e.text or "") for e in root.iter(f"{{{WPML_NS}}}executeHeight")]
    # around Zhengzhou the geoid lies about 20 m below the ellipsoid (N < 0), so the
    # ellipsoidal heights are that much under the AMSL ones
    for point, h in zip(line.waypoints, executed, strict=True):
        n = geoid.undulation_m(point.lon, point.lat)
        assert -21 < n < -19
        assert h == pytest.approx(home + point.height_m + n, abs=1e-3)
    back = wayline_from_kmz(kmz_bytes(line, geoid), takeoff_amsl_m=home, geoid=geoid)
    for a, b in zip(line.waypoints, back.waypoints, strict=True):
        assert abs(a.height_m - b.height_m) < 0.1


def test_a_route_far_from_every_dock_is_out_of_range(zone: Sites) -> None:
    """DJI's Shenzhen sample checked against the Zhengzhou zone: its nearest dock is about
    1,360 km away, far beyond the 20 min (25 min less 20 % reserve) a sortie may last."""
    with pytest.raises(RangeError, match="over the 20 min the aircraft may fly"):
        check_wayline(wayline_from_kmz(SAMPLE), zone)


def _check_app() -> typer.Typer:
    """The ``ecopatrol`` app itself, with every package's commands registered."""
    from ecopatrol.cli import _register_all, app

    _register_all()
    return app


def test_check_wpml_command(tmp_path: Path) -> None:
    lon, lat = CORNERS[0]
    features = [
        {
            "type": "Feature",
            "properties": {"kind": "dock", "id": "dock-sz", "ground_alt_m": 10.0},
            "geometry": {"type": "Point", "coordinates": [lon - 0.0002, lat - 0.0002]},
        },
        *_far_away(),
    ]
    sites = tmp_path / "sz.geojson"
    sites.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    ok = CliRunner().invoke(_check_app(), ["check-wpml", str(SAMPLE), str(sites)])
    assert ok.exit_code == 0, ok.output
    assert "from dock dock-sz: 4 waypoints" in ok.output
    assert "at most 100.0 m above ground" in ok.output
    low = CliRunner().invoke(
        _check_app(), ["check-wpml", str(SAMPLE), str(sites), "--max-agl-m", "90"]
    )
    assert low.exit_code == 2
    assert "over the 90 m ceiling" in low.output and "Traceback" not in low.output
    nodock = CliRunner().invoke(
        _check_app(), ["check-wpml", str(SAMPLE), str(sites), "--dock", "dock-x"]
    )
    assert nodock.exit_code == 2 and "unknown dock 'dock-x' (docks: dock-sz)" in nodock.output


def _with_text(index: int, text: str) -> bytes:
    """DJI's sample KMZ with the text of its ``index``-th element replaced."""
    with zipfile.ZipFile(SAMPLE) as archive:
        root = ET.fromstring(archive.read("wpmz/waylines.wpml"))
    elements = [e for e in root.iter() if (e.text or "").strip()]
    elements[index % len(elements)].text = text
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("wpmz/waylines.wpml", ET.tostring(root))
    return buffer.getvalue()


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, 10_000),
    st.sampled_from(["nan", "inf", "-1e400", "", "abc", "91,200", "1,2,3,4", "-5", "65536"])
    | st.text(max_size=12),
)
def test_any_broken_value_is_read_or_refused_in_one_line(index: int, text: str) -> None:
    """Whatever one element of a DJI file says, reading it gives a route or a WpmlError."""
    try:
        line = wayline_from_kmz(_with_text(index, text))
    except WpmlError as exc:
        assert "\n" not in str(exc)
        return
    mission = mission_from_wayline(line, home=(22.5427, 113.9581, 10.0))
    assert len(mission.items) >= len(line.waypoints) + 1
