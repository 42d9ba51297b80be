"""A patrol's drones at once in the service: the launch of its first wave through the API,
the separation guard over the running flights, each flight's own controls, and the link
quality measure.

The launch tests connect each sortie to a dock link nobody answers (the real runner keeps
trying) and stop the flights as a service shutdown does. The guard and control tests use
the real FlightManager and guard with a runner whose Pilot records what it is told (and
reports the mode a vehicle would switch to); the positions are fed as the real runner
feeds GLOBAL_POSITION_INT, through ``FlightRun.observe``.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pymavlink.dialects.v20 import ardupilotmega as mavlink
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from missions.deconflict import FleetSchedule, check_schedule
from missions.items import Mission as ItemMission
from missions.items import MissionItem, to_e7
from server.fleet import LinkQuality
from server.flights import Fix, FlightManager, FlightRun, LaunchTarget
from server.planning import items_from_json, items_to_json
from server.settings import Settings
from store.models import Flight, FlightStatus, Mission

from .test_scheduler import PATROL, linked_settings, sortie_plan, store_patrol

REL = mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT
LINKS = {"dock-south": "udpin:127.0.0.1:14671", "dock-north": "udpin:127.0.0.1:14672"}
SQUARE = [(0.0012, 0.0), (0.0012, 0.0012)]  # 133 m north, then 110 m east
SOUTH, NORTH = (34.8062, 113.5267), (34.8162, 113.5267)  # 1.1 km apart


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return linked_settings(db_url, tmp_path, LINKS)


def end_flights(client: TestClient, manager: FlightManager) -> None:
    client.portal.call(manager.shutdown)  # type: ignore[union-attr]


def launch(client: TestClient, headers, body: dict[str, Any], patrol: str = PATROL):
    return client.post(f"/api/v1/patrols/{patrol}/launch", json=body, headers=headers["operator"])


# --- the launch ---------------------------------------------------------------------------


def test_a_patrol_launches_one_sortie_per_dock_each_on_its_own_link(
    client: TestClient, app, headers, engine: Engine
) -> None:
    ids = store_patrol(
        engine,
        [
            sortie_plan("dock-south", *SOUTH, SQUARE),
            sortie_plan("dock-north", *NORTH, SQUARE),
            sortie_plan("dock-south", *SOUTH, SQUARE),  # the south drone is taken: not now
        ],
    )
    other = "udpin:127.0.0.1:14673"
    r = launch(client, headers, {"connections": {"dock-north": other}})
    assert r.status_code == 202, r.text
    body = r.json()
    assert [(s["sortie"], s["dock"], s["connection"], s["delay_s"]) for s in body["sorties"]] == [
        (1, "dock-south", LINKS["dock-south"], 0.0),
        (2, "dock-north", other, 0.0),  # the request's link over the setting's
    ]
    assert body["not_in_wave"] == [3] and body["notes"] == []
    assert [f["live"]["sortie"] for f in body["flights"]] == [1, 2]
    with Session(engine) as session:
        flights = session.exec(select(Flight).where(col(Flight.mission_id).in_(ids))).all()
        assert {f.connection for f in flights} == {LINKS["dock-south"], other}
        south = next(f for f in flights if f.mission_id == ids[0])
    again = launch(client, headers, {})
    assert again.status_code == 409
    assert again.json()["detail"] == (
        f"dock-south: no drone free; flight {str(south.id)[:8]} is flying from it"
    )
    end_flights(client, app.state.flights)
    with Session(engine) as session:
        assert len(session.exec(select(Flight)).all()) == 2  # the refused launch added none


def test_crossing_sorties_launch_apart_and_the_wait_is_safe(
    client: TestClient, app, headers, engine: Engine
) -> None:
    """Two docks 133 m apart, each sortie flying to the other's dock: the second waits, by a
    delay ``check_schedule`` finds safe where launching together is not."""
    south, north = (34.8062, 113.5267), (34.8074, 113.5267)
    ids = store_patrol(
        engine,
        [
            sortie_plan("dock-south", *south, [(0.0012, 0.0), (0.0012, 0.0006)]),
            sortie_plan("dock-north", *north, [(-0.0012, 0.0), (-0.0012, 0.0006)]),
        ],
    )
    r = launch(client, headers, {})
    end_flights(client, app.state.flights)  # the second is cancelled while it waits
    assert r.status_code == 202, r.text
    first, second = r.json()["sorties"]
    assert first["delay_s"] == 0 and first["flight_id"] == r.json()["flights"][0]["id"]
    assert second["delay_s"] > 0 and second["flight_id"] is None
    assert r.json()["notes"][0].startswith(f"sortie 2 waits {second['delay_s']:.0f} s")
    with Session(engine) as session:
        items = {
            m.sortie_index: items_from_json(m.plan or {}, name=m.name)
            for m in session.exec(select(Mission).where(col(Mission.id).in_(ids)))
        }
        assert len(session.exec(select(Flight)).all()) == 1  # the waiting one never launched
    together = FleetSchedule({1: 0.0, 2: 0.0}, (), ())
    apart = FleetSchedule({1: 0.0, 2: second["delay_s"]}, (), ())
    assert check_schedule(items, together) and check_schedule(items, apart) == []


def _hover_over(lat: float, lon: float, hold_s: float) -> dict:
    """A sortie from the south dock that flies to (lat, lon) and holds there 20 m up."""
    home = MissionItem(
        0, mavlink.MAV_FRAME_GLOBAL, mavlink.MAV_CMD_NAV_WAYPOINT, x=to_e7(SOUTH[0]),
        y=to_e7(SOUTH[1]), z=112.0,
    )  # fmt: skip
    items = [
        home,
        MissionItem(
            1, REL, mavlink.MAV_CMD_NAV_TAKEOFF, x=to_e7(SOUTH[0]), y=to_e7(SOUTH[1]), z=20
        ),
        MissionItem(
            2, REL, mavlink.MAV_CMD_NAV_LOITER_TIME, param1=hold_s, x=to_e7(lat), y=to_e7(lon), z=20
        ),
        MissionItem(3, REL, mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH),
    ]
    dock = {"id": "dock-south", "lat": SOUTH[0], "lon": SOUTH[1], "ground_alt_m": 112.0}
    return {"dock": dock, "mission": items_to_json(ItemMission(items=tuple(items), name="hover"))}


def test_no_safe_delay_or_no_link_is_refused_with_the_reason(
    client: TestClient, app, headers, engine: Engine
) -> None:
    """Sortie 1 hovers 20 minutes over a dock 55 m north of its own (there in a few
    seconds): sortie 2 cannot take off under it within deconfliction's 900 s."""
    near = (SOUTH[0] + 0.0005, SOUTH[1])
    store_patrol(engine, [_hover_over(*near, 1200.0), sortie_plan("dock-north", *near, SQUARE)])
    r = launch(client, headers, {})
    assert r.status_code == 422
    assert r.json()["detail"].startswith("not deconflicted: sortie 2 cannot launch within 900 s")
    store_patrol_named(engine, "far", [sortie_plan("dock-east", *SOUTH, SQUARE)])
    r = launch(client, headers, {}, patrol="far")
    assert r.status_code == 422
    assert (
        r.json()["detail"]
        == "no link to dock-east's drone (set ECOPATROL_DOCK_LINKS=dock-east=URL)"
    )
    r = launch(client, headers, {"sitl": True, "connections": {"dock-east": "udpin:x:1"}})
    assert r.status_code == 422 and "either sitl=true or connections" in r.json()["detail"]
    assert launch(client, headers, {}, patrol="nope").status_code == 404
    with Session(engine) as session:
        assert session.exec(select(Flight)).all() == []


def store_patrol_named(engine: Engine, name: str, plans: list[dict]) -> None:
    with Session(engine) as session:
        session.add_all(
            Mission(name=f"{name} · {k}", patrol_name=name, sortie_index=k, plan=plan)
            for k, plan in enumerate(plans, start=1)
        )
        session.commit()


# --- the guard and each flight's controls -------------------------------------------------


class RecordingPilot:
    """Stands in for the vehicle: records each command and reports the mode it would be in."""

    def __init__(self, run: FlightRun) -> None:
        self.run = run
        self.calls: list[str] = []

    async def _do(self, call: str, mode: str) -> None:
        self.calls.append(call)
        self.run.publish(mode=mode)

    async def pause(self) -> None:
        await self._do("pause", "GUIDED")

    async def resume(self) -> None:
        await self._do("resume", "AUTO")

    async def abort(self) -> None:
        await self._do("abort", "RTL")

    async def return_home(self) -> None:
        await self._do("home", "RTL")

    async def land(self) -> None:
        await self._do("land", "LAND")


@pytest.fixture
def pilots(app) -> dict[uuid.UUID, RecordingPilot]:
    """The app's FlightManager flies every launch with a RecordingPilot: in AUTO until
    stopped."""
    pilots: dict[uuid.UUID, RecordingPilot] = {}

    async def runner(
        run: FlightRun, mission: Mission, target: LaunchTarget, manager: FlightManager
    ) -> FlightStatus:
        pilot = RecordingPilot(run)
        pilots[run.flight_id] = pilot
        run.pilot = pilot
        manager.record(run, FlightStatus.FLYING, message="flying")
        run.publish(mode="AUTO")
        await asyncio.Event().wait()
        return FlightStatus.LANDED

    app.state.flights._runner = runner
    return pilots


def _fly_two(client: TestClient, headers, engine: Engine) -> tuple[FlightRun, FlightRun]:
    store_patrol(
        engine,
        [sortie_plan("dock-south", *SOUTH, SQUARE), sortie_plan("dock-north", *NORTH, SQUARE)],
    )
    r = launch(client, headers, {})
    assert r.status_code == 202, r.text
    manager: FlightManager = client.app.state.flights  # type: ignore[attr-defined]
    runs = [manager.run_of(uuid.UUID(f["id"])) for f in r.json()["flights"]]
    assert runs[0] is not None and runs[1] is not None
    return runs[0], runs[1]


def _east_of(lat: float, lon: float, east_m: float) -> float:
    """The longitude ``east_m`` metres east (spherical, 111 320 m a degree at the equator)."""
    return lon + east_m / (111_320.0 * math.cos(math.radians(lat)))


def _feed(
    client: TestClient, fixes: Callable[[float], list[tuple[FlightRun, Fix]]], until
) -> float:
    """Feed each run's fix every 50 ms (``fixes(t)``, t in s since the start) until
    ``until()`` holds; the seconds it took (AssertionError after 5 s)."""

    async def feed() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        while loop.time() - start < 5.0:
            for run, fix in fixes(loop.time() - start):
                run.observe(fix)
            await asyncio.sleep(0.05)
            if until():
                return loop.time() - start
        raise AssertionError("not within 5 s")

    took: float = client.portal.call(feed)  # type: ignore[union-attr]
    return took


def test_the_guard_holds_the_later_flight_of_two_closing_and_resumes_it_when_clear(
    client: TestClient, app, headers, engine: Engine, pilots
) -> None:
    """Two flights 300 m apart at one height, closing head-on at 10 m/s each: they would be
    inside 50 m (+15 m margin) in (300 - 65) / 20 = 11.75 s, within the 15 s look-ahead, so
    the guard holds the later-launched one at once; once the first flies away as fast as the
    held one would follow, it is sent on."""
    first, second = _fly_two(client, headers, engine)
    lat, lon, alt = 34.80, 113.50, 132.0
    east_300 = _east_of(lat, lon, 300.0)

    def closing(t: float) -> list[tuple[FlightRun, Fix]]:
        return [
            (first, Fix(lat, lon, alt, (10.0, 0.0, 0.0), airborne=True)),
            (second, Fix(lat, east_300, alt, (-10.0, 0.0, 0.0), airborne=True)),
        ]

    _feed(client, closing, lambda: "pause" in pilots[second.flight_id].calls)
    assert pilots[second.flight_id].calls == ["pause"]
    assert pilots[first.flight_id].calls == []
    assert second.state["alert"] == (
        "held: sortie 2 300 m from sortie 1, closing inside the 50 m separation"
    )
    assert second.state["paused"] is True and "alert" not in first.state

    def parting(t: float) -> list[tuple[FlightRun, Fix]]:
        return [
            (first, Fix(lat, lon, alt, (-10.0, 0.0, 0.0), airborne=True)),
            (second, Fix(lat, east_300, alt, (0.0, 0.0, 0.0), airborne=True)),
        ]

    _feed(client, parting, lambda: "resume" in pilots[second.flight_id].calls)
    assert pilots[second.flight_id].calls == ["pause", "resume"]
    assert second.state["alert"] is None and second.state["paused"] is False
    assert pilots[first.flight_id].calls == []
    end_flights(client, app.state.flights)


def test_flights_far_apart_or_on_the_ground_are_left_alone(
    client: TestClient, app, headers, engine: Engine, pilots
) -> None:
    first, second = _fly_two(client, headers, engine)
    lat, lon = 34.80, 113.50

    def fixes(t: float) -> list[tuple[FlightRun, Fix]]:
        return [
            (first, Fix(lat, lon, 132.0, (10.0, 0.0, 0.0), airborne=True)),
            # 300 m east, closing, but on the ground: nobody's traffic
            (second, Fix(lat, _east_of(lat, lon, 300.0), 112.0, (-10.0, 0, 0), airborne=False)),
        ]

    with pytest.raises(AssertionError, match="not within"):
        _feed(client, fixes, lambda: bool(pilots[second.flight_id].calls))
    assert pilots[first.flight_id].calls == [] and pilots[second.flight_id].calls == []
    end_flights(client, app.state.flights)


def test_each_flight_is_paused_sent_home_or_landed_on_its_own(
    client: TestClient, app, headers, engine: Engine, pilots
) -> None:
    first, second = _fly_two(client, headers, engine)
    op = headers["operator"]
    for verb in ("pause", "resume", "home"):
        r = client.post(f"/api/v1/flights/{first.flight_id}/{verb}", headers=op)
        assert r.status_code == 200, r.text
    assert first.state["message"] == "sent home (RTL)"
    r = client.post(f"/api/v1/flights/{second.flight_id}/land", headers=op)
    assert r.status_code == 200 and r.json()["message"] == "landing"
    assert pilots[first.flight_id].calls == ["pause", "resume", "home"]
    assert pilots[second.flight_id].calls == ["land"]
    assert second.state["mode"] == "LAND" and first.state["mode"] == "RTL"
    end_flights(client, app.state.flights)
    for verb in ("home", "land"):
        r = client.post(f"/api/v1/flights/{first.flight_id}/{verb}", headers=op)
        assert r.status_code == 409 and "ended" in r.json()["detail"]
        r = client.post(f"/api/v1/flights/{uuid.uuid4()}/{verb}", headers=op)
        assert r.status_code == 404


# --- link quality -------------------------------------------------------------------------


def test_link_quality_counts_the_gaps_in_the_sequence_numbers() -> None:
    quality = LinkQuality(window_s=5.0)
    assert quality.percent(0.0) is None
    for t, seq in enumerate([0, 1, 2, 5, 6]):  # 3 and 4 lost: 5 of 7 sent
        quality.heard(seq, float(t) * 0.1)
    assert quality.percent(0.5) == round(100 * 5 / 7, 1)
    wrap = LinkQuality(window_s=5.0)
    for t, seq in enumerate([254, 255, 0, 1]):  # the byte wraps: nothing lost
        wrap.heard(seq, float(t))
    assert wrap.percent(3.0) == 100.0
    assert wrap.percent(20.0) == 0.0  # nothing heard in the last 5 s
