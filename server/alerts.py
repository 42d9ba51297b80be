"""From an air-quality alert to the enterprises that may explain it, and a patrol to them.

:func:`rank_alert` gathers what :func:`zone.sources.rank_sources` needs from the
store, at the alert's peak hour (stations report hourly, so every station's
reading of the alert's pollutant at the same timestamp):

- each station's background is its own baseline, as :mod:`store.alerts` takes
  it: the median of its readings of the pollutant in the ``baseline_window_h``
  (24 h) before, given ``baseline_min_readings`` (6) of them; with fewer, the
  lowest reading of the pollutant anywhere in the zone that hour;
- the wind is the alert station's at that hour, else the nearest station's
  that reports one (a station's wind is taken as measured 10 m above ground,
  blowing FROM ``wind_from_deg``, degrees clockwise from true north);
- the Pasquill-Gifford class comes from Turner's key
  (:func:`zone.dispersion.stability_class`) with day or night from the sun
  (:func:`sun_elevation_deg`; day is from one hour after sunrise to one hour
  before sunset) and an assumed moderate insolation and 4 oktas of cloud: no
  cloud report is stored. The answer states these assumptions;
- station inlets are taken 3 m above ground (the sites file has no inlet height).

:func:`plan_alert_patrol_from_store` flies the top candidates with
``missions.targeted.plan_alert_patrol`` from the docks that have a drone free,
and stores the sorties with the alert on each.
"""

from __future__ import annotations

import logging
import math
import statistics
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from pyproj import Geod
from sqlmodel import Session, col, select

from missions.plan import Patrol
from missions.targeted import plan_alert_patrol
from server.errors import ConflictError, ServerError
from server.fleet import dock_states
from server.planning import store_patrol, zone_from_store
from store.alerts import AlertRules
from store.models import Alert, Capture, Finding, Flight, Mission, Reading
from store.readings import as_utc
from zone.dispersion import Stability, Wind, stability_class
from zone.sites import Dock, Sites, Station
from zone.sources import Candidate, StationReading, rank_sources

logger = logging.getLogger(__name__)

INSOLATION: Final = "moderate"
CLOUD_OKTAS = 4.0
INLET_HEIGHT_M = 3.0
WIND_HEIGHT_M = 10.0
SUNRISE_ELEVATION_DEG = -0.833  # the upper limb at the horizon, with refraction (NOAA)
J2000 = datetime(2000, 1, 1, 12, tzinfo=UTC)  # the epoch of the solar formulas (TT ~ UTC)
_GEOD = Geod(ellps="WGS84")


class AlertRankingError(ServerError, ValueError):
    """The alert cannot be ranked (no readings, no wind, nothing over background); the
    message says why, fit for an operator."""


@dataclass(frozen=True, slots=True)
class UsedReading:
    """A station's reading at the alert's hour with the background it was compared with."""

    station_id: str
    lon: float
    lat: float
    value: float
    background: float
    unit: str
    background_from: str  # "baseline" (the station's median) or "zone" (lowest of the hour)


@dataclass(frozen=True, slots=True)
class AlertRanking:
    """The candidates for one alert (best first, ``top`` of them) and what they rest on.

    ``wind_station`` is the station whose wind was used; ``daytime`` and
    ``sun_elevation_deg`` (at the alert station and hour) chose the stability class.
    """

    alert: Alert
    time: datetime
    wind: Wind
    wind_station: str
    stability: str
    daytime: bool
    sun_elevation_deg: float
    readings: tuple[UsedReading, ...]
    candidates: tuple[Candidate, ...]
    stacks: dict[str, tuple[tuple[float, float], ...]]  # site id -> stack (lon, lat)
    sites: Sites

    @property
    def assumptions(self) -> str:
        """What the ranking assumed, in one paragraph for the operator."""
        light = "day" if self.daytime else "night"
        fallback = [r.station_id for r in self.readings if r.background_from == "zone"]
        background = (
            "each station's background is the median of its readings in the 24 h before"
            + (
                f" (too few for {', '.join(fallback)}: the zone's lowest reading that hour)"
                if fallback
                else ""
            )
        )
        return (
            f"Wind {self.wind.speed_m_s:g} m/s from {self.wind.from_deg:g} deg (true north) "
            f"reported by {self.wind_station}, taken as measured 10 m above ground. "
            f"Stability class {self.stability} by Turner's key: {light} (the sun "
            f"{self.sun_elevation_deg:.0f} deg above the horizon), insolation assumed "
            f"{INSOLATION}, cloud assumed {CLOUD_OKTAS:g} oktas (no cloud report is stored). "
            f"Station inlets assumed {INLET_HEIGHT_M:g} m above ground; {background}."
        )


def sun_elevation_deg(when: datetime, *, lon: float, lat: float) -> float:
    """The sun's elevation above the horizon (degrees, no refraction) at ``when`` (aware).

    The Astronomical Almanac's low-precision formulas (the sun's ecliptic longitude
    from its mean longitude and anomaly, then right ascension, declination and
    Greenwich mean sidereal time): good to about 0.01 degree from 1950 to 2050,
    far more than day-or-night needs.
    """
    days = (as_utc(when) - J2000).total_seconds() / 86400.0
    mean_longitude = math.radians(280.460 + 0.9856474 * days)
    anomaly = math.radians(357.528 + 0.9856003 * days)
    ecliptic = mean_longitude + math.radians(
        1.915 * math.sin(anomaly) + 0.020 * math.sin(2 * anomaly)
    )
    obliquity = math.radians(23.439 - 0.0000004 * days)
    right_ascension = math.atan2(math.cos(obliquity) * math.sin(ecliptic), math.cos(ecliptic))
    declination = math.asin(math.sin(obliquity) * math.sin(ecliptic))
    sidereal_deg = 280.46061837 + 360.98564736629 * days  # Greenwich mean sidereal time
    hour_angle = math.radians(sidereal_deg + lon) - right_ascension
    phi = math.radians(lat)
    sin_elevation = math.sin(phi) * math.sin(declination) + math.cos(phi) * math.cos(
        declination
    ) * math.cos(hour_angle)
    return math.degrees(math.asin(max(-1.0, min(1.0, sin_elevation))))


def is_daytime(when: datetime, *, lon: float, lat: float) -> bool:
    """Turner's day: from one hour after sunrise to one hour before sunset, i.e. the sun up
    both an hour before and an hour after ``when``."""
    hour = timedelta(hours=1)
    return all(
        sun_elevation_deg(t, lon=lon, lat=lat) > SUNRISE_ELEVATION_DEG
        for t in (when - hour, when + hour)
    )


@dataclass(frozen=True, slots=True)
class AlertWeather:
    """The air at an alert's peak: the wind (and the station that reported it) and the
    Pasquill-Gifford class by Turner's key, day or night from the sun at the station."""

    time: datetime
    wind: Wind
    wind_station: str
    stability: Stability
    daytime: bool
    sun_elevation_deg: float


def alert_weather(session: Session, alert: Alert, sites: Sites) -> AlertWeather:
    """The wind and stability ``alert`` is ranked under, and its patrol planned for.

    Raises
    ------
    AlertRankingError
        The station is not in the zone, or no station reported a wind at the peak hour.
    """
    when = as_utc(alert.peak_at)
    stations = {s.id: s for s in sites.stations}
    here = stations.get(alert.station_id)
    if here is None:
        raise AlertRankingError(f"station {alert.station_id!r} is not in the stored zone")
    wind, wind_station = _wind(_hour_rows(session, when), here, stations, when)
    daytime = is_daytime(when, lon=here.lon, lat=here.lat)
    stability = stability_class(
        wind.speed_m_s, daytime=daytime, insolation=INSOLATION, cloud_oktas=CLOUD_OKTAS
    )
    elevation = sun_elevation_deg(when, lon=here.lon, lat=here.lat)
    return AlertWeather(when, wind, wind_station, stability, daytime, elevation)


def rank_alert(session: Session, alert: Alert, *, top: int | None = None) -> AlertRanking:
    """The enterprises of the stored zone ranked as the source of ``alert`` at its peak.

    Parameters
    ----------
    top : int, optional
        How many candidates to keep (best first); all when None. Every enterprise
        is scored all the same (the scores are shares of one posterior), and
        ``rank_sources`` traces every footprint: it cannot trace only the top ones.

    Raises
    ------
    AlertRankingError
        No readings at the peak hour, no wind reported then, nothing over its
        background, or a zone without enterprises.
    InvalidSiteError
        A stored site the zone model refuses (:func:`server.planning.zone_from_store`).
    """
    sites = zone_from_store(session)
    when = as_utc(alert.peak_at)
    stations = {s.id: s for s in sites.stations}
    if alert.station_id not in stations:
        raise AlertRankingError(f"station {alert.station_id!r} is not in the stored zone")
    used = _used_readings(session, alert.pollutant, when, _hour_rows(session, when), stations)
    air = alert_weather(session, alert, sites)
    try:
        ranked = rank_sources(
            sites,
            [_station_reading(r, when) for r in used],
            pollutant=alert.pollutant,
            wind=air.wind,
            stability=air.stability,
        )
    except ValueError as exc:
        raise AlertRankingError(f"cannot rank the alert's sources: {exc}") from None
    kept = tuple(ranked if top is None else ranked[:top])
    return AlertRanking(
        alert=alert,
        time=when,
        wind=air.wind,
        wind_station=air.wind_station,
        stability=air.stability,
        daytime=air.daytime,
        sun_elevation_deg=air.sun_elevation_deg,
        readings=tuple(used),
        candidates=kept,
        stacks={
            e.id: tuple((s.lon, s.lat) for s in e.stacks)
            for e in sites.enterprises
            if e.id in {c.site_id for c in kept}
        },
        sites=sites,
    )


def _hour_rows(session: Session, when: datetime) -> list[Reading]:
    """Every reading (any station, any pollutant) at ``when``."""
    return list(session.exec(select(Reading).where(col(Reading.time) == when)).all())


def _used_readings(
    session: Session,
    pollutant: str,
    when: datetime,
    rows: Sequence[Reading],
    stations: dict[str, Station],
) -> list[UsedReading]:
    """The pollutant's reading of each zone station at ``when``, with its background."""
    hour = [r for r in rows if r.pollutant == pollutant and r.station_id in stations]
    if not hour:
        raise AlertRankingError(f"no {pollutant} readings at {when.isoformat()}")
    medians = _baseline_medians(session, pollutant, when)
    lowest = min(r.value for r in hour)
    used = []
    for r in sorted(hour, key=lambda r: r.station_id):
        station = stations[r.station_id]
        median = medians.get(r.station_id)
        used.append(
            UsedReading(
                r.station_id,
                station.lon,
                station.lat,
                r.value,
                lowest if median is None else median,
                r.unit,
                "zone" if median is None else "baseline",
            )
        )
    return used


def _baseline_medians(session: Session, pollutant: str, when: datetime) -> dict[str, float]:
    """Each station's median of ``pollutant`` in the baseline window before ``when``, where
    it holds enough readings (:class:`store.alerts.AlertRules`' defaults)."""
    rules = AlertRules()
    start = when - timedelta(hours=rules.baseline_window_h)
    values: dict[str, list[float]] = defaultdict(list)
    for station_id, value in session.exec(
        select(Reading.station_id, Reading.value).where(
            col(Reading.pollutant) == pollutant,
            col(Reading.time) >= start,
            col(Reading.time) < when,
        )
    ):
        values[station_id].append(value)
    return {
        station_id: statistics.median(found)
        for station_id, found in values.items()
        if len(found) >= rules.baseline_min_readings
    }


def _wind(
    rows: Sequence[Reading], here: Station, stations: dict[str, Station], when: datetime
) -> tuple[Wind, str]:
    """The wind at ``when``: the alert station's, else the nearest reporting station's."""
    reported: dict[str, tuple[float, float]] = {}
    for r in rows:
        if r.wind_speed_m_s is not None and r.wind_from_deg is not None:
            reported.setdefault(r.station_id, (r.wind_speed_m_s, r.wind_from_deg))
    known = [s for s in reported if s in stations]
    if not known:
        raise AlertRankingError(f"no wind reported at {when.isoformat()}")

    def distance_m(station_id: str) -> float:
        if station_id == here.id:
            return -1.0
        other = stations[station_id]
        return float(_GEOD.inv(here.lon, here.lat, other.lon, other.lat)[2])

    nearest = min(known, key=lambda s: (distance_m(s), s))
    speed, from_deg = reported[nearest]
    try:
        return Wind(from_deg, speed, WIND_HEIGHT_M), nearest
    except ValueError as exc:
        raise AlertRankingError(f"{nearest} at {when.isoformat()}: {exc}") from None


def _station_reading(used: UsedReading, when: datetime) -> StationReading:
    return StationReading(
        lon=used.lon,
        lat=used.lat,
        value=used.value,
        background=used.background,
        unit=used.unit,
        height_m=INLET_HEIGHT_M,
        time=when,
        station_id=used.station_id,
    )


# --- a patrol to the candidates -------------------------------------------------------


def default_patrol_name(alert: Alert) -> str:
    """``alert <station> <pollutant> <peak time, UTC>``."""
    return f"alert {alert.station_id} {alert.pollutant} {as_utc(alert.peak_at):%Y-%m-%d %H:%M}"


def free_docks(session: Session, sites: Sites) -> tuple[Dock, ...]:
    """The zone's docks with a drone that is not flying, each with how many are free.

    A flight in progress (starting or flying) holds one drone of the dock its
    mission starts from (:func:`server.fleet.dock_states`; a charging drone is
    free, as for an operator's launch).
    """
    flying = {
        dock: len(state.flying)
        for dock, state in dock_states(session, datetime.now(UTC), 0.0).items()
    }
    return tuple(
        replace(dock, drones=dock.drones - flying.get(dock.id, 0))
        for dock in sites.docks
        if dock.drones > flying.get(dock.id, 0)
    )


@dataclass(frozen=True, slots=True)
class AlertPatrol:
    """A patrol planned from an alert and stored: its name, ranking, plan and mission rows."""

    name: str
    ranking: AlertRanking
    patrol: Patrol
    missions: list[Mission]


def plan_alert_patrol_from_store(
    session: Session, alert: Alert, *, top: int, name: str | None = None, **options: Any
) -> AlertPatrol:
    """Rank the alert's sources, plan a patrol to the ``top`` of them from the docks with a
    drone free, and store its sorties with the alert on each.

    ``options`` go to ``missions.targeted.plan_alert_patrol`` (e.g. ``time_limit_s``), which
    flies from the nearest of the docks with a drone free.

    Raises
    ------
    ConflictError
        The name is taken, or no dock has a drone free.
    AlertRankingError
        The alert cannot be ranked.
    MissionError, ZoneError
        The planner's refusals, with its reason.
    """
    name = name or default_patrol_name(alert)
    if session.exec(select(Mission.id).where(col(Mission.patrol_name) == name)).first():
        raise ConflictError(f"a patrol named {name!r} already exists")
    ranking = rank_alert(session, alert, top=top)
    docks = free_docks(session, ranking.sites)
    if not docks:
        raise ConflictError("every dock's drones are flying: plan again once one has landed")
    patrol = plan_alert_patrol(
        ranking.sites,
        [c.site_id for c in ranking.candidates],
        wind=ranking.wind,
        stability=ranking.stability,
        docks=[d.id for d in docks],
        **options,
    )
    rows = store_patrol(session, patrol, name, alert_id=alert.id)
    logger.info("alert %s: patrol %r planned, %d sorties", alert.id, name, len(rows))
    return AlertPatrol(name, ranking, patrol, rows)


# --- what came of an alert ------------------------------------------------------------


def alert_patrols(session: Session, alert_id: uuid.UUID) -> dict[str, list[uuid.UUID]]:
    """The patrols planned from the alert: name -> its mission ids in sortie order."""
    rows = session.exec(
        select(Mission.patrol_name, Mission.id)
        .where(col(Mission.alert_id) == alert_id)
        .order_by(col(Mission.created_at), col(Mission.patrol_name), col(Mission.sortie_index))
    )
    patrols: dict[str, list[uuid.UUID]] = {}
    for patrol_name, mission_id in rows:
        patrols.setdefault(patrol_name, []).append(mission_id)
    return patrols


MAX_FINDINGS = 500


def alert_findings(
    session: Session, mission_ids: Sequence[uuid.UUID]
) -> list[tuple[Finding, datetime | None]]:
    """The findings of the flights of ``mission_ids`` (at most :data:`MAX_FINDINGS`), each with
    the time its capture was taken, oldest first."""
    if not mission_ids:
        return []
    rows = session.exec(
        select(Finding, Capture.taken_at)
        .join(Flight, col(Flight.id) == col(Finding.flight_id))
        .join(Capture, col(Capture.id) == col(Finding.capture_id))
        .where(col(Flight.mission_id).in_(mission_ids))
        .order_by(col(Capture.taken_at), col(Finding.created_at), col(Finding.id))
        .limit(MAX_FINDINGS)
    )
    return [(finding, as_utc(taken) if taken else None) for finding, taken in rows]
