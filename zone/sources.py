"""Which enterprise explains an air-quality alert; where a plume measured from the air began.

Two inverse problems over :mod:`zone.dispersion`'s Gaussian plume.

:func:`rank_sources` scores every enterprise of a zone for station readings of
one pollutant under one wind. Each enterprise is a hypothesis: it alone emits,
at an unknown rate ``q``, from its emitting stacks (equal shares, at their
heights) and, for fugitive pollutants (TVOC) or an enterprise without stacks,
from its premises (a ground-level area source). The readings' excess over each
station's background is the data::

    e_i = q a_i + noise_i,    noise_i ~ N(0, s_i^2),
    s_i^2 = floor^2 + (rel * max(e_i, 0))^2

where ``a_i`` is the modelled concentration at station ``i`` per g/s, ``floor``
the readings' noise (default a tenth of the largest excess) and ``rel`` the
model's own error (default 30 %: a plume model is good to a factor of two).
The likelihood of a hypothesis is marginalised over what is not known:

- the rate ``q``, log-uniform from 1 mg/s to 1 kg/s (a rate no stack in the
  zone reaches cannot explain a reading, however well it fits);
- the wind's direction, a normal error of ``direction_sigma_deg`` (10 degrees)
  about the reported one, in 5 degree steps to three sigmas (one station's
  vane is not the wind along a kilometre of plume);
- with both stacks and premises, the split between them (all stacks, half and
  half, all premises).

The industry prior (:data:`INDUSTRY_POLLUTANTS`) weighs each hypothesis by how
well the enterprise's trade matches the pollutant; the score is the posterior
probability over the zone's enterprises (the scores sum to one).

:func:`locate_source` fits a source to an airborne transect: the position
upwind, the effective release height and the rate that best explain the
readings by least squares (the rate solved in closed form at each point of a
grid over the upwind area and heights, then trust-region least squares from the
best, which also turns the wind within a prior of its reported direction), with
its covariance from the curvature of the misfit, and names the nearest stack
or site within a stated distance.

Frames: wind directions are where the wind blows FROM, degrees clockwise from
true north; positions WGS 84 lon/lat; metres in a :class:`~zone.dispersion.LocalFrame`
(east, north, true north at its origin); heights above the ground under each point.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
import shapely
from numpy.typing import NDArray
from scipy import optimize
from scipy.special import logsumexp
from shapely.geometry import MultiPolygon, Polygon

from zone.dispersion import (
    LocalFrame,
    PointSource,
    Terrain,
    Wind,
    area_sources,
    check_stability,
    concentration_turned,
    footprint,
    plume_concentration,
    wind_at_height,
)
from zone.sites import POLLUTANTS, Enterprise, Sites

logger = logging.getLogger(__name__)

FUGITIVE = frozenset({"TVOC"})
"""Pollutants that leak from a site's premises as well as from its stacks."""

# industry: (pollutants it is known to emit, pollutants it may emit). Sources:
# China's emission standards by trade (GB 37824 pharmaceutical, GB 31571
# petrochemical, GB 13223 thermal power, GB 4915 cement, GB 39726 foundry) and
# the VOC lists of its 2019 key-industry VOC action plan.
INDUSTRY_POLLUTANTS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "coatings": (frozenset({"TVOC"}), frozenset({"PM10", "PM2.5"})),
    "printing": (frozenset({"TVOC"}), frozenset()),
    "chemical": (frozenset({"TVOC", "SO2", "NO2"}), frozenset({"CO", "PM10", "PM2.5"})),
    "pharmaceutical": (frozenset({"TVOC"}), frozenset({"SO2", "NO2"})),
    "fermentation": (frozenset({"TVOC"}), frozenset({"SO2", "NO2", "PM10"})),
    "electronics": (frozenset({"TVOC"}), frozenset({"PM2.5"})),
    "textile": (frozenset({"TVOC"}), frozenset({"SO2", "NO2", "PM10", "PM2.5"})),
    "foundry": (frozenset({"PM10", "PM2.5", "SO2", "NO2", "CO"}), frozenset({"TVOC"})),
    "power": (frozenset({"SO2", "NO2", "PM10", "PM2.5"}), frozenset({"CO"})),
    "cement": (frozenset({"PM10", "PM2.5", "NO2", "SO2"}), frozenset({"CO"})),
    "paper": (frozenset({"SO2", "NO2", "PM10", "PM2.5"}), frozenset({"TVOC", "CO"})),
    "plating": (frozenset(), frozenset({"TVOC", "PM10", "PM2.5"})),  # acid mists: unlisted
    "water": (frozenset(), frozenset({"TVOC"})),  # sewage works: odour
}
PRIOR_KNOWN = 1.0
PRIOR_POSSIBLE = 0.3
PRIOR_UNKNOWN_INDUSTRY = 0.3
PRIOR_UNLIKELY = 0.03

UNITS_G_M3 = {"ug/m3": 1e-6, "mg/m3": 1e-3, "g/m3": 1.0}
"""Grams per cubic metre in one of each mass-concentration unit the readings use."""
MIXING_RATIOS = {"ppb": 1e-9, "ppm": 1e-6}
MOLAR_MASS_G_MOL = {"NO2": 46.006, "SO2": 64.064, "O3": 47.998, "CO": 28.010}
MOLAR_VOLUME_M3 = 0.024465
"""Cubic metres per mole of air at 25 °C and 101.325 kPa, the reference state of
GB 3095-2012 for gases since its 2018 amendment (a TVOC ppb has no one molar mass)."""

_RATE_GRID_G_S = np.logspace(-3, 3, 49)  # the emission rate prior: log-uniform, 8 per decade
_DIRECTION_STEP_DEG = 5.0
_MIX = np.array([0.0, 0.5, 1.0])  # share from the premises when a site has both


@dataclass(frozen=True, slots=True)
class StationReading:
    """One station's reading of the alert's pollutant.

    ``value`` and ``background`` (the station's own baseline, or the regional
    background) are in ``unit``; ``height_m`` is the inlet's height above ground.
    """

    lon: float
    lat: float
    value: float
    background: float
    unit: str = "ug/m3"
    height_m: float = 3.0
    time: datetime | None = None
    station_id: str = ""


@dataclass(frozen=True, slots=True)
class Candidate:
    """One enterprise as the source of an alert.

    ``score`` is its posterior probability among the zone's enterprises;
    ``log_likelihood`` the readings' marginal log-likelihood under it and ``prior``
    its industry weight (unnormalised). ``emission_g_s`` is the best-fitting rate
    and ``modelled`` the excess it gives at each reading (the readings' units, in
    their order). ``footprint`` (lon/lat) is where a unit emission's ground-level
    concentration exceeds a tenth of its peak off the premises, under the reported
    wind; None when not asked for.
    """

    site_id: str
    name: str
    industry: str | None
    score: float
    log_likelihood: float
    prior: float
    emission_g_s: float
    modelled: tuple[float, ...]
    footprint: Polygon | MultiPolygon | None = None


def pollutant_name(pollutant: str) -> str:
    """The pollutant's name as in :data:`POLLUTANTS` (any case; ``PM25`` for ``PM2.5``)."""
    key = str(pollutant).strip().upper().replace(" ", "").replace("₂", "2")
    key = {"PM25": "PM2.5", "VOC": "TVOC", "VOCS": "TVOC"}.get(key, key)
    if key not in POLLUTANTS:
        raise ValueError(f"pollutant {pollutant!r} is not one of {', '.join(POLLUTANTS)}")
    return key


def unit_to_g_m3(unit: str, pollutant: str | None = None) -> float:
    """Grams per cubic metre in one ``unit``.

    Mass concentrations (ug/m3, µg/m³, mg/m3, g/m3) as they are; mixing ratios
    (ppb, ppm) of a gas of known molar mass (:data:`MOLAR_MASS_G_MOL`) at GB 3095's
    reference state (:data:`MOLAR_VOLUME_M3`). Anything else is a ValueError.
    """
    key = _unit_key(unit)
    if key in UNITS_G_M3:
        return UNITS_G_M3[key]
    if key not in MIXING_RATIOS:
        raise ValueError(f"unit {unit!r} is not a concentration (ug/m3, mg/m3, g/m3, ppb, ppm)")
    gas = pollutant_name(pollutant) if pollutant is not None else None
    if gas not in MOLAR_MASS_G_MOL:
        raise ValueError(
            f"unit {unit!r} is a mixing ratio: it converts to a mass concentration only for "
            f"a gas of known molar mass ({', '.join(MOLAR_MASS_G_MOL)}), not {pollutant!r}"
        )
    return MIXING_RATIOS[key] * MOLAR_MASS_G_MOL[gas] / MOLAR_VOLUME_M3


def _unit_key(unit: str) -> str:
    key = str(unit).strip().lower().replace("µ", "u").replace("μ", "u").replace("³", "3")
    return key.replace(" ", "").replace("^", "")


def industry_prior(industry: str | None, pollutant: str) -> float:
    """How well a trade matches a pollutant: :data:`INDUSTRY_POLLUTANTS` as a weight.

    Ozone is formed in the air, not emitted: every trade weighs the same for it.
    """
    pollutant = pollutant_name(pollutant)
    if pollutant == "O3":
        return PRIOR_KNOWN
    if industry is None or industry.strip().lower() not in INDUSTRY_POLLUTANTS:
        return PRIOR_UNKNOWN_INDUSTRY
    known, possible = INDUSTRY_POLLUTANTS[industry.strip().lower()]
    if pollutant in known:
        return PRIOR_KNOWN
    return PRIOR_POSSIBLE if pollutant in possible else PRIOR_UNLIKELY


def rank_sources(
    sites: Sites,
    readings: Sequence[StationReading],
    *,
    pollutant: str,
    wind: Wind,
    stability: str,
    terrain: Terrain = "rural",
    direction_sigma_deg: float = 10.0,
    noise_rel: float = 0.3,
    noise_floor: float | None = None,
    footprints: bool = True,
    footprint_fraction: float = 0.1,
) -> list[Candidate]:
    """Every enterprise of ``sites`` scored as the source of ``readings``, best first.

    Parameters
    ----------
    sites : Sites
        The zone; its enterprises are the candidates, each weighed by its trade
        (``Enterprise.industry``; one without takes :data:`PRIOR_UNKNOWN_INDUSTRY`).
    readings : sequence of StationReading
        Readings of ``pollutant`` over one averaging period; at least one above its
        background.
    pollutant : str
        One of :data:`POLLUTANTS`.
    wind : Wind
        The period's wind (from-direction, degrees clockwise from true north).
    stability : str
        Pasquill-Gifford class A-F (:func:`zone.dispersion.stability_class`).
    noise_rel, noise_floor : float
        The noise model of the module docstring (``noise_floor`` in the readings'
        first unit; default a tenth of the largest excess).
    footprints : bool
        Whether to trace each candidate's footprint (about 20 ms each).
    """
    pollutant = pollutant_name(pollutant)
    stability = check_stability(stability)
    if not sites.enterprises:
        raise ValueError("the zone has no enterprises to rank")
    if not 0.0 < footprint_fraction < 1.0:
        raise ValueError(f"footprint fraction {footprint_fraction} is not between 0 and 1")
    excess, sigma, receptors = _station_data(readings, pollutant, noise_rel, noise_floor)
    frame = _zone_frame(sites)
    rec_e, rec_n = frame.to_en(receptors[:, 0], receptors[:, 1])
    stations = _Stations(rec_e, rec_n, receptors[:, 2], receptors[:, 3], excess, sigma)
    turns = _turns(direction_sigma_deg)
    ranked = [
        _hypothesis(
            enterprise,
            enterprise.industry,
            pollutant,
            stations,
            frame,
            wind,
            stability,
            terrain,
            turns,
        )
        for enterprise in sites.enterprises
    ]
    return _posterior(ranked, frame, wind, stability, terrain, footprints, footprint_fraction)


@dataclass(frozen=True, slots=True)
class _Stations:
    """The readings in a zone frame: east, north, inlet height (m), g/m^3 per reading unit,
    excess over background and its sigma (g/m^3); each (N,)."""

    east: NDArray[np.float64]
    north: NDArray[np.float64]
    z: NDArray[np.float64]
    per_unit: NDArray[np.float64]
    excess: NDArray[np.float64]
    sigma: NDArray[np.float64]


def _hypothesis(
    enterprise: Enterprise,
    industry: str | None,
    pollutant: str,
    stations: _Stations,
    frame: LocalFrame,
    wind: Wind,
    stability: str,
    terrain: Terrain,
    turns: tuple[NDArray[np.float64], NDArray[np.float64]],
) -> tuple[Candidate, list[PointSource], Polygon | MultiPolygon]:
    """One enterprise as the only source: its likelihood and best rate (score still 0)."""
    columns, premises = _emitter(enterprise, frame, pollutant)
    response = np.stack(
        [
            concentration_turned(
                col,
                stations.east,
                stations.north,
                stations.z,
                wind=wind,
                turns_deg=turns[0],
                stability=stability,
                terrain=terrain,
            )
            for col in columns
        ]
    )  # (columns, D, N) g/m^3 per g/s
    log_l, rate, modelled = _marginal(response, stations.excess, stations.sigma, turns[1])
    candidate = Candidate(
        enterprise.id,
        enterprise.name,
        industry,
        0.0,
        log_l,
        industry_prior(industry, pollutant),
        rate,
        tuple(float(v) for v in modelled / stations.per_unit),
    )
    return candidate, [s for col in columns for s in col], premises


def _station_data(
    readings: Sequence[StationReading],
    pollutant: str,
    noise_rel: float,
    noise_floor: float | None,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Excess (g/m^3), its sigma (g/m^3), and (lon, lat, height_m, g/m^3 per unit) rows."""
    if not readings:
        raise ValueError("no station readings to explain")
    rows = []
    for k, r in enumerate(readings):
        label = f"reading #{k} ({r.station_id or f'{r.lon}, {r.lat}'})"
        numbers = (r.lon, r.lat, r.value, r.background, r.height_m)
        if not all(isinstance(v, int | float) and math.isfinite(v) for v in numbers):
            raise ValueError(f"{label}: position, value, background and height must be numbers")
        if not (-180 <= r.lon <= 180 and -90 <= r.lat <= 90):
            raise ValueError(f"{label}: ({r.lon}, {r.lat}) is not a longitude, latitude")
        if r.value < 0 or r.background < 0 or r.height_m < 0:
            raise ValueError(f"{label}: value, background and height cannot be negative")
        try:
            factor = unit_to_g_m3(r.unit, pollutant)
        except ValueError as exc:
            raise ValueError(f"{label}: {exc}") from None
        rows.append((r.lon, r.lat, r.height_m, factor, (r.value - r.background) * factor))
    table = np.array(rows, dtype=np.float64)
    excess = table[:, 4]
    if excess.max() <= 0:
        raise ValueError("no reading is above its background: there is nothing to explain")
    if not 0 <= noise_rel < 10:
        raise ValueError(f"relative noise {noise_rel} is not a fraction")
    floor = 0.1 * excess.max() if noise_floor is None else noise_floor * table[0, 3]
    if not floor > 0:
        raise ValueError(f"noise floor {noise_floor} must be positive")
    sigma = np.hypot(floor, noise_rel * np.maximum(excess, 0.0))
    return excess, sigma, table[:, :4]


def _zone_frame(sites: Sites) -> LocalFrame:
    """A local frame at the middle of the zone's enterprises (the same for every alert)."""
    west, south, east, north = shapely.GeometryCollection(
        [e.boundary for e in sites.enterprises]
    ).bounds
    return LocalFrame.around([west, east], [south, north])


def _turns(sigma_deg: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Direction offsets (degrees) to three sigmas and their normalised log-weights."""
    if not math.isfinite(sigma_deg) or sigma_deg < 0:
        raise ValueError(f"wind direction sigma {sigma_deg} degrees is not a spread")
    if sigma_deg == 0:
        return np.zeros(1), np.zeros(1)
    half = _DIRECTION_STEP_DEG * math.ceil(3 * sigma_deg / _DIRECTION_STEP_DEG)
    turns = np.arange(-half, half + _DIRECTION_STEP_DEG / 2, _DIRECTION_STEP_DEG)
    log_w = -0.5 * (turns / sigma_deg) ** 2
    return turns, log_w - logsumexp(log_w)


def _emitter(
    enterprise: Enterprise, frame: LocalFrame, pollutant: str
) -> tuple[list[list[PointSource]], Polygon | MultiPolygon]:
    """The enterprise's release points as columns (stacks, premises) and its premises (m)."""
    premises = frame.polygon_to_en(enterprise.boundary)
    stacks = [s for s in enterprise.stacks if s.emitting]
    columns: list[list[PointSource]] = []
    if stacks:
        east, north = frame.to_en([s.lon for s in stacks], [s.lat for s in stacks])
        columns.append(
            [
                PointSource(float(e), float(n), s.height_m, 1.0 / len(stacks))
                for e, n, s in zip(east, north, stacks, strict=True)
            ]
        )
    if not stacks or pollutant in FUGITIVE:
        columns.append(list(area_sources(premises)))
    return columns, premises


def _marginal(
    response: NDArray[np.float64],
    excess: NDArray[np.float64],
    sigma: NDArray[np.float64],
    log_w_turn: NDArray[np.float64],
) -> tuple[float, float, NDArray[np.float64]]:
    """Marginal log-likelihood, best rate (g/s) and its modelled excess (g/m^3, (N,)).

    ``response`` is (columns, D, N); with two columns (stacks, premises) the
    hypotheses are their mixes in :data:`_MIX`.
    """
    if response.shape[0] == 2:
        a = (1 - _MIX)[:, None, None] * response[0] + _MIX[:, None, None] * response[1]
    else:
        a = response
    a_w, e_w = a / sigma, excess / sigma  # (M, D, N), (N,)
    aa, ae, ee = (a_w**2).sum(-1), (a_w * e_w).sum(-1), float((e_w**2).sum())
    q = _RATE_GRID_G_S[None, None, :]
    chi2 = ee - 2 * q * ae[..., None] + q**2 * aa[..., None]  # (M, D, K)
    log_prior = log_w_turn[None, :, None] - math.log(a.shape[0] * _RATE_GRID_G_S.size)
    log_l = float(logsumexp(-0.5 * chi2 + log_prior))
    q_best = np.clip(np.where(aa > 0, ae / np.where(aa > 0, aa, 1.0), 0.0), 0.0, 1e3)
    profile = -0.5 * (ee - 2 * q_best * ae + q_best**2 * aa) + log_w_turn[None, :]
    m, d = np.unravel_index(int(np.argmax(profile)), profile.shape)
    return log_l, float(q_best[m, d]), q_best[m, d] * a[m, d]


def _posterior(
    ranked: list[tuple[Candidate, list[PointSource], Polygon | MultiPolygon]],
    frame: LocalFrame,
    wind: Wind,
    stability: str,
    terrain: Terrain,
    footprints: bool,
    fraction: float,
) -> list[Candidate]:
    """Scores as posterior probabilities, best first, with footprints if asked."""
    log_post = np.array([c.log_likelihood + math.log(c.prior) for c, _, _ in ranked])
    post = np.exp(log_post - logsumexp(log_post))
    order = np.argsort(-post, kind="stable")
    out = []
    for k in order:
        candidate, sources, premises = ranked[k]
        shape = None
        if footprints:
            try:
                shape = footprint(
                    sources,
                    frame=frame,
                    wind=wind,
                    stability=stability,
                    fraction=fraction,
                    exclude_en=premises,
                    terrain=terrain,
                )
            except ValueError as exc:  # a plume that reaches no ground has no footprint
                logger.warning("%s: no footprint (%s)", candidate.site_id, exc)
        out.append(
            Candidate(
                candidate.site_id,
                candidate.name,
                candidate.industry,
                float(post[k]),
                candidate.log_likelihood,
                candidate.prior,
                candidate.emission_g_s,
                candidate.modelled,
                shape,
            )
        )
    return out


# --- locating a source from an airborne transect ---------------------------------------


@dataclass(frozen=True, slots=True)
class GasSample:
    """One reading of the on-board gas sensor: where, how high above ground, how much."""

    lon: float
    lat: float
    height_m: float
    value: float
    time: datetime | None = None


@dataclass(frozen=True, slots=True)
class SourceEstimate:
    """The source that best explains a transect.

    ``height_m`` is the effective release height above ground (a stack's height
    plus its plume's rise); ``emission_g_s`` the rate (None for a mixing ratio of
    a gas of no one molar mass); ``rms_residual`` is in the samples' unit.
    ``wind_turn_deg`` is how far clockwise of the reported wind the plume's fitted
    axis lies. ``covariance_en_m2`` is the 2x2 covariance of the position (east, north
    metres); ``uncertainty_m`` its
    one-sigma radius along the worst axis (the square root of its larger
    eigenvalue; infinite when the transect does not pin the source down).
    ``stack_id`` / ``site_id`` name the stack or site attributed, within
    ``distance_m`` of the estimate (None: nothing within the stated distance).
    ``stability`` is the Pasquill-Gifford class whose fit this is (the likeliest
    of those tried); the uncertainties include the spread between the classes.
    """

    lon: float
    lat: float
    height_m: float
    emission_g_s: float | None
    uncertainty_m: float
    height_sigma_m: float
    covariance_en_m2: tuple[tuple[float, float], tuple[float, float]]
    rms_residual: float
    n_samples: int
    wind_turn_deg: float
    stack_id: str | None = None
    site_id: str | None = None
    distance_m: float | None = None
    stability: str = "D"


MIN_SAMPLES = 6
_GRID_HEIGHTS_M = np.array(
    [0.0, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 65.0, 80.0, 100.0, 125.0, 150.0]
)


@dataclass(frozen=True, slots=True)
class _Transect:
    """Samples in the plume frame about the transect's middle: x downwind, y left, z up."""

    x: NDArray[np.float64]
    y: NDArray[np.float64]
    z: NDArray[np.float64]
    excess: NDArray[np.float64]  # g/m^3 over background
    wind: Wind
    stability: str
    terrain: Terrain


def locate_source(
    samples: Sequence[GasSample],
    *,
    wind: Wind,
    stability: str,
    sites: Sites | None = None,
    unit: str = "ug/m3",
    pollutant: str | None = None,
    background: float | None = None,
    terrain: Terrain = "rural",
    max_upwind_m: float = 2000.0,
    max_height_m: float = 150.0,
    direction_sigma_deg: float = 10.0,
    attribute_within_m: float = 50.0,
    fit_stability: bool = True,
) -> SourceEstimate:
    """The point upwind, release height and rate that best explain an airborne transect.

    Parameters
    ----------
    samples : sequence of GasSample
        The sensor's readings along the track (``unit``), at least :data:`MIN_SAMPLES`,
        some in the plume and some out of it.
    wind, stability : Wind, str
        The wind during the transect (from-direction, degrees clockwise from true
        north) and its Pasquill-Gifford class.
    sites : Sites, optional
        The zone, to name the nearest stack (else enterprise) within
        ``attribute_within_m`` metres of the estimate.
    unit, pollutant : str
        The samples' unit and gas: a mixing ratio (ppb, ppm) of a gas whose molar
        mass is not known (TVOC) locates the source but gives no rate in g/s.
    background : float, optional
        The air's level outside the plume (``unit``); default the samples' 10th percentile.
    max_upwind_m, max_height_m : float
        How far upwind of the nearest plume crossing, and how high, to search.
    direction_sigma_deg : float
        How far off the reported wind's direction may be (one sigma, degrees): the
        plume's axis through the transect's crossings is fitted too, with this
        prior (a vane's 10 degrees move a source found 300 m upwind by 50 m);
        0 holds the reported direction.
    fit_stability : bool
        Fit under every class, not only ``stability`` (a class from Turner's key is
        a guess: one class off moves a source found 100-200 m upwind by 20-40 m).
        Each fit is weighed by its misfit and a prior that favours the class given
        (:func:`_class_priors`); the estimate is the likeliest class's fit and its
        uncertainty takes in the spread between classes, so a transect that cannot
        tell the classes apart says so.
    """
    stability = check_stability(stability)
    factor = _sample_factor(unit, pollutant)
    frame, transect = _transect(samples, wind, stability, terrain, factor or 1.0, background)
    if not math.isfinite(direction_sigma_deg) or not 0 <= direction_sigma_deg <= 30:
        raise ValueError(f"wind direction sigma {direction_sigma_deg} is not 0 to 30 degrees")
    classes = _class_priors(stability) if fit_stability else {stability: 1.0}
    start = _grid_search(transect, max_upwind_m, max_height_m)
    fits = [
        _fit(replace(transect, stability=cls), start, max_height_m, direction_sigma_deg)
        for cls in classes
    ]
    weights = _class_weights(fits, list(classes.values()))
    best = fits[int(np.argmax(weights))]
    cov = _mixture_covariance(fits, weights, best)
    return _estimate(samples, frame, wind, best, cov, factor, sites, attribute_within_m)


@dataclass(frozen=True, slots=True)
class _Fit:
    """One class's least-squares source: (x, y, H, turn), its RSS and rate, and the
    covariance of (x, y, H) in the plume frame."""

    stability: str
    params: NDArray[np.float64]
    rss: float
    rate: float
    n: int
    cov: NDArray[np.float64]


def _class_priors(stability: str) -> dict[str, float]:
    """Every class, the one given likeliest: weights 8, 4, 2, 1 by steps away from it.

    Turner's key moves a class for a cloud cover it can only guess, and a patch of
    sun or a built-up surface moves it again; two steps off is not rare.
    """
    order = "ABCDEF"
    k = order.index(stability)
    raw = {c: 2.0 ** -min(abs(j - k), 3) for j, c in enumerate(order)}
    total = sum(raw.values())
    return {c: w / total for c, w in raw.items()}


def _fit(
    t: _Transect, start: NDArray[np.float64], max_height_m: float, direction_sigma_deg: float
) -> _Fit:
    """The least-squares source under ``t``'s class, refined from the grid's ``start``
    (found under the class given: the classes either side move it tens of metres, well
    within the refinement's reach)."""
    best = _refine(t, start, max_height_m, direction_sigma_deg)
    rss, rate = _profile(t, best[None, :])
    cov = _covariance(t, best, max_height_m, direction_sigma_deg)
    return _Fit(t.stability, best, float(rss[0]), float(rate[0]), t.x.size, cov)


def _class_weights(fits: Sequence[_Fit], priors: Sequence[float]) -> NDArray[np.float64]:
    """Posterior weight of each class's fit: its prior times exp(-RSS / 2 s^2).

    ``s^2`` is the noise of the best fit (RSS / (n - 5)), the same for every class,
    so a class is judged by how much worse it fits than the best.
    """
    rss = np.array([f.rss for f in fits])
    s2 = max(float(rss.min()) / max(fits[0].n - 5, 1), 1e-300)
    log_w = np.log(np.asarray(priors)) - (rss - rss.min()) / (2 * s2)
    return np.asarray(np.exp(log_w - logsumexp(log_w)), dtype=np.float64)


def _mixture_covariance(
    fits: Sequence[_Fit], weights: NDArray[np.float64], best: _Fit
) -> NDArray[np.float64]:
    """(x, y, H) covariance about ``best``: each class's own plus its offset from ``best``,
    weighed by the class's weight (a class of negligible weight adds nothing)."""
    total = np.zeros((3, 3))
    for fit, w in zip(fits, weights, strict=True):
        if w < 1e-6:
            continue
        d = fit.params[:3] - best.params[:3]
        total += w * (fit.cov + np.outer(d, d))
    return total


def _estimate(
    samples: Sequence[GasSample],
    frame: LocalFrame,
    wind: Wind,
    fit: _Fit,
    cov: NDArray[np.float64],
    factor: float | None,
    sites: Sites | None,
    within_m: float,
) -> SourceEstimate:
    """The fit back in lon/lat, its covariance turned from the plume frame to east, north."""
    de, dn = wind.downwind
    rot = np.array([[de, -dn], [dn, de]])  # plume-frame axes (x, y) in east, north
    cov_en = rot @ cov[:2, :2] @ rot.T
    e, n_ = wind.from_plume_frame(fit.params[0], fit.params[1])
    lon, lat = frame.to_lonlat(e, n_)
    finite = bool(np.all(np.isfinite(cov_en)))
    worst = float(np.max(np.linalg.eigvalsh(cov_en))) if finite else math.inf
    named = _attribute(sites, frame, float(e), float(n_), within_m)
    return SourceEstimate(
        float(lon),
        float(lat),
        float(fit.params[2]),
        fit.rate if factor else None,
        math.sqrt(worst) if worst >= 0 else math.inf,
        math.sqrt(cov[2, 2]) if np.isfinite(cov[2, 2]) and cov[2, 2] >= 0 else math.inf,
        ((float(cov_en[0, 0]), float(cov_en[0, 1])), (float(cov_en[1, 0]), float(cov_en[1, 1]))),
        math.sqrt(fit.rss / len(samples)) / (factor or 1.0),
        len(samples),
        float(fit.params[3]),
        *named,
        stability=fit.stability,
    )


def _sample_factor(unit: str, pollutant: str | None) -> float | None:
    """g/m^3 per sample unit; None for a mixing ratio that has no mass equivalent."""
    try:
        return unit_to_g_m3(unit, pollutant)
    except ValueError:
        if _unit_key(unit) in MIXING_RATIOS:
            return None
        raise


def _transect(
    samples: Sequence[GasSample],
    wind: Wind,
    stability: str,
    terrain: Terrain,
    factor: float,
    background: float | None,
) -> tuple[LocalFrame, _Transect]:
    """The samples checked and put in the plume frame about their middle."""
    if len(samples) < MIN_SAMPLES:
        raise ValueError(
            f"{len(samples)} gas samples: locating a source needs at least {MIN_SAMPLES}"
        )
    table = np.array([(s.lon, s.lat, s.height_m, s.value) for s in samples], dtype=np.float64)
    if not np.all(np.isfinite(table)):
        raise ValueError("gas samples: position, height and value must be numbers")
    if np.any(np.abs(table[:, 0]) > 180) or np.any(np.abs(table[:, 1]) > 90):
        raise ValueError("gas samples: a position is not a longitude, latitude")
    if np.any(table[:, 2] < 0):
        raise ValueError("gas samples: a height above ground is negative")
    level = float(np.percentile(table[:, 3], 10)) if background is None else background
    excess = (table[:, 3] - level) * factor
    if excess.max() <= 0:
        raise ValueError("no gas sample is above the background: the transect missed the plume")
    frame = LocalFrame.around(table[:, 0], table[:, 1])
    x, y = wind.to_plume_frame(*frame.to_en(table[:, 0], table[:, 1]))
    return frame, _Transect(x, y, table[:, 2], excess, wind, stability, terrain)


def _profile(
    t: _Transect, params: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Residual sum of squares ((g/m^3)^2) and best rate (g/s) for sources (G, 3): x, y, H.

    The rate is linear: at each source it is the non-negative least-squares
    ``q = a.e / a.a`` for the unit-emission model ``a`` at the samples.
    """
    a = _unit_model(t, params)
    q, aa, ae = _rates(a, t.excess)
    rss = float(t.excess @ t.excess) - 2 * q * ae + q**2 * aa
    return np.asarray(rss, dtype=np.float64), np.asarray(q, dtype=np.float64)


def _rates(
    a: NDArray[np.float64], excess: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """The non-negative least-squares rate of each model row (G, N), with a.a and a.e."""
    aa, ae = (a * a).sum(axis=1), a @ excess
    q = np.where(aa > 0, np.maximum(ae, 0.0) / np.where(aa > 0, aa, 1.0), 0.0)
    return q, aa, ae


def _unit_model(t: _Transect, params: NDArray[np.float64]) -> NDArray[np.float64]:
    """(G, N) concentration (g/m^3 per g/s) at the samples from sources (G, 3 or 4).

    Each row is the source's x, y in the reported wind's plume frame, its height H
    and, in a fourth column, how far (degrees clockwise) the wind really turns from
    the reported one: the samples' offsets from the source are turned into that
    wind's frame (clockwise in the map is towards -y here).
    """
    sx, sy, h = params[:, 0:1], params[:, 1:2], np.maximum(params[:, 2:3], 0.0)
    x, y = t.x[None, :] - sx, t.y[None, :] - sy
    if params.shape[1] > 3:
        turn = np.radians(params[:, 3:4])
        x, y = np.cos(turn) * x - np.sin(turn) * y, np.sin(turn) * x + np.cos(turn) * y
    u = wind_at_height(
        t.wind.speed_m_s,
        height_m=h,
        ref_height_m=t.wind.height_m,
        stability=t.stability,
        terrain=t.terrain,
    )
    return plume_concentration(
        x,
        y,
        t.z[None, :],
        q_g_s=1.0,
        height_m=h,
        wind_speed_m_s=u,
        stability=t.stability,
        terrain=t.terrain,
    )


def _grid_search(t: _Transect, max_upwind_m: float, max_height_m: float) -> NDArray[np.float64]:
    """The best (x, y, H) on a grid over the upwind area and heights."""
    if not max_upwind_m > 10 or not max_height_m >= 0:
        raise ValueError("the search needs max_upwind_m over 10 m and max_height_m of 0 or more")
    signal = t.excess >= 0.25 * t.excess.max()
    x_near = float(t.x[signal].min())
    xs = x_near - np.geomspace(5.0, max_upwind_m, 28)
    y_lo, y_hi = float(t.y[signal].min()) - 150.0, float(t.y[signal].max()) + 150.0
    ys = np.linspace(y_lo, y_hi, max(int((y_hi - y_lo) / 10.0), 31))
    hs = _GRID_HEIGHTS_M[np.less_equal(_GRID_HEIGHTS_M, max_height_m)]
    best, best_rss = np.zeros(3), math.inf
    for h in hs:  # a height at a time keeps the arrays small
        gx, gy = (g.ravel() for g in np.meshgrid(xs, ys))
        params = np.column_stack([gx, gy, np.full(gx.size, h)])
        rss, _ = _profile(t, params)
        k = int(np.argmin(rss))
        if rss[k] < best_rss:
            best, best_rss = params[k], float(rss[k])
    return best


def _refine(
    t: _Transect, start: NDArray[np.float64], max_height_m: float, sigma_turn_deg: float
) -> NDArray[np.float64]:
    """Least squares (trust-region reflective) from the grid's best: x, y, H and the turn.

    The residuals are those of the profiled rate (variable projection): the rate is
    solved in closed form at every trial. The wind's turn (degrees) has a normal
    prior of ``sigma_turn_deg``, as one more residual ``turn / sigma_turn * s0`` with
    ``s0`` the noise of the fit at the reported wind; 0 keeps the reported wind.
    """
    scale = math.sqrt(float(t.excess @ t.excess))
    s0 = math.sqrt(float(_profile(t, start[None, :])[0][0]) / max(t.x.size - 4, 1)) / scale
    fit_turn = sigma_turn_deg > 0

    def residuals(p: NDArray[np.float64]) -> NDArray[np.float64]:
        a = _unit_model(t, p[None, :])[0]
        aa = float(a @ a)
        q = max(float(a @ t.excess), 0.0) / aa if aa > 0 else 0.0
        r = (t.excess - q * a) / scale
        return np.append(r, p[3] / sigma_turn_deg * s0) if fit_turn else r

    lower = np.array([-np.inf, -np.inf, 0.0, -3 * sigma_turn_deg])
    upper = np.array([np.inf, np.inf, max(max_height_m, 1e-6), 3 * sigma_turn_deg])
    k = 4 if fit_turn else 3
    x0 = np.clip(np.append(start, 0.0)[:k], lower[:k], upper[:k] - 1e-9)
    result = optimize.least_squares(
        residuals,
        x0,
        bounds=(lower[:k], upper[:k]),
        x_scale=np.array([20.0, 5.0, 5.0, 1.0])[:k],
        diff_step=1e-4,
        xtol=1e-10,
        ftol=1e-12,
        gtol=1e-12,
        max_nfev=400,
    )
    return np.asarray(np.append(result.x, 0.0)[:4], dtype=np.float64)


def _covariance(
    t: _Transect, best: NDArray[np.float64], max_height_m: float, sigma_turn_deg: float
) -> NDArray[np.float64]:
    """Covariance of (x, y, H): the sandwich ``A^-1 B A^-1`` of the profiled residuals.

    ``J`` is the residuals' Jacobian in (x, y, H, turn), by central differences;
    ``A = J'J / s^2`` plus the turn prior's ``1 / sigma_turn^2``, and ``B`` the same
    with each residual's own square in place of ``s^2`` (White's estimator). A
    sensor's noise grows with the concentration, so the samples in the plume, which
    place the source, are noisier than the residuals' mean square says: the plain
    ``s^2 (J'J)^-1`` was 3 to 10 times too small on such transects.
    """
    k = 4 if sigma_turn_deg > 0 else 3
    steps = np.array([1.0, 1.0, 0.5, 0.1])[:k]
    centre = best[:k].copy()
    centre[2] = min(max(centre[2], steps[2]), max_height_m)  # room for a central difference
    r0 = _residuals(t, centre[None, :])[0]
    offsets = np.vstack([centre + np.diag(steps), centre - np.diag(steps)])
    r = _residuals(t, offsets)
    jac = ((r[:k] - r[k:]) / (2 * steps[:, None])).T  # (N, k)
    n = t.x.size
    s2 = float(r0 @ r0) / max(n - k - 1, 1)
    prior = np.zeros((k, k))
    if k == 4:
        prior[3, 3] = 1.0 / sigma_turn_deg**2
    bread = jac.T @ jac / s2 + prior
    meat = (jac * (r0**2 * n / max(n - k - 1, 1))[:, None]).T @ jac / s2**2 + prior
    try:
        inv = np.linalg.inv(bread)
    except np.linalg.LinAlgError:
        return np.full((3, 3), math.inf)
    cov = inv @ meat @ inv
    if np.any(np.linalg.eigvalsh(cov) <= 0):
        return np.full((3, 3), math.inf)
    return np.asarray(cov[:3, :3], dtype=np.float64)


def _residuals(t: _Transect, params: NDArray[np.float64]) -> NDArray[np.float64]:
    """(G, N) residuals (g/m^3) of sources (G, 3 or 4) with each one's best rate."""
    a = _unit_model(t, params)
    q, _, _ = _rates(a, t.excess)
    return np.asarray(t.excess[None, :] - q[:, None] * a, dtype=np.float64)


def _attribute(
    sites: Sites | None, frame: LocalFrame, east: float, north: float, within_m: float
) -> tuple[str | None, str | None, float | None]:
    """(stack id, site id, distance m) of the nearest stack within ``within_m``, else of the
    nearest enterprise's premises within it, else Nones."""
    if sites is None:
        return None, None, None
    stacks = sites.stacks
    if stacks:
        se, sn = frame.to_en([s.lon for s in stacks], [s.lat for s in stacks])
        dist = np.hypot(se - east, sn - north)
        k = int(np.argmin(dist))
        if dist[k] <= within_m:
            return stacks[k].id, stacks[k].site_id, float(dist[k])
    point = shapely.Point(east, north)
    near = [(frame.polygon_to_en(e.boundary).distance(point), e.id) for e in sites.enterprises]
    if near:
        d, site = min(near)
        if d <= within_m:
            return None, site, float(d)
    return None, None, None
