"""A child's send queue keeps the newest frames, lets control messages by, and ends cleanly.

`FrameQueue` (peer/queues.py) is what a slow child sees: when it falls behind it loses
its oldest frames (counted), never its pongs or the stream's end, and the unsent rest of
a frame already begun always goes out first, so the bytes on the link stay whole.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

from peer.queues import MAX_CONTROL_MESSAGES, FrameQueue

PONG = b"pong"
STREAM_END = b"stream ended"


async def drain(queue: FrameQueue[str]) -> list[bytes | str]:
    """Everything the writer would take from a closed queue, in order (views as bytes)."""
    queue.close()
    taken: list[bytes | str] = []
    while True:
        try:
            item = await queue.get()
            taken.append(bytes(item) if isinstance(item, memoryview) else item)
        except trio.EndOfChannel:
            return taken


async def test_a_full_queue_drops_its_oldest_frames_and_counts_each() -> None:
    queue: FrameQueue[str] = FrameQueue(max_frames=3)
    kept = [queue.put_frame(f"frame {i}") for i in range(1, 6)]
    assert kept == [True, True, True, False, False], "the 4th and 5th each pushed one out"
    assert queue.dropped == 2
    assert len(queue) == 3
    assert await drain(queue) == ["frame 3", "frame 4", "frame 5"], "the newest three stay"


async def test_control_messages_overtake_queued_frames_in_their_own_order() -> None:
    queue: FrameQueue[str] = FrameQueue(max_frames=4)
    queue.put_frame("frame 1")
    queue.put_frame("frame 2")
    assert queue.put_control(PONG)
    assert queue.put_control(STREAM_END)
    assert await drain(queue) == [PONG, STREAM_END, "frame 1", "frame 2"]


async def test_dropping_frames_never_drops_a_control_message() -> None:
    queue: FrameQueue[str] = FrameQueue(max_frames=1)
    queue.put_control(PONG)
    for i in range(1, 11):
        queue.put_frame(f"frame {i}")
    assert queue.dropped == 9
    assert await drain(queue) == [PONG, "frame 10"]


async def test_the_rest_of_a_begun_frame_goes_out_before_everything_else() -> None:
    queue: FrameQueue[str] = FrameQueue(max_frames=4)
    queue.put_frame("frame 2")
    queue.put_control(PONG)
    assert queue.put_control(b"rest of frame 1", front=True)
    assert await drain(queue) == [b"rest of frame 1", PONG, "frame 2"]


async def test_the_control_lane_refuses_past_its_limit_but_never_a_frames_rest() -> None:
    queue: FrameQueue[str] = FrameQueue(max_frames=4)
    for i in range(MAX_CONTROL_MESSAGES):
        assert queue.put_control(b"pong %d" % i), f"message {i + 1} fits"
    assert not queue.put_control(b"one pong too many")
    assert queue.put_control(b"rest of a frame", front=True), "the link's bytes must stay whole"
    taken = await drain(queue)
    assert taken[0] == b"rest of a frame"
    assert taken[1:] == [b"pong %d" % i for i in range(MAX_CONTROL_MESSAGES)]


async def test_a_queue_is_idle_only_with_nothing_in_either_lane() -> None:
    queue: FrameQueue[str] = FrameQueue(max_frames=2)
    assert queue.idle
    queue.put_control(PONG)
    assert not queue.idle
    await queue.get()
    queue.put_frame("frame 1")
    assert not queue.idle and len(queue) == 1
    await queue.get()
    assert queue.idle and len(queue) == 0


async def test_a_closed_queue_hands_out_what_it_holds_then_ends() -> None:
    queue: FrameQueue[str] = FrameQueue(max_frames=2)
    queue.put_frame("frame 1")
    queue.put_control(PONG)
    queue.close()
    assert not queue.put_control(b"too late"), "nothing is taken after close"
    queue.put_frame("too late")
    assert queue.dropped == 0, "a frame offered after close is not counted as a drop"
    assert await queue.get() == PONG
    assert await queue.get() == "frame 1"
    with pytest.raises(trio.EndOfChannel):
        await queue.get()
    with pytest.raises(trio.EndOfChannel):
        await queue.get()


async def test_a_waiting_writer_wakes_for_a_frame_and_for_the_close(
    autojump_clock: trio.testing.MockClock,
) -> None:
    queue: FrameQueue[str] = FrameQueue(max_frames=2)
    taken: list[bytes | str] = []
    ended = trio.Event()

    async def writer() -> None:
        try:
            while True:
                item = await queue.get()
                taken.append(bytes(item) if isinstance(item, memoryview) else item)
        except trio.EndOfChannel:
            ended.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer)
        await trio.sleep(1.0)  # virtual time: the writer has long been parked
        assert taken == []
        queue.put_frame("frame 1")
        await trio.sleep(1.0)
        assert taken == ["frame 1"], "a parked writer takes a new frame at once"
        queue.put_control(PONG)
        await trio.sleep(1.0)
        assert taken == ["frame 1", PONG]
        queue.close()
        with trio.fail_after(1.0):
            await ended.wait()
