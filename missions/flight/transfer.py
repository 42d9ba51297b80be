"""The MAVLink mission protocol: upload, download, clear and verify.

Mission, fence and rally lists use the same exchange, told apart by
``mission_type``. The vehicle drives an upload (it requests each item by
``seq``); the ground drives a download. Either side may lose a frame, so each
step has a timeout and a retry budget, as the protocol specifies: on silence
the uploader resends what it last sent, the downloader re-requests. Replies
for other sequence numbers or other lists are ignored, not fatal.

ArduPilot writes each item as it arrives, so an upload cut short leaves a
mixed mission on the vehicle: :func:`upload_verified` downloads what the
vehicle holds afterwards and compares it field by field.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.flight.errors import (
    InvalidItemError,
    LinkTimeoutError,
    MissionMismatchError,
    NoSpaceError,
    TransferRejectedError,
    TransferTimeoutError,
)
from missions.flight.link import MavLink, Message, Subscription
from missions.items import Mission, MissionItem, MissionType

logger = logging.getLogger(__name__)

#: MISSION_ACK results that mean an item or the request itself was bad.
_INVALID_RESULTS = frozenset(
    {
        mavlink.MAV_MISSION_UNSUPPORTED_FRAME,
        mavlink.MAV_MISSION_UNSUPPORTED,
        mavlink.MAV_MISSION_INVALID,
        mavlink.MAV_MISSION_INVALID_PARAM1,
        mavlink.MAV_MISSION_INVALID_PARAM2,
        mavlink.MAV_MISSION_INVALID_PARAM3,
        mavlink.MAV_MISSION_INVALID_PARAM4,
        mavlink.MAV_MISSION_INVALID_PARAM5_X,
        mavlink.MAV_MISSION_INVALID_PARAM6_Y,
        mavlink.MAV_MISSION_INVALID_PARAM7,
        mavlink.MAV_MISSION_INVALID_SEQUENCE,
    }
)

#: The ``_INT`` frames come back as their float twins from some autopilots.
_FRAME_TWINS = {
    mavlink.MAV_FRAME_GLOBAL_INT: mavlink.MAV_FRAME_GLOBAL,
    mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT: mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT,
    mavlink.MAV_FRAME_GLOBAL_TERRAIN_ALT_INT: mavlink.MAV_FRAME_GLOBAL_TERRAIN_ALT,
}


@dataclass(frozen=True, slots=True)
class TransferSettings:
    """Timeouts and retries for one transfer.

    ``item_timeout_s`` is how long to wait for each reply; ``retries`` how
    many times one step is resent before giving up (a flight resends its commands
    as often: the link is the same); ``window`` how many item requests a download
    keeps in flight.
    """

    item_timeout_s: float = 1.0
    retries: int = 10
    window: int = 8


DEFAULT_SETTINGS = TransferSettings()


def result_name(result: int) -> str:
    """MAV_MISSION_RESULT name for a number (``MAV_MISSION_NO_SPACE``)."""
    entry = mavlink.enums["MAV_MISSION_RESULT"].get(result)
    return entry.name if entry is not None else f"result {result}"


def _rejected(result: int, mission_type: MissionType, what: str) -> TransferRejectedError:
    name = result_name(result)
    message = f"{mission_type.name.lower()} {what} refused by the autopilot: {name}"
    if result == mavlink.MAV_MISSION_NO_SPACE:
        return NoSpaceError(message, result=result, result_name=name)
    if result in _INVALID_RESULTS:
        return InvalidItemError(message, result=result, result_name=name)
    return TransferRejectedError(message, result=result, result_name=name)


def _item_message(link: MavLink, item: MissionItem) -> Message:
    return link.mav.mission_item_int_encode(
        link.target_system,
        link.target_component,
        item.seq,
        item.frame,
        item.command,
        item.current,
        item.autocontinue,
        item.param1,
        item.param2,
        item.param3,
        item.param4,
        item.x,
        item.y,
        item.z,
        int(item.mission_type),
    )


def _item_from_message(msg: Message, mission_type: MissionType) -> MissionItem:
    """A MISSION_ITEM_INT (or a legacy float MISSION_ITEM) as a MissionItem."""
    if isinstance(msg, mavlink.MAVLink_mission_item_message):
        x, y = round(msg.x * 1e7), round(msg.y * 1e7)
    else:
        x, y = msg.x, msg.y
    return MissionItem(
        seq=msg.seq,
        frame=msg.frame,
        command=msg.command,
        param1=msg.param1,
        param2=msg.param2,
        param3=msg.param3,
        param4=msg.param4,
        x=x,
        y=y,
        z=msg.z,
        current=msg.current,
        autocontinue=msg.autocontinue,
        mission_type=mission_type,
    )


async def upload(
    link: MavLink,
    items: Sequence[MissionItem],
    mission_type: MissionType = MissionType.MISSION,
    *,
    settings: TransferSettings = DEFAULT_SETTINGS,
) -> None:
    """Upload one list as MISSION_ITEM_INT; returns once the vehicle accepts it.

    Raises ``TransferTimeoutError`` when the vehicle stops answering and a
    ``TransferRejectedError`` subclass when it refuses the list. A repeated
    item is answered by ArduPilot with INVALID_SEQUENCE, which is a NAK, not
    the end of the upload; OPERATION_CANCELLED (the autopilot's own upload
    timeout) starts the list again, up to ``settings.retries`` times.
    """
    items = [item.with_seq(seq) for seq, item in enumerate(items)]
    count = len(items)
    kind = int(mission_type)
    started = time.monotonic()
    with link.subscribe(
        mavlink.MAVLink_mission_request_int_message,
        mavlink.MAVLink_mission_request_message,
        mavlink.MAVLink_mission_ack_message,
    ) as sub:
        count_message = link.mav.mission_count_encode(
            link.target_system, link.target_component, count, kind
        )
        last_sent: Message = count_message
        link.send(last_sent)
        highest_sent = -1
        misses = restarts = 0
        final_resent = False
        while True:
            try:
                msg = await sub.get(settings.item_timeout_s)
            except LinkTimeoutError:
                misses += 1
                if misses > settings.retries:
                    step = "the item count" if highest_sent < 0 else f"item {highest_sent}"
                    raise TransferTimeoutError(
                        f"{mission_type.name.lower()} upload: no reply after {step} "
                        f"({settings.retries} retries)",
                        after_last_item=highest_sent == count - 1,
                    ) from None
                logger.debug("upload: resending after %d misses", misses)
                link.send(last_sent)
                final_resent = highest_sent == count - 1
                continue
            if getattr(msg, "mission_type", kind) != kind:
                continue
            if isinstance(msg, mavlink.MAVLink_mission_ack_message):
                if msg.type == mavlink.MAV_MISSION_INVALID_SEQUENCE:
                    # ArduPilot's answer to a repeated item: a NAK, the upload goes on
                    logger.debug("upload: duplicate item refused, waiting for the next request")
                    continue
                if (
                    msg.type == mavlink.MAV_MISSION_OPERATION_CANCELLED
                    and restarts < settings.retries
                ):
                    # ArduPilot gives an upload up if no item arrives for a few seconds
                    # (MissionItemProtocol::update, upload_timeout_ms): every request of
                    # one item lost on a bad link. Not a refusal: start the list again.
                    restarts += 1
                    logger.info("upload: the autopilot timed the upload out; starting again")
                    last_sent = count_message
                    link.send(last_sent)
                    highest_sent, misses, final_resent = -1, 0, False
                    continue
                if msg.type != mavlink.MAV_MISSION_ACCEPTED:
                    if final_resent and msg.type == mavlink.MAV_MISSION_ERROR:
                        # ArduPilot answers a repeated final item with ERROR once the
                        # upload is complete: the ACCEPTED was lost on the way
                        raise TransferTimeoutError(
                            f"{mission_type.name.lower()} upload: final MISSION_ACK lost",
                            after_last_item=True,
                        )
                    raise _rejected(msg.type, mission_type, "upload")
                if highest_sent == count - 1:
                    break
                logger.debug("upload: early ACCEPTED ignored (sent up to %d)", highest_sent)
                continue
            if not 0 <= msg.seq < count:
                logger.debug("upload: request for seq %d out of range", msg.seq)
                continue
            misses = 0
            last_sent = _item_message(link, items[msg.seq])
            link.send(last_sent)
            highest_sent = max(highest_sent, msg.seq)
    logger.info(
        "uploaded %d %s items in %.2f s",
        count,
        mission_type.name.lower(),
        time.monotonic() - started,
    )


async def download(
    link: MavLink,
    mission_type: MissionType = MissionType.MISSION,
    *,
    settings: TransferSettings = DEFAULT_SETTINGS,
) -> list[MissionItem]:
    """Every item of one list, as the vehicle holds it."""
    kind = int(mission_type)
    name = mission_type.name.lower()

    def count_of(msg: Message) -> int | None:
        return msg.count if isinstance(msg, mavlink.MAVLink_mission_count_message) else None

    with link.subscribe(
        mavlink.MAVLink_mission_count_message, mavlink.MAVLink_mission_ack_message
    ) as sub:
        request = link.mav.mission_request_list_encode(
            link.target_system, link.target_component, kind
        )
        count = await _until_reply(link, sub, request, count_of, settings, f"{name} item count")

    with link.subscribe(
        mavlink.MAVLink_mission_item_int_message,
        mavlink.MAVLink_mission_item_message,
        mavlink.MAVLink_mission_ack_message,
    ) as sub:
        items = await _download_items(link, sub, count, mission_type, settings)
    link.send(
        link.mav.mission_ack_encode(
            link.target_system, link.target_component, mavlink.MAV_MISSION_ACCEPTED, kind
        )
    )
    return items


async def _download_items(
    link: MavLink,
    sub: Subscription,
    count: int,
    mission_type: MissionType,
    settings: TransferSettings,
) -> list[MissionItem]:
    """Request items ``window`` at a time, re-requesting each one that does not come.

    ArduPilot answers every MISSION_REQUEST_INT on its own, so keeping a few
    requests in flight hides the round trip without changing the protocol.
    """
    kind = int(mission_type)
    name = mission_type.name.lower()
    got: dict[int, MissionItem] = {}
    pending: dict[int, float] = {}  # seq -> when last requested
    misses: dict[int, int] = {}
    next_seq = 0

    def request(seq: int) -> None:
        link.send(
            link.mav.mission_request_int_encode(
                link.target_system, link.target_component, seq, kind
            )
        )
        pending[seq] = time.monotonic()

    while len(got) < count:
        while len(pending) < settings.window and next_seq < count:
            request(next_seq)
            next_seq += 1
        wait = min(pending.values()) + settings.item_timeout_s - time.monotonic()
        try:
            msg = await sub.get(max(wait, 0.001))
        except LinkTimeoutError:
            now = time.monotonic()
            for seq, sent in sorted(pending.items()):
                if now - sent >= settings.item_timeout_s:
                    misses[seq] = misses.get(seq, 0) + 1
                    if misses[seq] > settings.retries:
                        raise TransferTimeoutError(
                            f"no {name} item {seq} after {settings.retries} retries"
                        ) from None
                    logger.debug("no %s item %d yet, asking again", name, seq)
                    request(seq)
            continue
        if getattr(msg, "mission_type", kind) != kind:
            continue
        if isinstance(msg, mavlink.MAVLink_mission_ack_message):
            if msg.type not in (mavlink.MAV_MISSION_ACCEPTED, mavlink.MAV_MISSION_ERROR):
                raise _rejected(msg.type, mission_type, "download")
            continue  # ERROR: ArduPilot's answer to a stale repeated upload item
        if msg.seq in pending:
            del pending[msg.seq]
            got[msg.seq] = _item_from_message(msg, mission_type)
    return [got[seq] for seq in range(count)]


async def clear(
    link: MavLink,
    mission_type: MissionType = MissionType.MISSION,
    *,
    settings: TransferSettings = DEFAULT_SETTINGS,
) -> None:
    """Remove every item of one list from the vehicle."""
    kind = int(mission_type)

    def acked(msg: Message) -> bool | None:
        if not isinstance(msg, mavlink.MAVLink_mission_ack_message):
            return None
        if msg.type != mavlink.MAV_MISSION_ACCEPTED:
            raise _rejected(msg.type, mission_type, "clear")
        return True

    with link.subscribe(mavlink.MAVLink_mission_ack_message) as sub:
        request = link.mav.mission_clear_all_encode(link.target_system, link.target_component, kind)
        await _until_reply(
            link, sub, request, acked, settings, f"{mission_type.name.lower()} clear"
        )


T = TypeVar("T")


async def _until_reply(
    link: MavLink,
    sub: Subscription,
    request: Message,
    accept: Callable[[Message], T | None],
    settings: TransferSettings,
    what: str,
) -> T:
    """Send ``request`` until ``accept`` takes a reply (it returns non-None).

    Replies for another list are skipped; an error MISSION_ACK for this list
    ends the exchange (``accept`` may raise on it first).
    """
    link.send(request)
    kind = getattr(request, "mission_type", None)
    misses = 0
    while True:
        try:
            msg = await sub.get(settings.item_timeout_s)
        except LinkTimeoutError:
            misses += 1
            if misses > settings.retries:
                raise TransferTimeoutError(f"no {what} after {settings.retries} retries") from None
            logger.debug("no %s yet, asking again", what)
            link.send(request)
            continue
        if kind is not None and getattr(msg, "mission_type", kind) != kind:
            continue
        value = accept(msg)
        if value is not None:
            return value
        if isinstance(msg, mavlink.MAVLink_mission_ack_message) and msg.type not in (
            mavlink.MAV_MISSION_ACCEPTED,
            # ArduPilot's answer to an item repeated after an upload ended: stale here
            mavlink.MAV_MISSION_ERROR,
        ):
            raise _rejected(msg.type, MissionType(msg.mission_type), "transfer")


def compare(
    sent: Sequence[MissionItem], held: Sequence[MissionItem], *, skip_home: bool
) -> list[str]:
    """Differences between an uploaded list and its read-back, one line each.

    Positions must match to the 1e-7 degree and altitudes to the centimetre
    (ArduPilot stores centimetres); parameters to float32 precision. Frames
    count only for commands with a position: ArduPilot keeps no frame for the
    others and returns them as MAV_FRAME_GLOBAL. Item 0 of a mission is home,
    which ArduPilot replaces with its own, so it is skipped.
    """
    differences: list[str] = []
    if len(sent) != len(held):
        differences.append(f"vehicle holds {len(held)} items, {len(sent)} were sent")
    for seq, (a, b) in enumerate(zip(sent, held, strict=False)):
        if skip_home and seq == 0:
            continue
        if a.command != b.command:
            differences.append(f"item {seq}: command {b.command} on the vehicle, sent {a.command}")
            continue
        if a.has_position and _FRAME_TWINS.get(a.frame, a.frame) != _FRAME_TWINS.get(
            b.frame, b.frame
        ):
            differences.append(f"item {seq}: frame {b.frame} on the vehicle, sent {a.frame}")
        if abs(a.x - b.x) > 1 or abs(a.y - b.y) > 1:
            differences.append(
                f"item {seq}: position {b.lat:.7f},{b.lon:.7f} on the vehicle, "
                f"sent {a.lat:.7f},{a.lon:.7f}"
            )
        if not math.isclose(a.z, b.z, abs_tol=0.011):
            differences.append(f"item {seq}: altitude {b.z:g} on the vehicle, sent {a.z:g}")
        for name in ("param1", "param2", "param3", "param4"):
            va, vb = getattr(a, name), getattr(b, name)
            if not (math.isnan(va) and math.isnan(vb)) and not math.isclose(
                va, vb, rel_tol=1e-6, abs_tol=1e-3
            ):
                differences.append(f"item {seq}: {name} {vb:g} on the vehicle, sent {va:g}")
    return differences


async def upload_verified(
    link: MavLink,
    mission: Mission,
    *,
    settings: TransferSettings = DEFAULT_SETTINGS,
) -> None:
    """Upload mission, fence and rally, then read each back and compare.

    Fence and rally go first so that a mission never flies against the
    previous fence. An empty fence or rally list clears the vehicle's.
    Raises ``MissionMismatchError`` listing every difference.
    """
    for mission_type, items in (
        (MissionType.FENCE, mission.fence),
        (MissionType.RALLY, mission.rally),
        (MissionType.MISSION, mission.items),
    ):
        if not items and mission_type is not MissionType.MISSION:
            await clear(link, mission_type, settings=settings)
            continue
        try:
            await upload(link, items, mission_type, settings=settings)
        except TransferTimeoutError as exc:
            if not exc.after_last_item:
                raise
            logger.warning("%s: final MISSION_ACK lost; the read-back decides", exc)
        held = await download(link, mission_type, settings=settings)
        sent = [item.with_seq(seq) for seq, item in enumerate(items)]
        differences = compare(sent, held, skip_home=mission_type is MissionType.MISSION)
        if differences:
            name = mission_type.name.lower()
            raise MissionMismatchError(
                f"{name} read-back differs from the upload: {differences[0]}"
                + (f" (and {len(differences) - 1} more)" if len(differences) > 1 else ""),
                differences=differences,
            )
