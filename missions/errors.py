"""Every way planning can fail, as one exception tree.

Refinements also derive from the builtin they refine, so callers that only know
Python's exceptions still catch them (the CLI maps ``ValueError`` to exit 2). A
site that is malformed, or not in the zone, is the zone's own
:class:`zone.errors.InvalidSiteError` (a ``ValueError`` too): callers that read a
zone and plan it catch ``(MissionError, ZoneError)``::

    MissionError
    ├── InvalidProfileError (ValueError)     a camera/aircraft profile or option is wrong
    ├── TerrainError (ValueError)            the DEM cannot be read or does not cover a point
    ├── InfeasibleError (ValueError)         the request cannot be flown safely
    │   ├── NoFlyViolationError              a target or route lies in a no-fly area
    │   ├── AltitudeLimitError               a leg would fly above the AGL ceiling
    │   ├── ClearanceError                   a path, or its failsafe return, nears an obstacle
    │   ├── RangeError                       a target is beyond the aircraft's range
    │   └── CapacityError                    more mission items than the autopilot stores
    └── PlanFormatError (ValueError)         a .plan/.waypoints file cannot be imported
"""

from __future__ import annotations


class MissionError(Exception):
    """Base of every error raised by the planner and its exporters."""


class InvalidProfileError(MissionError, ValueError):
    """A camera or aircraft profile, or a planning option, is out of range."""


class TerrainError(MissionError, ValueError):
    """The DEM cannot be read or does not cover a planned point."""


class InfeasibleError(MissionError, ValueError):
    """The request is well formed but cannot be flown safely; the message says why."""


class NoFlyViolationError(InfeasibleError):
    """A target lies inside a no-fly area, or a route cannot avoid one."""


class AltitudeLimitError(InfeasibleError):
    """A waypoint would be higher above ground than the configured ceiling."""


class ClearanceError(InfeasibleError):
    """A flown path, or the autopilot's own return from it, breaks the obstacle clearance."""


class RangeError(InfeasibleError):
    """A target cannot be reached and flown back from any dock within endurance."""


class CapacityError(InfeasibleError):
    """A sortie needs more mission items than the autopilot can store."""


class PlanFormatError(MissionError, ValueError):
    """A QGC .plan or WPL .waypoints file cannot be read back into a mission."""
