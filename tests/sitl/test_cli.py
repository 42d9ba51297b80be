"""`ecopatrol sitl start|status|stop` run as a user runs them: the real command in a
subprocess, SITL left running after it returns, then stopped with nothing left."""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymavlink import mavutil

import sitl.supervisor as supervisor
from sitl.errors import SitlStartError
from sitl.instance import Home, lock_holder
from sitl.supervisor import Detached, instance_dir, stop_detached

ECOPATROL = Path(sys.executable).parent / "ecopatrol"
PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>


def ecopatrol(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed console script and wait for it to return."""
    return subprocess.run(
        [str(ECOPATROL), *args],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def reaper() -> Iterator[list[Detached]]:
    """This test process as the reaper of its orphaned descendants, as init is.

    The supervisor outlives `ecopatrol sitl start`, so it is orphaned; as the
    subreaper (Linux) this process becomes its parent, reaps it and sees its
    exit status, and a SITL the supervisor failed to reap would be our zombie
    and visible. (This sandbox's PID 1 reaps nothing, so without it every
    exited supervisor would stay ``<defunct>``.) Append each started instance's
    state: whatever a failing test leaves is stopped and reaped here.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        pytest.skip(f"prctl(PR_SET_CHILD_SUBREAPER): errno {ctypes.get_errno()}")
    started: list[Detached] = []
    try:
        yield started
    finally:
        for state in started:
            stop_detached(state.instance)
            for pid in (state.supervisor_pid, state.sitl_pid):
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def start(reaper: list[Detached], *args: str) -> Detached:
    """`ecopatrol sitl start ARGS`, returned; the state it printed the URL from."""
    result = ecopatrol("sitl", "start", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    number = int(re.search(r"SITL instance (\d+) ready", result.stdout)[1])  # type: ignore[index]
    state = Detached.from_json((instance_dir(number) / "state.json").read_text())
    reaper.append(state)
    assert f"connect: {state.url}" in result.stdout
    return state


def reap(pid: int, timeout_s: float) -> int:
    """Wait for our child ``pid`` to end; its wait status."""
    deadline = time.monotonic() + timeout_s
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        assert time.monotonic() < deadline, f"pid {pid} still runs after {timeout_s} s"
        time.sleep(0.05)


def heartbeats(url: str, seconds: float) -> list[float]:
    """When (s from the start of the window) the copter's HEARTBEATs came on ``url``."""
    link = mavutil.mavlink_connection(url, source_system=254)
    times: list[float] = []
    try:
        begin = time.monotonic()
        while (left := begin + seconds - time.monotonic()) > 0:
            msg = link.recv_match(type="HEARTBEAT", blocking=True, timeout=left)
            if msg is not None and msg.get_srcSystem() == 1 and msg.type == 2:  # quadrotor
                times.append(time.monotonic() - begin)
    finally:
        link.close()
    return times


def assert_nothing_left(state: Detached) -> None:
    """No process in SITL's group (not even a zombie), its ports and its claim free."""
    with pytest.raises(ProcessLookupError):
        os.killpg(state.sitl_pid, 0)
    assert not Path(f"/proc/{state.sitl_pid}").exists()
    n = state.instance
    # serial ports 0-2 send to UDP 14550+10n+s, SITL's RC input listens on 5501+10n
    for port in (14550 + 10 * n, 14551 + 10 * n, 14552 + 10 * n, 5501 + 10 * n):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", port))
    assert lock_holder(n) is None
    assert not (instance_dir(n) / "state.json").exists()


def one_line(text: str) -> str:
    assert "Traceback" not in text
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def test_missing_binary_is_one_line_and_exit_1() -> None:
    result = ecopatrol("sitl", "start", env={"ARDUPILOT_SITL": "/nonexistent/arducopter"})
    assert result.returncode == 1
    assert "$ARDUPILOT_SITL is /nonexistent/arducopter" in one_line(result.stderr)


def test_binary_that_exits_at_once_is_one_line_and_exit_1() -> None:
    """/bin/false is a real executable that exits 1 at once: the supervisor reports it."""
    result = ecopatrol("sitl", "start", env={"ARDUPILOT_SITL": "/bin/false"})
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert "SITL exited at once (code 1)" in line
    logs = Path(re.search(r"logs in (\S+)\)", line)[1])  # type: ignore[index]
    number = int(logs.name.removeprefix("instance-"))
    assert lock_holder(number) is None  # the supervisor has exited
    assert not (logs / "state.json").exists()
    shutil.rmtree(logs)  # kept for the user to read


def test_a_run_directory_others_can_write_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anyone may create a directory in /tmp: state planted there must not steer `stop`."""
    planted = tmp_path / "run"
    planted.mkdir()
    planted.chmod(0o777)
    monkeypatch.setattr(supervisor, "RUN_DIR", planted)
    with pytest.raises(SitlStartError, match="only it can write"):
        supervisor.start_detached(home=Home(34.8, 113.55), speedup=1, binary=Path("/bin/false"))
    with pytest.raises(SitlStartError, match="only it can write"):
        supervisor.running_instances()


def test_stop_and_status_with_nothing_running_say_so() -> None:
    for command in ("stop", "status"):
        result = ecopatrol("sitl", command, "--instance", "31")
        assert result.returncode == 1
        assert "no SITL instance 31 started by `ecopatrol sitl start`" in one_line(result.stderr)


@pytest.mark.sitl
@pytest.mark.timeout(400)
def test_started_sitl_runs_after_the_command_until_stop(
    sitl_binary: Path, reaper: list[Detached]
) -> None:
    # the README's command, at speed-up 10: at 1 the wait for a GPS fix and the EKF
    # takes a minute of the wall, and the speed-up is not what this test is about
    state = start(reaper, "--speedup", "10")
    # the command has returned: SITL's parent is the supervisor, whose parent is us
    stat = Path(f"/proc/{state.sitl_pid}/stat").read_text()
    assert stat.rsplit(")", 1)[1].split()[1] == str(state.supervisor_pid)  # field 4: ppid

    # ArduCopter sends HEARTBEAT at 1 Hz of simulated time: 10 Hz of the wall at
    # speed-up 10, fewer on a busy machine (the speed-up is a ceiling). In a 4 s window
    # ask for 12 (3 times real time) and no silence over 1 s from its start to its end.
    times = heartbeats(state.url, 4.0)
    assert len(times) >= 12, times
    edges = [0.0, *times, 4.0]
    assert max(b - a for a, b in itertools.pairwise(edges)) < 1.0, times

    again = ecopatrol("sitl", "start", "--instance", str(state.instance))
    assert again.returncode == 1
    assert f"SITL instance {state.instance} is already running" in one_line(again.stderr)

    status = ecopatrol("sitl", "status")
    assert status.returncode == 0, status.stderr
    assert f"SITL instance {state.instance}: running" in status.stdout
    assert state.url in status.stdout

    stopped = ecopatrol("sitl", "stop", "--instance", str(state.instance))
    assert stopped.returncode == 0, stopped.stderr
    assert f"stopped SITL instance {state.instance}" in stopped.stdout
    # the supervisor stopped SITL on SIGTERM, reaped it and exited 0
    assert os.waitstatus_to_exitcode(reap(state.supervisor_pid, 5.0)) == 0
    assert_nothing_left(state)
    assert not Path(state.workdir).exists()
    assert ecopatrol("sitl", "stop", "--instance", str(state.instance)).returncode == 1


@pytest.mark.sitl
@pytest.mark.timeout(300)
def test_a_killed_supervisor_takes_sitl_with_it(sitl_binary: Path, reaper: list[Detached]) -> None:
    """SIGKILL leaves the supervisor no chance to stop SITL: the kernel does it
    (PR_SET_PDEATHSIG), since a SITL nobody parents could be neither stopped
    through its state nor reaped, and would hold ports its free lock disowns."""
    state = start(reaper, "--speedup", "5")
    os.kill(state.supervisor_pid, signal.SIGKILL)
    assert os.waitstatus_to_exitcode(reap(state.supervisor_pid, 5.0)) == -signal.SIGKILL
    # SITL, orphaned, is now our child: it ends within seconds, we reap it
    reap(state.sitl_pid, 5.0)
    assert state.state_path.exists()  # the killed supervisor could not remove it
    status = ecopatrol("sitl", "status", "--instance", str(state.instance))
    assert status.returncode == 1  # the state is stale (its lock is free): removed
    assert_nothing_left(state)
    shutil.rmtree(state.workdir)  # its logs, kept for the user to read


@pytest.mark.sitl
@pytest.mark.timeout(300)
def test_a_sitl_that_dies_takes_its_state_with_it(
    sitl_binary: Path, reaper: list[Detached]
) -> None:
    """A crash (SIGKILL to SITL): the supervisor reaps it, removes the state, exits 1."""
    state = start(reaper, "--speedup", "5")
    os.kill(state.sitl_pid, signal.SIGKILL)
    assert os.waitstatus_to_exitcode(reap(state.supervisor_pid, 10.0)) == 1
    assert_nothing_left(state)
    assert (Path(state.workdir) / "sitl.log").exists()  # kept: it says why
    status = ecopatrol("sitl", "status")
    assert f"SITL instance {state.instance}:" not in status.stdout
    shutil.rmtree(state.workdir)
