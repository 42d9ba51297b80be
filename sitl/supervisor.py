"""Keep one SITL instance running after ``ecopatrol sitl start`` returns.

ArduPilot's SITL exits once the process that started it is gone (it checks
``kill(parent, 0)`` on every physics step, ``SITL_State::_fdm_input_step``),
so a command that starts SITL and returns cannot leave it behind. This module
is the process that stays behind to parent it, one per instance:

1. ``ecopatrol sitl start`` runs ``python -m sitl.supervisor CONFIG`` in a new
   session (no terminal: a closed terminal or Ctrl-C in it does not reach it)
   with its output on a pipe, and waits for one report line.
2. The supervisor claims the instance number (the claim is a file lock that
   it holds until it exits), starts SITL in the instance's work directory
   (:func:`instance_dir`), waits until it is ready to arm, writes
   ``state.json`` there (its pid, SITL's pid, the connection URLs), reports
   ``READY`` and the state, and moves its output to ``supervisor.log``. The
   command prints the URLs and exits; the supervisor waits on SITL.
3. On SIGTERM, SIGINT or SIGHUP it stops SITL (SIGTERM to its process group,
   SIGKILL after 5 s), reaps it, removes the work directory and exits 0. If
   SITL exits by itself, it removes ``state.json``, keeps the logs, exits 1.
4. ``sitl stop`` and ``sitl status`` read ``state.json``. An instance runs
   while its lock is held by the pid the state names; ``stop`` sends SIGTERM
   and returns once the lock is free, that is once the supervisor has exited.

If the supervisor is killed outright (SIGKILL), SITL goes with it: the kernel
sends it SIGTERM (``PR_SET_PDEATHSIG``, set by :func:`sitl.instance.spawn`),
and ArduPilot would exit anyway without its parent. That is what we want: an
orphaned SITL has nobody to reap it, to stop it or to hold its instance's lock,
so its ports would look free to the next ``start``. The state the killed
supervisor leaves is stale (its lock is free) and is removed by the next
``status``, ``stop`` or ``start``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import IO, Any

from sitl import errors
from sitl.errors import InstanceRunningError, SitlError, SitlNotReadyError, SitlStartError
from sitl.instance import Home, Sitl, claim_instance, find_binary, lock_holder, prepare, spawn

logger = logging.getLogger(__name__)

#: Where each detached instance's work directory goes: per user (only its
#: owner can stop a supervisor), and only ever used when this user owns it.
RUN_DIR = Path(tempfile.gettempdir()) / f"ecopatrol-sitl-run-{os.getuid()}"
STATE_NAME = "state.json"
_READY = "READY "
_FAILED = "FAILED "
_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def instance_dir(instance: int) -> Path:
    """The work directory of a detached instance: EEPROM, logs, ``state.json``."""
    return RUN_DIR / f"instance-{instance}"


def _check_run_dir() -> None:
    """Create :data:`RUN_DIR` (mode 700), refusing one that someone else made in /tmp."""
    RUN_DIR.mkdir(mode=0o700, exist_ok=True)
    info = RUN_DIR.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise SitlStartError(
            f"{RUN_DIR} is not a directory of this user's that only it can write: remove it"
        )


@dataclass(frozen=True, slots=True)
class Detached:
    """A SITL instance kept by a supervisor, as its ``state.json`` describes it."""

    instance: int
    supervisor_pid: int
    sitl_pid: int
    home: str
    speedup: float
    url: str
    url2: str
    url3: str
    workdir: str
    started_utc: str

    @classmethod
    def of(cls, sitl: Sitl) -> Detached:
        return cls(
            instance=sitl.instance,
            supervisor_pid=os.getpid(),
            sitl_pid=sitl.process.pid,
            home=str(sitl.home),
            speedup=sitl.speedup,
            url=sitl.url,
            url2=sitl.url2,
            url3=sitl.url3,
            workdir=str(sitl.workdir),
            started_utc=datetime.now(UTC).isoformat(timespec="seconds"),
        )

    @classmethod
    def from_json(cls, text: str) -> Detached:
        """Parse a state; ValueError (or TypeError, KeyError) when it is not one."""
        data = json.loads(text)
        return cls(**{f.name: data[f.name] for f in fields(cls)})

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @property
    def state_path(self) -> Path:
        return Path(self.workdir) / STATE_NAME


# --- the command's side: start, list and stop supervised instances ------------------


def start_detached(
    *,
    home: Home,
    speedup: float,
    instance: int | None = None,
    params: dict[str, float] | None = None,
    binary: Path | None = None,
    timeout_s: float = 120.0,
) -> Detached:
    """Start a supervised SITL instance and return once it is ready to arm.

    Raises :class:`InstanceRunningError` when ``instance`` already runs,
    :class:`~sitl.errors.BinaryNotFoundError` before any process is started,
    and the supervisor's own error when SITL fails to start or get ready.
    """
    binary = binary or find_binary()
    if speedup <= 0:
        raise ValueError(f"speed-up must be positive, got {speedup:g}")
    _check_run_dir()
    if instance is not None and (running := running_instances(instance)):
        raise InstanceRunningError(
            f"SITL instance {instance} is already running (connect: {running[0].url}); "
            f"stop it first with `ecopatrol sitl stop --instance {instance}`"
        )
    config = {
        "home": [home.lat, home.lon, home.alt_amsl_m, home.heading_deg],
        "speedup": speedup,
        "instance": instance,
        "params": params or {},
        "binary": str(binary),
        "timeout_s": timeout_s,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "sitl.supervisor", json.dumps(config)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # no terminal: its hang-up and Ctrl-C never reach SITL
        cwd="/",  # pins no directory
        env=_supervisor_env(),
    )
    try:
        return _await_report(process, deadline=time.monotonic() + timeout_s + 30.0)
    except BaseException:
        process.terminate()  # it stops SITL on SIGTERM, as for `sitl stop`
        try:
            process.wait(20.0)
        except subprocess.TimeoutExpired:
            process.kill()  # the kernel then stops SITL (PR_SET_PDEATHSIG)
            process.wait()
        raise


def _supervisor_env() -> dict[str, str]:
    """This environment, with the directory ``sitl`` was imported from on the path."""
    root = str(Path(__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root + (os.pathsep + path if path else "")}


def _await_report(process: subprocess.Popen[bytes], *, deadline: float) -> Detached:
    """The supervisor's READY state, or its failure raised as the error it names."""
    assert process.stdout is not None
    lines = _lines(process.stdout, deadline)
    last = ""
    for line in lines:
        if line.startswith(_READY):
            return Detached.from_json(line.removeprefix(_READY))
        if line.startswith(_FAILED):
            kind, _, message = line.removeprefix(_FAILED).partition(" ")
            process.wait()
            raise _error_class(kind)(message)
        last = line or last
    if process.poll() is None:
        raise SitlNotReadyError("the SITL supervisor did not report within its time limit")
    raise SitlStartError(
        f"the SITL supervisor exited (code {process.returncode}) before SITL was ready: {last}"
    )


def _lines(stream: IO[bytes], deadline: float) -> Iterator[str]:
    """Lines from ``stream`` until it closes or ``deadline`` (time.monotonic) passes."""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        pending = b""
        while (left := deadline - time.monotonic()) > 0:
            if not selector.select(left):
                continue
            chunk = os.read(stream.fileno(), 65536)
            if not chunk:
                break
            *complete, pending = (pending + chunk).split(b"\n")
            yield from (raw.decode(errors="replace").strip() for raw in complete)
        if pending:
            yield pending.decode(errors="replace").strip()


def _error_class(name: str) -> type[SitlError]:
    """The ``sitl.errors`` class a failure report names (SitlStartError if none)."""
    found = getattr(errors, name, None)
    if isinstance(found, type) and issubclass(found, SitlError):
        return found
    return SitlStartError


def running_instances(instance: int | None = None) -> list[Detached]:
    """Supervised instances that run now; stale state (a killed supervisor's) is removed."""
    _check_run_dir()
    if instance is not None:
        paths = [instance_dir(instance) / STATE_NAME]
    else:
        paths = sorted(RUN_DIR.glob(f"instance-*/{STATE_NAME}"))
    live: list[Detached] = []
    for path in paths:
        try:
            state = Detached.from_json(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, TypeError, KeyError):
            continue
        holder = lock_holder(state.instance)
        if holder == state.supervisor_pid:
            live.append(state)
        elif holder is None:  # nobody holds the instance: its supervisor is gone
            logger.info("removing stale SITL state %s", path)
            path.unlink(missing_ok=True)
    return live


def stop_detached(instance: int | None = None, *, timeout_s: float = 20.0) -> list[int]:
    """Stop supervised instances (all, or one) and return the numbers stopped.

    Returns once each supervisor has exited, having stopped and reaped SITL.
    """
    stopped: list[int] = []
    for state in running_instances(instance):
        _stop_one(state, timeout_s)
        stopped.append(state.instance)
    return stopped


def _stop_one(state: Detached, timeout_s: float) -> None:
    _signal(state.supervisor_pid, signal.SIGTERM)
    if _wait_unlocked(state.instance, timeout_s):
        logger.info("stopped SITL instance %d", state.instance)
        return
    logger.warning(
        "the supervisor of SITL instance %d (pid %d) did not stop within %g s: killing it",
        state.instance,
        state.supervisor_pid,
        timeout_s,
    )
    _signal(state.supervisor_pid, signal.SIGKILL)  # SITL gets SIGTERM from the kernel
    _signal(-state.sitl_pid, signal.SIGKILL)  # and its process group SIGKILL from us
    _wait_unlocked(state.instance, 5.0)
    state.state_path.unlink(missing_ok=True)


def _signal(pid: int, signum: int) -> None:
    """``kill(pid, signum)`` (a negative pid: the process group); gone already is fine."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _wait_unlocked(instance: int, timeout_s: float) -> bool:
    """Wait until nobody holds the instance's lock; False if still held after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while lock_holder(instance) is not None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


# --- the supervisor process ----------------------------------------------------------


class _Terminated(SystemExit):
    """Raised by the signal handler. A SystemExit, so that asyncio and the
    ``except Exception`` clauses of the code it interrupts let it through."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)  # one stop: cleanup is not interrupted
    raise _Terminated(f"stopped by {signal.Signals(signum).name}")


def _report(line: str) -> bool:
    """Send one report line to the command; False when nobody is reading any more."""
    try:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    except OSError:
        return False
    return True


def _report_failure(exc: BaseException, logs: Path | None = None) -> None:
    kind = type(exc).__name__ if isinstance(exc, SitlError) else "SitlStartError"
    message = " ".join(str(exc).split()) or type(exc).__name__
    _report(f"{_FAILED}{kind} {message}" + (f" (logs in {logs})" if logs else ""))


def _output_to(log_path: Path) -> None:
    """From now on stdout and stderr go to the log: the command's pipe is closed."""
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(fd, sys.stdout.fileno())
    os.dup2(fd, sys.stderr.fileno())
    os.close(fd)


def _write_state(state: Detached) -> None:
    """Write ``state.json`` whole (rename over it): a reader never sees half of it."""
    partial = state.state_path.with_suffix(".partial")
    partial.write_text(state.to_json(), encoding="utf-8")
    partial.replace(state.state_path)


def _fresh_workdir(workdir: Path) -> None:
    """An empty work directory (no EEPROM from an earlier run) with this process's log."""
    _check_run_dir()
    shutil.rmtree(workdir, ignore_errors=True)  # an earlier run's leftovers: the lock is ours
    workdir.mkdir()
    logging.basicConfig(
        filename=workdir / "supervisor.log",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _supervise(config: dict[str, Any], instance: int) -> int:
    """Start SITL as ``instance``, report, and wait; the exit code of the supervisor."""
    workdir = instance_dir(instance)
    sitl: Sitl | None = None
    remove_workdir = False
    try:
        _fresh_workdir(workdir)
        sitl = spawn(
            instance,
            home=Home(*config["home"]),
            speedup=float(config["speedup"]),
            params={str(k): float(v) for k, v in config["params"].items()} or None,
            workdir=workdir,
            binary=Path(config["binary"]),
        )
        asyncio.run(prepare(sitl, timeout_s=float(config["timeout_s"])))
        state = Detached.of(sitl)
        _write_state(state)
        if not _report(_READY + state.to_json()):
            raise _Terminated("the command that started SITL is gone")
        _output_to(workdir / "supervisor.log")
        code = sitl.process.wait()
        logger.error("SITL exited by itself (code %d); its log: %s", code, sitl.log_path)
        return 1
    except _Terminated as exc:
        logger.info("SITL instance %d: %s", instance, exc.code)
        remove_workdir = True
        return 0
    except Exception as exc:  # the process boundary: every failure becomes one report
        logger.exception("SITL instance %d failed to start", instance)
        _report_failure(exc, workdir if workdir.is_dir() else None)
        return 1
    finally:
        signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        if sitl is not None:
            sitl.stop()  # terminates and reaps SITL
        (workdir / STATE_NAME).unlink(missing_ok=True)
        if remove_workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """The supervisor process: ``python -m sitl.supervisor CONFIG_JSON``."""
    for signum in _SIGNALS:
        signal.signal(signum, _on_signal)
    try:
        config = json.loads((argv if argv is not None else sys.argv[1:])[0])
        instance, lock = claim_instance(config["instance"])
    except _Terminated:
        return 0
    except (SitlError, OSError, ValueError, IndexError, KeyError) as exc:
        _report_failure(exc)
        return 1
    # never closed: the lock goes when this process exits, and `sitl stop` waits for that
    _held_until_exit.append(lock)
    return _supervise(config, instance)


_held_until_exit: list[IO[str]] = []


if __name__ == "__main__":
    sys.exit(main())
