"""Every way running ArduPilot SITL can fail, as one exception tree::

SitlError
├── BinaryNotFoundError (FileNotFoundError)   no arducopter binary where we look
├── SitlStartError (RuntimeError)             the process exited or ports are taken
│   └── InstanceRunningError                  `sitl start` already runs that instance
└── SitlNotReadyError (TimeoutError)          it runs but never became ready to arm
"""

from __future__ import annotations


class SitlError(Exception):
    """Base of every error raised by ``sitl``."""


class BinaryNotFoundError(SitlError, FileNotFoundError):
    """No ArduCopter SITL binary was found (the message says where we looked)."""


class SitlStartError(SitlError, RuntimeError):
    """The SITL process could not be started or exited early (see its log)."""


class InstanceRunningError(SitlStartError):
    """The instance asked for already runs under its supervisor (``ecopatrol sitl start``)."""


class SitlNotReadyError(SitlError, TimeoutError):
    """SITL runs but did not become ready to arm in time."""
