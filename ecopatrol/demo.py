"""The whole patrol in one run: plan, fly in SITL, render, process, store, review.

A newcomer's first command and the project's end-to-end test. It flies the
sample zone's first sortie in ArduPilot SITL when a binary is found (else it
says so and uses the planned photo points as poses), renders colour and
thermal captures at the flown poses with anomalies injected at known ground
positions, processes them into the store and scores what was found against
what was injected. It also stores the sample zone's day of station readings
(``readings.csv`` beside its sites), and for each alert they open ranks the
likely sources and plans a patrol to the top three, as a duty officer would.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import os
import random
import secrets
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.transform import from_origin
from sqlmodel import Session, col, select

from ecopatrol.readings import read_rows
from imagery.evaluate import Scene, plume_downwind, score
from imagery.persist import finish_flight, write_results
from imagery.pipeline import CaptureResult, process_capture
from imagery.synthetic import Anomaly, Basemap, make_basemap, render_captures, synthetic_camera
from missions.manifest import MANIFEST_NAME, SOURCE_PLANNED, CapturePose, read_manifest
from missions.plan import Patrol, Sortie, plan_patrol
from server.alerts import alert_patrols, plan_alert_patrol_from_store, rank_alert
from server.api.routes.sites import upsert_sites
from server.planning import store_patrol
from server.readings import record_readings, station_catalogue
from server.schemas import SiteCollection
from store.db import make_engine, migrate, session_scope
from store.findings import flight_findings, get_or_create_flight
from store.models import Alert, Flight, FlightStatus, Mission, Role, User
from zone.frames import offset_true
from zone.sites import Sites, load_sites

logger = logging.getLogger(__name__)

PATROL_NAME = "demo"
RGB_WIDTH_PX = 1000
BASEMAP_GSD_M = 0.3
BASEMAP_MARGIN_M = 150.0
GROUND_GEOTIFF = "basemap/demo-ground.tif"
DEMO_USERS = (("operator", Role.OPERATOR), ("inspector", Role.INSPECTOR))
READINGS_NAME = "readings.csv"
#: The route solver's time for a patrol to an alert's three candidates (a handful of tasks).
ALERT_PATROL_TIME_LIMIT_S = 2.0

Stage = Callable[[str], None]


def sample_sites() -> Path:
    """The sample zone: shipped in the wheel, or beside the package in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (
        here / "examples" / "zhengzhou-hightech" / "sites.geojson",
        here.parent / "examples" / "zhengzhou-hightech" / "sites.geojson",
    ):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        "the sample zone (examples/zhengzhou-hightech/sites.geojson) is missing"
    )


@dataclass(frozen=True, slots=True)
class AlertStep:
    """One alert of the sample day and what came of it: its top candidates (site id,
    posterior score) and the patrol planned to them (name, sorties, length)."""

    station: str
    pollutant: str
    reason: str
    peak: float
    threshold: float
    unit: str
    candidates: tuple[tuple[str, float], ...]
    patrol: str
    sorties: int
    length_m: float


@dataclass
class DemoSummary:
    """What the run did, and how the findings compare with what was injected."""

    flown_in_sitl: bool
    sitl_note: str
    distance_m: float
    captures: int
    failed_captures: int
    findings_by_kind: dict[str, int]
    objects_by_kind: dict[str, int]
    injected: int
    injected_visible: int
    injected_found: int
    false_groups: int
    median_error_m: float
    """Over findings placed on the ground; a plume painted flat on the ground has no
    true place in the air, so its distance from its stack is in ``per_kind`` only."""
    errors_m: list[float] = field(default_factory=list)
    per_kind: dict[str, dict[str, float]] = field(default_factory=dict)
    flight_dir: str = ""
    db_url: str = ""
    basemap_path: str = ""
    """The synthetic ground as a GeoTIFF: the web map's base layer (``Settings.basemap``)."""
    logins: dict[str, str] = field(default_factory=dict)
    alerts: list[AlertStep] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2, default=str)


def place_anomalies(sites: Sites, targets: Sequence[str], *, seed: int = 0) -> list[Anomaly]:
    """Anomalies a patrol of ``targets`` should find: a plume downwind of every stack,
    a hot spot on every enterprise's yard, discoloured water on every river section."""

    rng = random.Random(seed)
    out: list[Anomaly] = []
    wanted = set(targets)
    for stack in sites.stacks:
        if stack.site_id in wanted:
            out.append(plume_downwind(stack, rng.uniform(0, 360)))
    for site in sites.enterprises:
        if site.id in wanted:
            centre = site.boundary.representative_point()
            out.append(
                Anomaly(
                    "hotspot",
                    centre.x,
                    centre.y,
                    radius_m=rng.uniform(1.5, 3.0),
                    rise_c=rng.uniform(25, 45),
                )
            )
    for river in sites.rivers:
        if river.id in wanted:
            here = river.centerline.interpolate(0.5, normalized=True)
            out.append(Anomaly("water_discolouration", here.x, here.y, radius_m=12.0))
    return out


def planned_poses(sortie: Sortie) -> list[CapturePose]:
    """Nadir poses at the planned photo points, heading along the leg (no SITL)."""
    ground = sortie.dock.ground_alt_m
    points = sortie.photo_points
    poses = []
    for i, p in enumerate(points):
        a, b = (points[i - 1], p) if i else (p, points[min(1, len(points) - 1)])
        heading = math.degrees(
            math.atan2((b.lon - a.lon) * math.cos(math.radians(p.lat)), b.lat - a.lat)
        )
        poses.append(
            CapturePose(
                index=i,
                time_utc=datetime.now(UTC).isoformat(),
                lat=p.lat,
                lon=p.lon,
                alt_amsl_m=ground + p.agl_m,
                alt_rel_m=p.agl_m,
                roll_deg=0.0,
                pitch_deg=0.0,
                yaw_deg=heading % 360,
                camera_roll_deg=0.0,
                camera_pitch_deg=-90.0,
                camera_yaw_deg=heading % 360,
                planned_index=i,
                source=SOURCE_PLANNED,
            )
        )
    return poses


@dataclass(frozen=True)
class Flown:
    poses: list[CapturePose]
    distance_m: float
    flight_dir: Path
    in_sitl: bool
    note: str


def fly_first_sortie(
    sortie: Sortie, out_dir: Path, *, speedup: float, use_sitl: bool | None, stage: Stage
) -> Flown:
    """Fly the sortie in SITL if we can (and may), else fall back to the planned points."""
    from sitl.errors import BinaryNotFoundError
    from sitl.instance import find_binary

    note = ""
    if use_sitl is not False:
        try:
            find_binary()
        except BinaryNotFoundError as exc:
            if use_sitl:
                raise
            note = f"{exc}; using the planned photo points as poses"
        else:
            return asyncio.run(_fly(sortie, out_dir, speedup=speedup, stage=stage))
    else:
        note = "SITL not requested; using the planned photo points as poses"
    flight_dir = out_dir / "planned-poses"
    flight_dir.mkdir(parents=True, exist_ok=True)
    return Flown(planned_poses(sortie), sortie.length_m, flight_dir, False, note)


async def _fly(sortie: Sortie, out_dir: Path, *, speedup: float, stage: Stage) -> Flown:
    from missions.flight.events import FlightEvent
    from missions.flight.fly import fly_mission
    from sitl.instance import Home, running

    lat, lon, alt = sortie.home
    stage(f"starting ArduCopter SITL at {lat:.5f}, {lon:.5f} (speed-up {speedup:g})")
    async with running(home=Home(lat, lon, alt), speedup=speedup) as sim:

        def on_event(event: FlightEvent) -> None:
            stage(f"flying sortie {sortie.number}: {event.kind.replace('_', ' ')}")

        result = await fly_mission(sim, sortie.mission, out_dir=out_dir, on_event=on_event)
    return flown_in_sitl(result.flight_dir, result.distance_flown_m)


def flown_in_sitl(flight_dir: Path, distance_m: float) -> Flown:
    """A flight of sortie 1 in SITL, as ``fly_mission`` left it in ``flight_dir``."""
    return Flown(
        read_manifest(flight_dir / MANIFEST_NAME),
        distance_m,
        flight_dir,
        True,
        f"flown in SITL: {flight_dir.name}",
    )


def _store_zone(session: Session, sites_path: Path, patrol: Patrol) -> dict[int, Mission]:
    """Sites (updated in place) and the planned sorties as a new patrol, for the server."""
    collection = SiteCollection.model_validate_json(sites_path.read_bytes())
    upsert_sites(session, collection)
    rows = store_patrol(session, patrol, f"{PATROL_NAME} {datetime.now(UTC):%Y-%m-%d %H:%M:%S}")
    return {row.sortie_index: row for row in rows}


def _ensure_users(session: Session) -> dict[str, str]:
    """Demo logins, with fresh passwords printed once (existing accounts get new ones)."""
    from server.security import hash_password

    logins = {}
    for username, role in DEMO_USERS:
        password = secrets.token_urlsafe(9)
        user = session.exec(select(User).where(User.username == username)).first()
        if user is None:
            user = User(
                username=username, role=role, password_hash="", full_name=f"Demo {username}"
            )
        user.password_hash = hash_password(password)
        session.add(user)
        logins[username] = password
    return logins


#: Seconds to render and process one capture of each kind (on this project's machine): a
#: 1000 px colour frame takes about four times a 640 px thermal one.
RENDER_COST_S = {"rgb": 0.29, "thermal": 0.08}


def render_pieces(count: int, workers: int) -> list[tuple[str, int, int]]:
    """The flight's captures cut into (kind, first, stop) pieces for ``workers`` processes.

    Each kind is cut into pieces of about the same cost, about twice as many pieces
    in all as workers, so the pool ends together rather than one worker rendering the
    colour frames while the other has long finished the thermal ones.
    """
    total = count * sum(RENDER_COST_S.values())
    target = total / max(2 * workers, 1)
    pieces = []
    for kind, cost in RENDER_COST_S.items():
        n = max(1, round(count * cost / target))
        edges = [round(k * count / n) for k in range(n + 1)]
        pieces += [(kind, a, b) for a, b in itertools.pairwise(edges) if b > a]
    return sorted(pieces, key=lambda p: -(p[2] - p[1]) * RENDER_COST_S[p[0]])


def _render_and_process(
    piece: tuple[str, int, int],
    poses: Sequence[CapturePose],
    *,
    basemap: Basemap,
    anomalies: Sequence[Anomaly],
    sites: Sites,
    out_dir: Path,
    evidence_dir: Path,
    rgb_width_px: int,
    seed: int,
) -> list[CaptureResult]:
    """One piece of one camera's captures, rendered then processed (in a worker process)."""
    kind, first, stop = piece
    paths = render_captures(
        poses[first:stop],
        basemap=basemap,
        anomalies=anomalies,
        camera=synthetic_camera(kind, width=rgb_width_px),
        out_dir=out_dir / kind,
        kind=kind,
        seed=seed,
        pose_sigma=(1.0, 0.3),
        first_index=first,
        manifest=False,
    )
    return [process_capture(p, sites=sites, evidence_dir=evidence_dir) for p in paths]


def run_demo(
    *,
    data_dir: Path,
    db_url: str | None = None,
    sites_path: Path | None = None,
    speedup: float = 20.0,
    use_sitl: bool | None = None,
    rgb_width_px: int = RGB_WIDTH_PX,
    seed: int = 0,
    stage: Stage = lambda _: None,
    advance: Callable[[int, int], None] = lambda _done, _total: None,
    flown: Flown | None = None,
) -> DemoSummary:
    """Plan the sample zone, fly sortie 1, render, process and store; return the scores.

    ``flown``: sortie 1 already flown (:func:`flown_in_sitl`; the tests fly it once for
    every test that reads its record), rendered and processed instead of flying again.
    """
    sites_path = sites_path or sample_sites()
    data_dir.mkdir(parents=True, exist_ok=True)
    url = db_url or f"sqlite:///{data_dir / 'ecopatrol.db'}"

    stage("planning the patrol")
    zone = load_sites(sites_path)
    patrol = plan_patrol(zone)
    if not patrol.sorties:
        raise ValueError(f"{sites_path}: the sample zone gave no sortie to fly")
    sortie = patrol.sorties[0]

    flown = flown or fly_first_sortie(
        sortie, data_dir / "flights", speedup=speedup, use_sitl=use_sitl, stage=stage
    )
    if not flown.poses:
        raise RuntimeError(f"sortie {sortie.number} produced no captures")

    anomalies = place_anomalies(zone, sortie.targets, seed=seed)
    lons = [p.lon for p in flown.poses]
    lats = [p.lat for p in flown.poses]
    west, south = offset_true(min(lons), min(lats), -BASEMAP_MARGIN_M, -BASEMAP_MARGIN_M)
    east, north = offset_true(max(lons), max(lats), BASEMAP_MARGIN_M, BASEMAP_MARGIN_M)
    basemap = make_basemap(
        zone,
        bounds_lonlat=(west, south, east, north),
        gsd_m=BASEMAP_GSD_M,
        ground_alt_m=sortie.dock.ground_alt_m,
        seed=seed,
    )
    ground = write_ground_geotiff(basemap, data_dir / GROUND_GEOTIFF)
    stage(f"rendering and processing {2 * len(flown.poses)} colour and thermal captures")
    job = partial(
        _render_and_process,
        poses=flown.poses,
        basemap=basemap,
        anomalies=anomalies,
        sites=zone,
        out_dir=flown.flight_dir / "captures",
        evidence_dir=data_dir / "evidence",
        rgb_width_px=rgb_width_px,
        seed=seed,
    )
    workers = os.cpu_count() or 1
    pieces = render_pieces(len(flown.poses), workers)
    done: dict[tuple[str, int, int], list[CaptureResult]] = {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for piece, batch in zip(pieces, pool.map(job, pieces), strict=True):
            done[piece] = batch
            advance(len(done), len(pieces))
    kinds = list(RENDER_COST_S)
    results = [r for p in sorted(done, key=lambda p: (kinds.index(p[0]), p[1])) for r in done[p]]

    stage("storing the patrol, captures and findings")
    engine = make_engine(url)
    try:
        migrate(engine)
        with session_scope(engine) as session:
            missions = _store_zone(session, sites_path, patrol)
            flight = get_or_create_flight(
                session, directory=str(flown.flight_dir.resolve()), name=PATROL_NAME
            )
            _record_flight(flight, flown, missions[sortie.number])
            write_results(session, results, flight_id=flight.id)
            finish_flight(session, flight)
            objects = Counter(
                kind
                for kind, _group in {
                    (f.kind, f.group_id or f.id) for f in flight_findings(session, flight.id)
                }
            )
            logins = _ensure_users(session)
        stage("the sample day's air-quality readings: alerts, likely sources, patrols")
        with session_scope(engine) as session:
            alerts = air_quality_day(session, sites_path.with_name(READINGS_NAME))
    finally:
        engine.dispose()

    metrics = score(
        [(Scene(PATROL_NAME, (sortie.dock.lon, sortie.dock.lat), 0.0, tuple(anomalies)), results)]
    )
    errors = [e for kind, m in metrics.items() if kind != "plume" for e in m.errors_m]
    return DemoSummary(
        flown_in_sitl=flown.in_sitl,
        sitl_note=flown.note,
        distance_m=flown.distance_m,
        captures=len(results),
        failed_captures=sum(not r.ok for r in results),
        findings_by_kind=dict(Counter(f.kind for r in results for f in r.findings)),
        objects_by_kind=dict(objects),
        injected=len(anomalies),
        injected_visible=sum(m.truths for m in metrics.values()),
        injected_found=sum(m.matched for m in metrics.values()),
        false_groups=sum(m.false_groups for m in metrics.values()),
        median_error_m=statistics.median(errors) if errors else float("nan"),
        errors_m=errors,
        per_kind={
            k: {
                "truths": m.truths,
                "found": m.matched,
                "false_groups": m.false_groups,
                "recall": m.recall,
                "precision": m.precision,
                "median_error_m": m.median_error_m,
            }
            for k, m in metrics.items()
        },
        flight_dir=str(flown.flight_dir),
        db_url=url,
        basemap_path=str(ground),
        logins=logins,
        alerts=alerts,
    )


def air_quality_day(session: Session, readings_csv: Path) -> list[AlertStep]:
    """Store the day's readings; for each alert they open, its top three candidates and a
    patrol to them (planned once: a run again finds the alert's patrol and keeps it).

    A zone without a readings file has no such day: nothing is done.
    """
    if not readings_csv.is_file():
        return []
    lines, rows = zip(*read_rows(readings_csv), strict=True)
    result, _ = record_readings(session, list(rows), stations=station_catalogue(session))
    if result.refused:
        first = result.refused[0]
        raise ValueError(f"{readings_csv}: line {lines[first.index]}: {first.reason}")
    alerts = session.exec(select(Alert).order_by(col(Alert.opened_at))).all()
    return [_alert_step(session, alert) for alert in alerts]


def _alert_step(session: Session, alert: Alert) -> AlertStep:
    """The alert's top three candidates and its patrol, planned now unless it has one."""
    planned = alert_patrols(session, alert.id)
    if planned:
        name, mission_ids = next(iter(planned.items()))
        ranking = rank_alert(session, alert, top=3)
        missions = [m for m in (session.get(Mission, i) for i in mission_ids) if m is not None]
    else:
        made = plan_alert_patrol_from_store(
            session, alert, top=3, time_limit_s=ALERT_PATROL_TIME_LIMIT_S
        )
        session.commit()
        name, ranking, missions = made.name, made.ranking, made.missions
    return AlertStep(
        alert.station_id,
        alert.pollutant,
        alert.reason,
        alert.peak_value,
        alert.threshold,
        alert.unit,
        tuple((c.site_id, c.score) for c in ranking.candidates),
        name,
        len(missions),
        sum(m.length_m for m in missions),
    )


def write_ground_geotiff(basemap: Basemap, path: Path) -> Path:
    """The synthetic ground the captures were rendered from, as the map's base layer.

    An 8-bit RGB GeoTIFF on the basemap's own north-up UTM grid (pixel (0, 0)'s
    corner at its west and north edges), with overviews down to about one tile so
    the map's small zooms read little.
    """
    rows, cols = basemap.shape
    rgb = (np.clip(basemap.rgb, 0.0, 1.0) * 255).round().astype(np.uint8).transpose(2, 0, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with rasterio.open(
        tmp,
        "w",
        driver="GTiff",
        width=cols,
        height=rows,
        count=3,
        dtype="uint8",
        crs=f"EPSG:{basemap.epsg}",
        transform=from_origin(basemap.west, basemap.north, basemap.gsd_m, basemap.gsd_m),
        photometric="RGB",
        compress="deflate",
        tiled=True,
    ) as dst:
        dst.write(rgb)
        factors = [f for f in (2, 4, 8, 16, 32) if max(rows, cols) // f >= 256]
        if factors:  # down to about one tile
            dst.build_overviews(factors, Resampling.average)
        dst.update_tags(attribution="EcoPatrol demo: synthetic ground")
    tmp.replace(path)
    return path


def _record_flight(flight: Flight, flown: Flown, mission: Mission) -> None:
    flight.mission_id = mission.id
    flight.name = f"{PATROL_NAME} sortie {mission.sortie_index}"
    flight.status = FlightStatus.LANDED
    flight.connection = "sitl" if flown.in_sitl else "planned poses"
    flight.distance_m = flown.distance_m
    flight.ended_at = datetime.now(UTC)
