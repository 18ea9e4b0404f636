"""Reading a peer's MJPEG tap (/stream.mjpg) to stamp each frame as it arrives, for the
repair benchmark (scripts/bench_repair.py): the parts are counted, not kept.
"""

from __future__ import annotations

import re

import attrs
import trio

MAX_PART_HEAD_BYTES = 4096  # an MJPEG part's (or the response's) head, at most


@attrs.define
class MjpegParts:
    """Counts the JPEG parts of a multipart/x-mixed-replace response as its bytes come.

    Plan: skip the response's head, then for each part read its head up to the blank
    line, take its Content-Length and skip that many bytes without keeping them, so the
    buffer never holds more than one head (MAX_PART_HEAD_BYTES, else ValueError).
    """

    _head: bytearray = attrs.field(factory=bytearray)
    _skip: int = 0  # bytes of the current part's JPEG still to come
    _past_response_head: bool = False

    def feed(self, data: bytes) -> int:
        """Take the next bytes of the response; return how many parts they completed."""
        completed = 0
        view = memoryview(data)
        while view:
            if self._skip:
                taken = min(self._skip, len(view))
                self._skip -= taken
                view = view[taken:]
                completed += self._skip == 0
                continue
            held = len(self._head)
            room = MAX_PART_HEAD_BYTES + 4 - held  # a head and its blank line
            if room <= 0:
                raise ValueError("no end to an MJPEG head")
            piece = view[:room]
            self._head += piece
            end = self._head.find(b"\r\n\r\n", max(0, held - 3))
            if end < 0:
                view = view[len(piece) :]
                continue
            view = view[end + 4 - held :]
            head = bytes(self._head[:end])
            self._head.clear()
            if self._past_response_head:
                length = re.search(rb"content-length:\s*(\d+)", head, re.IGNORECASE)
                if length is None:
                    raise ValueError("an MJPEG part without a Content-Length")
                self._skip = int(length.group(1))
                completed += self._skip == 0
            self._past_response_head = True
        return completed


async def watch_frames(address: tuple[str, int], arrivals: list[float]) -> None:
    """Stamp every frame a child's tap sends (trio clock) until the connection ends."""
    try:
        stream = await trio.open_tcp_stream(*address)
        async with stream:
            await stream.send_all(b"GET /stream.mjpg?res=source HTTP/1.0\r\n\r\n")
            parts = MjpegParts()
            while data := await stream.receive_some(1 << 16):
                now = trio.current_time()
                arrivals.extend([now] * parts.feed(data))
    except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
        return  # the child was stopped
