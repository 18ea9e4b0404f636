"""The HTTP tap as a small ASGI application, served by hypercorn's trio worker.

Routes (GET unless said):

    /               the live page (static/index.html, self-contained)
    /stream.mjpg    multipart/x-mixed-replace JPEG parts; ?res=360p|480p|720p|1080p|source
    /snapshot.jpg   the newest frame; ?res= as above
    /stats.json     the peer's statistics (DESIGN.md fields) plus the swarm's viewer count
    /chat           GET: ?after=N, the lines numbered above N; POST: {"text": "..."}

Every request is checked before it is served: unknown paths 404, other methods 405, a
bad query 400, a body over MAX_BODY_BYTES 413, more than `max_clients` requests at once
503. A client that takes no data for CLIENT_STALL_S is cut off, so it holds no slot.
"""

from __future__ import annotations

import json
import math
import urllib.parse
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

import trio

import protocol as p
from peer.chat_board import ChatRefused
from peer.errors import PeerError
from peer.node import Peer
from peer.resolution import ResolutionError, parse_resolution
from peer.web.fanout import FrameFanout
from peer.web.renditions import Renditions
from protocol.limits import MAX_CHAT_CHARS

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

BOUNDARY = "streamnestframe"
MAX_BODY_BYTES = 4096
MAX_QUERY_BYTES = 1024
BODY_TIMEOUT_S = 5.0
CLIENT_STALL_S = 20.0
STATUS_REFRESH_S = 2.0
STATUS_IDLE_S = 10.0  # stop asking the tracker when nobody has read /stats.json this long
REFUSED_STATUS = {"chat_rate_limited": 429, "chat_busy": 503}


class HttpError(Exception):
    """A request we refuse: the status code and a one-line reason for the client."""

    def __init__(self, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []


class WebTap:
    """The ASGI application: call it with (scope, receive, send)."""

    def __init__(self, peer: Peer, *, max_clients: int = 32) -> None:
        self.peer = peer
        self.max_clients = max_clients
        self.fanout = FrameFanout()
        self.renditions = Renditions()
        self.clients = 0
        self.viewers: int | None = None
        self._stats_read_s = -math.inf
        self._page = resources.files("peer.web").joinpath("static/index.html").read_bytes()

    # -- feeding -------------------------------------------------------------------------

    def publish(self, frame: p.VideoFrame) -> None:
        """A frame the peer sent or received (a Peer frame sink)."""
        self.fanout.publish(frame)

    async def refresh_viewer_count(self) -> None:
        """Keep the swarm's viewer count fresh while someone reads /stats.json."""
        while True:
            if trio.current_time() - self._stats_read_s < STATUS_IDLE_S:
                try:
                    reply = await self.peer.status()
                    self.viewers = sum(1 for peer in reply.peers if peer.role == "viewer")
                except (PeerError, trio.TooSlowError):
                    self.viewers = None
            await trio.sleep(STATUS_REFRESH_S)

    # -- ASGI --------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # websockets: not offered
        if self.clients >= self.max_clients:
            busy = f"too many clients (limit {self.max_clients})"
            await _send_error(send, HttpError(503, busy, [(b"retry-after", b"5")]))
            return
        self.clients += 1
        try:
            await self._route(scope, receive, send)
        except HttpError as refusal:
            await _send_error(send, refusal)
        finally:
            self.clients -= 1

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        method = scope["method"]
        query = _parse_query(scope.get("query_string", b""))
        routes: dict[str, dict[str, Callable[..., Awaitable[None]]]] = {
            "/": {"GET": self._page_},
            "/stream.mjpg": {"GET": self._stream},
            "/snapshot.jpg": {"GET": self._snapshot},
            "/stats.json": {"GET": self._stats},
            "/chat": {"GET": self._chat_lines, "POST": self._chat_post},
        }
        if path not in routes:
            raise HttpError(404, f"no such page: {path[:100]}")
        handlers = routes[path]
        if method not in handlers:
            allowed = ", ".join(handlers).encode()
            raise HttpError(405, f"{method} is not allowed here", [(b"allow", allowed)])
        await handlers[method](query, receive, send)

    async def _page_(self, query: dict[str, str], receive: Receive, send: Send) -> None:
        _only(query)
        await _send_body(send, 200, "text/html; charset=utf-8", self._page)

    async def _stream(self, query: dict[str, str], receive: Receive, send: Send) -> None:
        resolution = self._resolution(query)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", f"multipart/x-mixed-replace; boundary={BOUNDARY}".encode()),
                    (b"cache-control", b"no-cache, no-store"),
                ],
            }
        )
        with self.fanout.subscribe() as slot:
            while True:
                frame = await slot.get_newest()
                jpeg = await self.renditions.jpeg(frame, resolution)
                if jpeg is None:
                    continue
                head = (
                    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                    f"Content-Length: {len(jpeg)}\r\n\r\n"
                ).encode()
                part = b"".join((head, jpeg, b"\r\n"))
                with trio.move_on_after(CLIENT_STALL_S) as stall:
                    await send({"type": "http.response.body", "body": part, "more_body": True})
                if stall.cancelled_caught:
                    return  # the client stopped reading: free its slot

    async def _snapshot(self, query: dict[str, str], receive: Receive, send: Send) -> None:
        resolution = self._resolution(query)
        frame = self.fanout.latest
        if frame is None:
            raise HttpError(503, "no frame yet", [(b"retry-after", b"1")])
        jpeg = await self.renditions.jpeg(frame, resolution)
        if jpeg is None:
            raise HttpError(503, "the newest frame does not decode")
        await _send_body(send, 200, "image/jpeg", bytes(jpeg))

    async def _stats(self, query: dict[str, str], receive: Receive, send: Send) -> None:
        _only(query)
        self._stats_read_s = trio.current_time()
        stats = dict(self.peer.stats())
        stats["viewers"] = self.viewers
        stats["http_clients"] = self.fanout.subscribers
        await _send_json(send, 200, stats)

    async def _chat_lines(self, query: dict[str, str], receive: Receive, send: Send) -> None:
        _only(query, "after")
        after = _integer(query.get("after", "0"), "after")
        lines = [_chat_json(number, line) for number, line in self.peer.chat.since(after)]
        await _send_json(send, 200, {"lines": lines, "last": self.peer.chat.count})

    async def _chat_post(self, query: dict[str, str], receive: Receive, send: Send) -> None:
        _only(query)
        body = await _read_body(receive)
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            raise HttpError(400, 'the body must be JSON: {"text": "..."}') from None
        text = data.get("text") if isinstance(data, dict) else None
        if not isinstance(text, str):
            raise HttpError(400, 'the body must be JSON: {"text": "..."}')
        text = text.strip()
        if not 1 <= len(text) <= MAX_CHAT_CHARS:
            raise HttpError(400, f"a chat message has 1 to {MAX_CHAT_CHARS} characters")
        try:
            line = await self.peer.post_chat(text)
        except ChatRefused as refused:
            raise HttpError(REFUSED_STATUS.get(refused.code, 400), str(refused)) from None
        except PeerError as exc:
            raise HttpError(503, str(exc)) from None
        await _send_json(send, 200, _chat_json(None, line))

    def _resolution(self, query: dict[str, str]) -> str:
        _only(query, "res")
        if "res" not in query:
            return self.peer.resolution
        try:
            return parse_resolution(query["res"])
        except ResolutionError as exc:
            raise HttpError(400, str(exc)) from None


def _parse_query(raw: bytes) -> dict[str, str]:
    if len(raw) > MAX_QUERY_BYTES:
        raise HttpError(414, "query string too long")
    try:
        pairs = urllib.parse.parse_qsl(
            raw.decode("ascii"), keep_blank_values=True, strict_parsing=bool(raw)
        )
    except (UnicodeDecodeError, ValueError):
        raise HttpError(400, "malformed query string") from None
    query = dict(pairs)
    if len(query) != len(pairs):
        raise HttpError(400, "a query parameter is repeated")
    return query


def _only(query: dict[str, str], *allowed: str) -> None:
    unknown = sorted(set(query) - set(allowed))
    if unknown:
        raise HttpError(400, f"unknown query parameter {unknown[0][:40]!r}")


def _integer(text: str, name: str) -> int:
    if not text.isdigit() or len(text) > 18:
        raise HttpError(400, f"{name} must be a whole number >= 0")
    return int(text)


def _chat_json(number: int | None, line: p.ChatMessage) -> dict[str, object]:
    return {
        "n": number,
        "id": line.id,
        "sender": line.sender,
        "time_ns": line.time_ns,
        "text": line.text,
    }


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    with trio.move_on_after(BODY_TIMEOUT_S) as timeout:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise HttpError(400, "the client went away")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise HttpError(413, f"the body is over {MAX_BODY_BYTES} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)
    assert timeout.cancelled_caught
    raise HttpError(408, "the body did not arrive in time")


async def _send_body(send: Send, status: int, content_type: str, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _send_json(send: Send, status: int, data: object) -> None:
    body = json.dumps(data, separators=(",", ":"), allow_nan=False).encode()
    await _send_body(send, status, "application/json", body)


async def _send_error(send: Send, refusal: HttpError) -> None:
    body = json.dumps({"error": refusal.message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": refusal.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *refusal.headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
