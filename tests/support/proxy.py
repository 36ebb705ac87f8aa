"""A TCP proxy in front of the broker that a test can cut, as when a real broker restarts."""

from __future__ import annotations

import asyncio
import ssl

from devtools.net import free_port

__all__ = ["TcpProxy"]


class TcpProxy:
    """Forwards a port to the broker; ``cut()`` drops every connection and refuses new ones
    (the broker unreachable, its data kept, as when a real Kafka broker restarts). With
    ``tls``, clients must speak TLS to it (it terminates TLS in front of the broker)."""

    def __init__(self, target_port: int, tls: ssl.SSLContext | None = None) -> None:
        self.port = free_port()
        self.target_port = target_port
        self.tls = tls
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, ssl=self.tls)
        return self

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            self._writers.discard(writer)
            writer.transport.abort()
