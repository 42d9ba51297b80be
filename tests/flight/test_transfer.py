"""The mission protocol against a scripted vehicle that misbehaves on purpose."""

from __future__ import annotations

import random
import time

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.flight import transfer
from missions.flight.errors import (
    InvalidItemError,
    MissionMismatchError,
    NoSpaceError,
    TransferTimeoutError,
)
from missions.flight.link import MavLink
from missions.flight.transfer import TransferSettings
from missions.items import MissionItem, MissionType, to_e7
from tests.flight.conftest import FAST, survey_mission
from tests.flight.peer import ScriptedVehicle

SETTINGS = TransferSettings(item_timeout_s=FAST, retries=6)


async def test_upload_then_download_returns_the_same_items(
    peer: ScriptedVehicle, link: MavLink
) -> None:
    mission = survey_mission()
    await transfer.upload_verified(link, mission, settings=SETTINGS)
    held = await transfer.download(link, settings=SETTINGS)
    assert [(i.command, i.x, i.y, i.z, i.param1) for i in held] == [
        (i.command, i.x, i.y, i.z, i.param1) for i in mission.items
    ]
    assert all(isinstance(m, mavlink.MAVLink_mission_item_int_message)
               for m in peer.lists[MissionType.MISSION])  # fmt: skip


async def test_upload_survives_lost_frames_both_ways(peer: ScriptedVehicle, link: MavLink) -> None:
    rng = random.Random(7)
    lost = {"in": 0, "out": 0}
    protocol = (
        mavlink.MAVLink_mission_count_message,
        mavlink.MAVLink_mission_request_int_message,
        mavlink.MAVLink_mission_item_int_message,
        mavlink.MAVLink_mission_ack_message,
    )

    def lossy(direction: str):
        def drop(msg: mavlink.MAVLink_message) -> bool:
            if isinstance(msg, protocol) and rng.random() < 0.3:
                lost[direction] += 1
                return True
            return False

        return drop

    peer.faults.drop_in = lossy("in")
    peer.faults.drop_out = lossy("out")
    mission = survey_mission(20)
    await transfer.upload_verified(
        link, mission, settings=TransferSettings(item_timeout_s=FAST, retries=12)
    )
    assert len(peer.lists[MissionType.MISSION]) == len(mission.items)
    assert lost["in"] > 5 and lost["out"] > 5


async def test_no_space_is_a_typed_refusal_and_keeps_the_old_mission(
    peer: ScriptedVehicle, link: MavLink
) -> None:
    await transfer.upload(link, survey_mission(3).items, settings=SETTINGS)
    peer.faults.max_items = 10
    with pytest.raises(NoSpaceError, match="MAV_MISSION_NO_SPACE"):
        await transfer.upload(link, survey_mission(30).items, settings=SETTINGS)
    assert len(await transfer.download(link, settings=SETTINGS)) == len(survey_mission(3).items)


async def test_refused_item_is_an_invalid_item_error(peer: ScriptedVehicle, link: MavLink) -> None:
    peer.faults.refuse_seq = 4
    with pytest.raises(InvalidItemError, match="INVALID_PARAM1") as info:
        await transfer.upload(link, survey_mission().items, settings=SETTINGS)
    assert isinstance(info.value, ValueError)


async def test_an_upload_the_autopilot_timed_out_starts_again(
    peer: ScriptedVehicle, link: MavLink
) -> None:
    peer.faults.cancel_seq = 5
    mission = survey_mission()
    await transfer.upload(link, mission.items, settings=SETTINGS)
    held = await transfer.download(link, settings=SETTINGS)
    assert [(i.command, i.x, i.y) for i in held] == [(i.command, i.x, i.y) for i in mission.items]
    counts = [m for m in peer.received if isinstance(m, mavlink.MAVLink_mission_count_message)]
    assert len(counts) == 2


async def test_silent_vehicle_times_out_after_the_retries(
    peer: ScriptedVehicle, link: MavLink
) -> None:
    peer.faults.drop_in = lambda msg: isinstance(msg, mavlink.MAVLink_mission_count_message)
    started = time.monotonic()
    with pytest.raises(TransferTimeoutError, match="item count") as info:
        await transfer.upload(link, survey_mission().items, settings=SETTINGS)
    elapsed = time.monotonic() - started
    assert isinstance(info.value, TimeoutError)
    assert SETTINGS.item_timeout_s * SETTINGS.retries <= elapsed < 5
    counts = [m for m in peer.received if isinstance(m, mavlink.MAVLink_mission_count_message)]
    assert len(counts) == SETTINGS.retries + 1


async def test_download_times_out_when_an_item_never_comes(
    peer: ScriptedVehicle, link: MavLink
) -> None:
    await transfer.upload(link, survey_mission().items, settings=SETTINGS)
    peer.faults.drop_out = lambda msg: (
        isinstance(msg, mavlink.MAVLink_mission_item_int_message) and msg.seq == 3
    )
    with pytest.raises(TransferTimeoutError, match="mission item 3"):
        await transfer.download(link, settings=SETTINGS)


async def test_out_of_order_and_stale_replies_are_ignored(
    peer: ScriptedVehicle, link: MavLink
) -> None:
    peer.faults.stale_ack_first = True
    peer.faults.repeat_requests = True
    peer.faults.wrong_seq_first = True
    mission = survey_mission(8)
    await transfer.upload_verified(link, mission, settings=SETTINGS)
    assert [m.seq for m in peer.lists[MissionType.MISSION]] == list(range(len(mission.items)))


async def test_garbage_between_frames_is_skipped(peer: ScriptedVehicle, link: MavLink) -> None:
    peer.faults.garbage = b"\xfd\x09\x00garbage\xfe\x01"
    await transfer.upload_verified(link, survey_mission(), settings=SETTINGS)
    assert link.bad_frames > 0


async def test_legacy_float_items_are_read_back(peer: ScriptedVehicle, link: MavLink) -> None:
    peer.faults.float_items = True
    mission = survey_mission(3)
    await transfer.upload(link, mission.items, settings=SETTINGS)
    held = await transfer.download(link, settings=SETTINGS)
    # float32 latitude keeps about 7 significant digits: within a metre, not to 1e-7
    assert all(abs(a.x - b.x) < 100 for a, b in zip(mission.items, held, strict=True))


async def test_read_back_mismatch_names_the_item(peer: ScriptedVehicle, link: MavLink) -> None:
    peer.faults.store_altitude_offset_m = 2.0
    with pytest.raises(MissionMismatchError, match="item 1: altitude 42") as info:
        await transfer.upload_verified(link, survey_mission(2), settings=SETTINGS)
    assert len(info.value.differences) == len(survey_mission(2).items) - 1  # all but home


async def test_fence_and_rally_go_up_as_their_own_lists(
    peer: ScriptedVehicle, link: MavLink
) -> None:
    vertex = mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION
    fence = tuple(
        MissionItem(i, mavlink.MAV_FRAME_GLOBAL_INT, vertex, param1=4, x=to_e7(34.8 + dy),
                    y=to_e7(113.55 + dx), mission_type=MissionType.FENCE)
        for i, (dy, dx) in enumerate([(0, 0), (0, 0.01), (0.01, 0.01), (0.01, 0)])
    )  # fmt: skip
    rally = (
        MissionItem(0, mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, mavlink.MAV_CMD_NAV_RALLY_POINT,
                    x=to_e7(34.805), y=to_e7(113.555), z=30, mission_type=MissionType.RALLY),
    )  # fmt: skip
    mission = survey_mission()
    await transfer.upload_verified(
        link, type(mission)(items=mission.items, fence=fence, rally=rally), settings=SETTINGS
    )
    assert len(peer.lists[MissionType.FENCE]) == 4
    assert len(peer.lists[MissionType.RALLY]) == 1
    assert await transfer.download(link, MissionType.FENCE, settings=SETTINGS) == list(fence)
