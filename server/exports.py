"""Confirmed findings as GeoJSON, CSV and KML, for enforcement files and GIS tools."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

import simplekml

from store.models import Finding

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
