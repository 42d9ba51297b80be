"""Recurring patrols: the scheduler's rules (``server.scheduler``) with a clock the test moves.

Flights are launched through the service's own FlightManager and its real runner, which
starts connecting to each dock's link (no vehicle answers); the test then stops the
manager as the service does at shutdown, and the flights end aborted with their
``ended_at``. The two docks are 1.1 km apart, so their sorties never come near each other
and deconfliction delays neither.
Slot times are worked out by hand: Asia/Shanghai is UTC+8 all year (no daylight saving),
so 07:30 and 15:00 there are 23:30Z the day before and 07:00Z.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient
from playwright.sync_api import Route
from pymavlink.dialects.v20 import ardupilotmega as mavlink
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from ecopatrol.schedules import register
from missions.deconflict import FleetSchedule, check_schedule
from missions.items import Mission as ItemMission
from missions.items import MissionItem, to_e7
from server.accounts import add_user
from server.flights import FlightManager
from server.main import create_app
from server.planning import items_from_json, items_to_json
from server.scheduler import Scheduler, claim_slot, new_schedule
from server.settings import Settings
from store.db import make_engine, migrate
from store.models import Flight, FlightStatus, Mission, Reading, Role, Schedule, ScheduleRun

from .conftest import PASSWORD
from .test_browser import CHROMIUM, _shot, _sign_in, browser, serving  # noqa: F401 (fixtures)

REL = mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT
WAYPOINT = mavlink.MAV_CMD_NAV_WAYPOINT
PATROL = "river-watch"
START = datetime(2030, 6, 3, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai, a Monday
LINKS = {"dock-south": "udpin:127.0.0.1:14661", "dock-north": "udpin:127.0.0.1:14662"}


class FakeClock:
    """The scheduler's clock: stands still until the test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: datetime) -> None:
        self.now = now


def linked_settings(db_url: str, tmp_path: Path, links: dict[str, str]) -> Settings:
    """The shared settings, with a link per dock and a background tick that never comes
    during a test (the test ticks)."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        secret_key="test-secret-key-0123456789abcdef",
        scheduler_tick_s=3600,
        dock_links=links,
    )


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return linked_settings(db_url, tmp_path, LINKS)


@pytest.fixture
def clock(app) -> FakeClock:
    fake = FakeClock(START)
    app.state.scheduler.clock = fake
    return fake


def sortie_plan(dock_id: str, lat: float, lon: float, legs: list[tuple[float, float]]) -> dict:
    """A stored plan: take off to 20 m above the dock, fly to each (north, east) offset in
    degrees from the dock, return and land (the dock at 112 m above sea level)."""
    items = [
        MissionItem(0, mavlink.MAV_FRAME_GLOBAL, WAYPOINT, x=to_e7(lat), y=to_e7(lon), z=112.0),
        MissionItem(1, REL, mavlink.MAV_CMD_NAV_TAKEOFF, x=to_e7(lat), y=to_e7(lon), z=20),
        *(
            MissionItem(k, REL, WAYPOINT, x=to_e7(lat + dn), y=to_e7(lon + de), z=20)
            for k, (dn, de) in enumerate(legs, start=2)
        ),
        MissionItem(len(legs) + 2, REL, mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH),
    ]
    mission = ItemMission(items=tuple(items), name=dock_id)
    dock = {"id": dock_id, "lat": lat, "lon": lon, "ground_alt_m": 112.0}
    return {"dock": dock, "mission": items_to_json(mission)}


def store_patrol(engine: Engine, plans: list[dict]) -> list[uuid.UUID]:
    with Session(engine) as session:
        rows = [
            Mission(name=f"{PATROL} · sortie {k}", patrol_name=PATROL, sortie_index=k, plan=plan)
            for k, plan in enumerate(plans, start=1)
        ]
        session.add_all(rows)
        session.commit()
        return [r.id for r in rows]


@pytest.fixture
def patrol(engine: Engine) -> list[uuid.UUID]:
    """Two sorties, one from each dock (one drone each: the docks are not in the zone)."""
    square = [(0.0012, 0.0), (0.0012, 0.0012)]  # 133 m north, then 110 m east
    return store_patrol(
        engine,
        [
            sortie_plan("dock-south", 34.8062, 113.5267, square),
            sortie_plan("dock-north", 34.8162, 113.5267, square),
        ],
    )


def tick(client: TestClient, scheduler: Scheduler) -> list[ScheduleRun]:
    """One tick in the app's event loop (the FlightManager launches flights there)."""
    runs: list[ScheduleRun] = client.portal.call(scheduler.tick)  # type: ignore[union-attr]
    return runs


def end_flights(client: TestClient, manager: FlightManager) -> None:
    """Stop the flights still connecting (no vehicle answers), as a service shutdown does."""
    client.portal.call(manager.shutdown)  # type: ignore[union-attr]


def add_wind(engine: Engine, at: datetime, speed_m_s: float, station: str = "stn-nat-01") -> None:
    """A station's reading with its wind (m/s; blowing FROM 90 deg, the east)."""
    with Session(engine) as session:
        session.add(
            Reading(
                station_id=station,
                pollutant="PM2.5",
                value=30.0,
                unit="µg/m³",
                time=at,
                wind_speed_m_s=speed_m_s,
                wind_from_deg=90.0,
            )
        )
        session.commit()


def schedule(client: TestClient, headers, **body) -> dict:
    payload = {"patrol_name": PATROL, "kind": "times", "times": ["07:30", "15:00"], **body}
    r = client.post("/api/v1/schedules", json=payload, headers=headers["operator"])
    assert r.status_code == 201, r.text
    created: dict = r.json()
    return created


def runs_of(engine: Engine, schedule_id: str) -> list[ScheduleRun]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(ScheduleRun)
                .where(ScheduleRun.schedule_id == uuid.UUID(schedule_id))
                .order_by(col(ScheduleRun.slot_at))
            ).all()
        )


def flights_of(engine: Engine, missions: list[uuid.UUID]) -> list[Flight]:
    with Session(engine) as session:
        return list(session.exec(select(Flight).where(col(Flight.mission_id).in_(missions))).all())


def test_runs_happen_at_their_times_over_two_days(
    client: TestClient, app, headers, engine: Engine, clock: FakeClock, patrol
) -> None:
    made = schedule(client, headers)
    assert made["next_run_at"] == "2030-06-03T07:00:00Z"  # 15:00 in Shanghai
    step = timedelta(minutes=15)
    while clock.now < START + timedelta(days=2):
        clock.set(clock.now + step)
        if clock.now.minute == 0:
            add_wind(engine, clock.now, 4.0)
        if tick(client, app.state.scheduler):
            end_flights(client, app.state.flights)
    runs = runs_of(engine, made["id"])
    expected = [
        datetime(2030, 6, 3, 7, 0, tzinfo=UTC),  # 15:00 on the 3rd, Shanghai
        datetime(2030, 6, 3, 23, 30, tzinfo=UTC),  # 07:30 on the 4th
        datetime(2030, 6, 4, 7, 0, tzinfo=UTC),
        datetime(2030, 6, 4, 23, 30, tzinfo=UTC),
    ]
    assert [r.slot_at.replace(tzinfo=UTC) for r in runs] == expected
    assert [r.status for r in runs] == ["launched"] * 4
    for run, slot in zip(runs, expected, strict=True):
        decided = run.decided_at.replace(tzinfo=UTC)
        assert slot <= decided < slot + step  # decided at the first tick after its time
        assert "wind 4.0 m/s at stn-nat-01" in run.reason and "2 of 2 sorties" in run.reason
    flights = flights_of(engine, patrol)
    assert len(flights) == 8  # two sorties a run, each launched once
    assert {str(f.id) for f in flights} == {i for r in runs for i in r.flight_ids or []}
    assert {f.connection for f in flights} == set(LINKS.values())
    assert all(f.status is FlightStatus.ABORTED for f in flights)  # stopped while connecting


def test_a_busy_or_charging_drone_skips_the_slot_with_its_reason(
    client: TestClient, app, headers, engine: Engine, clock: FakeClock, patrol
) -> None:
    schedule(client, headers, times=["15:00"])
    slot = datetime(2030, 6, 3, 7, 0, tzinfo=UTC)
    with Session(engine) as session:
        flying = Flight(mission_id=patrol[1], status=FlightStatus.FLYING, name="manual")
        session.add(flying)
        session.commit()
        flying_id = flying.id
    add_wind(engine, slot - timedelta(minutes=20), 3.0)
    clock.set(slot + timedelta(minutes=1))
    (run,) = tick(client, app.state.scheduler)
    assert run.status == "skipped"
    assert run.reason == f"dock-north: no drone free; flight {str(flying_id)[:8]} is flying from it"
    assert [f.id for f in flights_of(engine, patrol)] == [flying_id]  # nothing launched

    with Session(engine) as session:  # it landed 10 min before the next day's slot
        flight = session.get(Flight, flying_id)
        assert flight is not None
        flight.status, flight.ended_at = FlightStatus.LANDED, slot + timedelta(hours=23, minutes=50)
        session.add(flight)
        session.commit()
    add_wind(engine, slot + timedelta(hours=23, minutes=40), 3.0)
    clock.set(slot + timedelta(days=1))
    (run,) = tick(client, app.state.scheduler)
    assert run.status == "skipped"
    assert run.reason == "dock-north: its drone is charging (landed 10 min ago; 30 min needed)"
    assert len(flights_of(engine, patrol)) == 1


def test_wind_over_the_limit_or_unknown_skips_the_slot(
    client: TestClient, app, headers, engine: Engine, clock: FakeClock, patrol
) -> None:
    made = schedule(client, headers, times=["15:00"], max_wind_m_s=10)
    slot = datetime(2030, 6, 3, 7, 0, tzinfo=UTC)
    add_wind(engine, slot - timedelta(minutes=50), 3.0, station="stn-old")
    add_wind(engine, slot - timedelta(minutes=20), 11.2)  # the newest wins
    clock.set(slot + timedelta(minutes=2))
    (run,) = tick(client, app.state.scheduler)
    assert (run.status, run.reason) == (
        "skipped",
        "wind 11.2 m/s at stn-nat-01 at 06:40Z over the 10 m/s limit",
    )
    # the next day: the last wind is a day old, so none is known
    clock.set(slot + timedelta(days=1, minutes=2))
    (run,) = tick(client, app.state.scheduler)
    assert (run.status, run.reason) == (
        "skipped",
        "no wind known: no station reported one in the last hour",
    )
    assert flights_of(engine, patrol) == []
    listed = client.get("/api/v1/schedules", headers=headers["inspector"]).json()["data"]
    assert [r["status"] for r in listed[0]["last_runs"]] == ["skipped", "skipped"]
    assert listed[0]["id"] == made["id"]


def test_a_restart_neither_loses_a_schedule_nor_runs_a_slot_twice(
    settings: Settings, app, headers, engine: Engine, patrol
) -> None:
    first = datetime(2030, 6, 3, 7, 0, tzinfo=UTC)
    clock = FakeClock(START)
    with TestClient(app) as client:
        app.state.scheduler.clock = clock
        made = schedule(client, headers)
        add_wind(engine, first - timedelta(minutes=30), 5.0)
        clock.set(first + timedelta(minutes=5))
        (run,) = tick(client, app.state.scheduler)
        assert run.status == "launched"
        assert tick(client, app.state.scheduler) == []  # the same server: once
        end_flights(client, app.state.flights)
    again = create_app(settings)  # the server restarted, three minutes on
    with TestClient(again) as client:
        again.state.scheduler.clock = clock
        clock.set(first + timedelta(minutes=8))
        assert tick(client, again.state.scheduler) == []
        assert len(flights_of(engine, patrol)) == 2
        # down again over the night's 07:30 slot, up a day after the first
        add_wind(engine, first + timedelta(days=1), 5.0)
        clock.set(first + timedelta(days=1, minutes=3))
        missed, launched = tick(client, again.state.scheduler)
        end_flights(client, again.state.flights)
        listed = client.get("/api/v1/schedules", headers=headers["inspector"]).json()
    assert missed.slot_at.replace(tzinfo=UTC) == datetime(2030, 6, 3, 23, 30, tzinfo=UTC)
    assert missed.status == "missed"
    assert missed.reason == (
        "not flown: found 453 min late (the server was not running at 2030-06-03 23:30Z; "
        "grace 10 min)"
    )
    assert launched.status == "launched"
    assert launched.slot_at.replace(tzinfo=UTC) == first + timedelta(days=1)
    assert [s["id"] for s in listed["data"]] == [made["id"]]
    assert listed["data"][0]["next_run_at"] == "2030-06-04T23:30:00Z"
    assert len(runs_of(engine, made["id"])) == 3
    assert len(flights_of(engine, patrol)) == 4


def test_two_schedulers_ticking_one_slot_record_it_once(
    client: TestClient, app, settings: Settings, headers, engine: Engine, clock, patrol
) -> None:
    """A second process (its own engine and flight manager) ticks the same slot at once:
    the unique key gives it to one of them."""
    made = schedule(client, headers, times=["15:00"])
    slot = datetime(2030, 6, 3, 7, 0, tzinfo=UTC)
    add_wind(engine, slot - timedelta(minutes=30), 5.0)
    clock.set(slot + timedelta(minutes=1))
    other_engine = make_engine(settings.db_url)
    other = Scheduler(other_engine, FlightManager(other_engine, settings), clock=clock)

    async def both() -> list[list[ScheduleRun]]:
        return list(await asyncio.gather(app.state.scheduler.tick(), other.tick()))

    try:
        outcomes = client.portal.call(both)  # type: ignore[union-attr]
        end_flights(client, app.state.flights)
        end_flights(client, other.manager)
    finally:
        other_engine.dispose()
    assert sorted(len(runs) for runs in outcomes) == [0, 1]
    (run,) = runs_of(engine, made["id"])
    assert run.status == "launched"
    assert len(flights_of(engine, patrol)) == 2
    assert claim_slot(engine, run.schedule_id, slot, "skipped", "again", clock()) is None


def test_a_paused_schedule_does_not_fly_and_resumes_from_its_next_slot(
    client: TestClient, app, headers, engine: Engine, clock: FakeClock, patrol
) -> None:
    made = schedule(client, headers, times=["15:00"])
    op = headers["operator"]
    r = client.patch(f"/api/v1/schedules/{made['id']}", json={"enabled": False}, headers=op)
    assert r.status_code == 200 and r.json()["enabled"] is False
    assert r.json()["next_run_at"] is None
    add_wind(engine, datetime(2030, 6, 3, 6, 30, tzinfo=UTC), 5.0)
    clock.set(datetime(2030, 6, 3, 7, 1, tzinfo=UTC))
    assert tick(client, app.state.scheduler) == []
    clock.set(datetime(2030, 6, 4, 8, 0, tzinfo=UTC))  # resumed after the 4th's 15:00
    r = client.patch(
        f"/api/v1/schedules/{made['id']}", json={"enabled": True, "max_wind_m_s": 6}, headers=op
    )
    assert r.json()["next_run_at"] == "2030-06-05T07:00:00Z" and r.json()["max_wind_m_s"] == 6
    assert tick(client, app.state.scheduler) == []  # the slots while paused are not due
    add_wind(engine, datetime(2030, 6, 5, 6, 30, tzinfo=UTC), 5.0)
    clock.set(datetime(2030, 6, 5, 7, 4, tzinfo=UTC))
    (run,) = tick(client, app.state.scheduler)
    end_flights(client, app.state.flights)
    assert run.status == "launched"
    runs = client.get(f"/api/v1/schedules/{made['id']}/runs", headers=headers["inspector"])
    assert runs.json()["count"] == 1 and runs.json()["data"][0]["status"] == "launched"
    assert client.delete(f"/api/v1/schedules/{made['id']}", headers=op).status_code == 200
    assert client.get(f"/api/v1/schedules/{made['id']}/runs", headers=op).status_code == 404
    assert runs_of(engine, made["id"]) == []


def test_an_interval_schedule_runs_from_its_anchor_and_records_what_it_missed(
    client: TestClient, app, headers, engine: Engine, clock: FakeClock, patrol
) -> None:
    made = schedule(
        client,
        headers,
        kind="interval",
        times=None,
        interval_min=120,
        anchor_at="2030-06-03T00:30:00Z",
    )
    assert made["next_run_at"] == "2030-06-03T00:30:00Z"
    add_wind(engine, datetime(2030, 6, 3, 4, 0, tzinfo=UTC), 5.0)
    clock.set(datetime(2030, 6, 3, 4, 35, tzinfo=UTC))  # 00:30 and 02:30 passed unseen
    runs = tick(client, app.state.scheduler)
    end_flights(client, app.state.flights)
    slots = [(r.slot_at.replace(tzinfo=UTC).strftime("%H:%M"), r.status) for r in runs]
    assert slots == [("00:30", "missed"), ("02:30", "missed"), ("04:30", "launched")]


def test_a_sortie_without_a_link_to_its_drone_fails_the_run_with_the_reason(
    app, client: TestClient, headers, engine: Engine, clock: FakeClock, patrol
) -> None:
    scheduler = app.state.scheduler
    scheduler.settings = scheduler.settings.model_copy(
        update={"dock_links": {"dock-south": LINKS["dock-south"]}}
    )
    schedule(client, headers, times=["15:00"])
    slot = datetime(2030, 6, 3, 7, 0, tzinfo=UTC)
    add_wind(engine, slot - timedelta(minutes=30), 5.0)
    clock.set(slot + timedelta(minutes=1))
    (run,) = tick(client, scheduler)
    assert (run.status, run.reason) == (
        "failed",
        "no link to dock-north's drone (set ECOPATROL_DOCK_LINKS=dock-north=URL)",
    )
    assert flights_of(engine, patrol) == []


def test_the_first_wave_is_one_sortie_per_free_drone(
    app, client: TestClient, headers, engine: Engine, clock: FakeClock
) -> None:
    """Sorties 1 and 2 from the south dock (one drone), 3 from the north one: 1 and 3 fly."""
    square = [(0.0012, 0.0), (0.0012, 0.0012)]
    ids = store_patrol(
        engine,
        [
            sortie_plan("dock-south", 34.8062, 113.5267, square),
            sortie_plan("dock-south", 34.8062, 113.5267, square),
            sortie_plan("dock-north", 34.8162, 113.5267, square),
        ],
    )
    schedule(client, headers, times=["15:00"])
    slot = datetime(2030, 6, 3, 7, 0, tzinfo=UTC)
    add_wind(engine, slot - timedelta(minutes=30), 5.0)
    clock.set(slot + timedelta(minutes=1))
    (run,) = tick(client, app.state.scheduler)
    end_flights(client, app.state.flights)
    assert run.status == "launched" and "2 of 3 sorties launched" in run.reason
    flown = {f.mission_id for f in flights_of(engine, ids)}
    assert flown == {ids[0], ids[2]}


def test_sorties_whose_routes_cross_launch_apart_by_the_deconflicted_delay(
    app, client: TestClient, headers, engine: Engine, clock: FakeClock
) -> None:
    """Two docks 133 m apart, each sortie flying to the other's dock: launched together they
    would meet, so the second waits; the recorded wait is one that ``check_schedule`` finds
    safe where no wait is not."""
    south, north = (34.8062, 113.5267), (34.8074, 113.5267)
    ids = store_patrol(
        engine,
        [
            sortie_plan("dock-south", *south, [(0.0012, 0.0), (0.0012, 0.0006)]),
            sortie_plan("dock-north", *north, [(-0.0012, 0.0), (-0.0012, 0.0006)]),
        ],
    )
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)

    app.state.scheduler.sleep = sleep
    schedule(client, headers, times=["15:00"])
    slot = datetime(2030, 6, 3, 7, 0, tzinfo=UTC)
    add_wind(engine, slot - timedelta(minutes=30), 5.0)
    clock.set(slot + timedelta(minutes=1))
    (run,) = tick(client, app.state.scheduler)
    assert len(run.flight_ids or []) == 1  # the first at once
    client.portal.call(app.state.scheduler.drain)  # type: ignore[union-attr]
    end_flights(client, app.state.flights)
    (delay_s,) = waited
    assert delay_s > 0 and f"sortie 2 waits {delay_s:.0f} s before launch" in run.reason
    (stored,) = runs_of(engine, str(run.schedule_id))
    assert stored.status == "launched" and len(stored.flight_ids or []) == 2
    assert {str(f.id) for f in flights_of(engine, ids)} == set(stored.flight_ids or [])
    with Session(engine) as session:
        items = {
            m.sortie_index: items_from_json(m.plan or {}, name=m.name)
            for m in session.exec(select(Mission).where(col(Mission.id).in_(ids)))
        }
    together = FleetSchedule({1: 0.0, 2: 0.0}, (), ())
    apart = FleetSchedule({1: 0.0, 2: delay_s}, (), ())
    assert check_schedule(items, together) and check_schedule(items, apart) == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"patrol_name": "nope"}, "no patrol named 'nope'"),
        ({"times": ["25:00"]}, "'25:00' is not a time of day"),
        ({"times": []}, "give at least one time of day"),
        ({"days": ["funday"]}, "'funday' is not a weekday"),
        ({"tz": "Mars/Olympus"}, "'Mars/Olympus' is not an IANA time zone"),
        ({"kind": "interval", "times": None, "interval_min": 4}, "greater than or equal to 5"),
        ({"kind": "interval", "times": None}, "an interval schedule takes interval_min"),
        (
            {"kind": "interval", "times": None, "interval_min": 60, "days": ["mon"]},
            "not times or days",
        ),
        ({"interval_min": 60}, "a times schedule takes times (HH:MM), not interval_min"),
        ({"max_wind_m_s": 0}, "greater than 0"),
    ],
)
def test_a_schedule_that_cannot_be_kept_is_refused_with_a_reason(
    client: TestClient, headers, patrol, body, reason
) -> None:
    payload = {"patrol_name": PATROL, "kind": "times", "times": ["07:30"], **body}
    r = client.post("/api/v1/schedules", json=payload, headers=headers["operator"])
    assert r.status_code == 422 and reason in r.json()["detail"], r.text
    assert client.get("/api/v1/schedules", headers=headers["operator"]).json()["count"] == 0


def test_the_cli_adds_lists_pauses_and_resumes(db_url: str, engine: Engine, patrol) -> None:
    cli_app = typer.Typer()
    register(cli_app)
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(cli_app, ["schedule", *args, "--db", db_url])

    added = run("add", PATROL, "--at", "07:30,15:00", "--days", "mon,wed", "--max-wind", "8")
    assert added.exit_code == 0, added.output
    every = run("add", PATROL, "--every", "120")
    assert every.exit_code == 0, every.output
    with Session(engine) as session:
        rows = session.exec(select(Schedule).order_by(col(Schedule.kind).desc())).all()
        times, interval = rows
        assert (times.times, times.days, times.max_wind_m_s) == (
            ["07:30", "15:00"],
            ["mon", "wed"],
            8,
        )
        assert interval.interval_min == 120 and interval.max_wind_m_s == 10
    listed = run("list")
    assert listed.exit_code == 0
    assert str(times.id) in listed.output and "07:30,15:00 mon,wed" in listed.output
    assert "every 120 min" in listed.output
    assert run("pause", str(times.id)).exit_code == 0
    assert "paused" in run("list").output.split(str(times.id))[1].splitlines()[0]
    assert run("resume", str(times.id)).exit_code == 0
    with Session(engine) as session:
        resumed = session.get(Schedule, times.id)
        assert resumed is not None and resumed.enabled
    for args, message in [
        (("add", "nope", "--at", "07:30"), "no patrol named 'nope'"),
        (("add", PATROL, "--at", "7h"), "'7h' is not a time of day"),
        (("add", PATROL), "give --at (times of day) or --every (minutes)"),
        (("add", PATROL, "--every", "3"), "at least 5 minutes"),
        (("pause", str(uuid.uuid4())), "no schedule"),
    ]:
        result = run(*args)
        assert result.exit_code == 2 and message in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1


@pytest.mark.browser
@pytest.mark.slow
def test_the_plan_page_lists_schedules_and_their_runs_and_adds_and_pauses(
    tmp_path: Path,
    browser,  # noqa: F811
) -> None:
    """In Debian's chromium: an operator sees a schedule's last runs with their reasons,
    adds an interval schedule with the form and pauses the first one."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium")
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
        secret_key="browser-test-secret-0123456789abcdef",
        scheduler_tick_s=3600,
    )
    engine = make_engine(settings.db_url)
    migrate(engine)
    add_user(engine, "operator", PASSWORD, role=Role.OPERATOR)
    skipped = "wind 11.2 m/s at stn-nat-01 at 06:40Z over the 10 m/s limit"
    with Session(engine) as session:
        session.add(Mission(name="m", patrol_name=PATROL, plan={"dock": {"id": "dock-south"}}))
        kept = new_schedule(
            session, patrol_name=PATROL, kind="times", times=["15:00"], now=datetime.now(UTC)
        )
        session.flush()
        session.add(
            ScheduleRun(
                schedule_id=kept.id,
                slot_at=datetime(2030, 6, 3, 7, tzinfo=UTC),
                status="skipped",
                reason=skipped,
            )
        )
        session.commit()
        kept_id = str(kept.id)
    with serving(settings) as base:
        page = browser.new_context(viewport={"width": 1500, "height": 1000}).new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        _sign_in(page, base, "operator")
        # schedules.js arriving after the page's API answers (as in a loaded CI run, where
        # plan.js, loaded first, called initSchedules before it existed)
        page.route("**/static/schedules.js", _slowly)
        page.goto(f"{base}/plan")
        page.wait_for_selector("body[data-schedules-ready='1'][data-ready='1']", timeout=20_000)
        card = page.locator(f".schedule[data-id='{kept_id}']")
        assert skipped in card.inner_text() and "2030-06-03 07:00Z" in card.inner_text()
        assert card.locator("li[data-status='skipped']").count() == 1
        page.fill("#schedule-every", "120")
        page.fill("#schedule-wind", "8")
        page.click("#schedule-submit")
        page.locator(".schedule").nth(1).wait_for()
        assert "every 120 min" in page.inner_text("#schedules")
        card.locator("button.toggle").click()
        page.wait_for_selector(f".schedule[data-id='{kept_id}'][data-enabled='0']")
        _shot(page, "schedules")
        assert errors == []
    with Session(engine) as session:
        rows = {s.kind: s for s in session.exec(select(Schedule))}
    engine.dispose()
    assert rows["times"].enabled is False
    assert (rows["interval"].interval_min, rows["interval"].max_wind_m_s) == (120, 8)


def _slowly(route: Route) -> None:
    """A script held back a second, as a slow network or a loaded machine serves it."""
    time.sleep(1.0)
    route.continue_()
