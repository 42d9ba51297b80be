"""Errors raised by the server's own services (routes turn them into 4xx).

Tree::

    ServerError(Exception)
    ├── NotFoundError(ServerError, LookupError)
    ├── ConflictError(ServerError, ValueError)
    ├── UploadRejectedError(ServerError, ValueError)
    │   └── UploadTooLargeError
    └── FlightControlError(ServerError, RuntimeError)
"""

from __future__ import annotations


class ServerError(Exception):
    """Base of every error the server raises on purpose."""


class NotFoundError(ServerError, LookupError):
    """A referenced record does not exist."""


class ConflictError(ServerError, ValueError):
    """The request clashes with the current state (duplicate name, flight already running)."""


class UploadRejectedError(ServerError, ValueError):
    """An upload is not a supported image, or names an unsafe path."""


class UploadTooLargeError(UploadRejectedError):
    """An upload exceeds the configured size limit."""


class FlightControlError(ServerError, RuntimeError):
    """A flight command (launch, pause, resume, abort) could not be carried out."""
