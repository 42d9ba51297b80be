"""Flying one mission with the flight layer (``missions.flight``), feeding a FlightRun."""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.errors import FlightControlError
from store.models import FlightStatus, Mission

if TYPE_CHECKING:
    from server.flights import FlightManager, FlightRun, LaunchTarget


async def fly_mission(
    run: FlightRun, mission: Mission, target: LaunchTarget, manager: FlightManager
) -> FlightStatus:
    raise FlightControlError("the flight layer is not wired yet")
