"""HTTP clients for the tap tests: urllib for plain requests, raw sockets for streams."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import attrs
import h11
import trio

from peer.web.app import BOUNDARY

PART_MARK = f"--{BOUNDARY}\r\n".encode()


@attrs.frozen
class Reply:
    """Status, headers and body of one answered request."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


def _request(url: str, method: str, body: bytes | None, content_type: str) -> Reply:
    request = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        request.add_header("content-type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Reply(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, dict(error.headers.items()), error.read())


async def get(url: str) -> Reply:
    """GET `url` with the standard library's client (in a worker thread)."""
    return await trio.to_thread.run_sync(_request, url, "GET", None, "")


async def post(url: str, body: bytes, content_type: str = "application/json") -> Reply:
    """POST `body` to `url`."""
    return await trio.to_thread.run_sync(_request, url, "POST", body, content_type)


async def open_stream(address: tuple[str, int], target: str = "/stream.mjpg") -> trio.SocketStream:
    """Connect and send a GET for `target`; the caller reads (or, to stall, does not)."""
    stream = await trio.open_tcp_stream(*address)
    request = f"GET {target} HTTP/1.1\r\nHost: test\r\n\r\n".encode()
    await stream.send_all(request)
    return stream


class PartCounter:
    """Counts multipart JPEG parts in a raw HTTP byte stream (marks may span reads)."""

    def __init__(self) -> None:
        self.parts = 0
        self._tail = b""

    def feed(self, data: bytes) -> None:
        """Add received bytes."""
        window = self._tail + data
        self.parts += window.count(PART_MARK)
        self._tail = window[-(len(PART_MARK) - 1) :]


async def count_parts(stream: trio.SocketStream, counter: PartCounter) -> None:
    """Read the stream until it closes, counting parts."""
    while True:
        data = await stream.receive_some(65536)
        if not data:
            return
        counter.feed(data)


async def read_body(
    stream: trio.SocketStream, enough: Callable[[bytes], bool]
) -> tuple[h11.Response, bytes]:
    """Read a streamed response as an HTTP client does (h11: chunked framing removed)
    until `enough(body so far)`; the response head and the body read."""
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="GET", target="/", headers=[("host", "test")]))  # state only
    response: h11.Response | None = None
    body = bytearray()
    while response is None or not enough(bytes(body)):
        event = client.next_event()
        if event is h11.NEED_DATA:
            client.receive_data(await stream.receive_some(65536))
        elif isinstance(event, h11.Response):
            response = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            break
    assert response is not None, "no response"
    return response, bytes(body)
