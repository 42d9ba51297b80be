"""The UTM grid's convergence and scale against the textbook series (Snyder 1987,
transverse Mercator, to second order in the longitude from the central meridian)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from zone.frames import GridFrame, offset_true, utm_epsg

E2_PRIME = 0.006739496742  # WGS84 second eccentricity squared
K0 = 0.9996


def _series(lon: float, lat: float, lon0: float) -> tuple[float, float]:
    """(convergence deg, point scale) from the series, eta^2 = e'^2 cos^2(lat):
    gamma = dl sin(lat) (1 + (dl cos lat)^2 / 3 (1 + 3 eta^2 + 2 eta^4)),
    k = k0 (1 + (1 + eta^2) (dl cos lat)^2 / 2)."""
    dl, phi = math.radians(lon - lon0), math.radians(lat)
    a2 = (dl * math.cos(phi)) ** 2
    eta2 = E2_PRIME * math.cos(phi) ** 2
    gamma = dl * math.sin(phi) * (1 + a2 / 3 * (1 + 3 * eta2 + 2 * eta2**2))
    return math.degrees(gamma), K0 * (1 + (1 + eta2) * a2 / 2)


@pytest.mark.parametrize(
    ("lon", "lat", "lon0"),
    [
        (113.6, 34.8, 111.0),  # Zhengzhou, zone 49: 2.6 * sin(34.8) = 1.48 deg
        (113.6, -34.8, 111.0),  # the southern hemisphere turns the other way
        (108.2, 34.3, 111.0),  # Xi'an, west of the central meridian: negative
        (111.0, 40.0, 111.0),  # on the central meridian: 0 deg and k0
        (12.309, 51.366, 15.0),  # the Leipzig H20T frames, zone 33
    ],
)
def test_convergence_and_scale_match_the_series(lon: float, lat: float, lon0: float) -> None:
    frame = GridFrame.utm(lon, lat)
    gamma, k = _series(lon, lat, lon0)
    assert frame.convergence_deg(lon, lat) == pytest.approx(gamma, abs=2e-4)
    assert frame.scale_factor(lon, lat) == pytest.approx(k, abs=2e-6)


def test_true_north_maps_onto_the_grid_turned_and_stretched() -> None:
    frame = GridFrame.utm(113.6, 34.8)
    j = frame.true_to_grid(113.6, 34.8)
    gamma, k = _series(113.6, 34.8, 111.0)
    g = math.radians(gamma)
    # Grid north east of true north: a true-north metre points west of grid north.
    assert j == pytest.approx(
        k * np.array([[math.cos(g), -math.sin(g)], [math.sin(g), math.cos(g)]]), abs=1e-6
    )


def test_utm_zone_of_a_point() -> None:
    assert utm_epsg(113.6, 34.8) == 32649  # zone 49 spans 108E..114E
    assert utm_epsg(113.6, -34.8) == 32749
    assert utm_epsg(180.0, 0.0) == 32660
    with pytest.raises(ValueError, match="not a longitude"):
        utm_epsg(200.0, 0.0)


def test_a_true_offset_matches_the_ellipsoid_by_hand() -> None:
    """On the equator a degree of latitude is the meridian arc
    a (1 - e^2) * pi / 180 = 6378137 * 0.99330562 * 0.01745329 = 110574.3 m and a
    degree of longitude a * pi / 180 = 111319.5 m, so 1 km north is 0.0090437 deg and
    1 km east 0.0089832 deg."""
    lon, lat = offset_true(0.0, 0.0, 0.0, 1000.0)
    assert (lon, lat) == pytest.approx((0.0, 1000.0 / 110574.3), abs=1e-8)
    lon, lat = offset_true(0.0, 0.0, 1000.0, 0.0)
    assert (lon, lat) == pytest.approx((1000.0 / 111319.5, 0.0), abs=1e-8)


def test_a_true_offset_is_turned_from_grid_north_by_the_convergence() -> None:
    """100 m due true north at Zhengzhou lands 100 * sin(1.48 deg) = 2.6 m west of grid
    north on the UTM grid (grid north lies 1.48 deg east of true north there: the series
    above)."""
    frame = GridFrame.utm(113.6, 34.8)
    lon, lat = offset_true(113.6, 34.8, 0.0, 100.0)
    x0, y0 = frame.to_grid(113.6, 34.8)
    x1, y1 = frame.to_grid(lon, lat)
    gamma, k = _series(113.6, 34.8, 111.0)
    assert float(x1 - x0) == pytest.approx(-100.0 * k * math.sin(math.radians(gamma)), abs=0.01)
    assert float(y1 - y0) == pytest.approx(100.0 * k * math.cos(math.radians(gamma)), abs=0.01)
