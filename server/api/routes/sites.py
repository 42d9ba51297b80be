"""The zone's sites as GeoJSON: everyone reads them, operators and admins edit them.

Every write (create, replace, import of a FeatureCollection) is checked by the
zone's one site model (:class:`server.schemas.SiteFeature`), and refused with
422 and its message naming the site and the fault.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status
from sqlmodel import Session, select

from server.api.deps import CurrentUser, OperatorUser, SessionDep
from server.schemas import (
    Message,
    SiteCollection,
    SiteFeature,
    SiteImportResult,
    SitePublic,
    SitesPublic,
)
from server.sites import StoredSite, stored_site, stored_sites
from store.models import Finding, Site

router = APIRouter(prefix="/sites", tags=["sites"])

SiteId = Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")


def _public(stored: StoredSite) -> SitePublic:
    """A stored site as it is read back, with the zone model's problem with it, if any."""
    return SitePublic(**stored.feature, problem=stored.problem)


def _apply(site: Site, feature: SiteFeature) -> None:
    props = feature.properties.model_dump()
    site.site_id = props.pop("id")
    site.kind = props.pop("kind")
    site.name = props.pop("name")
    site.properties = props or None
    site.geometry = feature.geometry.model_dump()


def upsert_sites(session: Session, collection: SiteCollection) -> SiteImportResult:
    """Create or update sites by id (in the caller's transaction); others are left alone."""
    existing = {s.site_id: s for s in session.exec(select(Site))}
    created = updated = 0
    for feature in collection.features:
        site = existing.get(feature.properties.id)
        if site is None:
            site = Site(site_id="", kind="", geometry={})
            created += 1
        else:
            updated += 1
        _apply(site, feature)
        session.add(site)
    return SiteImportResult(created=created, updated=updated)


def _get(session: Session, site_id: str) -> Site:
    site = session.exec(select(Site).where(Site.site_id == site_id)).first()
    if site is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no site {site_id!r}")
    return site


@router.get("")
def list_sites(
    session: SessionDep,
    _: CurrentUser,
    kind: Annotated[str | None, Query(max_length=32)] = None,
) -> SitesPublic:
    """Every site as one FeatureCollection (a zone holds tens to hundreds of sites).

    A site stored before today's checks that the zone model refuses is listed
    with its ``problem``.
    """
    stored = stored_sites(session, kind)
    return SitesPublic(features=[_public(s) for s in stored])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={409: {"model": Message, "description": "site id taken"}},
)
def create_site(session: SessionDep, _: OperatorUser, feature: SiteFeature) -> SitePublic:
    site_id = feature.properties.id
    if session.exec(select(Site).where(Site.site_id == site_id)).first():
        raise HTTPException(status.HTTP_409_CONFLICT, f"site {site_id!r} exists")
    site = Site(site_id="", kind="", geometry={})
    _apply(site, feature)
    session.add(site)
    session.commit()
    session.refresh(site)
    return _public(stored_site(site))


@router.put("")
def import_sites(
    session: SessionDep, _: OperatorUser, collection: SiteCollection
) -> SiteImportResult:
    """Create or update sites by id from a FeatureCollection (a zone's ``sites.geojson``).

    Sites not in the collection are left alone; the whole collection applies or none of it.
    """
    result = upsert_sites(session, collection)
    session.commit()
    return result


@router.get("/{site_id}", responses={404: {"model": Message}})
def read_site(session: SessionDep, _: CurrentUser, site_id: str = SiteId) -> SitePublic:
    return _public(stored_site(_get(session, site_id)))


@router.put("/{site_id}", responses={404: {"model": Message}})
def replace_site(
    session: SessionDep, _: OperatorUser, feature: SiteFeature, site_id: str = SiteId
) -> SitePublic:
    site = _get(session, site_id)
    if feature.properties.id != site_id:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "the feature's id must match the URL's site id"
        )
    _apply(site, feature)
    session.add(site)
    session.commit()
    session.refresh(site)
    return _public(stored_site(site))


@router.delete("/{site_id}", responses={404: {"model": Message}, 409: {"model": Message}})
def delete_site(session: SessionDep, _: OperatorUser, site_id: str = SiteId) -> Message:
    site = _get(session, site_id)
    if session.exec(select(Finding.id).where(Finding.site_id == site.site_id).limit(1)).first():
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"site {site.site_id} has findings; it cannot be deleted"
        )
    session.delete(site)
    session.commit()
    return Message(message=f"site {site.site_id} deleted")
