"""Start and stop ArduCopter SITL instances on 127.0.0.1.

Each instance runs in its own temporary directory (its EEPROM, logs and
defaults file live there), with its own instance number, in its own process
group, so stopping it kills everything it started. A lock file per instance
number keeps parallel test runs and other users off each other's ports.

SITL's ``tcp:`` serial ports listen on every interface, so the serial ports
are given as ``udpclient:127.0.0.1:PORT`` instead: SITL sends to a loopback
port and only accepts datagrams from it. The first serial port goes to
UDP 14550+10*I (where QGroundControl listens by default), the second to
14551+10*I, the third to 14552+10*I; connect with ``udpin:127.0.0.1:PORT``.
UDP also means an idle client never slows the simulation, as an unread TCP
connection does.

SITL always dies with the process that started it: ArduPilot itself exits once
the pid that started it is gone (``SITL_State::_fdm_input_step`` checks
``kill(parent, 0)`` on every physics step), and the kernel sends it SIGTERM
at once when that parent dies (``PR_SET_PDEATHSIG``). An instance that must
outlive a command is therefore started by :mod:`sitl.supervisor`, a process that
stays to parent it.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import fcntl
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from missions.flight.vehicle import Vehicle
from sitl.errors import BinaryNotFoundError, SitlNotReadyError, SitlStartError
from sitl.params import BOOT_PARAMS, write_defaults

logger = logging.getLogger(__name__)

DEFAULT_BINARY = Path("/opt/ardupilot/bin/arducopter")
ENV_BINARY = "ARDUPILOT_SITL"
LOCK_DIR = Path(tempfile.gettempdir()) / "ecopatrol-sitl-locks"
MAX_INSTANCES = 32


def find_binary() -> Path:
    """The ArduCopter SITL binary: ``$ARDUPILOT_SITL``, ``arducopter`` on PATH, /opt/ardupilot."""
    env = os.environ.get(ENV_BINARY)
    if env:
        path = Path(env)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise BinaryNotFoundError(f"${ENV_BINARY} is {env}, which is not an executable file")
    on_path = shutil.which("arducopter")
    if on_path:
        return Path(on_path)
    if DEFAULT_BINARY.is_file() and os.access(DEFAULT_BINARY, os.X_OK):
        return DEFAULT_BINARY
    raise BinaryNotFoundError(
        f"no ArduCopter SITL binary: set ${ENV_BINARY}, put `arducopter` on PATH, "
        f"or install it as {DEFAULT_BINARY}"
    )


@dataclass(frozen=True, slots=True)
class Home:
    """Where the simulated vehicle boots: the dock."""

    lat: float
    lon: float
    alt_amsl_m: float = 0.0
    heading_deg: float = 0.0

    def __str__(self) -> str:
        return f"{self.lat:.7f},{self.lon:.7f},{self.alt_amsl_m:g},{self.heading_deg:g}"


_live: weakref.WeakSet[Sitl] = weakref.WeakSet()


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the parent dies (Linux prctl)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@atexit.register
def _stop_all() -> None:
    """Interpreter exit: stop every instance this process still runs."""
    for sitl in list(_live):
        sitl.stop()


def _udp_port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def gcs_port(instance: int, serial: int = 0) -> int:
    """Loopback UDP port that serial port ``serial`` of SITL ``instance`` sends to."""
    return 14550 + 10 * instance + serial


def _ports(instance: int) -> tuple[int, ...]:
    """UDP ports an instance needs: its three serial ports and SITL's RC input."""
    return (*(gcs_port(instance, s) for s in range(3)), 5501 + 10 * instance)


def lock_path(instance: int) -> Path:
    """The lock file of an instance number; it names the pid that holds the lock."""
    return LOCK_DIR / f"instance-{instance}.lock"


def try_lock(instance: int) -> IO[str] | None:
    """The instance's lock, held from now on, or None while another process holds it.

    The file is opened without truncating it: it names the holder's pid.
    """
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    fh = lock_path(instance).open("a+", encoding="ascii")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        return None
    return fh


def lock_holder(instance: int) -> int | None:
    """The pid written by the holder of the instance's lock, or None when it is free."""
    fh = try_lock(instance)
    if fh is not None:
        fh.close()
        return None
    try:
        return int(lock_path(instance).read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


def claim_instance(wanted: int | None) -> tuple[int, IO[str]]:
    """Lock an instance number whose ports are free; the lock lives as long as the file."""
    candidates = [wanted] if wanted is not None else list(range(MAX_INSTANCES))
    for number in candidates:
        fh = try_lock(number)
        if fh is None:
            continue
        if all(_udp_port_free(p) for p in _ports(number)):
            fh.truncate(0)
            fh.write(str(os.getpid()))
            fh.flush()
            return number, fh
        fh.close()
    which = f"instance {wanted}" if wanted is not None else f"any of {MAX_INSTANCES} instances"
    raise SitlStartError(f"no free SITL ports for {which} (UDP 14550+10*I on 127.0.0.1)")


@dataclass
class Sitl:
    """One running SITL instance. Stop it with :meth:`stop` (idempotent)."""

    instance: int
    home: Home
    speedup: float
    workdir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    _lock: IO[str] | None = field(default=None, repr=False)
    _own_workdir: bool = field(default=True, repr=False)

    def __hash__(self) -> int:
        return id(self)

    @property
    def url(self) -> str:
        """The first serial port: always accepts unsigned MAVLink."""
        return f"udpin:127.0.0.1:{gcs_port(self.instance, 0)}"

    @property
    def url2(self) -> str:
        """The second serial port (where MAVLink signing is enforced once set up)."""
        return f"udpin:127.0.0.1:{gcs_port(self.instance, 1)}"

    @property
    def url3(self) -> str:
        """The third serial port, free for a second client (a proxy, MAVProxy)."""
        return f"udpin:127.0.0.1:{gcs_port(self.instance, 2)}"

    @property
    def heartbeat_interval_s(self) -> float:
        """GCS heartbeat period that keeps ArduPilot's GCS failsafe quiet at this speed-up."""
        return min(1.0, 1.0 / self.speedup)

    def running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, *, timeout_s: float = 5.0) -> None:
        """Terminate the whole process group, then remove the working directory."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout_s)
        # a reboot re-executes SITL in the same group: sweep the group once more
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        logger.info("SITL instance %d stopped", self.instance)


def launch(
    *,
    home: Home,
    speedup: float = 10.0,
    instance: int | None = None,
    params: dict[str, float] | None = None,
    workdir: Path | None = None,
    binary: Path | None = None,
    model: str = "quad",
    sysid: int | None = None,
) -> Sitl:
    """Claim an instance number and start SITL (not yet ready to fly: see :func:`start`).

    SITL is tied to the calling thread (Linux): the kernel terminates it if
    this process dies without stopping it, even by SIGKILL. ``sysid``: the
    vehicle's MAVLink system id (SITL's ``--sysid``, MAV_SYSID; 1 when None),
    distinct for each vehicle of a fleet.
    """
    binary = binary or find_binary()
    if speedup <= 0:
        raise ValueError(f"speed-up must be positive, got {speedup:g}")
    number, lock = claim_instance(instance)
    try:
        own = workdir is None
        workdir = workdir or Path(tempfile.mkdtemp(prefix=f"ecopatrol-sitl-{number}-"))
        return spawn(
            number,
            home=home,
            speedup=speedup,
            params=params,
            workdir=workdir,
            binary=binary,
            model=model,
            lock=lock,
            own_workdir=own,
            sysid=sysid,
        )
    except BaseException:
        lock.close()
        raise


def spawn(
    instance: int,
    *,
    home: Home,
    speedup: float,
    params: dict[str, float] | None,
    workdir: Path,
    binary: Path,
    model: str = "quad",
    lock: IO[str] | None = None,
    own_workdir: bool = False,
    sysid: int | None = None,
) -> Sitl:
    """Start SITL as instance ``instance``, already claimed by the caller, in ``workdir``.

    ``lock`` (the claim) is released by :meth:`Sitl.stop`; pass None to keep
    holding it yourself.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    defaults = write_defaults(workdir / "defaults.parm", params)
    log_path = workdir / "sitl.log"
    cmd = [
        str(binary),
        "--model",
        model,
        "--speedup",
        f"{speedup:g}",
        "--instance",
        str(instance),
        "--home",
        str(home),
        "--defaults",
        str(defaults),
        "--sim-address",
        "127.0.0.1",
        *(
            arg
            for serial in range(3)
            for arg in (f"--serial{serial}", f"udpclient:127.0.0.1:{gcs_port(instance, serial)}")
        ),
        *(("--sysid", str(sysid)) if sysid is not None else ()),
    ]
    logger.info("starting SITL: %s (in %s)", " ".join(cmd), workdir)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            cmd,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: stop() kills all of it
            preexec_fn=_die_with_parent,
        )
    sitl = Sitl(instance, home, speedup, workdir, process, log_path, lock, own_workdir)
    _live.add(sitl)
    time.sleep(0.1)
    if process.poll() is not None:
        tail = sitl.log_tail()
        sitl.stop()
        raise SitlStartError(f"SITL exited at once (code {process.returncode}): {tail}")
    return sitl


async def _connect(sitl: Sitl, *, timeout_s: float, tlog_path: Path | None = None) -> Vehicle:
    return await Vehicle.connect(
        sitl.url,
        heartbeat_interval_s=sitl.heartbeat_interval_s,
        link_timeout_s=3.0,
        timeout_s=timeout_s,
        tlog_path=tlog_path,
    )


async def prepare(sitl: Sitl, *, timeout_s: float = 120.0) -> None:
    """Set the boot-time parameters, reboot, and wait until ready to arm."""
    deadline = time.monotonic() + timeout_s
    try:
        vehicle = await _connect(sitl, timeout_s=min(60.0, timeout_s))
    except Exception as exc:
        raise SitlStartError(f"SITL instance {sitl.instance}: {exc}; {sitl.log_tail(5)}") from exc
    try:
        changed = False
        for name, value in BOOT_PARAMS.items():
            if await vehicle.get_param(name) != value:
                await vehicle.set_param(name, value)
                changed = True
        if changed:
            await vehicle.reboot()
        left = max(1.0, deadline - time.monotonic())
        try:
            await vehicle.wait_ready(timeout_s=left)
        except TimeoutError as exc:
            raise SitlNotReadyError(
                f"SITL instance {sitl.instance} not ready to arm within {timeout_s:g} s: {exc}"
            ) from exc
    finally:
        await vehicle.close()


async def start(
    *,
    home: Home,
    speedup: float = 10.0,
    instance: int | None = None,
    params: dict[str, float] | None = None,
    workdir: Path | None = None,
    timeout_s: float = 120.0,
    sysid: int | None = None,
) -> Sitl:
    """Start SITL and return once it is ready to arm; stopped again on any failure."""
    # in this thread: the kernel ties the child to the thread that forked it
    sitl = launch(
        home=home,
        speedup=speedup,
        instance=instance,
        params=params,
        workdir=workdir,
        sysid=sysid,
    )
    try:
        await prepare(sitl, timeout_s=timeout_s)
    except BaseException:
        sitl.stop()
        raise
    logger.info("SITL instance %d ready at %s (speed-up %g)", sitl.instance, sitl.url, speedup)
    return sitl


@contextlib.asynccontextmanager
async def running(
    *,
    home: Home,
    speedup: float = 10.0,
    instance: int | None = None,
    params: dict[str, float] | None = None,
    timeout_s: float = 120.0,
) -> AsyncIterator[Sitl]:
    """``async with running(home=...) as sitl:`` a ready instance, always stopped after."""
    sitl = await start(
        home=home, speedup=speedup, instance=instance, params=params, timeout_s=timeout_s
    )
    try:
        yield sitl
    finally:
        sitl.stop()
