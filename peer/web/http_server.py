"""HTTP/1.1 for the tap: h11 parses and frames, this module drives it with trio.

h11 does all of HTTP (request parsing, chunked bodies, keep-alive rules); this layer
only moves bytes and enforces our limits, each with its own timeout, so a slow or
stalled client costs one task and never blocks shutdown or other clients:

- the request head must arrive within HEAD_TIMEOUT_S (a slowloris gets 408 and is
  closed), and an idle keep-alive connection is closed after IDLE_TIMEOUT_S;
- a head over MAX_HEAD_BYTES gets 431, a body over the handler's limit 413, broken
  HTTP 400, each followed by close;
- every write must finish within the stall time, or the connection is dropped.

Handlers see a `Request` (body already read) and answer through a `Responder`.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import cast

import attrs
import h11
import trio

from peer.wire import send_parts

HEAD_TIMEOUT_S = 10.0
IDLE_TIMEOUT_S = 5.0
BODY_TIMEOUT_S = 5.0
MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 4096
RECEIVE_BYTES = 16 * 1024


class HttpError(Exception):
    """A request we refuse: the status code and a one-line reason for the client."""

    def __init__(
        self, status: int, message: str, headers: list[tuple[str, str]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []


class ClientGone(Exception):
    """The client closed, broke the connection, or stopped reading for too long."""


@attrs.frozen
class Request:
    """One complete request: method, path, the raw query and the body."""

    method: str
    path: str
    query: bytes
    body: bytes


class Responder:
    """Writes one response to the client, and notices when the client goes away."""

    def __init__(self, connection: HttpConnection) -> None:
        self._connection = connection
        self.started = False

    async def start(self, status: int, headers: list[tuple[str, str]]) -> None:
        """Send the status line and headers."""
        self.started = True
        await self._connection.send(h11.Response(status_code=status, headers=headers))

    async def write(self, *parts: bytes | memoryview) -> None:
        """Send parts of the body in one write, without joining them (chunked unless a
        content-length was given)."""
        # h11 types Data.data as bytes, but passes any buffer through untouched.
        await self._connection.send(*(h11.Data(data=cast(bytes, part)) for part in parts))

    async def end(self) -> None:
        """Finish the body."""
        await self._connection.send(h11.EndOfMessage())

    async def body(self, status: int, content_type: str, body: bytes) -> None:
        """A whole response with a known length."""
        headers = [
            ("content-type", content_type),
            ("content-length", str(len(body))),
            ("cache-control", "no-store"),
        ]
        await self.start(status, headers)
        await self.write(body)
        await self.end()

    async def wait_closed(self) -> None:
        """Return when the client closes its side (for endless responses)."""
        await self._connection.wait_closed()


Handler = Callable[[Request, Responder], Awaitable[None]]


class HttpConnection:
    """One client connection: h11's state machine and the socket under it."""

    def __init__(self, stream: trio.SocketStream, *, stall_s: float) -> None:
        self.stream = stream
        self.stall_s = stall_s
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)

    async def next_event(self, timeout_s: float) -> h11.Event | type[h11.PAUSED]:
        """The next event from the client, reading as needed; TooSlowError after timeout_s."""
        with trio.fail_after(timeout_s):
            while True:
                event = self.h11.next_event()
                if event is not h11.NEED_DATA:
                    return event  # type: ignore[return-value]
                try:
                    data = await self.stream.receive_some(RECEIVE_BYTES)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    raise ClientGone from None
                self.h11.receive_data(data)

    async def send(self, *events: h11.Event) -> None:
        """Send events in one write; ClientGone if the client left or did not read for
        stall_s. Body bytes pass through h11 untouched (no copy per client)."""
        parts: list[bytes | memoryview] = []
        for event in events:
            parts += self.h11.send_with_data_passthrough(event) or []
        if not parts:
            return
        with trio.move_on_after(self.stall_s) as stall:
            try:
                await send_parts(self.stream, parts)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                raise ClientGone from None
        if stall.cancelled_caught:
            raise ClientGone

    async def wait_closed(self) -> None:
        """Read and drop whatever the client sends until it closes."""
        try:
            while await self.stream.receive_some(RECEIVE_BYTES):
                pass
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async def read_request(self, timeout_s: float) -> Request | None:
        """The next complete request, or None when the client closed between requests."""
        event = await self.next_event(timeout_s)
        if isinstance(event, h11.ConnectionClosed):
            return None
        if not isinstance(event, h11.Request):
            raise h11.RemoteProtocolError("expected a request", error_status_hint=400)
        target = event.target.decode("ascii", "replace")
        path, _, query = target.partition("?")
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                part = await self.next_event(BODY_TIMEOUT_S)
            except trio.TooSlowError:
                raise HttpError(408, "the body did not arrive in time") from None
            if isinstance(part, h11.EndOfMessage):
                break
            if isinstance(part, h11.Data):
                size += len(part.data)
                if size > MAX_BODY_BYTES:
                    raise HttpError(413, f"the body is over {MAX_BODY_BYTES} bytes")
                chunks.append(part.data)
            elif isinstance(part, h11.ConnectionClosed):
                raise ClientGone
        return Request(
            method=event.method.decode("ascii", "replace"),
            path=urllib.parse.unquote(path),
            query=query.encode("ascii", "replace"),
            body=b"".join(chunks),
        )

    async def refuse(self, error: HttpError) -> None:
        """Answer with an error response, if a response can still be started."""
        if self.h11.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        body = json.dumps({"error": error.message}).encode()
        headers = [
            ("content-type", "application/json"),
            ("content-length", str(len(body))),
            *error.headers,
        ]
        if self.h11.their_state is not h11.DONE:
            headers.append(("connection", "close"))
        try:
            await self.send(h11.Response(status_code=error.status, headers=headers))
            await self.send(h11.Data(data=body))
            await self.send(h11.EndOfMessage())
        except (ClientGone, h11.LocalProtocolError):
            pass


async def serve_connection(
    stream: trio.SocketStream,
    handler: Handler,
    *,
    stall_s: float,
    admit: Callable[[], HttpError | None],
    release: Callable[[], None],
) -> None:
    """Serve requests on one connection until it closes, misbehaves or times out.

    `admit` is asked once per connection (None lets it in; an HttpError refuses it after
    its first request head); `release` is called when an admitted connection ends.
    """
    connection = HttpConnection(stream, stall_s=stall_s)
    refusal = admit()
    try:
        first = True
        while True:
            try:
                request = await connection.read_request(HEAD_TIMEOUT_S if first else IDLE_TIMEOUT_S)
            except trio.TooSlowError:
                partial = connection.h11.trailing_data[0]  # a head begun but not finished
                if partial or connection.h11.their_state is not h11.IDLE:
                    await connection.refuse(HttpError(408, "the request did not arrive in time"))
                return
            except h11.RemoteProtocolError as exc:
                await connection.refuse(HttpError(exc.error_status_hint, f"bad request: {exc}"))
                return
            except HttpError as error:
                await connection.refuse(error)
                return
            if request is None:
                return
            first = False
            if refusal is not None:
                await connection.refuse(refusal)
                return
            responder = Responder(connection)
            try:
                await handler(request, responder)
            except HttpError as error:
                if responder.started:
                    return
                await connection.refuse(error)
            if (
                connection.h11.our_state is not h11.DONE
                or connection.h11.their_state is not h11.DONE
            ):
                return
            connection.h11.start_next_cycle()
    except ClientGone:
        return
    finally:
        if refusal is None:
            release()
        await trio.aclose_forcefully(stream)
