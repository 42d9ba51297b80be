"""No photo without its pose: the captures the manifest lacks, recovered from the vehicle's log.

Over a lossy link (a cellular network) CAMERA_FEEDBACK messages get lost, and
the manifest misses rows for photos the vehicle did take. ArduPilot writes
every photo to its dataflash log as well. After landing, the log is
downloaded over MAVLink (:func:`download_log`), read with pymavlink's
DFReader (:func:`read_cams`), and the missing rows are built from it and
marked ``source="dataflash"`` (:func:`merge_captures`,
:func:`recover_missing_captures`).

What the log says, read from ArduPilot's source:

- CAM (``AP_Camera_Backend::Write_CameraInfo`` in AP_Camera_Logging.cpp,
  fields in AP_Camera/LogStructure.h). Without a feedback pin
  (``log_picture``) it is written when the shutter fires, ``TimeUS`` then
  being ``AP_HAL::micros64()``: the trigger on the autopilot's boot clock.
  With a feedback pin CAM is the pin's edge and TRIG the trigger. ``Img`` is
  the same ``image_index`` CAMERA_FEEDBACK sends as ``img_idx``. ``Lat``,
  ``Lng`` are the AHRS position (degrees once DFReader has scaled them).
  ``Alt`` is ``get_alt_cm(ABSOLUTE)``: metres above mean sea level;
  ``RelAlt`` is ``get_alt_cm(ABOVE_HOME)``: metres above home (the take-off
  point), the same two heights CAMERA_FEEDBACK's ``alt_msl`` and ``alt_rel``
  carry. ``R``, ``P``, ``Y`` are ``ahrs.roll_sensor``, ``pitch_sensor``,
  ``yaw_sensor``: the VEHICLE's attitude (NED Z-Y-X Euler angles, yaw from
  true north, degrees after scaling), not the camera's. ``GPSWeek`` and
  ``GPSTime`` are the last GPS fix's time, up to a fix period before the
  trigger.
- MNT (``AP_Mount_Backend::write_log``), written right after each CAM with
  the same ``TimeUS``: ``Roll``, ``Pitch``, ``YawB`` are the mount's attitude
  quaternion as Z-Y-X Euler angles (``AP_Mount::get_attitude_euler``), yaw
  from the vehicle's heading. For the servo mount (MNTn_TYPE 1) that
  quaternion packs the body-frame servo outputs (roll, tilt, pan:
  ``AP_Mount_Servo::get_attitude_quaternion``) at the shutter, unpacked here
  like the live gimbal status (:func:`missions.flight.capture.servo_angles`);
  for the other mounts roll and pitch are from the horizon and yaw from the
  vehicle's heading (:attr:`GimbalFrame.VEHICLE`).
- The transfer (AP_Logger_MAVLinkLogTransfer.cpp): logs are sent only while
  disarmed (armed, the vehicle says "Disarm for log download" and nothing
  else); with no log the listing is one LOG_ENTRY with ``num_logs`` 0; a
  LOG_REQUEST_DATA that arrives while a range is still being sent is dropped;
  a range ends with its last byte or a LOG_DATA shorter than 90 bytes (the
  end of the file). Opening a log for reading closes the one being written.
"""

from __future__ import annotations

import itertools
import logging
import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pymavlink import DFReader
from pymavlink.dialects.v20 import ardupilotmega as mavlink
from scipy.spatial.transform import Rotation

from missions.flight.capture import (
    EARTH_ANCHOR_MS,
    MOUNT_TYPE_SERVO,
    GimbalFrame,
    GimbalSample,
    body_sample,
    camera_matrix,
    earth_between,
    euler,
    horizon_sample,
    rotation,
    servo_angles,
    servo_joint_angles,
)
from missions.flight.errors import FlightError, LinkTimeoutError
from missions.flight.link import MavLink, Subscription
from missions.flight.vehicle import Vehicle
from missions.geo import distance_m
from missions.manifest import SOURCE_DATAFLASH, CapturePose, read_manifest, write_manifest

logger = logging.getLogger(__name__)

#: Bytes of log in one LOG_DATA (MAVLINK_MSG_LOG_DATA_FIELD_DATA_LEN).
LOG_DATA_BYTES = 90
#: GPS time 0 (1980-01-06) as UTC, and GPS time's lead over UTC (AP_GPS.h: 18 s).
_GPS_EPOCH = datetime(1980, 1, 6, tzinfo=UTC)
_GPS_LEAP_S = 18
#: A CAM and a manifest row with the same image number further apart than this
#: are not the same photo: the log is another flight's (the counter restarts at boot).
SAME_PHOTO_M = 5.0

#: ``on_progress(received, size)`` (bytes) every this many LOG_DATA, and after each round.
PROGRESS_BLOCKS = 2000

ProgressCallback = Callable[[int, int], None]


#: How many of the newest logs are tried for the flight's (see recover_missing_captures).
LOGS_TRIED = 8

#: Short answers to one block, before the listed end, that make it the log's end.
EOF_CONFIRMATIONS = 3

#: LOG_BACKEND_TYPE bit 0: to a file (AP_Logger.cpp); LOG_BITMASK bit 15, CAM records
#: (MASK_LOG_CAMERA in ArduCopter/defines.h).
LOG_TO_FILE = 1
MASK_LOG_CAMERA = 1 << 15

#: The least a patrol vehicle should log for a photo whose CAMERA_FEEDBACK the link
#: lost to get its pose back: to a file, while armed only, one log per flight closed
#: at disarm, the camera's records (MNT comes with them), no EKF3 streams, other
#: streams at 1 Hz; a 150 m box then logs 0.8 MB, not 8 MB, to download over 4G.
#: An owner who logs more for their own analysis keeps it: only the file backend and
#: the camera bit matter here (:func:`logging_advice`).
RECOMMENDED_LOGGING = {
    "LOG_BACKEND_TYPE": float(LOG_TO_FILE),
    "LOG_DISARMED": 0.0,
    "LOG_FILE_DSRMROT": 1.0,
    "LOG_BITMASK": float(MASK_LOG_CAMERA),
    "EK3_LOG_LEVEL": 3.0,
    "LOG_FILE_RATEMAX": 1.0,
}


def logging_advice(held: Mapping[str, float | None]) -> str | None:
    """Why this vehicle's log could not give lost photos their poses back, or None.

    ``held``: the vehicle's LOG_BACKEND_TYPE and LOG_BITMASK (None: not answered).
    Advice, not a refusal: the flight is safe, only its record may have gaps.
    """
    backend, mask = held.get("LOG_BACKEND_TYPE"), held.get("LOG_BITMASK")
    if backend is None or mask is None:
        return None  # not an ArduPilot logger: nothing to advise on
    if not int(backend) & LOG_TO_FILE:
        why = f"LOG_BACKEND_TYPE is {backend:g}, no file log"
    elif not int(mask) & MASK_LOG_CAMERA:
        why = f"LOG_BITMASK {mask:g} lacks the camera's records ({MASK_LOG_CAMERA})"
    else:
        return None
    return (
        f"photos whose CAMERA_FEEDBACK the link loses cannot be recovered: {why} "
        f"(set bit 0 of LOG_BACKEND_TYPE and bit 15 of LOG_BITMASK; LOG_DISARMED 0 and "
        f"LOG_FILE_DSRMROT 1 keep one log per flight)"
    )


class LogDownloadError(FlightError):
    """The vehicle's log could not be listed, downloaded or matched to the flight."""


class NoLogError(LogDownloadError):
    """The vehicle holds no dataflash log (is LOG_BACKEND_TYPE 0?)."""


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One log on the vehicle: its list number, UTC time (s, the file's; 0 when
    unknown) and size in bytes (LOG_ENTRY)."""

    id: int
    time_utc: int
    size: int


# -- listing --------------------------------------------------------------------


async def list_logs(link: MavLink, *, idle_s: float = 2.0, attempts: int = 5) -> list[LogEntry]:
    """Every log on the vehicle, oldest first (LOG_REQUEST_LIST, LOG_ENTRY).

    Entries lost on the way are asked for again (the missing range), at most
    ``attempts`` times. ``NoLogError`` when the vehicle has none.
    """
    entries: dict[int, LogEntry] = {}
    last: int | None = None
    with link.subscribe(mavlink.MAVLink_log_entry_message) as sub:
        for _ in range(attempts):
            wanted = [] if last is None else [i for i in range(1, last + 1) if i not in entries]
            start, end = (min(wanted), max(wanted)) if wanted else (0, 0xFFFF)
            link.send(
                link.mav.log_request_list_encode(
                    link.target_system, link.target_component, start, end
                )
            )
            while True:
                try:
                    msg = await sub.get(idle_s, waiting_for="LOG_ENTRY")
                except LinkTimeoutError:
                    break
                if msg.num_logs == 0:
                    raise NoLogError("the vehicle has no dataflash log (LOG_BACKEND_TYPE 0?)")
                # the list is numbered 1..num_logs (last_log_num is the request's end)
                last = int(msg.num_logs)
                entries[int(msg.id)] = LogEntry(int(msg.id), int(msg.time_utc), int(msg.size))
                if all(i in entries for i in range(1, last + 1)):
                    return [entries[i] for i in range(1, last + 1)]
    if last is None:
        raise LogDownloadError(
            f"no LOG_ENTRY after {attempts} LOG_REQUEST_LIST "
            "(the vehicle sends logs only when disarmed)"
        )
    raise LogDownloadError(f"log list incomplete after {attempts} requests: {sorted(entries)}")


def pick_log(entries: Sequence[LogEntry], *, log_id: int | None = None) -> LogEntry:
    """The flight's log: ``log_id`` if given, else the newest (the highest number:
    ArduPilot numbers its logs in the order it opens them, one per arming when
    LOG_DISARMED is 0)."""
    if not entries:
        raise NoLogError("the vehicle has no dataflash log")
    if log_id is None:
        return max(entries, key=lambda e: e.id)
    for entry in entries:
        if entry.id == log_id:
            return entry
    raise LogDownloadError(f"no log {log_id} on the vehicle (it has {[e.id for e in entries]})")


# -- download -------------------------------------------------------------------


class LogBlocks:
    """A log's bytes as 90-byte blocks (one LOG_DATA each), and which of them came."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.data = bytearray(size)
        self.have = np.zeros(math.ceil(size / LOG_DATA_BYTES), dtype=bool)
        self.short: dict[int, int] = {}  # block: short answers to it so far

    @property
    def received(self) -> int:
        """Bytes received so far (the last block may be short)."""
        if not len(self.have):
            return 0
        short = len(self.have) * LOG_DATA_BYTES - self.size if self.have[-1] else 0
        return int(self.have.sum()) * LOG_DATA_BYTES - short

    def add(self, ofs: int, count: int, data: Sequence[int] | bytes) -> bool:
        """Store one LOG_DATA; True when it was new.

        A block shorter than the rest of the listed size may be the end of the
        file, or a read error: ArduPilot sends both alike ("report as EOF on
        error", ``AP_Logger_MAVLinkLogTransfer::handle_log_send_data``), and a
        read just after disarm, while the logger closes its file, fails now and
        then (seen in SITL: a 331 kB log cut at 15 kB). It stays a hole, asked
        for again, until it has come short :data:`EOF_CONFIRMATIONS` times; then
        the log ends there.
        """
        block, rest = divmod(ofs, LOG_DATA_BYTES)
        if rest or block >= len(self.have) or self.have[block]:
            return False
        if count < min(LOG_DATA_BYTES, self.size - ofs):
            self.short[block] = self.short.get(block, 0) + 1
            if self.short[block] < EOF_CONFIRMATIONS:
                return False
            self.size = ofs + count
            self.have = self.have[: math.ceil(self.size / LOG_DATA_BYTES)]
            del self.data[self.size :]
        if count:
            self.data[ofs : ofs + count] = bytes(data[:count])
            self.have[block] = True
        return True

    def holes(self, max_blocks: int) -> list[tuple[int, int]]:
        """Runs of missing blocks as (first block, blocks), each at most ``max_blocks``."""
        missing = np.flatnonzero(~self.have)
        runs: list[tuple[int, int]] = []
        for run in np.split(missing, np.flatnonzero(np.diff(missing) != 1) + 1):
            for start in range(0, len(run), max_blocks):
                part = run[start : start + max_blocks]
                runs.append((int(part[0]), len(part)))
        return runs

    def span(self, first: int, blocks: int) -> tuple[int, int]:
        """Byte offset and count of ``blocks`` blocks from ``first``."""
        ofs = first * LOG_DATA_BYTES
        return ofs, min(blocks * LOG_DATA_BYTES, self.size - ofs)


@dataclass(slots=True)
class ReplyWait:
    """How long to wait for a request's LOG_DATA: ``factor`` times the smoothed time to
    its first reply (smoothed as TCP smooths its round-trip time, RFC 6298), within
    [``floor_s``, ``ceiling_s``]; ``ceiling_s`` until a reply was timed."""

    ceiling_s: float
    floor_s: float = 0.1
    factor: float = 4.0
    smoothed_s: float | None = None

    def observe(self, reply_s: float) -> None:
        if self.smoothed_s is None:
            self.smoothed_s = reply_s
        else:
            self.smoothed_s += (reply_s - self.smoothed_s) / 8.0

    @property
    def timeout_s(self) -> float:
        if self.smoothed_s is None:
            return self.ceiling_s
        return min(self.ceiling_s, max(self.floor_s, self.factor * self.smoothed_s))


def next_requests(runs: list[tuple[int, int]], window: int) -> list[tuple[int, int]]:
    """The runs to ask for at once: the first alone when it is longer than a block (the
    vehicle drops requests while it sends a range), else up to ``window`` single
    blocks (each is sent whole in the handler of its request, so none is dropped)."""
    singles = list(itertools.takewhile(lambda run: run[1] == 1, runs[:window]))
    return singles or runs[:1]


async def download_log(
    link: MavLink,
    entry: LogEntry,
    *,
    on_progress: ProgressCallback | None = None,
    idle_s: float = 1.0,
    chunk_blocks: int = 128,
    window: int = 16,
    max_stalls: int = 10,
) -> bytes:
    """The whole log ``entry`` (LOG_REQUEST_DATA, LOG_DATA, LOG_REQUEST_END).

    Asked for a run of missing blocks at a time, at most ``chunk_blocks``
    (11.5 kB at 128): the vehicle drops a request that arrives while it still
    sends a range, and sends a range as fast as its link takes it, faster than
    a receive buffer holds (one request for a whole 8 MB SITL log lost most of
    it). What a lossy link loses comes back as holes, asked for again next,
    ``window`` single blocks at once (:func:`next_requests`). A request is
    done when its last block came, or after :class:`ReplyWait` (at most
    ``idle_s``) without a LOG_DATA. ``on_progress(received, size)`` (bytes)
    every :data:`PROGRESS_BLOCKS` blocks and after each request.
    ``LogDownloadError`` after ``max_stalls`` requests in a row that brought
    nothing.
    """
    blocks = LogBlocks(entry.size)
    wait = ReplyWait(idle_s)
    stalls = rounds = 0
    started = time.monotonic()
    with link.subscribe(mavlink.MAVLink_log_data_message, maxsize=10 * chunk_blocks) as sub:
        try:
            while runs := next_requests(blocks.holes(chunk_blocks), window):
                for run in runs:
                    ofs, size = blocks.span(*run)
                    link.send(
                        link.mav.log_request_data_encode(
                            link.target_system, link.target_component, entry.id, ofs, size
                        )
                    )
                new = await _receive(sub, blocks, entry.id, runs, wait, on_progress)
                rounds += 1
                stalls = 0 if new else stalls + 1
                if on_progress is not None:
                    on_progress(blocks.received, blocks.size)
                if stalls >= max_stalls:
                    raise LogDownloadError(
                        f"log {entry.id}: nothing for {stalls} requests in a row, "
                        f"{blocks.received} of {blocks.size} bytes received"
                    )
        finally:
            link.send(link.mav.log_request_end_encode(link.target_system, link.target_component))
    logger.info(
        "log %d: %d bytes in %.1f s, %d requests, replies wait %.3f s",
        entry.id,
        blocks.size,
        time.monotonic() - started,
        rounds,
        wait.timeout_s,
    )
    return bytes(blocks.data)


async def _receive(
    sub: Subscription,
    blocks: LogBlocks,
    log_id: int,
    runs: list[tuple[int, int]],
    wait: ReplyWait,
    on_progress: ProgressCallback | None,
) -> int:
    """LOG_DATA into ``blocks`` until the last block of each of ``runs`` (first block,
    blocks) is in or ``wait`` passes without one; the number of new blocks. The
    first one's delay times ``wait``."""
    new = 0
    asked = time.monotonic()
    ends = [first + count - 1 for first, count in runs]
    while any(end < len(blocks.have) and not blocks.have[end] for end in ends):
        try:
            msg = await sub.get(wait.timeout_s, waiting_for="LOG_DATA")
        except LinkTimeoutError:
            break
        if msg.id == log_id and blocks.add(int(msg.ofs), int(msg.count), msg.data):
            if not new:
                wait.observe(time.monotonic() - asked)
            new += 1
            if on_progress is not None and new % PROGRESS_BLOCKS == 0:
                on_progress(blocks.received, blocks.size)
    return new


# -- reading --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CamRecord:
    """One photo as the dataflash log has it (CAM, and the mount's MNT at the shutter).

    ``time_boot_ms``: the trigger on the autopilot's boot clock (ms).
    ``gps_utc``: the last GPS fix's time as UTC, None without GPS time.
    ``alt_amsl_m`` above mean sea level, ``alt_rel_m`` above home (m).
    ``vehicle_rpy_deg``: the vehicle's NED attitude (Z-Y-X, yaw from true north).
    ``gimbal``: the mount at the shutter (None: no MNT, or no mount).
    """

    index: int
    time_boot_ms: float
    gps_utc: datetime | None
    lat: float
    lon: float
    alt_amsl_m: float
    alt_rel_m: float
    vehicle_rpy_deg: tuple[float, float, float]
    gimbal: GimbalSample | None = None


def read_cams(path: Path, *, camera: int = 0) -> list[CamRecord]:
    """The CAM records of camera instance ``camera`` in a dataflash log, in image order.

    Each takes the gimbal from the MNT written with it (same ``TimeUS``), read
    in the frame the log's MNTn_TYPE (its PARM records) says.
    """
    try:
        log = DFReader.DFReader_binary(str(path), zero_time_base=False)
    except Exception as exc:  # DFReader raises whatever a bad file makes it raise
        raise LogDownloadError(f"{path}: not a dataflash log ({exc})") from exc
    cams: list[Any] = []
    mounts: dict[int, Any] = {}
    params: dict[str, float] = {}
    while (msg := log.recv_match(type=["CAM", "MNT", "PARM"])) is not None:
        kind = msg.get_type()
        if kind == "CAM" and int(msg.I) == camera:
            cams.append(msg)
        elif kind == "MNT":
            mounts.setdefault(int(msg.TimeUS), msg)
        elif kind == "PARM":
            params[str(msg.Name)] = float(msg.Value)
    records: list[CamRecord] = []
    pan = 0.0
    for cam in sorted(cams, key=lambda c: int(c.Img)):
        mnt = mounts.get(int(cam.TimeUS))
        gimbal = None
        if mnt is not None:
            mount_type = params.get(f"MNT{int(mnt.I) + 1}_TYPE")
            gimbal = mount_sample(
                cam.TimeUS / 1000.0, mnt.Roll, mnt.Pitch, mnt.YawB, mount_type, pan
            )
            if gimbal is not None and gimbal.frame is GimbalFrame.BODY:
                pan = gimbal.angles_deg[2]
        records.append(_cam_record(cam, gimbal))
    return records


def _cam_record(cam: Any, gimbal: GimbalSample | None) -> CamRecord:
    week, week_ms = int(cam.GPSWeek), int(cam.GPSTime)
    gps_utc = None
    if week > 0:
        gps_utc = _GPS_EPOCH + timedelta(weeks=week, milliseconds=week_ms, seconds=-_GPS_LEAP_S)
    return CamRecord(
        index=int(cam.Img),
        time_boot_ms=cam.TimeUS / 1000.0,
        gps_utc=gps_utc,
        lat=float(cam.Lat),
        lon=float(cam.Lng),
        alt_amsl_m=float(cam.Alt),
        alt_rel_m=float(cam.RelAlt),
        vehicle_rpy_deg=(float(cam.R), float(cam.P), float(cam.Y) % 360.0),
        gimbal=gimbal,
    )


def mount_sample(
    time_boot_ms: float,
    roll_deg: float,
    pitch_deg: float,
    yaw_body_deg: float,
    mount_type: float | None,
    pan_hint_deg: float = 0.0,
) -> GimbalSample | None:
    """The gimbal of one MNT record (Roll, Pitch, YawB; degrees); None when not logged (NaN).

    Servo mount (``mount_type`` 1): the angles are the Euler angles of the
    quaternion that packs the servo outputs, unpacked into joint angles (roll,
    tilt, pan; body frame) by :func:`servo_angles`. Otherwise roll and pitch
    from the horizon, yaw from the vehicle's heading (VEHICLE frame); that is
    also what an unknown type is taken as, as the live recorder takes a mount
    whose type never came.
    """
    angles = (float(roll_deg), float(pitch_deg), float(yaw_body_deg))
    if not all(math.isfinite(a) for a in angles):
        return None
    packed = rotation(*angles)
    if mount_type is not None and int(mount_type) == MOUNT_TYPE_SERVO:
        x, y, z, w = Rotation.from_matrix(packed).as_quat()
        joints = servo_angles((w, x, y, z), pan_hint_deg=pan_hint_deg)
        return body_sample(time_boot_ms, joints)
    return horizon_sample(time_boot_ms, GimbalFrame.VEHICLE, packed)


# -- merging --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """How complete a flight's manifest is: photos the vehicle took (``expected``:
    the log's image numbers and the manifest's, and every number between them),
    rows there were, rows recovered from the log, numbers still without a row."""

    expected: int
    present: int
    recovered: int
    still_missing: tuple[int, ...]
    log_id: int | None = None
    log_bytes: int = 0


def utc_minus_boot_ms(poses: Sequence[CapturePose]) -> float | None:
    """UTC minus boot time (ms) from the live rows whose trigger was placed through UTC
    (``trigger_clock`` "utc": their two times are the same instant); None without any."""
    offsets = [
        datetime.fromisoformat(p.time_utc).timestamp() * 1000.0 - p.time_boot_ms
        for p in poses
        if p.trigger_clock == "utc" and p.time_boot_ms is not None
    ]
    return statistics.median(offsets) if offsets else None


def _time_utc(cam: CamRecord, offset_ms: float | None) -> str:
    """The trigger as ISO UTC: through the live rows' clock offset (to a millisecond),
    else the CAM's GPS time (the last fix's: up to a fix period early), else ''."""
    if offset_ms is not None:
        moment = datetime.fromtimestamp((cam.time_boot_ms + offset_ms) / 1000.0, UTC)
    elif cam.gps_utc is not None:
        moment = cam.gps_utc
    else:
        return ""
    return moment.isoformat(timespec="milliseconds")


def _anchors(poses: Sequence[CapturePose]) -> list[tuple[float, NDArray[np.float64]]]:
    """(boot ms, camera-to-NED matrix) of the live rows whose gimbal was seen."""
    return [
        (float(p.time_boot_ms), rotation(p.camera_roll_deg, p.camera_pitch_deg, p.camera_yaw_deg))
        for p in poses
        if p.time_boot_ms is not None and p.gimbal_gap_ms == 0 and p.gimbal_frame != "none"
    ]


def _unlogged_gimbal(
    cam: CamRecord, anchors: list[tuple[float, NDArray[np.float64]]], servo: bool
) -> GimbalSample | None:
    """A gimbal for a CAM without MNT: the camera's earth-frame attitude between the
    live photos around it (:func:`earth_between`, as the live recorder does across a
    status gap), put back in the mount's frame: body (camera = vehicle · mount) for
    a servo mount, else earth."""
    at = cam.time_boot_ms
    before = next((a for a in reversed(anchors) if 0 <= at - a[0] <= EARTH_ANCHOR_MS), None)
    after = next((a for a in anchors if 0 < a[0] - at <= EARTH_ANCHOR_MS), None)
    earth = earth_between(before, after, at)
    if earth is None:
        return None
    if servo:
        body = rotation(*cam.vehicle_rpy_deg).T @ earth[0]
        return GimbalSample(at, GimbalFrame.BODY, servo_joint_angles(body), body, earth[1])
    return horizon_sample(at, GimbalFrame.EARTH, earth[0], gap_ms=earth[1])


#: CAM logs the vehicle's attitude in whole centidegrees: a camera this close to
#: straight down (or up) is taken as straight down, as the live rows say it.
CAM_RESOLUTION_DEG = 0.01


def recovered_pose(
    cam: CamRecord, gimbal: GimbalSample | None, time_utc: str, planned_index: int | None
) -> CapturePose:
    """The manifest row of a photo from its CAM: the vehicle's attitude is CAM's
    (NED, yaw from true north), the camera's that composed with ``gimbal``
    (:func:`camera_matrix`, in the gimbal's frame)."""
    cam_roll, cam_pitch, cam_yaw = euler(
        camera_matrix(cam.vehicle_rpy_deg, gimbal), nadir_within_deg=CAM_RESOLUTION_DEG
    )
    raw: tuple[float | None, ...] = (None, None, None)
    if gimbal is not None:
        raw = tuple(round(a, 3) for a in gimbal.angles_deg)
    return CapturePose(
        index=cam.index,
        time_utc=time_utc,
        lat=cam.lat,
        lon=cam.lon,
        alt_amsl_m=cam.alt_amsl_m,
        alt_rel_m=cam.alt_rel_m,
        roll_deg=cam.vehicle_rpy_deg[0],
        pitch_deg=cam.vehicle_rpy_deg[1],
        yaw_deg=cam.vehicle_rpy_deg[2],
        camera_roll_deg=round(cam_roll, 3),
        camera_pitch_deg=round(cam_pitch, 3),
        camera_yaw_deg=round(cam_yaw, 3),
        time_boot_ms=round(cam.time_boot_ms),
        planned_index=planned_index,
        gimbal_frame=(gimbal.frame if gimbal is not None else GimbalFrame.NONE).value,
        gimbal_roll_deg=raw[0],
        gimbal_pitch_deg=raw[1],
        gimbal_yaw_deg=raw[2],
        gimbal_gap_ms=None if gimbal is None else round(gimbal.gap_ms, 1),
        trigger_clock="boot",
        source=SOURCE_DATAFLASH,
    )


def check_same_flight(present: Sequence[CapturePose], cams: Sequence[CamRecord]) -> None:
    """``LogDownloadError`` unless the log is this flight's: with rows to compare,
    at least one image number in both, and every such photo at the same place."""
    if not present or not cams:
        return
    by_index = {c.index: c for c in cams}
    shared = [(p, by_index[p.index]) for p in present if p.index in by_index]
    if not shared:
        raise LogDownloadError(
            f"the log's photos ({cams[0].index}-{cams[-1].index}) are none of the manifest's "
            f"({present[0].index}-{present[-1].index}): it is another flight's log"
        )
    worst = max(distance_m(p.lat, p.lon, c.lat, c.lon) for p, c in shared)
    if worst > SAME_PHOTO_M:
        raise LogDownloadError(
            f"the log's photos are up to {worst:.0f} m from the manifest's with the same "
            "numbers: it is another flight's log (the camera counts from boot)"
        )


def merge_captures(
    present: Sequence[CapturePose],
    cams: Sequence[CamRecord],
    *,
    planned_index: Callable[[float, float], int | None] | None = None,
) -> tuple[list[CapturePose], RecoveryReport]:
    """The manifest with a row for every photo the log has and it lacks, in image order.

    Live rows are kept as they are; a recovered row's gimbal is the log's MNT,
    else the live rows' earth-frame rule (:func:`_unlogged_gimbal`). Raises
    ``LogDownloadError`` when the log is not this flight's.
    """
    check_same_flight(present, cams)
    have = {p.index for p in present}
    offset = utc_minus_boot_ms(present)
    anchors = _anchors(present)
    servo = any(p.gimbal_frame == GimbalFrame.BODY.value for p in present)
    added: list[CapturePose] = []
    for cam in cams:
        if cam.index in have:
            continue
        gimbal = cam.gimbal or _unlogged_gimbal(cam, anchors, servo)
        planned = planned_index(cam.lat, cam.lon) if planned_index is not None else None
        added.append(recovered_pose(cam, gimbal, _time_utc(cam, offset), planned))
        have.add(cam.index)
    merged = sorted([*present, *added], key=lambda p: p.index)
    numbers = have | {c.index for c in cams}
    expected = range(min(numbers), max(numbers) + 1) if numbers else range(0)
    report = RecoveryReport(
        expected=len(expected),
        present=len(present),
        recovered=len(added),
        still_missing=tuple(i for i in expected if i not in have),
    )
    return merged, report


# -- after landing --------------------------------------------------------------


def nearest_planned(
    photo_points: Sequence[tuple[float, float]], within_m: float
) -> Callable[[float, float], int | None]:
    """The index of the planned photo point (lat, lon) within ``within_m`` of a
    capture, nearest first; None when there is none."""

    def match(lat: float, lon: float) -> int | None:
        if not photo_points:
            return None
        gaps = [distance_m(lat, lon, p[0], p[1]) for p in photo_points]
        best = int(np.argmin(gaps))
        return best if gaps[best] <= within_m else None

    return match


async def recover_missing_captures(
    vehicle: Vehicle,
    manifest_path: Path,
    *,
    log_id: int | None = None,
    photo_points: Sequence[tuple[float, float]] = (),
    match_within_m: float = 10.0,
    on_progress: ProgressCallback | None = None,
) -> RecoveryReport:
    """Download the flight's log, add the manifest's missing photos from it, report.

    Call after landing, once the vehicle is disarmed and the manifest writer is
    closed (``Vehicle.stop_recording()``): the manifest is rewritten in place.
    The log is kept beside it as ``dataflash-<id>.bin``. ``log_id``: the
    flight's log when not the newest. ``photo_points``, ``match_within_m``: as
    for ``Vehicle.record_captures`` (``planned_index``).
    """
    if vehicle.telemetry.armed:
        raise LogDownloadError("the vehicle is armed: ArduPilot sends its logs only when disarmed")
    link: MavLink = vehicle.link
    entries = await list_logs(link)
    if log_id is not None:
        candidates = [pick_log(entries, log_id=log_id)]
    else:
        # newest first: the flight's log is the newest when asked right after landing,
        # but a download makes SITL's logger open short new logs after it (seen: six
        # of 24-82 kB after one download), so a later ask finds those first
        candidates = sorted(entries, key=lambda e: e.id, reverse=True)[:LOGS_TRIED]
    refused: list[str] = []
    for entry in candidates:
        logger.info("downloading log %d (%d bytes) for %s", entry.id, entry.size, manifest_path)
        data = await download_log(link, entry, on_progress=on_progress)
        log_path = manifest_path.with_name(f"dataflash-{entry.id}.bin")
        log_path.write_bytes(data)
        try:
            report = recover_from_log(
                manifest_path, log_path, photo_points=photo_points, match_within_m=match_within_m
            )
        except LogDownloadError as exc:
            if log_id is not None:
                raise
            refused.append(f"log {entry.id}: {exc}")
            log_path.unlink()
            continue
        return replace(report, log_id=entry.id)
    raise LogDownloadError("no log on the vehicle is this flight's: " + "; ".join(refused))


def recover_from_log(
    manifest_path: Path,
    log_path: Path,
    *,
    photo_points: Sequence[tuple[float, float]] = (),
    match_within_m: float = 10.0,
) -> RecoveryReport:
    """Add the manifest's missing photos from a dataflash log file already here
    (downloaded, or copied off the vehicle's SD card), and report."""
    present = read_manifest(manifest_path) if manifest_path.exists() else []
    cams = read_cams(log_path)
    if present and not cams:
        raise LogDownloadError(f"{log_path.name} holds no photo: not this flight's log")
    merged, report = merge_captures(
        present, cams, planned_index=nearest_planned(photo_points, match_within_m)
    )
    if report.recovered:
        write_manifest(manifest_path, merged)
    logger.info(
        "%s: %d photos, %d rows, %d recovered from %s, %d still missing",
        manifest_path,
        report.expected,
        report.present,
        report.recovered,
        log_path.name,
        len(report.still_missing),
    )
    return replace(report, log_bytes=log_path.stat().st_size)


def photos_unreported(manifest_path: Path, planned: int = 0) -> bool:
    """Whether the manifest lacks rows: a gap in its image numbers (they run 1, 2, ...
    as ArduPilot counts its photos), or fewer than the ``planned`` photo points. A
    photo lost after the last one reported shows only against the plan."""
    indices = {pose.index for pose in read_manifest(manifest_path)}
    last = max(indices, default=0)
    return len(indices) < last or last < planned


async def recover_after_landing(
    vehicle: Vehicle,
    manifest_path: Path,
    *,
    photo_points: Sequence[tuple[float, float]] = (),
    disarm_wait_s: float = 30.0,
) -> RecoveryReport | None:
    """Once landed: close the manifest and, when it lacks photos, recover them from the log.

    The log is downloaded only when something is missing (a real flight's log runs to
    tens of megabytes over the same cellular link). None when nothing was missing, or
    when the log could not be had (said in the log: the flight itself went well).
    """
    vehicle.stop_recording()
    if not photos_unreported(manifest_path, len(photo_points)):
        return None
    try:
        await vehicle.wait_until(lambda: not vehicle.telemetry.armed, disarm_wait_s, "disarmed")
        return await recover_missing_captures(vehicle, manifest_path, photo_points=photo_points)
    except (LogDownloadError, LinkTimeoutError) as exc:
        logger.warning("%s: photos without a pose not recovered: %s", manifest_path, exc)
        return None
