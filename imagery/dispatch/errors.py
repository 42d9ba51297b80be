"""Exceptions raised by the dispatcher (part of the :mod:`imagery` tree)::

ImageryError(Exception)                              imagery.errors
└── DispatchError(ImageryError)
    ├── TaskPathError(DispatchError, ValueError)      a "module:function" that names no function
    ├── SchedulerAddressError(DispatchError, ValueError)
    │                                                 not a Dask scheduler address
    └── SchedulerUnreachableError(DispatchError, ConnectionError)
                                                      no scheduler answers at the address
"""

from __future__ import annotations

from imagery.errors import ImageryError


class DispatchError(ImageryError):
    """Base of every error raised by :mod:`imagery.dispatch`."""


class TaskPathError(DispatchError, ValueError):
    """A job's task or writer path does not name an importable function."""


class SchedulerAddressError(DispatchError, ValueError):
    """The scheduler address is not ``tcp://host:port`` (or another Dask protocol)."""


class SchedulerUnreachableError(DispatchError, ConnectionError):
    """No Dask scheduler answered at the given address."""
