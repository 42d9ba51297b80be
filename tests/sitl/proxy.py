"""The lossy proxy of the first lossy-link test: :mod:`sitl.netem` with uniform loss.

Each datagram from SITL and each MAVLink frame from the client is dropped with
probability ``drop``, no delay; :meth:`LossyProxy.cut` hangs up on the client
and refuses it for a while, as a cellular link that drops out.
"""

from __future__ import annotations

from sitl.netem import LinkEmulator, uniform_loss


class LossyProxy(LinkEmulator):
    """``LinkEmulator(sitl_port, uniform_loss(drop))``, as the first test built it."""

    def __init__(self, sitl_port: int, *, drop: float, seed: int = 1) -> None:
        super().__init__(sitl_port, uniform_loss(drop), seed=seed)
