"""The HTTP tap's pages: routing and handlers, over peer/web/http_server.py (h11).

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

import trio

import protocol as p
from peer.chat_board import ChatRefused
from peer.errors import PeerError
from peer.node import Peer
from peer.pictures import Picture
from peer.resolution import ResolutionError, parse_resolution
from peer.web.fanout import FrameFanout
from peer.web.http_server import ClientGone, HttpError, Request, Responder
from peer.web.renditions import Renditions
from protocol.limits import MAX_CHAT_CHARS

BOUNDARY = "streamnestframe"
MAX_QUERY_BYTES = 1024
CLIENT_STALL_S = 20.0
STATUS_REFRESH_S = 2.0
STATUS_IDLE_S = 10.0  # stop asking the tracker when nobody has read /stats.json this long
REFUSED_STATUS = {"chat_rate_limited": 429, "chat_busy": 503}


class WebTap:
    """The tap of one peer: pictures fanned out to clients, and the request handlers."""

    def __init__(
        self, peer: Peer, *, max_clients: int = 32, client_stall_s: float = CLIENT_STALL_S
    ) -> None:
        self.peer = peer
        self.max_clients = max_clients
        self.client_stall_s = client_stall_s
        self.fanout = FrameFanout()
        self.renditions = Renditions()
        self.clients = 0
        self.viewers: int | None = None
        self._stats_read_s = -math.inf
        self._page_html = resources.files("peer.web").joinpath("static/index.html").read_bytes()

    # -- feeding -------------------------------------------------------------------------

    def publish(self, picture: Picture) -> None:
        """A picture the peer made of what it sent or received (a Peer picture sink)."""
        self.fanout.publish(picture)

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

    # -- HTTP --------------------------------------------------------------------------

    def admit(self) -> HttpError | None:
        """Let a new connection in (counted until `release`), or say why not."""
        if self.clients >= self.max_clients:
            busy = f"too many clients (limit {self.max_clients})"
            return HttpError(503, busy, [("retry-after", "5")])
        self.clients += 1
        return None

    def release(self) -> None:
        """An admitted connection ended."""
        self.clients -= 1

    async def handle(self, request: Request, respond: Responder) -> None:
        """Route one request to its handler; HttpError for anything we refuse."""
        query = _parse_query(request.query)
        routes: dict[str, dict[str, Callable[..., Awaitable[None]]]] = {
            "/": {"GET": self._page},
            "/stream.mjpg": {"GET": self._stream},
            "/snapshot.jpg": {"GET": self._snapshot},
            "/stats.json": {"GET": self._stats},
            "/chat": {"GET": self._chat_lines, "POST": self._chat_post},
        }
        if request.path not in routes:
            raise HttpError(404, f"no such page: {request.path[:100]}")
        handlers = routes[request.path]
        if request.method not in handlers:
            allowed = ", ".join(handlers)
            raise HttpError(405, f"{request.method[:20]} is not allowed here", [("allow", allowed)])
        await handlers[request.method](query, request, respond)

    async def _page(self, query: dict[str, str], request: Request, respond: Responder) -> None:
        _only(query)
        await respond.body(200, "text/html; charset=utf-8", self._page_html)

    async def _stream(self, query: dict[str, str], request: Request, respond: Responder) -> None:
        resolution = self._resolution(query)
        await respond.start(
            200,
            [
                ("content-type", f"multipart/x-mixed-replace; boundary={BOUNDARY}"),
                ("cache-control", "no-cache, no-store"),
                ("connection", "close"),
            ],
        )
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_cancel_when_closed, respond, nursery.cancel_scope)
                await self._send_parts(respond, resolution)
        except* ClientGone:
            pass  # stalled or broken: the connection layer closes it

    async def _send_parts(self, respond: Responder, resolution: str) -> None:
        with self.fanout.subscribe() as slot:
            while True:
                picture = await slot.get_newest()
                jpeg = await self.renditions.jpeg(picture, resolution)
                if jpeg is None:
                    continue
                head = (
                    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                    f"Content-Length: {len(jpeg)}\r\n\r\n"
                ).encode()
                await respond.write(head, jpeg, b"\r\n")  # the JPEG is not copied

    async def _snapshot(self, query: dict[str, str], request: Request, respond: Responder) -> None:
        resolution = self._resolution(query)
        picture = self.fanout.latest
        if picture is None:
            raise HttpError(503, "no frame yet", [("retry-after", "1")])
        jpeg = await self.renditions.jpeg(picture, resolution)
        if jpeg is None:
            raise HttpError(503, "the newest frame does not decode")
        await respond.body(200, "image/jpeg", bytes(jpeg))

    async def _stats(self, query: dict[str, str], request: Request, respond: Responder) -> None:
        _only(query)
        self._stats_read_s = trio.current_time()
        stats = dict(self.peer.stats())
        stats["viewers"] = self.viewers
        stats["http_clients"] = self.fanout.subscribers
        await _send_json(respond, stats)

    async def _chat_lines(
        self, query: dict[str, str], request: Request, respond: Responder
    ) -> None:
        _only(query, "after")
        after = _integer(query.get("after", "0"), "after")
        lines = [_chat_json(number, line) for number, line in self.peer.chat.since(after)]
        await _send_json(respond, {"lines": lines, "last": self.peer.chat.count})

    async def _chat_post(self, query: dict[str, str], request: Request, respond: Responder) -> None:
        _only(query)
        try:
            data = json.loads(request.body)
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
        await _send_json(respond, _chat_json(None, line))

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


async def _cancel_when_closed(respond: Responder, scope: trio.CancelScope) -> None:
    await respond.wait_closed()
    scope.cancel()


async def _send_json(respond: Responder, data: object) -> None:
    body = json.dumps(data, separators=(",", ":"), allow_nan=False).encode()
    await respond.body(200, "application/json", body)
