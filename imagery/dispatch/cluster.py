"""A Dask client on an embedded LocalCluster or on a remote scheduler: one code path.

With no address the dispatcher starts a LocalCluster of worker processes in
its own process (nothing to install or start); with
``tcp://host:8786`` it joins a cluster started with ``dask scheduler`` and
``dask worker`` on any number of machines. Either way the dispatcher only
sees a :class:`distributed.Client`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from distributed import Client, LocalCluster

from imagery.dispatch.errors import SchedulerAddressError, SchedulerUnreachableError

logger = logging.getLogger(__name__)

SCHEDULER_ENV = "ECOPATROL_DASK_SCHEDULER"
_PROTOCOLS = ("tcp", "tls", "ws", "wss", "ucx")


def check_address(address: str) -> str:
    """``address`` if it looks like a Dask scheduler address, else SchedulerAddressError."""
    parts = urlsplit(address)
    if parts.scheme not in _PROTOCOLS or not parts.hostname:
        raise SchedulerAddressError(
            f"scheduler address {address!r} is not like tcp://host:8786 "
            f"(protocols: {', '.join(_PROTOCOLS)})"
        )
    try:
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError as exc:
        raise SchedulerAddressError(f"scheduler address {address!r}: {exc}") from exc
    return address


@contextmanager
def open_client(
    scheduler: str | None = None,
    *,
    n_workers: int | None = None,
    threads_per_worker: int = 1,
    connect_timeout_s: float = 20.0,
) -> Iterator[Client]:
    """A client on ``scheduler``, or on a new LocalCluster of ``n_workers`` processes.

    The local cluster's worker processes exit with this one, even when it is
    killed (Dask ties each worker to its parent).
    """
    if scheduler:
        check_address(scheduler)
        try:
            client = Client(scheduler, timeout=connect_timeout_s, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise SchedulerUnreachableError(
                f"no Dask scheduler answered at {scheduler} within {connect_timeout_s:g} s"
            ) from exc
        logger.info("connected to Dask scheduler %s", scheduler)
        try:
            yield client
        finally:
            client.close()
        return
    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            host="127.0.0.1",
            # No dashboard, and the scheduler's health endpoint on a free port, so
            # several dispatchers on one machine never compete for 8787.
            dashboard_address="127.0.0.1:0",
            scheduler_kwargs={"dashboard": False},
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        logger.info("started a local Dask cluster: %s", cluster)
        yield client
