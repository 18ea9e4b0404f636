"""One child's link, and the writes that go straight to it. The hub (peer/children.py)
owns the links; this is what a frame or a pong costs on the way to one child.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import cast

import attrs
import trio

import protocol as p
from peer.queues import FrameQueue
from peer.wire import send_parts

CHILD_QUEUE_FRAMES = 4
# An H.264 child that loses a frame loses the rest of its GOP, so it may fall further
# behind before one is dropped: half a second at 30 fps (about 150 KiB at 2.5 Mb/s).
H264_CHILD_QUEUE_FRAMES = 15


def queue_bound(codec: p.Codec) -> int:
    """How many frames a child's queue holds for a stream of `codec`."""
    return H264_CHILD_QUEUE_FRAMES if codec is p.Codec.H264 else CHILD_QUEUE_FRAMES


async def send_frame(stream: trio.abc.Stream, head: bytes, data: memoryview) -> None:
    """Send a frame's head and picture bytes without joining them (see wire.send_parts)."""
    await send_parts(stream, (head, data))


@attrs.frozen
class QueuedFrame:
    """A frame waiting for one child, with what its head will need at send time."""

    frame: p.VideoFrame
    arrival_ns: int
    path_latency_us: int  # the estimate up to arrival here (parent's + RTT/2)


@attrs.define(eq=False)
class ChildLink:
    """One connected child."""

    name: str
    stream: trio.abc.Stream
    queue: FrameQueue[QueuedFrame] = attrs.field(factory=lambda: FrameQueue(CHILD_QUEUE_FRAMES))
    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    frames_sent: int = 0
    drop_reason: p.DropReason | None = None
    drop_detail: str = ""
    sending_since: float | None = None  # when the send in progress started
    awaiting_keyframe: bool = False  # H.264: a frame was dropped, send nothing before a keyframe
    probe_bytes: int = 0  # uplink probe padding the child sent (peer/uplink_probe.py)


def can_write_now(link: ChildLink) -> bool:
    """Whether a write may go straight out: nothing queued or in flight, a plain socket."""
    return link.sending_since is None and link.queue.idle and type(link.stream) is trio.SocketStream


def write_now(link: ChildLink, parts: Sequence[bytes | memoryview]) -> int:
    """Write `parts` to an idle child straight from the calling task; bytes taken.

    Only where `can_write_now(link)` holds (a plain socket, nothing queued or in flight).

    The common case on a healthy tree: the child's writer is parked with nothing
    queued, so waking it would cost a task switch per message per child. One
    non-blocking scatter-gather write instead; whatever the socket does not take
    goes to the front of the queue for the writer (as views: a frame's bytes are not
    copied), so order is kept. 0 (queue it all) if the socket takes nothing or
    reports an error: the writer then deals with it.
    """
    stream = cast(trio.SocketStream, link.stream)
    try:
        sent = os.writev(stream.socket.fileno(), parts)
    except OSError:  # full (BlockingIOError) or broken: the queue and the writer deal
        return 0
    if sent <= 0:
        return 0
    whole = sum(len(part) for part in parts)
    if sent == whole:  # the common case: the socket took it all
        return whole
    total = 0
    rest: list[bytes | memoryview] = []
    for part in parts:
        size = len(part)
        if sent >= total + size:
            total += size
            continue
        taken = max(0, sent - total)
        rest.append(memoryview(part)[taken:] if taken else part)
        total += size
    for part in reversed(rest):
        link.queue.put_control(part, front=True)
    return total


def relay_head(item: QueuedFrame) -> tuple[bytes, memoryview]:
    """The frame's wire parts for its next hop: hops + 1, and the time it waited here added."""
    waited_us = (time.time_ns() - item.arrival_ns) // 1000
    frame = item.frame
    return p.relay_parts(
        frame,
        hops=frame.header.hops + 1,
        path_latency_us=item.path_latency_us + max(0, waited_us),
    )
