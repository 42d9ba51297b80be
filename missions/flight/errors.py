"""Every way a flight can fail, as one exception tree.

Each refinement also derives from the builtin it refines, so callers that only
know Python's own exceptions (``TimeoutError``, ``ConnectionError``,
``ValueError``) still catch the right thing::

    FlightError
    ├── LinkError (ConnectionError)
    │   ├── ConnectError            cannot open the URL or no vehicle heartbeat
    │   ├── LinkLostError           the link died and did not come back in time
    │   └── LinkTimeoutError (TimeoutError)   no expected reply in time
    ├── TransferError
    │   ├── TransferTimeoutError (TimeoutError)   retries used up in a mission transfer
    │   ├── TransferRejectedError        the autopilot answered MISSION_ACK with an error
    │   │   ├── NoSpaceError        MAV_MISSION_NO_SPACE: too many items
    │   │   └── InvalidItemError (ValueError)   an item the autopilot refused
    │   └── MissionMismatchError    read-back differs from what was uploaded
    ├── CommandError
    │   ├── CommandDeniedError           COMMAND_ACK other than ACCEPTED
    │   └── CommandTimeoutError (TimeoutError)   no COMMAND_ACK after retries
    ├── PreflightError              a pre-flight check failed (names the check)
    │   └── ParameterError          vehicle parameters differ from the plan's (names each)
    │       └── RebootRequiredError     ... and some take effect only after a reboot
    └── FlightAbortedError               the flight ended without landing where planned
"""

from __future__ import annotations


class FlightError(Exception):
    """Base of every error raised by ``missions.flight``."""


class LinkError(FlightError, ConnectionError):
    """The MAVLink connection itself failed."""


class ConnectError(LinkError):
    """The URL could not be opened, or no vehicle heartbeat arrived."""


class LinkLostError(LinkError):
    """The link was lost and did not come back within the allowed time."""


class LinkTimeoutError(LinkError, TimeoutError):
    """An expected message did not arrive in time."""


class TransferError(FlightError):
    """A mission, fence or rally transfer failed."""


class TransferTimeoutError(TransferError, TimeoutError):
    """The vehicle stopped answering during a transfer, retries used up.

    ``after_last_item`` is True when only the final MISSION_ACK went missing:
    the list may well be complete, and a read-back can tell.
    """

    def __init__(self, message: str, *, after_last_item: bool = False) -> None:
        super().__init__(message)
        self.after_last_item = after_last_item


class TransferRejectedError(TransferError):
    """The autopilot ended a transfer with an error MISSION_ACK."""

    def __init__(self, message: str, *, result: int, result_name: str) -> None:
        super().__init__(message)
        self.result = result
        self.result_name = result_name


class NoSpaceError(TransferRejectedError):
    """The mission has more items than the autopilot can store."""


class InvalidItemError(TransferRejectedError, ValueError):
    """The autopilot refused an item (bad command, frame, parameter or sequence)."""


class MissionMismatchError(TransferError):
    """What the vehicle holds after an upload differs from what was sent."""

    def __init__(self, message: str, *, differences: list[str]) -> None:
        super().__init__(message)
        self.differences = differences


class CommandError(FlightError):
    """A COMMAND_LONG was not carried out."""


class CommandDeniedError(CommandError):
    """The autopilot answered a command with a result other than ACCEPTED."""

    def __init__(self, message: str, *, command: int, result: int) -> None:
        super().__init__(message)
        self.command = command
        self.result = result


class CommandTimeoutError(CommandError, TimeoutError):
    """No COMMAND_ACK arrived after every retry."""


class PreflightError(FlightError):
    """A pre-flight check failed; the message names the check."""


class ParameterError(PreflightError):
    """Vehicle parameters the plan relies on hold other values than it needs.

    ``differences`` maps each such parameter to ``(held, needed)``; ``held``
    is None when the vehicle did not answer for it.
    """

    def __init__(self, message: str, *, differences: dict[str, tuple[float | None, float]]) -> None:
        super().__init__(message)
        self.differences = differences


class RebootRequiredError(ParameterError):
    """Some differing parameters are read only at boot: set them and reboot the vehicle.

    EcoPatrol does not reboot a vehicle in its pre-flight; ``reboot`` names them.
    """

    def __init__(
        self,
        message: str,
        *,
        differences: dict[str, tuple[float | None, float]],
        reboot: tuple[str, ...],
    ) -> None:
        super().__init__(message, differences=differences)
        self.reboot = reboot


class FlightAbortedError(FlightError):
    """The flight ended without a normal landing (RTL, failsafe, crash, lost link)."""
