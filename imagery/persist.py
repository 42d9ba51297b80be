"""Writing pipeline results to the store, the only place imagery touches the database.

:func:`write_results` is the single writer: captures upserted by (flight,
path), findings by dedupe key, so writing a flight twice changes nothing.
:func:`finish_flight` then groups the flight's findings across overlapping
captures and compares them with the previous patrol of the same sites.
:func:`write_outcomes` is the same writer in the shape the Dask dispatcher
calls (``imagery.persist:write_outcomes``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlmodel import Session

from imagery.dem import transformer
from imagery.detect.change import NAME as CHANGE_NAME
from imagery.detect.change import VERSION as CHANGE_VERSION
from imagery.detect.change import Change, GroupSummary, compare_patrols
from imagery.georef import utm_epsg
from imagery.grouping import Located, group, least_squares_point
from imagery.pipeline import CaptureResult
from store.findings import (
    flight_findings,
    previous_flight,
    replace_findings,
    set_groups,
    update_measurements,
    upsert_capture,
)
from store.models import Finding, Flight
from store.objects import sync_flight

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WriteSummary:
    captures: int
    failed: int
    findings_inserted: int
    findings_removed: int


def write_results(
    session: Session, results: Sequence[CaptureResult], *, flight_id: uuid.UUID | None
) -> WriteSummary:
    """Store captures and their findings idempotently (one transaction is the caller's)."""
    inserted = removed = failed = 0
    for result in results:
        capture = upsert_capture(session, result.capture_row(), flight_id=flight_id)
        if not result.ok:
            failed += 1
        ins, rem = replace_findings(session, capture, [f.row() for f in result.findings])
        inserted, removed = inserted + ins, removed + rem
    return WriteSummary(len(results), failed, inserted, removed)


def write_outcomes(session: Session, outcomes: Sequence[Any]) -> None:
    """Dispatcher writer: each outcome has ``job`` (capture_id, flight_id) and a CaptureResult."""
    for outcome in outcomes:
        result: CaptureResult = outcome.result
        capture = upsert_capture(
            session,
            result.capture_row(),
            flight_id=outcome.job.flight_id,
            capture_id=outcome.job.capture_id,
        )
        replace_findings(session, capture, [f.row() for f in result.findings])


def _summary(groups: dict[str, list[Finding]]) -> list[GroupSummary]:
    out = []
    for gid, members in groups.items():
        best = max(members, key=lambda f: f.score)
        out.append(
            GroupSummary(gid, best.kind, best.site_id, best.lat, best.lon, best.position_error_m)
        )
    return out


def _by_group(findings: Sequence[Finding]) -> dict[str, list[Finding]]:
    groups: dict[str, list[Finding]] = {}
    for f in findings:
        groups.setdefault(f.group_id or str(f.id), []).append(f)
    return groups


def _metres(points: list[list[float]], epsg: int) -> NDArray[np.float64]:
    """(N, 3) UTM easting, northing and altitude AMSL of ``[lon, lat, alt]`` points."""
    arr = np.asarray(points, dtype=np.float64)
    e, n = transformer(4326, epsg).transform(arr[:, 0], arr[:, 1])
    return np.stack([np.asarray(e), np.asarray(n), arr[:, 2]], axis=1)


def _axes(findings: Sequence[Finding]) -> dict[str, list[float]]:
    """Each source's ``[lon, lat, foot_alt_m, height_m]`` as the pipeline recorded it."""
    out = {}
    for f in findings:
        axis = (f.measurements or {}).get("source_axis")
        if f.source_id and isinstance(axis, list) and len(axis) == 4:
            out[f.source_id] = [float(v) for v in axis]
    return out


def _in_air_fix(members: Sequence[Finding], axes: dict[str, list[float]]) -> dict[str, Any] | None:
    """Where a group in the air is, by least squares over its members' rays, and the
    source whose mouth-and-above line passes nearest that point; None without two
    distinct rays."""
    found: list[Any] = [(f.measurements or {}).get("ray") for f in members if f.alt_amsl_m]
    rays: list[dict[str, Any]] = [r for r in found if isinstance(r, dict) and "to" in r]
    if len({tuple(r["from"]) for r in rays}) < 2 or not axes:
        return None
    epsg = utm_epsg(rays[0]["to"][0], rays[0]["to"][1])
    starts = _metres([r["from"] for r in rays], epsg)
    ends = _metres([r["to"] for r in rays], epsg)
    try:
        point, rms = least_squares_point(starts, ends - starts)
    except ValueError:
        return None
    feet = _metres([[a[0], a[1], a[2]] for a in axes.values()], epsg)
    heights = np.array([a[3] for a in axes.values()])
    # Distance to each source's line from its mouth up (and to the mouth from below it).
    gaps = np.hypot(
        np.hypot(point[0] - feet[:, 0], point[1] - feet[:, 1]),
        np.where(point[2] < feet[:, 2] + heights, feet[:, 2] + heights - point[2], 0.0),
    )
    i = int(np.argmin(gaps))
    lon, lat = transformer(epsg, 4326).transform(point[0], point[1])
    mouth = feet[i] + np.array([0.0, 0.0, heights[i]])
    return {
        "source_id": list(axes)[i],
        "lat": float(lat),
        "lon": float(lon),
        "alt_amsl_m": round(float(point[2]), 2),
        "height_agl_m": round(float(point[2] - feet[i, 2]), 2),
        "source_distance_m": round(float(np.linalg.norm(point - mouth)), 2),
        "rays": len(rays),
        "rms_m": round(rms, 2),
        "line_distance_m": round(float(gaps[i]), 2),
    }


def _fix_groups_in_air(groups: dict[str, list[Finding]], everything: Sequence[Finding]) -> int:
    """Give every group in the air seen from two or more places its least-squares point and
    source (the single-capture answer stays in ``measurements["single_capture"]``)."""
    axes = _axes(everything)
    fixed = 0
    for members in groups.values():
        fix = _in_air_fix(members, axes)
        if fix is None:
            continue
        fixed += 1
        for f in members:
            single = (f.measurements or {}).get("single_capture") or {
                "source_id": f.source_id,
                "lat": f.lat,
                "lon": f.lon,
                "alt_amsl_m": f.alt_amsl_m,
                "height_agl_m": f.height_agl_m,
                "source_distance_m": f.source_distance_m,
            }
            f.source_id, f.lat, f.lon = fix["source_id"], fix["lat"], fix["lon"]
            f.alt_amsl_m, f.height_agl_m = fix["alt_amsl_m"], fix["height_agl_m"]
            f.source_distance_m = fix["source_distance_m"]
            f.measurements = {
                **(f.measurements or {}),
                "single_capture": single,
                "group_fix": {k: fix[k] for k in ("rays", "rms_m", "line_distance_m")},
            }
    return fixed


def finish_flight(session: Session, flight: Flight) -> list[Change]:
    """Group the flight's findings and mark each group new or recurring against the
    previous patrol of the same sites; returns every change, the gone ones included."""
    findings = flight_findings(session, flight.id)
    ids = group([Located.of(f, f.id) for f in findings])
    set_groups(session, {k: v for k, v in ids.items() if isinstance(k, uuid.UUID)})
    current = _by_group(findings)
    if _fix_groups_in_air(current, findings):
        session.flush()
    sites = {f.site_id for f in findings if f.site_id}
    before = previous_flight(session, site_ids=sites, flight=flight)
    previous: dict[str, list[Finding]] = {}
    if before is not None:
        previous = _by_group([f for f in flight_findings(session, before.id) if f.site_id in sites])
    changes = compare_patrols(_summary(current), _summary(previous))
    extra: dict[uuid.UUID, dict[str, Any]] = {}
    for change in changes:
        if change.current_group is None:
            continue
        for f in current[change.current_group]:
            extra[f.id] = {
                "change": change.status,
                "change_detector": f"{CHANGE_NAME} {CHANGE_VERSION}",
                "previous_group": change.previous_group,
                "previous_flight": str(before.id) if before else None,
                "group_size": len(current[change.current_group]),
            }
    update_measurements(session, extra)
    sync_flight(session, flight)
    logger.info("flight %s: %d findings in %d groups", flight.id, len(findings), len(current))
    return changes
