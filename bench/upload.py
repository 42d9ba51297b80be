"""Seconds to upload and verify a 600-item mission to SITL, against MAVProxy's ``wp load``.

Both sides load the same ``.waypoints`` file into the same SITL instance over
loopback UDP, one after the other. Ours is timed to the read-back compare
(upload, MISSION_ACK, download, compare); MAVProxy's ``wp load`` is timed from
the command to its "Loaded N waypoints" line, which it prints when the last
item is sent, before any MISSION_ACK and with no read-back. The ratio is
ours / MAVProxy's, so below 1 means faster despite the extra verification.

With ``--profile NAME`` (a :mod:`sitl.netem` profile, e.g. ``lte-cell-edge``)
ours runs through the link emulator on SITL's third serial port instead, and
MAVProxy is left out. Every run also measures the round trip on the same link
(TIMESYNC, which ArduPilot answers at once) and prints the time against the
stop-and-wait floor, items x round trip: one exchange per item, as a protocol
that waits for each reply before the next would need at best.

    python bench/upload.py [--items 600] [--speedup 1] [--runs 3] [--profile NAME]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.export.waypoints import read_waypoints, write_waypoints
from missions.flight import transfer
from missions.flight.errors import LinkTimeoutError
from missions.flight.link import MavLink
from missions.flight.vehicle import Vehicle
from missions.items import Mission, MissionItem, to_e7
from sitl.instance import Home, Sitl, gcs_port, start
from sitl.netem import PROFILES, LinkEmulator

HOME = Home(34.8062128, 113.5267177, 112.0)
LOADED = re.compile(r"Loaded (\d+) waypoints in ([\d.]+)s")


def zigzag(count: int) -> Mission:
    """``count`` items including home: take-off then a lawnmower of waypoints."""
    rel = mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT
    items = [
        MissionItem(0, mavlink.MAV_FRAME_GLOBAL, mavlink.MAV_CMD_NAV_WAYPOINT,
                    x=to_e7(HOME.lat), y=to_e7(HOME.lon), z=HOME.alt_amsl_m),
        MissionItem(1, rel, mavlink.MAV_CMD_NAV_TAKEOFF, z=40.0),
    ]  # fmt: skip
    while len(items) < count:
        i = len(items)
        lat = HOME.lat + 5.0 * (i // 2) / 111_320
        lon = HOME.lon + 200.0 * (i % 2) / (111_320 * math.cos(math.radians(HOME.lat)))
        items.append(MissionItem(i, rel, mavlink.MAV_CMD_NAV_WAYPOINT,
                                 x=to_e7(lat), y=to_e7(lon), z=40.0))  # fmt: skip
    return Mission(items=tuple(items), name="bench")


async def round_trip_s(link: MavLink, *, probes: int = 10) -> float:
    """Median seconds from a TIMESYNC request to its reply; lost probes are skipped."""
    samples = [t for probe in range(probes) if (t := await _probe(link, probe)) is not None]
    if len(samples) < 3:
        raise SystemExit(f"only {len(samples)} of {probes} TIMESYNC probes answered")
    return statistics.median(samples)


async def _probe(link: MavLink, probe: int, *, timeout_s: float = 2.0) -> float | None:
    ts1 = time.monotonic_ns() * 1000 + probe  # ArduPilot echoes it: tells the replies apart
    started = time.perf_counter()
    link.send(link.mav.timesync_encode(0, ts1))
    try:
        await link.wait_for(
            mavlink.MAVLink_timesync_message,
            timeout_s=timeout_s,
            where=lambda m: m.tc1 != 0 and m.ts1 == ts1,
        )
    except LinkTimeoutError:
        return None
    return time.perf_counter() - started


async def ours(url: str, sitl: Sitl, mission: Mission) -> tuple[float, float, float]:
    """(round trip, upload to ACK, upload + download + compare) in seconds."""
    vehicle = await Vehicle.connect(url, heartbeat_interval_s=sitl.heartbeat_interval_s)
    try:
        rtt = await round_trip_s(vehicle.link)
        await transfer.clear(vehicle.link)
        started = time.perf_counter()
        await transfer.upload(vehicle.link, mission.items)
        uploaded = time.perf_counter() - started
        held = await transfer.download(vehicle.link)
        differences = transfer.compare(list(mission.items), held, skip_home=True)
        verified = time.perf_counter() - started
        if differences:
            raise SystemExit(f"read-back differs: {differences[0]}")
        return rtt, uploaded, verified
    finally:
        await vehicle.close()


def mavproxy(sitl: Sitl, path: Path, count: int, workdir: Path) -> float:
    """Seconds from ``wp load`` to MAVProxy's "Loaded N waypoints" line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "MAVProxy.mavproxy", f"--master={sitl.url}",
         f"--state-basedir={workdir}", "--nowait", "--default-modules=wp"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        cwd=workdir, text=True, bufsize=1,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    try:
        deadline = time.monotonic() + 60
        for line in proc.stdout:
            if "online system" in line or "Detected vehicle" in line:
                break
            if time.monotonic() > deadline:
                raise SystemExit("MAVProxy never saw the vehicle")
        time.sleep(1.0)  # let its start-up parameter and mission fetches settle
        proc.stdin.write("wp clear\n")
        time.sleep(1.0)
        started = time.perf_counter()
        proc.stdin.write(f"wp load {path}\n")
        for line in proc.stdout:
            match = LOADED.search(line)
            if match and int(match.group(1)) == count:
                return time.perf_counter() - started
        raise SystemExit("MAVProxy exited before loading the mission")
    finally:
        proc.stdin.write("exit\n")
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:  # MAVProxy's module threads can ignore SIGTERM
            proc.kill()
            proc.wait()


async def through(profile: str, sitl: Sitl, mission: Mission, runs: int) -> list[tuple[float, ...]]:
    """Our runs through the emulated link ``profile`` on SITL's third serial port."""
    emulator = LinkEmulator(gcs_port(sitl.instance, 2), PROFILES[profile])
    await emulator.start()
    try:
        return [await ours(emulator.url, sitl, mission) for _ in range(runs)]
    finally:
        await emulator.stop()
        print(f"link {profile}: sent {emulator.sent}, dropped {emulator.dropped}, "
              f"reordered {emulator.reordered}")  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=600)
    parser.add_argument("--speedup", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--profile", choices=sorted(PROFILES), help="emulated link (default: direct)"
    )
    args = parser.parse_args()
    theirs: list[float] = []
    with tempfile.TemporaryDirectory(prefix="ecopatrol-bench-") as tmp:
        path = write_waypoints(zigzag(args.items), Path(tmp) / "bench.waypoints")
        mission = read_waypoints(path)  # exactly what MAVProxy reads
        sitl = await start(home=HOME, speedup=args.speedup)
        try:
            if args.profile:
                mine = await through(args.profile, sitl, mission, args.runs)
            else:
                theirs = [mavproxy(sitl, path, args.items, Path(tmp)) for _ in range(args.runs)]
                mine = [await ours(sitl.url, sitl, mission) for _ in range(args.runs)]
        finally:
            sitl.stop()
    report(args, mine, theirs)


def report(args: argparse.Namespace, mine: list[tuple[float, ...]], theirs: list[float]) -> None:
    rtt, up, verified = (statistics.median(m[i] for m in mine) for i in range(3))
    floor = args.items * rtt
    link = args.profile or "direct (loopback UDP)"
    print(f"{args.items} items, SITL speed-up {args.speedup:g}, link {link}, "
          f"median of {args.runs} runs")  # fmt: skip
    print(f"  round trip (TIMESYNC, median of 10)  {1000 * rtt:6.1f} ms")
    print(f"  stop-and-wait floor (items x RTT)    {floor:6.2f} s")
    print(f"  ecopatrol upload to MISSION_ACK      {up:6.2f} s")
    print(f"  ecopatrol upload + read-back verify  {verified:6.2f} s")
    print(f"  ratio verified / floor               {verified / floor:6.2f}")
    if theirs:
        mp = statistics.median(theirs)
        print(f"  MAVProxy wp load (last item sent)    {mp:6.2f} s")
        print(f"  ratio ecopatrol verified / MAVProxy  {verified / mp:6.2f}")


if __name__ == "__main__":
    asyncio.run(main())
