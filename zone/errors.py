"""Every way the zone's own description can be wrong, as one exception tree.

Each refinement also derives from the builtin it refines, so a caller that only
knows Python's exceptions still catches it (the CLIs map ``ValueError`` to exit 2)::

    ZoneError
    └── InvalidSiteError (ValueError)    a sites file or one of its features is malformed,
                                         or a site asked for is not in the zone

The planner (``missions.errors``) and the pipeline (``imagery.errors``) have
trees of their own; a caller that reads a zone and then plans or processes it
catches this tree beside theirs.
"""

from __future__ import annotations


class ZoneError(Exception):
    """Base of every error raised by :mod:`zone`."""


class InvalidSiteError(ZoneError, ValueError):
    """A sites file, or one of its features, is malformed (the message names it)."""
