"""The stored sites as the zone's GeoJSON, read with the one site model (:mod:`zone.sites`).

Every site written through the API has passed :func:`zone.sites.check_site`,
so it can be planned and processed. A row stored before a check existed (or
written around the API) may not pass it: reading it never fails. Listing shows
it with its ``problem``; processing leaves it out (a finding near it simply
has no site); planning refuses, naming it, because the planner must not fly
past a no-fly zone or an obstacle it cannot read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from store.models import Site
from zone.errors import InvalidSiteError
from zone.sites import check_site

logger = logging.getLogger(__name__)


def site_feature(site: Site) -> dict[str, Any]:
    """A stored site as a GeoJSON Feature, shaped like the zone's sites file.

    Whatever JSON an old row holds is read back as it is (properties that are
    not an object are dropped), for :func:`site_problem` to judge.
    """
    properties = dict(site.properties) if isinstance(site.properties, dict) else {}
    properties.update(id=site.site_id, kind=site.kind, name=site.name)
    return {
        "type": "Feature",
        "id": site.site_id,
        "geometry": site.geometry,
        "properties": properties,
    }


def site_problem(feature: dict[str, Any]) -> str | None:
    """Why the zone model refuses a stored site (``site 'x': ...``), or None when it reads it."""
    try:
        check_site(feature)
    except InvalidSiteError as exc:
        return str(exc)
    return None


@dataclass(frozen=True, slots=True)
class StoredSite:
    """A stored site as a GeoJSON Feature, and why the zone model refuses it (None: it reads it)."""

    feature: dict[str, Any]
    problem: str | None

    @property
    def site_id(self) -> str:
        return str(self.feature["id"])


def stored_site(site: Site) -> StoredSite:
    """One stored site, checked by the zone model."""
    feature = site_feature(site)
    return StoredSite(feature, site_problem(feature))


def stored_sites(session: Session, kind: str | None = None) -> list[StoredSite]:
    """Every stored site (of one ``kind``) in id order, each checked by the zone model."""
    query = select(Site).order_by(col(Site.site_id))
    if kind:
        query = query.where(Site.kind == kind)
    return [stored_site(site) for site in session.exec(query)]
