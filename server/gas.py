"""A flight's gas track as the server serves it, and the source it points to.

The record is the flight's ``gas.jsonl`` (:mod:`missions.gas`), kept in the
flight's folder as the capture manifest is: written there by a flight the
server flies, or uploaded with the flight's photos. Nothing is copied into the
database; every request reads the file.

Heights: each reading carries ``alt_amsl_m`` (above mean sea level, from the
autopilot's GLOBAL_POSITION_INT) and ``alt_rel_home_m`` (above the dock). The
track and the source are given heights above the ground under each point,
``height_agl_m = alt_amsl_m - ground``, with the ground from the stored zone's
surveyed altitudes (:func:`missions.plan.surveyed_ground`, the planner's own
ground model when it flies without a DEM: the server keeps no DEM), clamped at
0 (a reading on the dock, or the model's ground above a low spot).

Wind: where it blows FROM, degrees clockwise from true north, and its speed in
m/s at 10 m (a station's mast), as :class:`zone.dispersion.Wind` takes it.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlmodel import Session, col, select

from missions.gas import GAS_NAME, GasReading, read_gas
from missions.plan import surveyed_ground
from server.alerts import (
    CLOUD_OKTAS,
    INSOLATION,
    AlertRankingError,
    alert_weather,
    is_daytime,
)
from server.planning import zone_geojson
from store.models import Alert, Flight, Mission, Reading
from zone.dispersion import Stability, Terrain, Wind, stability_class
from zone.errors import ZoneError
from zone.ground import Ground
from zone.sites import Sites, parse_sites
from zone.sources import MIN_SAMPLES, GasSample, SourceEstimate, locate_source, pollutant_name

logger = logging.getLogger(__name__)

#: The farthest in time a station's wind may be from the transect to stand for it: station
#: readings are hourly, and one more hour either side still describes the same weather.
WIND_WITHIN = timedelta(hours=2)
#: Samples handed to the source fit at most (evenly thinned beyond): its grid search costs
#: samples x grid points, and a transect's shape is held by far fewer.
MAX_SOURCE_SAMPLES = 2000
#: Pasquill-Gifford class taken when none is given and the transect's time is not known:
#: neutral, the class of an overcast sky or a wind of 6 m/s or more (Turner's key).
DEFAULT_STABILITY: Stability = "D"


class GasError(ValueError):
    """The flight's gas readings cannot answer the question asked (a one-line reason)."""


def read_flight_gas(directory: Path) -> list[GasReading]:
    """The readings in the flight's ``gas.jsonl``, in file order; none when it has no file.

    A malformed file raises :class:`GasError` naming the line (not the server's path).
    """
    path = directory / GAS_NAME
    if not path.is_file():
        return []
    try:
        return read_gas(path)
    except ValueError as exc:  # UnicodeDecodeError is one too
        raise GasError(str(exc).replace(str(path), GAS_NAME)) from None


def stored_zone(session: Session) -> Sites | None:
    """The stored sites the zone model reads (a refused one left out); None when there are
    none, or they do not make a zone."""
    zone = zone_geojson(session)
    if not zone["features"]:
        return None
    try:
        return parse_sites(zone)
    except (ZoneError, ValueError) as exc:
        logger.warning("gas: the stored zone cannot be read (%s)", exc)
        return None


def zone_ground(sites: Sites | None) -> Ground | None:
    """The zone's ground model from its surveyed altitudes; None when it states none."""
    if sites is None:
        return None
    try:
        return surveyed_ground(sites)
    except ValueError:  # no dock and no ground_alt_m anywhere
        return None


def heights_agl(readings: Sequence[GasReading], ground: Ground | None) -> list[float | None]:
    """Each reading's height above the ground under it (m, clamped at 0); None without a
    ground model."""
    if ground is None or not readings:
        return [None] * len(readings)
    lon = np.array([r.lon for r in readings], dtype=np.float64)
    lat = np.array([r.lat for r in readings], dtype=np.float64)
    under = ground.elevation(lon, lat)
    amsl = np.array([r.alt_amsl_m for r in readings], dtype=np.float64)
    return [round(float(h), 2) for h in np.maximum(amsl - under, 0.0)]


def thinned(readings: Sequence[GasReading], max_points: int | None) -> list[int]:
    """Indices of the readings to draw: all of them, or at most ``max_points``, each the
    highest reading of its run of consecutive ones (a plume's peak is never thinned away)."""
    n = len(readings)
    if max_points is None or n <= max_points:
        return list(range(n))
    step = math.ceil(n / max_points)
    return [
        max(range(start, min(start + step, n)), key=lambda i: readings[i].value)
        for start in range(0, n, step)
    ]


def value_ranges(readings: Sequence[GasReading]) -> list[dict[str, Any]]:
    """Count, min and max of each pollutant in each unit it was read in, in first-read order."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in readings:
        row = out.setdefault(
            (r.pollutant, r.unit),
            {"pollutant": r.pollutant, "unit": r.unit, "count": 0, "min": r.value, "max": r.value},
        )
        row["count"] += 1
        row["min"], row["max"] = min(row["min"], r.value), max(row["max"], r.value)
    return list(out.values())


def gas_track(
    flight_id: uuid.UUID,
    readings: Sequence[GasReading],
    ground: Ground | None,
    *,
    max_points: int | None = None,
) -> dict[str, Any]:
    """The track as a GeoJSON FeatureCollection of Points (lon, lat), one per reading drawn.

    ``count`` and ``ranges`` cover every reading; ``shown`` is how many are features.
    """
    heights = heights_agl(readings, ground)
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [readings[i].lon, readings[i].lat]},
            "properties": {
                "value": readings[i].value,
                "unit": readings[i].unit,
                "pollutant": readings[i].pollutant,
                "time_utc": readings[i].time_utc,
                "alt_amsl_m": readings[i].alt_amsl_m,
                "height_agl_m": heights[i],
            },
        }
        for i in thinned(readings, max_points)
    ]
    return {
        "type": "FeatureCollection",
        "flight_id": flight_id,
        "count": len(readings),
        "shown": len(features),
        "ranges": value_ranges(readings),
        "features": features,
    }


@dataclass(frozen=True, slots=True)
class TransectWind:
    """The wind a source is located under, and where it came from: ``query``, ``alert``
    (the alert station's reading near the transect) or ``alert peak`` (the wind the alert
    was ranked under, with its class in ``stability``)."""

    wind: Wind
    source: str
    alert_id: uuid.UUID | None = None
    station_id: str | None = None
    reading_time: datetime | None = None
    stability: Stability | None = None


def _transect_time(readings: Sequence[GasReading], flight: Flight) -> datetime | None:
    """The middle reading's UTC time, else the flight's start."""
    if readings:
        try:
            return datetime.fromisoformat(readings[len(readings) // 2].time_utc)
        except ValueError:
            pass
    return flight.started_at or flight.created_at


def alert_wind(
    session: Session, flight: Flight, readings: Sequence[GasReading], sites: Sites | None
) -> TransectWind | None:
    """The wind for a flight whose mission answers an alert.

    The alert station's reading with a wind nearest the transect, within
    :data:`WIND_WITHIN`; else the air the alert was ranked under and its patrol
    planned for (:func:`server.alerts.alert_weather` over ``sites``, the
    :func:`stored_zone`: the peak hour's wind and class), which a patrol flown
    soon after the alert meets. None when the mission has no alert; a
    :class:`GasError` when no wind is known either way.
    """
    mission = session.get(Mission, flight.mission_id) if flight.mission_id else None
    alert = session.get(Alert, mission.alert_id) if mission and mission.alert_id else None
    if alert is None:
        return None
    at = _transect_time(readings, flight)
    if at is not None:
        # stored times are naive UTC on SQLite; compare naive
        nearest = _nearest_wind(session, alert.station_id, at.replace(tzinfo=None))
        if nearest is not None:
            assert nearest.wind_from_deg is not None and nearest.wind_speed_m_s is not None
            try:
                wind = Wind(nearest.wind_from_deg % 360.0, nearest.wind_speed_m_s)
            except ValueError as exc:
                raise GasError(f"the alert's station wind: {exc}") from None
            return TransectWind(wind, "alert", alert.id, alert.station_id, nearest.time)
    if sites is None:
        raise GasError("give the wind: the stored zone cannot be read")
    try:
        air = alert_weather(session, alert, sites)
    except AlertRankingError as exc:
        raise GasError(f"give the wind: {exc}") from None
    return TransectWind(
        air.wind, "alert peak", alert.id, air.wind_station, air.time, stability=air.stability
    )


def _nearest_wind(session: Session, station_id: str, at: datetime) -> Reading | None:
    """The station's reading with a wind nearest ``at`` (naive UTC), within WIND_WITHIN."""
    with_wind = [
        col(Reading.station_id) == station_id,
        col(Reading.wind_from_deg).is_not(None),
        col(Reading.wind_speed_m_s).is_not(None),
    ]
    before = session.exec(
        select(Reading)
        .where(*with_wind, col(Reading.time) <= at, col(Reading.time) >= at - WIND_WITHIN)
        .order_by(col(Reading.time).desc())
    ).first()
    after = session.exec(
        select(Reading)
        .where(*with_wind, col(Reading.time) > at, col(Reading.time) <= at + WIND_WITHIN)
        .order_by(col(Reading.time))
    ).first()
    found = [r for r in (before, after) if r is not None]
    return min(found, key=lambda r: abs(r.time.replace(tzinfo=None) - at), default=None)


def transect_stability(wind: Wind, readings: Sequence[GasReading], flight: Flight) -> Stability:
    """The Pasquill-Gifford class by Turner's key, as the alert ranking takes it
    (:mod:`server.alerts`): day or night from the sun at the transect's middle reading,
    moderate insolation and 4 oktas of cloud assumed (no cloud report is stored)."""
    at = _transect_time(readings, flight)
    if at is None or not readings:
        return DEFAULT_STABILITY
    middle = readings[len(readings) // 2]
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    daytime = is_daytime(at, lon=middle.lon, lat=middle.lat)
    return stability_class(
        wind.speed_m_s, daytime=daytime, insolation=INSOLATION, cloud_oktas=CLOUD_OKTAS
    )


def transect_samples(
    readings: Sequence[GasReading],
    ground: Ground | None,
    *,
    pollutant: str | None,
    unit: str | None,
) -> tuple[list[GasSample], str, str]:
    """The readings of one pollutant in one unit as samples above ground, thinned to
    :data:`MAX_SOURCE_SAMPLES`; with the pollutant and unit. :class:`GasError` says why not."""
    heard = value_ranges(readings)
    if not heard:
        raise GasError("the flight heard no gas sensor")
    if ground is None:
        raise GasError(
            "the stored zone states no ground altitude (a dock's ground_alt_m): heights "
            "above ground, and so a source, cannot be had"
        )
    if pollutant is not None:
        try:
            pollutant = pollutant_name(pollutant)
        except ValueError as exc:
            raise GasError(str(exc)) from None
        heard = [h for h in heard if h["pollutant"] == pollutant]
    if unit is not None:
        heard = [h for h in heard if h["unit"] == unit]
    if len(heard) != 1:
        raise GasError(_which_gas(value_ranges(readings), pollutant, unit, heard))
    pollutant, unit = heard[0]["pollutant"], heard[0]["unit"]
    chosen = [r for r in readings if r.pollutant == pollutant and r.unit == unit]
    if len(chosen) > MAX_SOURCE_SAMPLES:
        step = len(chosen) / MAX_SOURCE_SAMPLES
        chosen = [chosen[int(k * step)] for k in range(MAX_SOURCE_SAMPLES)]
    heights = heights_agl(chosen, ground)
    samples = [
        GasSample(r.lon, r.lat, float(h or 0.0), r.value, _time(r.time_utc))
        for r, h in zip(chosen, heights, strict=True)
    ]
    return samples, pollutant, unit


def _which_gas(
    heard: list[dict[str, Any]], pollutant: str | None, unit: str | None, left: list[Any]
) -> str:
    names = ", ".join(f"{h['pollutant']} ({h['unit']})" for h in heard)
    if not left:
        asked = " in ".join(x for x in (pollutant, unit) if x)
        return f"the flight has no {asked} readings; it has {names}"
    return f"name the pollutant (and unit): the flight has {names}"


def _time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def estimate_source(
    samples: Sequence[GasSample],
    *,
    wind: Wind,
    stability: str,
    sites: Sites | None,
    unit: str,
    pollutant: str,
    terrain: Terrain = "rural",
) -> SourceEstimate:
    """:func:`zone.sources.locate_source` over the samples, attributed against the zone;
    too few samples, or a transect it cannot fit, is a :class:`GasError`."""
    if len(samples) < MIN_SAMPLES:
        raise GasError(
            f"{len(samples)} {pollutant} readings: locating a source needs at least {MIN_SAMPLES}"
        )
    try:
        return locate_source(
            samples,
            wind=wind,
            stability=stability,
            sites=sites,
            unit=unit,
            pollutant=pollutant,
            terrain=terrain,
        )
    except ValueError as exc:
        raise GasError(str(exc)) from None
