"""A patrol planned from an air-quality alert: to the likeliest sources and across their plumes.

:func:`plan_alert_patrol` takes the enterprises an alert points at, best first
(:func:`zone.sources.rank_sources`), and plans one patrol with the planner's
own machinery and every safety rule it applies (:func:`missions.plan.plan_patrol`):

- from one dock, the nearest to the best candidate among those allowed that
  house a drone (the other docks stay in the zone: their surveyed ground is
  part of the ground model, and they stay rally points);
- the orbits of each candidate's stacks (no area survey unless asked for);
- for each candidate two gas transects (:func:`plume_transects`): straight
  crosswind lines downwind of its source, camera off, at the source's height.

Where the lanes go, and why
---------------------------
The first lane is 80 m downwind, the second twice as far. At 80 m a neutral
(D) plume is sigma_y = 6.4 m wide and sigma_z = 4.5 m deep: the SITL gas test
(``tests/sitl/test_gas_sensor.py``) located a stack within 2 to 9 m from
lanes at 80 and 160 m, its readings 2 m apart (8 m/s at 4 Hz), so about six
of them fall within one sigma of the axis. A stabler plume is narrower
(class F: 3.2 m at 80 m), so the first lane moves out until sigma_y reaches
:data:`MIN_SIGMA_Y_M` (class E 110 m, F 160 m). Two lanes pin the source:
the axis where each crosses the plume gives the line back to it, and how the
plume widens between them gives the distance. Each lane's half-length covers
the plume: :data:`PLUME_SIGMAS` sigma_y at its distance plus the crosswind
drift of a wind :data:`WIND_ERROR_DEG` off the reported direction
(``d * tan 10 deg``, the error :mod:`zone.sources` allows for), plus the
spread of the source's stacks across the wind. Heights: the plume's centre
with no plume rise, the stacks' height (the mean of several), at least
:data:`MIN_TRANSECT_AGL_M` and at most the planner's ceiling; a ground-level
source (premises without a working stack) at that floor.

Frames
------
The wind comes FROM ``wind.from_deg``, clockwise from TRUE north. The lanes
are laid out in :class:`zone.dispersion.LocalFrame` (azimuthal equidistant
around the source, on true north: azimuths and distances from the source are
geodesics) and handed to the planner in WGS 84 lon/lat; the planner projects
them with its own frame (UTM, on GRID north, 1.44 deg off true north at
Zhengzhou in UTM zone 49), so no angle crosses between the two frames.
Heights are above the ground under each point, as the planner's legs are.

Order: the routing solver orders the tasks for the least flight time; it is
not told to fly the best candidate first (OR-Tools would need precedence
constraints across task variants and sorties), so the best candidate comes
first only when that is also the shortest way.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from shapely.geometry import LineString

from missions.errors import InvalidProfileError
from missions.geo import distance_m
from missions.plan import Patrol, Transect, plan_patrol
from missions.safety import DEFAULT_MAX_AGL_M
from zone.dispersion import LocalFrame, Wind, check_stability, sigma_y
from zone.errors import InvalidSiteError
from zone.sites import Dock, Enterprise, Sites

logger = logging.getLogger(__name__)

#: The nearest lane downwind of a source (metres), when the plume is wide enough there.
FIRST_LANE_M = 80.0
#: The second lane's distance over the first's.
LANE_RATIO = 2.0
#: The narrowest plume a lane samples well (one sigma_y, metres): class D's at 80 m.
MIN_SIGMA_Y_M = 6.0
#: Plume half-widths a lane reaches past the axis on either side.
PLUME_SIGMAS = 3.0
#: How far the wind's direction may be off the reported one (degrees).
WIND_ERROR_DEG = 10.0
#: The lowest height above ground a transect flies at (over buildings).
MIN_TRANSECT_AGL_M = 20.0
#: What ``plan_alert_patrol`` sets itself and its caller may not.
_RESERVED = ("targets", "transects", "fly_from", "skip_unflyable")


def plan_alert_patrol(
    sites: Sites,
    candidates: Sequence[str],
    *,
    wind: Wind,
    stability: str,
    docks: Sequence[str] | None = None,
    **options: Any,
) -> Patrol:
    """One patrol over an alert's candidate sources: stack orbits and gas transects.

    Parameters
    ----------
    sites : Sites
        The zone.
    candidates : sequence of str
        Enterprise ids, best first (from :func:`zone.sources.rank_sources`).
    wind : Wind
        Where the wind blows FROM (degrees clockwise from true north) and its speed.
    stability : str
        The Pasquill-Gifford class, A to F.
    docks : sequence of str, optional
        The dock ids the patrol may fly from (the idle ones); default every dock
        with a drone. The nearest of them to the best candidate is used.
    **options
        Passed on to :func:`missions.plan.plan_patrol` (``camera``,
        ``altitude_m``, ``dem``, ``time_limit_s``, ``patterns`` (default
        ``("orbit",)``), ...).

    A candidate whose orbit or transect cannot be flown is left out and listed
    in ``Patrol.refused``. Raises :class:`zone.errors.InvalidSiteError` for an
    unknown candidate or dock and when no allowed dock has a drone, and
    :class:`missions.errors.InfeasibleError` when nothing can be flown.
    """
    taken = sorted(set(_RESERVED) & set(options))
    if taken:
        raise InvalidProfileError(f"a patrol from an alert sets {', '.join(taken)} itself")
    chosen = _enterprises(sites, candidates)
    dock = nearest_dock(sites, chosen[0], allowed=docks)
    max_agl_m = float(options.get("max_agl_m", DEFAULT_MAX_AGL_M))
    transects = [
        t
        for e in chosen
        for t in plume_transects(e, wind=wind, stability=stability, max_agl_m=max_agl_m)
    ]
    options.setdefault("patterns", ("orbit",))
    logger.info(
        "alert patrol over %s from %s: %d transects",
        ", ".join(e.id for e in chosen),
        dock.id,
        len(transects),
    )
    return plan_patrol(
        sites,
        targets=[e.id for e in chosen],
        transects=transects,
        fly_from=(dock.id,),
        skip_unflyable=True,
        **options,
    )


def _enterprises(sites: Sites, candidates: Sequence[str]) -> list[Enterprise]:
    """The candidates as enterprises, in order, each once."""
    if isinstance(candidates, str):
        candidates = [candidates]
    ids = list(dict.fromkeys(candidates))
    if not ids:
        raise InvalidSiteError("no candidate source to patrol")
    out = []
    for target_id in ids:
        target = sites.target(target_id)
        if not isinstance(target, Enterprise):
            raise InvalidSiteError(f"{target_id!r} is a river, not an enterprise that emits to air")
        out.append(target)
    return out


def nearest_dock(sites: Sites, enterprise: Enterprise, *, allowed: Sequence[str] | None) -> Dock:
    """The dock with a drone nearest to ``enterprise``'s source, among ``allowed`` (None: all)."""
    if allowed is None:
        pool = list(sites.docks)
    else:
        by_id = {d.id: d for d in sites.docks}
        unknown = [d for d in allowed if d not in by_id]
        if unknown:
            raise InvalidSiteError(
                f"unknown dock(s) {', '.join(unknown)} (known docks: {', '.join(by_id) or 'none'})"
            )
        pool = [by_id[d] for d in dict.fromkeys(allowed)]
    ready = [d for d in pool if d.drones >= 1]
    if not ready:
        named = ", ".join(d.id for d in pool)
        raise InvalidSiteError(
            f"none of the docks allowed ({named}) has a drone" if pool else "no dock is allowed"
        )
    _, lon, lat, _ = source(enterprise)
    return min(ready, key=lambda d: distance_m(lat, lon, d.lat, d.lon))


def source(enterprise: Enterprise) -> tuple[str, float, float, float]:
    """(source id, lon, lat, release height above ground m) of an enterprise's emission.

    Its working stacks (one: that stack; several: the enterprise, at their
    mean position and height), else its premises' centroid at ground level.
    """
    stacks = [s for s in enterprise.stacks if s.emitting]
    if not stacks:
        c = enterprise.boundary.centroid
        return enterprise.id, float(c.x), float(c.y), 0.0
    source_id = stacks[0].id if len(stacks) == 1 else enterprise.id
    lon = float(np.mean([s.lon for s in stacks]))
    lat = float(np.mean([s.lat for s in stacks]))
    return source_id, lon, lat, float(np.mean([s.height_m for s in stacks]))


def lane_distances_m(stability: str) -> tuple[float, float]:
    """How far downwind the two lanes go (m): the first where the plume is wide enough.

    The first lane at :data:`FIRST_LANE_M`, or farther (in 10 m steps) until
    sigma_y reaches :data:`MIN_SIGMA_Y_M`; the second :data:`LANE_RATIO` times as far.
    """
    first = FIRST_LANE_M
    while float(sigma_y(first, stability)) < MIN_SIGMA_Y_M:
        first += 10.0
    return first, LANE_RATIO * first


def plume_transects(
    enterprise: Enterprise, *, wind: Wind, stability: str, max_agl_m: float = DEFAULT_MAX_AGL_M
) -> tuple[Transect, ...]:
    """The two crosswind lanes downwind of ``enterprise``'s source (lon/lat lines).

    In the plume's frame (x downwind, y crosswind) around the source's mean
    position on true north, each lane runs across the wind at ``d`` past the
    most downwind release point, centred on the release points' crosswind
    spread and reaching past each point's plume by :data:`PLUME_SIGMAS`
    sigma_y and the drift of a wind :data:`WIND_ERROR_DEG` off.
    """
    try:
        stability = check_stability(stability)
    except ValueError as exc:
        raise InvalidProfileError(str(exc)) from None
    source_id, lon0, lat0, release_m = source(enterprise)
    frame = LocalFrame(lon0, lat0)
    points = [(s.lon, s.lat) for s in enterprise.stacks if s.emitting] or [(lon0, lat0)]
    east, north = frame.to_en([p[0] for p in points], [p[1] for p in points])
    x, y = wind.to_plume_frame(east, north)
    middle = float(y.max() + y.min()) / 2
    height = min(max(release_m, MIN_TRANSECT_AGL_M), max_agl_m)
    drift = math.tan(math.radians(WIND_ERROR_DEG))
    out = []
    for d in lane_distances_m(stability):
        lane_x = float(x.max()) + d
        reach = lane_x - x  # each release point's distance to the lane
        half = float(
            np.max(np.abs(y - middle) + PLUME_SIGMAS * sigma_y(reach, stability) + reach * drift)
        )
        e, n = wind.from_plume_frame([lane_x, lane_x], [middle - half, middle + half])
        lons, lats = frame.to_lonlat(e, n)
        out.append(
            Transect(
                id=f"{source_id}-{d:.0f}m",
                line=LineString(np.column_stack([lons, lats])),
                height_m=round(height, 2),
                source_id=source_id,
                target_id=enterprise.id,
                downwind_m=d,
            )
        )
    return tuple(out)
