"""Processing beyond one machine: jobs in the database, compute on Dask.

:class:`Dispatcher` claims jobs queued in :mod:`store.jobs`, runs each job's
task on a Dask cluster (a LocalCluster, or a remote scheduler at
``ECOPATROL_DASK_SCHEDULER``) and writes the results in batches, idempotently,
as the only writer for the jobs it holds.
"""

from imagery.dispatch.cluster import SCHEDULER_ENV, open_client
from imagery.dispatch.dispatcher import Dispatcher, DispatchReport, DispatchSettings, JobOutcome

__all__ = [
    "SCHEDULER_ENV",
    "DispatchReport",
    "DispatchSettings",
    "Dispatcher",
    "JobOutcome",
    "open_client",
]
