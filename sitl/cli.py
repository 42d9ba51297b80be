"""``ecopatrol fly`` (fly one sortie and watch it live) and ``ecopatrol sitl start|status|stop``.

``fly`` lives here rather than in ``missions`` because ``--sitl`` needs this
package, and ``sitl`` depends on ``missions``, never the other way round.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from missions.errors import MissionError
from missions.export.qgc_plan import read_plan
from missions.flight.errors import FlightError
from missions.flight.events import Captured, FlightEvent, Progress
from missions.flight.fly import Endpoint, FlightResult, fly_mission
from missions.items import Mission
from sitl.errors import SitlError
from sitl.instance import Home, running
from sitl.supervisor import Detached, running_instances, start_detached, stop_detached

console = Console()
err_console = Console(stderr=True)

#: Events printed as lines above the live panel (the rest only update it).
_LOGGED = {
    "mission_uploaded",
    "armed",
    "disarmed",
    "mode_changed",
    "link_lost",
    "link_restored",
    "landed",
    "captures_missed",
}


def _fail(message: str, code: int = 2) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


class _Display:
    """The live panel: progress of the flight, refreshed on each event."""

    def __init__(self, mission: Mission) -> None:
        self.mission = mission
        self.progress: Progress | None = None
        self.captures = 0
        self.live = Live(self._render(), console=console, refresh_per_second=4, transient=False)

    def _render(self) -> Table:
        table = Table.grid(padding=(0, 2))
        p = self.progress
        if p is None:
            table.add_row("[dim]waiting for telemetry[/]")
            return table
        eta = f"{p.eta_s:.0f} s" if p.eta_s is not None else "-"
        table.add_row(
            f"[bold]{p.mode or '?'}[/]",
            f"item {p.current_seq}/{p.total_items - 1}",
            f"reached {p.reached}",
            f"to go {p.distance_to_go_m / 1000:.2f} km",
            f"ETA {eta}",
            f"alt {p.alt_rel_m:.1f} m",
            f"{p.groundspeed_m_s:.1f} m/s",
            f"photos {self.captures}",
            f"battery {p.battery_pct:.0f} %" if p.battery_pct is not None else "",
        )
        return table

    def __call__(self, event: FlightEvent) -> None:
        if isinstance(event, Progress):
            self.progress = event
        elif isinstance(event, Captured):
            self.captures += 1
        elif event.kind in _LOGGED:
            console.print(f"[cyan]{event.time_utc[11:19]}[/] {event}", highlight=False)
        elif event.kind == "status_text" and getattr(event, "severity", 7) <= 4:
            console.print(f"[yellow]{event.time_utc[11:19]}[/] {event}", highlight=False)
        self.live.update(self._render())


@contextlib.asynccontextmanager
async def _target(
    mission: Mission, connect: str | None, use_sitl: bool, speedup: float
) -> AsyncIterator[str | Endpoint]:
    if not use_sitl:
        assert connect is not None
        yield connect
        return
    home = mission.home
    async with running(home=Home(home.lat, home.lon, home.z), speedup=speedup) as sitl:
        console.print(f"SITL instance {sitl.instance} at {sitl.url}, speed-up {speedup:g}")
        yield sitl


async def _fly(
    mission: Mission,
    target_args: tuple[str | None, bool, float],
    out: Path,
    signing_key: bytes | None,
    forward: list[str],
) -> FlightResult:
    display = _Display(mission)
    async with _target(mission, *target_args) as target:
        with display.live:
            return await fly_mission(
                target,
                mission,
                out_dir=out,
                on_event=display,
                speedup=target_args[2],
                signing_key=signing_key,
                forward=forward,
            )


def _read_key(path: Path) -> bytes:
    """A 32-byte MAVLink signing key: the raw bytes, or 64 hexadecimal digits."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise _fail(f"--signing-key {path}: {exc.strerror}") from None
    if len(raw) == 32:
        return raw
    try:
        key = bytes.fromhex(raw.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        key = b""
    if len(key) != 32:
        raise _fail(f"--signing-key {path}: expected 32 bytes or 64 hexadecimal digits")
    return key


def fly(
    plan: Annotated[Path, typer.Argument(help="QGroundControl .plan file of one sortie.")],
    connect: Annotated[
        str | None,
        typer.Option(
            "--connect", help="Vehicle URL: tcp:HOST:PORT, udpin:HOST:PORT, serial:DEV:BAUD."
        ),
    ] = None,
    use_sitl: Annotated[
        bool,
        typer.Option("--sitl", help="Start ArduCopter SITL at the plan's home for this flight."),
    ] = False,
    speedup: Annotated[
        float, typer.Option("--speedup", help="SITL speed-up (with --sitl).", min=1.0)
    ] = 10.0,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Where flight-<id>/ goes (default: beside the plan)."),
    ] = None,
    signing_key: Annotated[
        Path | None,
        typer.Option(
            "--signing-key",
            help="File with the vehicle's MAVLink 2 signing key (32 bytes or 64 hex digits).",
        ),
    ] = None,
    forward: Annotated[
        list[str] | None,
        typer.Option(
            "--forward",
            help=(
                "Relay the vehicle to and from another ground station: udp:HOST:PORT "
                "(QGroundControl listens on 14550) or udpin:HOST:PORT. Repeatable."
            ),
        ),
    ] = None,
) -> None:
    """Upload, check, arm and fly a sortie; exit 0 once landed and disarmed."""
    if (connect is None) == (not use_sitl):
        raise _fail("give exactly one of --connect URL or --sitl")
    key = _read_key(signing_key) if signing_key is not None else None
    try:
        mission = read_plan(plan)
    except MissionError as exc:
        raise _fail(str(exc)) from None
    if len(mission.items) < 2:
        raise _fail(f"{plan}: the plan has no mission items to fly")
    from missions.flight.link import parse_forward, parse_url

    try:
        if connect is not None:
            parse_url(connect)
        for url in forward or []:
            parse_forward(url)
    except FlightError as exc:
        raise _fail(str(exc)) from None
    try:
        result = asyncio.run(
            _fly(mission, (connect, use_sitl, speedup), out or plan.parent, key, forward or [])
        )
    except (FlightError, SitlError, OSError) as exc:
        raise _fail(str(exc), code=1) from None
    _summary(result)


def _summary(result: FlightResult) -> None:
    rows: list[tuple[str, Any]] = [
        ("flight", result.flight_dir),
        ("photos", f"{result.captures} in {result.manifest_path.name}"),
        ("distance flown", f"{result.distance_flown_m / 1000:.2f} km"),
        ("duration", f"{result.duration_s:.0f} s"),
        ("landed", f"{result.landed_from_home_m:.1f} m from home"),
        ("link outages", result.link_outages),
    ]
    table = Table(show_header=False, box=None)
    for name, value in rows:
        table.add_row(f"[bold]{name}[/]", str(value))
    console.print(table)


sitl_app = typer.Typer(help="Run ArduCopter SITL on 127.0.0.1 for flights by hand.")


def _parse_home(text: str) -> Home:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if (
        not 2 <= len(values) <= 4
        or not all(math.isfinite(v) for v in values)
        or not (-90 <= values[0] <= 90 and -180 <= values[1] <= 180)
    ):
        raise _fail(f"--home {text!r}: expected LAT,LON[,ALT_AMSL_M[,HEADING_DEG]]")
    return Home(*values)


#: An ArduPilot parameter name: at most 16 characters (AP_MAX_NAME_SIZE).
_PARAM_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,15}")


def _parse_params(pairs: list[str]) -> dict[str, float]:
    params: dict[str, float] = {}
    for pair in pairs:
        name, _, text = pair.partition("=")
        name = name.strip().upper()
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not _PARAM_NAME.fullmatch(name) or not math.isfinite(value):
            raise _fail(f"--param {pair!r}: expected NAME=VALUE with a number")
        params[name] = value
    return params


@sitl_app.command("start")
def sitl_start(
    home: Annotated[
        str, typer.Option(help="LAT,LON[,ALT_AMSL_M[,HEADING_DEG]] where the copter boots.")
    ] = "34.8062128,113.5267177,112,0",
    speedup: Annotated[float, typer.Option(help="Simulation speed-up.", min=1.0)] = 1.0,
    instance: Annotated[
        int | None, typer.Option(help="Instance number (default: the first free one).", min=0)
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option(help="Parameter override NAME=VALUE (repeatable).")
    ] = None,
) -> None:
    """Start a SITL copter that runs until `ecopatrol sitl stop`, and print where to connect."""
    where = _parse_home(home)
    params = _parse_params(param or [])
    try:
        state = start_detached(home=where, speedup=speedup, instance=instance, params=params)
    except (SitlError, OSError) as exc:
        raise _fail(str(exc), code=1) from None
    console.print(
        f"SITL instance {state.instance} ready (speed-up {state.speedup:g}, "
        f"supervisor pid {state.supervisor_pid}, SITL pid {state.sitl_pid})\n"
        f"  connect: {state.url}   second port: {state.url2}\n"
        f"  stop:    ecopatrol sitl stop --instance {state.instance}   "
        f"(state and logs in {state.workdir})",
        highlight=False,
        soft_wrap=True,
    )


@sitl_app.command("status")
def sitl_status(
    instance: Annotated[
        int | None, typer.Option(help="Instance to show (default: every one running).", min=0)
    ] = None,
) -> None:
    """Show the SITL instances `ecopatrol sitl start` runs; exit 1 when none does."""
    try:
        states = running_instances(instance)
    except (SitlError, OSError) as exc:
        raise _fail(str(exc), code=1) from None
    if not states:
        raise _fail(_none_running(instance), code=1)
    for state in states:
        _print_state(state)


def _print_state(state: Detached) -> None:
    console.print(
        f"SITL instance {state.instance}: running since {state.started_utc}, "
        f"speed-up {state.speedup:g}, home {state.home}\n"
        f"  connect: {state.url}   second port: {state.url2}   third port: {state.url3}\n"
        f"  supervisor pid {state.supervisor_pid}, SITL pid {state.sitl_pid}, "
        f"files in {state.workdir}",
        highlight=False,
        soft_wrap=True,
    )


def _none_running(instance: int | None) -> str:
    which = f"SITL instance {instance}" if instance is not None else "SITL instance"
    return f"no {which} started by `ecopatrol sitl start` is running"


@sitl_app.command("stop")
def sitl_stop(
    instance: Annotated[
        int | None, typer.Option(help="Instance to stop (default: every one running).", min=0)
    ] = None,
) -> None:
    """Stop SITL instances started with `ecopatrol sitl start`; exit 1 when none runs."""
    try:
        stopped = stop_detached(instance)
    except (SitlError, OSError) as exc:
        raise _fail(str(exc), code=1) from None
    if not stopped:
        raise _fail(_none_running(instance), code=1)
    console.print("stopped SITL instance " + ", ".join(str(n) for n in stopped))


def register(app: typer.Typer) -> None:
    """Add ``fly`` and ``sitl start|status|stop`` to the root app."""
    app.command("fly")(fly)
    app.add_typer(sitl_app, name="sitl")
