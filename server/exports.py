"""Confirmed objects (and, per capture, findings) as GeoJSON, CSV and KML, for enforcement
files and GIS tools.

An object export has one row or feature per object, however many captures saw
it, with its peak measurements and the inspectors' latest decision; the finding
export keeps one per capture, for whoever needs each frame's measurement.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

import simplekml
from sqlmodel import Session, col, select

from store.models import DetectedObject, Finding, Flight, Review, User
from store.readings import as_utc

CSV_COLUMNS = (
    "id",
    "status",
    "kind",
    "severity",
    "score",
    "site_id",
    "source_id",
    "lat",
    "lon",
    "alt_amsl_m",
    "height_agl_m",
    "source_distance_m",
    "area_m2",
    "position_error_m",
    "detector",
    "detector_version",
    "flight_id",
    "capture_id",
    "created_at",
)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _point(finding: Finding) -> list[float]:
    """GeoJSON position: with the altitude AMSL as third coordinate for findings in the air."""
    if finding.alt_amsl_m is None:
        return [finding.lon, finding.lat]
    return [finding.lon, finding.lat, finding.alt_amsl_m]


def _row(finding: Finding) -> dict[str, Any]:
    return {
        "id": str(finding.id),
        "status": finding.status.value,
        "kind": finding.kind,
        "severity": finding.severity,
        "score": round(finding.score, 4),
        "site_id": finding.site_id or "",
        "source_id": finding.source_id or "",
        "lat": round(finding.lat, 7),
        "lon": round(finding.lon, 7),
        "alt_amsl_m": _round(finding.alt_amsl_m),
        "height_agl_m": _round(finding.height_agl_m),
        "source_distance_m": _round(finding.source_distance_m),
        "area_m2": None if finding.area_m2 is None else round(finding.area_m2, 2),
        "position_error_m": None
        if finding.position_error_m is None
        else round(finding.position_error_m, 2),
        "detector": finding.detector,
        "detector_version": finding.detector_version,
        "flight_id": str(finding.flight_id) if finding.flight_id else "",
        "capture_id": str(finding.capture_id),
        "created_at": finding.created_at.isoformat(),
    }


def to_geojson(findings: Sequence[Finding]) -> str:
    """A FeatureCollection of points (the ground polygon, when known, in ``footprint``).

    A finding in the air (a plume above its stack) is a 3-D point, altitude in metres AMSL.
    """
    features = []
    for finding in findings:
        props = _row(finding)
        props["measurements"] = finding.measurements or {}
        props["footprint"] = finding.ground_polygon
        features.append(
            {
                "type": "Feature",
                "id": str(finding.id),
                "geometry": {"type": "Point", "coordinates": _point(finding)},
                "properties": props,
            }
        )
    return json.dumps({"type": "FeatureCollection", "features": features}, indent=1)


def _csv_safe(value: Any) -> Any:
    """Defuse spreadsheet formula injection in free-text cells (OWASP CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(findings: Sequence[Finding]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for finding in findings:
        writer.writerow({k: _csv_safe(v) for k, v in _row(finding).items()})
    return out.getvalue()


def to_kml(findings: Sequence[Finding], *, name: str = "EcoPatrol findings") -> str:
    """One placemark per finding, and its ground outline where the pipeline measured one."""
    kml = simplekml.Kml(name=name)
    for finding in findings:
        row = _row(finding)
        point = kml.newpoint(
            name=f"{finding.kind} {row['id'][:8]}", coords=[tuple(_point(finding))]
        )
        if finding.alt_amsl_m is not None:  # in the air: KML altitudes are metres AMSL
            point.altitudemode = simplekml.AltitudeMode.absolute
        point.description = "\n".join(f"{k}: {v}" for k, v in row.items())
        point.extendeddata = simplekml.ExtendedData()
        for key, value in row.items():
            point.extendeddata.newdata(name=key, value="" if value is None else str(value))
        polygon = finding.ground_polygon
        if polygon and polygon.get("type") == "Polygon" and polygon.get("coordinates"):
            outline = kml.newpolygon(name=f"{finding.kind} {row['id'][:8]} outline")
            outline.outerboundaryis = [tuple(c[:2]) for c in polygon["coordinates"][0]]
    return str(kml.kml())


OBJECT_COLUMNS = (
    "id",
    "status",
    "kind",
    "severity",
    "score",
    "site_id",
    "source_id",
    "lat",
    "lon",
    "position_error_m",
    "alt_amsl_m",
    "height_agl_m",
    "finding_count",
    "captures",
    "score_max",
    "area_m2_max",
    "rise_max",
    "rise_units",
    "delta_e_max",
    "colour",
    "change",
    "previous_object_id",
    "decision",
    "reason",
    "comment",
    "inspector",
    "decided_at",
    "flight_id",
    "flight_name",
    "patrol_name",
    "created_at",
)


def chunked(ids: Sequence[Any], size: int = 500) -> list[list[Any]]:
    """IN lists of bounded length (SQLite takes at most 32766 parameters)."""
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


def _latest_decisions(
    session: Session, object_ids: Sequence[Any]
) -> dict[Any, tuple[Review, User]]:
    """Each object's latest decision and who took it."""
    latest: dict[Any, tuple[Review, User]] = {}
    for chunk in chunked(object_ids):
        rows = session.exec(
            select(Review, User)
            .join(User, col(User.id) == col(Review.user_id))
            .where(col(Review.object_id).in_(chunk))
            .order_by(col(Review.created_at), col(Review.id))
        ).all()
        for review, user in rows:
            latest[review.object_id] = (review, user)
    return latest


def object_rows(session: Session, objects: Sequence[DetectedObject]) -> list[dict[str, Any]]:
    """One flat row per object (the CSV's columns), with its flight and latest decision."""
    ids = [o.id for o in objects]
    decisions = _latest_decisions(session, ids)
    flight_ids = sorted({o.flight_id for o in objects if o.flight_id}, key=str)
    flights = {
        f.id: f
        for chunk in chunked(flight_ids)
        for f in session.exec(select(Flight).where(col(Flight.id).in_(chunk)))
    }
    rows = []
    for obj in objects:
        summary = obj.summary or {}
        review, user = decisions.get(obj.id, (None, None))
        flight = flights.get(obj.flight_id) if obj.flight_id else None
        rows.append(
            {
                "id": str(obj.id),
                "status": obj.status.value,
                "kind": obj.kind,
                "severity": obj.severity,
                "score": round(obj.score, 4),
                "site_id": obj.site_id or "",
                "source_id": obj.source_id or "",
                "lat": round(obj.lat, 7),
                "lon": round(obj.lon, 7),
                "position_error_m": _round(obj.position_error_m),
                "alt_amsl_m": _round(obj.alt_amsl_m),
                "height_agl_m": _round(obj.height_agl_m),
                "finding_count": obj.finding_count,
                "captures": summary.get("captures"),
                "score_max": summary.get("score_max"),
                "area_m2_max": summary.get("area_m2_max"),
                "rise_max": summary.get("rise_max"),
                "rise_units": summary.get("rise_units", ""),
                "delta_e_max": summary.get("delta_e_max"),
                "colour": summary.get("colour", ""),
                "change": obj.change or "",
                "previous_object_id": str(obj.previous_object_id or ""),
                "decision": review.decision.value if review else "",
                "reason": (review.reason or "") if review else "",
                "comment": review.comment if review else "",
                "inspector": user.username if user else "",
                "decided_at": as_utc(review.created_at).isoformat() if review else "",
                "flight_id": str(obj.flight_id or ""),
                "flight_name": flight.name if flight else "",
                "patrol_name": obj.patrol_name,
                "created_at": as_utc(obj.created_at).isoformat(),
            }
        )
    return rows


def _object_point(row: dict[str, Any]) -> list[float]:
    """GeoJSON/KML position; an object in the air has its altitude (metres AMSL) third."""
    if row["alt_amsl_m"] is None:
        return [row["lon"], row["lat"]]
    return [row["lon"], row["lat"], row["alt_amsl_m"]]


def objects_to_geojson(rows: Sequence[dict[str, Any]]) -> str:
    """A FeatureCollection with one point per object, the row as its properties."""
    features = [
        {
            "type": "Feature",
            "id": row["id"],
            "geometry": {"type": "Point", "coordinates": _object_point(row)},
            "properties": row,
        }
        for row in rows
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}, indent=1)


def objects_to_csv(rows: Sequence[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=OBJECT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_safe(v) for k, v in row.items()})
    return out.getvalue()


def objects_to_kml(rows: Sequence[dict[str, Any]], *, name: str = "EcoPatrol objects") -> str:
    """One placemark per object, its row as extended data."""
    kml = simplekml.Kml(name=name)
    for row in rows:
        point = kml.newpoint(
            name=f"{row['kind']} {row['id'][:8]}", coords=[tuple(_object_point(row))]
        )
        if row["alt_amsl_m"] is not None:  # in the air: KML altitudes are metres AMSL
            point.altitudemode = simplekml.AltitudeMode.absolute
        point.description = "\n".join(f"{k}: {v}" for k, v in row.items())
        point.extendeddata = simplekml.ExtendedData()
        for key, value in row.items():
            point.extendeddata.newdata(name=key, value="" if value is None else str(value))
    return str(kml.kml())


def safe_file_name(name: str) -> str:
    """A name as part of a file name: ASCII letters, digits, '-' and '_'."""
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in name)
    return safe or "unnamed"
