"""Readings against the stored zone: the stations come from the sites table, read with the
one site model, and a batch is stored with its alerts in one transaction.

Shared by the API (``POST /readings``) and ``ecopatrol readings import``.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from server.sites import stored_sites
from store.alerts import AlertChanges, AlertRules, update_alerts
from store.readings import IngestResult, ingest
from zone.sites import parse_sites

logger = logging.getLogger(__name__)


def station_catalogue(session: Session) -> dict[str, tuple[str, ...]]:
    """Every stored station the zone model reads, with the pollutants it measures.

    A station row the model refuses (stored before its checks) is left out, so
    its readings are refused as from an unknown station until it is mended.
    """
    stored = stored_sites(session, "station")
    for site in stored:
        if site.problem:
            logger.warning("station left out: %s", site.problem)
    features = [s.feature for s in stored if s.problem is None]
    zone = parse_sites({"type": "FeatureCollection", "features": features})
    return {station.id: station.measures for station in zone.stations}


def record_readings(
    session: Session,
    raws: Sequence[object],
    *,
    stations: Mapping[str, Collection[str]],
    rules: AlertRules | None = None,
) -> tuple[IngestResult, AlertChanges]:
    """Store a batch's good readings and update the alerts, committed together.

    Another writer may store the same reading, or open the same alert, between
    our read and our commit; the unique keys refuse the second write, and the
    batch is then taken again once (its readings are now ``unchanged``, or
    refused as different).
    """
    try:
        return _record_once(session, raws, stations=stations, rules=rules)
    except IntegrityError:
        session.rollback()
        logger.info("readings: another writer got there first; taking the batch again")
    return _record_once(session, raws, stations=stations, rules=rules)


def _record_once(
    session: Session,
    raws: Sequence[object],
    *,
    stations: Mapping[str, Collection[str]],
    rules: AlertRules | None,
) -> tuple[IngestResult, AlertChanges]:
    result = ingest(session, raws, stations=stations)
    changes = update_alerts(session, result.stored, rules=rules)
    session.commit()
    return result, changes
