"""A lean HTTP/1.1 load generator: core banking's side of the intake benchmark.

Core banking runs on its own machines; here it shares two cores with the intake and the
Temporal server, so whatever CPU the sender burns is taken from the two being measured.
httpx cost about a quarter of a core at 60 events/s (and one shared client kept only
about 8 of 64 requests in flight). This sender keeps one keep-alive connection per lane,
writes each signed request in one call and reads the answer by its Content-Length, as wrk
does; every answer's status is checked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator


class UnexpectedAnswer(RuntimeError):
    pass


def _request(host: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    head = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
        elif name.strip().lower() == "transfer-encoding":
            raise UnexpectedAnswer(f"chunked answers are not read here ({line})")
    return status, await reader.readexactly(length)


async def post_all(host: str, port: int, path: str, bodies: Iterable[bytes],
                   headers: Callable[[bytes], dict[str, str]], lanes: int,
                   expect: int = 202) -> int:
    """POST every body, ``lanes`` connections at once; the number posted. Raises on the
    first answer that is not ``expect``."""
    pending: Iterator[bytes] = iter(bodies)
    posted = 0

    async def lane() -> None:
        nonlocal posted
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for body in pending:
                writer.write(_request(f"{host}:{port}", path, body, headers(body)))
                await writer.drain()
                status, answer = await _answer(reader)
                if status != expect:
                    raise UnexpectedAnswer(f"{status} {answer[:300]!r}")
                posted += 1
        finally:
            writer.close()
            await writer.wait_closed()

    await asyncio.gather(*(lane() for _ in range(lanes)))
    return posted
