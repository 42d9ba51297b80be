"""Planning a patrol over the stored sites with ``missions.plan`` and keeping its sorties.

Each sortie becomes one ``Mission`` row whose ``plan`` holds the exact
MISSION_ITEM_INT lists (mission, fence, rally) that will be uploaded, the
route as flown and the planned photo points as GeoJSON for the map.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from sqlmodel import Session, select

from missions.export.params import check_params
from missions.items import Mission as ItemMission
from missions.items import MissionItem, MissionType
from missions.plan import Patrol, plan_patrol
from server.errors import ConflictError
from server.sites import stored_sites
from store.models import Mission
from zone.errors import InvalidSiteError
from zone.sites import Sites, parse_sites

logger = logging.getLogger(__name__)

ITEM_LISTS = ("items", "fence", "rally")


def items_to_json(mission: ItemMission) -> dict[str, Any]:
    """The uploadable mission as JSON: item lists and the vehicle parameters it relies on."""
    lists: dict[str, Any] = {
        name: [{**asdict(i), "mission_type": int(i.mission_type)} for i in getattr(mission, name)]
        for name in ITEM_LISTS
    }
    return {**lists, "params": dict(mission.params)}


def items_from_json(plan: dict[str, Any], *, name: str = "") -> ItemMission:
    """The uploadable mission stored by :func:`store_patrol`; ValueError when malformed."""
    try:
        lists = {
            key: tuple(
                MissionItem(**{**raw, "mission_type": MissionType(raw["mission_type"])})
                for raw in plan["mission"][key]
            )
            for key in ITEM_LISTS
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"mission {name!r} has no uploadable item list ({exc})") from None
    if not lists["items"]:
        raise ValueError(f"mission {name!r} has no items")
    params = check_params(plan["mission"].get("params") or {}, where=f"mission {name!r} params")
    return ItemMission(
        items=lists["items"], fence=lists["fence"], rally=lists["rally"], name=name, params=params
    )


def dock_of(mission: Mission) -> str | None:
    """The id of the dock a stored sortie flies from (its plan's ``dock``); None when none."""
    dock = (mission.plan or {}).get("dock") or {}
    found = dock.get("id")
    return found if isinstance(found, str) else None


def zone_geojson(session: Session) -> dict[str, Any]:
    """The stored sites ``zone.sites.parse_sites`` reads, for processing.

    A stored site it refuses is left out (and logged): the pipeline then gives
    findings near it no site, rather than failing every capture.
    """
    features = []
    for stored in stored_sites(session):
        if stored.problem is None:
            features.append(stored.feature)
        else:
            logger.warning("processing without stored %s", stored.problem)
    return {"type": "FeatureCollection", "features": features}


def zone_from_store(session: Session) -> Sites:
    """The stored zone, for planning or checking a route.

    A stored site the zone model refuses stops it, named with its fault: no
    route may fly past a no-fly zone or an obstacle that cannot be read.
    """
    zone = stored_sites(session)
    for stored in zone:
        if stored.problem is not None:
            raise InvalidSiteError(
                f"stored {stored.problem}; correct it (PUT /api/v1/sites/{stored.site_id}) "
                "or delete it before planning"
            )
    features = [stored.feature for stored in zone]
    return parse_sites({"type": "FeatureCollection", "features": features})


def plan_from_store(session: Session, *, targets: Sequence[str] | None, **options: Any) -> Patrol:
    """Run the planner over the stored zone (:func:`zone_from_store`).

    MissionError and ZoneError subclasses say what is wrong.
    """
    return plan_patrol(zone_from_store(session), targets=targets, **options)


def store_patrol(
    session: Session, patrol: Patrol, patrol_name: str, *, alert_id: uuid.UUID | None = None
) -> list[Mission]:
    """One Mission row per sortie, committed together; the name must be new.

    ``alert_id``: the alert the patrol was planned from (kept on every row).
    """
    taken = session.exec(select(Mission.id).where(Mission.patrol_name == patrol_name)).first()
    if taken is not None:
        raise ConflictError(f"a patrol named {patrol_name!r} already exists")
    rows = []
    for sortie in patrol.sorties:
        route = {
            "type": "LineString",
            "coordinates": [[float(p[0]), float(p[1])] for p in sortie.route],
        }
        photos = {
            "type": "MultiPoint",
            "coordinates": [[p.lon, p.lat] for p in sortie.photo_points],
        }
        row = Mission(
            name=f"{patrol_name} · sortie {sortie.number}",
            patrol_name=patrol_name,
            sortie_index=sortie.number,
            targets=list(sortie.targets),
            length_m=sortie.length_m,
            duration_s=sortie.duration_s,
            photo_count=sortie.photo_count,
            alert_id=alert_id,
            plan={
                "dock": {
                    "id": sortie.dock.id,
                    "lat": sortie.dock.lat,
                    "lon": sortie.dock.lon,
                    "ground_alt_m": sortie.dock.ground_alt_m,
                },
                "tasks": list(sortie.tasks),
                "route": route,
                "photos": photos,
                "altitude_m": patrol.altitude_m,
                "gsd_cm": patrol.gsd_cm,
                "camera": patrol.camera.name,
                "mission": items_to_json(sortie.mission),
            },
        )
        session.add(row)
        rows.append(row)
    session.commit()
    for row in rows:
        session.refresh(row)
    return rows
