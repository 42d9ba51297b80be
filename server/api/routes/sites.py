"""The zone's sites as GeoJSON: everyone reads them, operators and admins edit them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, status
from sqlmodel import Session, col, select

from server.api.deps import CurrentUser, OperatorUser, SessionDep
from server.schemas import Message, SiteCollection, SiteFeature, SiteImportResult
from store.models import Finding, Site

router = APIRouter(prefix="/sites", tags=["sites"])

SiteId = Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")


def site_to_feature(site: Site) -> dict[str, Any]:
    """A stored site as a GeoJSON Feature, shaped like the zone's sites file."""
    properties = dict(site.properties or {})
    properties.update(id=site.site_id, kind=site.kind, name=site.name)
    return {
        "type": "Feature",
        "id": site.site_id,
        "geometry": site.geometry,
        "properties": properties,
    }


def sites_collection(session: Session, kind: str | None = None) -> dict[str, Any]:
    query = select(Site).order_by(col(Site.site_id))
    if kind:
        query = query.where(Site.kind == kind)
    return {
        "type": "FeatureCollection",
        "features": [site_to_feature(s) for s in session.exec(query)],
    }


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


@router.get("", response_model=SiteCollection)
def list_sites(
    session: SessionDep,
    _: CurrentUser,
    kind: Annotated[str | None, Query(max_length=32)] = None,
) -> dict[str, Any]:
    """Every site as one FeatureCollection (a zone holds tens to hundreds of sites)."""
    return sites_collection(session, kind)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SiteFeature,
    responses={409: {"model": Message, "description": "site id taken"}},
)
def create_site(session: SessionDep, _: OperatorUser, feature: SiteFeature) -> dict[str, Any]:
    site_id = feature.properties.id
    if session.exec(select(Site).where(Site.site_id == site_id)).first():
        raise HTTPException(status.HTTP_409_CONFLICT, f"site {site_id!r} exists")
    site = Site(site_id="", kind="", geometry={})
    _apply(site, feature)
    session.add(site)
    session.commit()
    session.refresh(site)
    return site_to_feature(site)


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


@router.get("/{site_id}", response_model=SiteFeature, responses={404: {"model": Message}})
def read_site(session: SessionDep, _: CurrentUser, site_id: str = SiteId) -> dict[str, Any]:
    return site_to_feature(_get(session, site_id))


@router.put(
    "/{site_id}",
    response_model=SiteFeature,
    responses={404: {"model": Message}},
)
def replace_site(
    session: SessionDep, _: OperatorUser, feature: SiteFeature, site_id: str = SiteId
) -> dict[str, Any]:
    site = _get(session, site_id)
    if feature.properties.id != site_id:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "the feature's id must match the URL's site id"
        )
    _apply(site, feature)
    session.add(site)
    session.commit()
    session.refresh(site)
    return site_to_feature(site)


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
