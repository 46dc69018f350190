"""A lean HTTP/1.1 keep-alive client for the load generator.

httpx cost the generator about 4 ms of CPU per request, 0.8 of this machine's 2 cores at
200 requests/s: the load generator competed with the server it measured. This client
sends pre-built request bytes over plain asyncio streams and parses only the status line,
`Content-Length` and chunked bodies, which is what a load generator such as wrk does. It
speaks to `http://` URLs only.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit


class HTTPError(Exception):
    """The request failed before an answer came (connection refused, reset, timeout)."""


class _Stale(Exception):
    """A kept-alive connection the server had closed: send again on a new one."""


_Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def _close(connection: _Connection | None) -> None:
    if connection is not None:
        connection[1].close()


@dataclass
class Answer:
    status: int
    body: bytes


def build_request(method: str, url: str, headers: dict[str, str], body: bytes | None) -> bytes:
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise ValueError(f"only http:// URLs: {url}")
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}", "Connection: keep-alive"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


async def _read_answer(reader: asyncio.StreamReader) -> tuple[Answer, bool]:
    """The answer and whether the server keeps the connection open."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, _, header_block = head.partition(b"\r\n")
    status = int(status_line.split(b" ", 2)[1])
    length: int | None = None
    chunked = False
    keep_alive = True
    for line in header_block.split(b"\r\n"):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"connection" and b"close" in value.lower():
            keep_alive = False
    if chunked:
        body = bytearray()
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            body += await reader.readexactly(size + 2)
            del body[-2:]
        return Answer(status, bytes(body)), keep_alive
    if length is None:
        return Answer(status, await reader.read()), False
    return Answer(status, await reader.readexactly(length)), keep_alive


class Client:
    """Up to `max_connections` keep-alive connections to one host; requests queue for one."""

    def __init__(self, url: str, max_connections: int, timeout: float) -> None:
        parts = urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._timeout = timeout
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(max_connections)

    async def send(self, request: bytes) -> Answer:
        async with self._slots:
            if self._idle:
                try:
                    return await self._exchange(self._idle.pop(), request)
                except _Stale:
                    pass  # the server closed it while idle; the request never arrived
            return await self._exchange(None, request)

    async def _exchange(self, connection: _Connection | None, request: bytes) -> Answer:
        reused = connection is not None
        try:
            async with asyncio.timeout(self._timeout):
                if connection is None:
                    connection = await asyncio.open_connection(self._host, self._port)
                reader, writer = connection
                writer.write(request)
                answer, keep_alive = await _read_answer(reader)
        except asyncio.IncompleteReadError as exc:
            _close(connection)
            if reused and not exc.partial:
                raise _Stale from exc
            raise HTTPError(type(exc).__name__) from exc
        except (OSError, asyncio.LimitOverrunError) as exc:
            _close(connection)
            if reused and isinstance(exc, ConnectionResetError):
                raise _Stale from exc
            raise HTTPError(type(exc).__name__) from exc
        except TimeoutError as exc:
            _close(connection)
            raise HTTPError("Timeout") from exc
        if keep_alive:
            self._idle.append(connection)
        else:
            writer.close()
        return answer

    async def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()
