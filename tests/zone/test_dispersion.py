"""The Gaussian plume against numbers worked out by hand from its formula, and its invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from shapely.geometry import Polygon

from zone.dispersion import (
    LocalFrame,
    PointSource,
    Wind,
    area_sources,
    concentration,
    concentration_turned,
    footprint,
    plume_concentration,
    sigma_y,
    sigma_z,
    stability_class,
    wind_at_height,
)


def test_centreline_ground_level_class_d_at_1_km() -> None:
    # Q = 100 g/s, H = 50 m, u = 5 m/s, class D, x = 1000 m, y = 0, z = 0 (Briggs rural):
    # sy = 0.08 * 1000 / sqrt(1 + 0.0001 * 1000) = 80 / sqrt(1.1) = 76.2770 m
    # sz = 0.06 * 1000 / sqrt(1 + 0.0015 * 1000) = 60 / sqrt(2.5) = 37.9473 m (sz^2 = 1440)
    # C = Q / (2 pi u sy sz) * 2 exp(-H^2 / (2 sz^2))
    #   = 100 / (2 pi * 5 * 2894.509) * 2 * exp(-2500 / 2880)
    #   = 100 / 90933.68 * 2 * 0.4197670 = 1.0997026e-3 * 0.8395339 = 9.23238e-4 g/m^3
    assert sigma_y(1000, "D") == pytest.approx(76.2770, abs=1e-4)
    assert sigma_z(1000, "D") == pytest.approx(37.9473, abs=1e-4)
    c = plume_concentration(1000, 0, 0, q_g_s=100, height_m=50, wind_speed_m_s=5, stability="D")
    assert float(c) == pytest.approx(9.23238e-4, rel=1e-5)


def test_briggs_widths_by_hand() -> None:
    # A at 100 m: sy = 0.22 * 100 / sqrt(1.01) = 22 / 1.0049876 = 21.8908, sz = 0.20 * 100 = 20
    # F at 1000 m: sz = 0.016 * 1000 / (1 + 0.3) = 12.3077
    # urban D at 1000 m: sy = 0.16 * 1000 / sqrt(1.4) = 135.2247
    assert sigma_y(100, "A") == pytest.approx(21.8908, abs=1e-4)
    assert sigma_z(100, "a") == pytest.approx(20.0)
    assert sigma_z(1000, "F") == pytest.approx(12.3077, abs=1e-4)
    assert sigma_y(1000, "D", terrain="urban") == pytest.approx(135.2247, abs=1e-4)


def test_symmetric_across_the_wind() -> None:
    y = np.array([5.0, 20.0, 60.0, 150.0])
    left = plume_concentration(
        400.0, y, 10.0, q_g_s=3, height_m=25, wind_speed_m_s=4, stability="C"
    )
    right = plume_concentration(
        400.0, -y, 10.0, q_g_s=3, height_m=25, wind_speed_m_s=4, stability="C"
    )
    np.testing.assert_array_equal(left, right)
    assert np.all(np.diff(left) < 0)  # and falls away from the centreline


def test_nothing_upwind_or_at_the_source() -> None:
    x = np.array([-500.0, -1.0, 0.0])
    c = plume_concentration(x, 0.0, 0.0, q_g_s=10, height_m=0, wind_speed_m_s=3, stability="B")
    np.testing.assert_array_equal(c, 0.0)


def test_mass_flux_through_a_crosswind_plane_is_the_emission() -> None:
    # With total reflection no mass is lost: the integral of C u over y in R and z >= 0
    # equals Q at any x (the image source puts the half below ground back above it).
    q, u, h, x = 7.0, 3.0, 30.0, 500.0
    sy, sz = float(sigma_y(x, "C")), float(sigma_z(x, "C"))
    y = np.linspace(-8 * sy, 8 * sy, 801)
    z = np.linspace(0, h + 8 * sz, 1201)
    c = plume_concentration(
        x, y[None, :], z[:, None], q_g_s=q, height_m=h, wind_speed_m_s=u, stability="C"
    )
    flux = np.trapezoid(np.trapezoid(c * u, y, axis=1), z)
    assert flux == pytest.approx(q, rel=1e-4)


def test_crosswind_integral_at_ground_of_a_ground_release() -> None:
    # H = 0, z = 0: the integral of C u over y is Q * 2 / (sqrt(2 pi) sz) = Q sqrt(2 / pi) / sz;
    # class D at 1 km, Q = 10 g/s: 10 * 0.7978846 / 37.94733 = 0.2102611 g/m^2.
    y = np.linspace(-800, 800, 3201)
    c = plume_concentration(1000.0, y, 0.0, q_g_s=10, height_m=0, wind_speed_m_s=4, stability="D")
    assert np.trapezoid(c * 4.0, y) == pytest.approx(0.2102611, rel=1e-5)


def test_reflection_doubles_a_ground_release_at_the_ground() -> None:
    # z = 0, H = 0: both exponentials of the vertical term are 1, so C is twice the
    # unreflected Q / (2 pi u sy sz) exp(-y^2 / (2 sy^2)).
    x, y, q, u = 300.0, 12.0, 2.0, 6.0
    sy, sz = float(sigma_y(x, "E")), float(sigma_z(x, "E"))
    free = q / (2 * math.pi * u * sy * sz) * math.exp(-(y**2) / (2 * sy**2))
    c = plume_concentration(x, y, 0.0, q_g_s=q, height_m=0.0, wind_speed_m_s=u, stability="E")
    assert float(c) == pytest.approx(2 * free, rel=1e-12)


@pytest.mark.parametrize(
    ("speed", "daytime", "insolation", "oktas", "expected"),
    [
        (1.5, True, "strong", 2, "A"),
        (2.5, True, "moderate", 2, "B"),
        (4.0, True, "slight", 2, "C"),
        (7.0, True, "strong", 2, "C"),
        (7.0, True, "slight", 2, "D"),
        (4.0, False, "moderate", 6, "D"),  # night, >= 4/8 cloud
        (4.0, False, "moderate", 2, "E"),  # night, <= 3/8 cloud
        (2.5, False, "moderate", 2, "F"),
        (1.5, True, "strong", 8, "D"),  # overcast is neutral day and night
    ],
)
def test_turner_key(speed, daytime, insolation, oktas, expected) -> None:
    got = stability_class(speed, daytime=daytime, insolation=insolation, cloud_oktas=oktas)
    assert got == expected


def test_wind_profile_by_hand() -> None:
    # rural D exponent 0.15: 4 m/s at 10 m is 4 * 4^0.15 = 4 * 1.231144 = 4.924578 m/s at 40 m;
    # below 10 m the 10 m speed stands.
    assert float(wind_at_height(4.0, height_m=40.0, stability="D")) == pytest.approx(4.924578)
    assert float(wind_at_height(4.0, height_m=2.0, stability="D")) == 4.0


def test_wind_frame_from_the_north() -> None:
    # A north wind blows south: 100 m south of the source is 100 m downwind, and 100 m east
    # of that is on the wind's left (facing south, east is to the left).
    wind = Wind(0.0, 3.0)
    x, y = wind.to_plume_frame([0.0, 100.0], [-100.0, -100.0])
    np.testing.assert_allclose(x, [100.0, 100.0], atol=1e-12)
    np.testing.assert_allclose(y, [0.0, 100.0], atol=1e-12)
    e, n = wind.from_plume_frame(x, y)
    np.testing.assert_allclose([e, n], [[0.0, 100.0], [-100.0, -100.0]], atol=1e-12)


def test_turned_concentration_matches_turning_the_wind() -> None:
    src = [PointSource(0.0, 0.0, 20.0)]
    e, n, z = np.array([50.0, -300.0]), np.array([-400.0, -200.0]), np.array([2.0, 2.0])
    wind = Wind(30.0, 4.0)
    turned = concentration_turned(src, e, n, z, wind=wind, turns_deg=[-10.0, 15.0], stability="D")
    for row, delta in zip(turned, (-10.0, 15.0), strict=True):
        np.testing.assert_allclose(
            row, concentration(src, e, n, z, wind=wind.turned(delta), stability="D"), rtol=1e-12
        )


@pytest.mark.parametrize("speed", [0.0, 0.3, float("nan")])
def test_a_calm_is_refused(speed: float) -> None:
    with pytest.raises(ValueError, match="wind speed"):
        Wind(90.0, speed)
    with pytest.raises(ValueError, match="wind speed"):
        plume_concentration(100, 0, 0, q_g_s=1, height_m=10, wind_speed_m_s=speed, stability="D")


def test_unknown_stability_class_is_refused() -> None:
    with pytest.raises(ValueError, match="'G' is not a Pasquill-Gifford class"):
        sigma_y(100, "G")


def test_local_frame_round_trip_and_true_north() -> None:
    # 1000 m due north of the origin along the meridian is 1000 m north, 0 east.
    frame = LocalFrame(113.53, 34.805)
    lon, lat = frame.to_lonlat(0.0, 1000.0)
    assert float(lon) == pytest.approx(113.53, abs=1e-9)
    e, n = frame.to_en(lon, lat)
    assert (float(e), float(n)) == pytest.approx((0.0, 1000.0), abs=1e-6)


def test_area_source_covers_its_polygon_with_equal_shares() -> None:
    square = Polygon([(0, 0), (120, 0), (120, 120), (0, 120)])  # 14,400 m^2
    points = area_sources(square, max_points=36)
    # spacing sqrt(14400 / 36) = 20 m: a 6 x 6 grid of cell centres 10, 30, ..., 110 m
    assert len(points) == 36
    assert sum(p.share for p in points) == pytest.approx(1.0)
    assert {p.east_m for p in points} == {10.0, 30.0, 50.0, 70.0, 90.0, 110.0}
    assert all(p.height_m == 0.0 for p in points)
    assert points[0].sigma_y0_m == pytest.approx(20.0 / 2.15)


def test_footprint_edge_is_a_tenth_of_the_peak() -> None:
    # A 30 m stack in a west wind (from 270): the plume lands east of it. On the
    # footprint's edge the ground-level concentration is 10 % of its peak (to the
    # raster's resolution).
    frame = LocalFrame(113.53, 34.805)
    src = [PointSource(0.0, 0.0, 30.0)]
    wind = Wind(270.0, 4.0)
    shape = footprint(src, frame=frame, wind=wind, stability="D", fraction=0.1)
    edge = np.asarray(shape.exterior.coords)
    e, n = frame.to_en(edge[:, 0], edge[:, 1])
    assert e.min() > -60 and np.mean(e) > 200  # downwind: east
    x = np.linspace(1, 5000, 5000)
    peak = plume_concentration(
        x,
        0,
        0,
        q_g_s=1,
        height_m=30,
        wind_speed_m_s=float(wind_at_height(4.0, height_m=30.0, stability="D")),
        stability="D",
    ).max()
    c = concentration(src, e, n, np.zeros(e.size), wind=wind, stability="D")
    assert np.median(c / peak) == pytest.approx(0.1, abs=0.01)
    assert np.all((c / peak > 0.05) & (c / peak < 0.2))
