"""A lossy MAVLink proxy on loopback: SITL's UDP serial port on one side, TCP on the other.

Each datagram from SITL (whole MAVLink frames) and each chunk from the client
is dropped with probability ``drop``; :meth:`LossyProxy.cut` hangs up on the
client and refuses it for a while, as a cellular link that drops out.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any


class _Sitl(asyncio.DatagramProtocol):
    def __init__(self, proxy: LossyProxy) -> None:
        self.proxy = proxy

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.proxy._from_sitl(data, addr)


class LossyProxy:
    def __init__(self, sitl_port: int, *, drop: float, seed: int = 1) -> None:
        self.sitl_port = sitl_port
        self.drop = drop
        self.random = random.Random(seed)
        self.port = 0
        self.sent = {"up": 0, "down": 0}
        self.dropped = {"up": 0, "down": 0}
        self.connections = 0
        self._sitl_addr: Any = None
        self._udp: asyncio.DatagramTransport | None = None
        self._server: asyncio.Server | None = None
        self._client: asyncio.StreamWriter | None = None
        self._refuse_until = 0.0

    @property
    def url(self) -> str:
        return f"tcp:127.0.0.1:{self.port}"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._udp, _ = await loop.create_datagram_endpoint(
            lambda: _Sitl(self), local_addr=("127.0.0.1", self.sitl_port)
        )
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._server is not None:
            self._server.close()
        if self._udp is not None:
            self._udp.close()

    def cut(self, seconds: float) -> None:
        """Hang up on the client and refuse reconnections for ``seconds``."""
        self._refuse_until = asyncio.get_running_loop().time() + seconds
        if self._client is not None:
            self._client.close()
            self._client = None

    def _lose(self, direction: str) -> bool:
        if self.random.random() < self.drop:
            self.dropped[direction] += 1
            return True
        self.sent[direction] += 1
        return False

    def _from_sitl(self, data: bytes, addr: Any) -> None:
        self._sitl_addr = addr
        if self._client is not None and not self._lose("down"):
            self._client.write(data)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if asyncio.get_running_loop().time() < self._refuse_until:
            writer.close()
            return
        self.connections += 1
        if self._client is not None:
            self._client.close()
        self._client = writer
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(4096):
                if self._udp is not None and self._sitl_addr is not None and not self._lose("up"):
                    self._udp.sendto(data, self._sitl_addr)
        if self._client is writer:
            self._client = None
        writer.close()
