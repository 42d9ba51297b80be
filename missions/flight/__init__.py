"""Flying missions over MAVLink (ArduPilot): link, transfer, vehicle, events, captures.

The API other packages use::

    result = await fly_mission(url_or_sitl, mission, out_dir=path, on_event=callback)

    vehicle = await Vehicle.connect(url, tlog_path=..., events_path=...)
    await vehicle.upload_mission(mission)          # mission, fence, rally; read back
    await vehicle.preflight(); await vehicle.start_mission()
    async for event in vehicle.event_stream(): ...
    await vehicle.pause(); await vehicle.resume(); await vehicle.return_to_launch()
    await vehicle.wait_landed()                    # fails only a stalled flight

Errors are in :mod:`missions.flight.errors`, all under ``FlightError``.
"""

from missions.flight.errors import FlightError
from missions.flight.fly import FlightResult, fly_mission
from missions.flight.vehicle import Vehicle

__all__ = ["FlightError", "FlightResult", "Vehicle", "fly_mission"]
