"""The group-of-pictures rules: what a relay replays to a new child, what a viewer may
decode after a loss, how keyframe requests merge, and a new child's backlog in its queue."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

import protocol as p
from peer.gop import DecodeGate, GopCache, KeyframeLimiter
from peer.queues import FrameQueue


def unit(seq: int, *, keyframe: bool = False, epoch: int = 1, size: int = 10) -> p.VideoFrame:
    header = p.FrameHeader(
        epoch=epoch,
        seq=seq,
        capture_ns=seq,
        width=64,
        height=64,
        codec=p.Codec.H264,
        keyframe=keyframe,
    )
    return p.VideoFrame(header=header, data=bytes(size))


def seqs(frames: list[p.VideoFrame]) -> list[int]:
    return [frame.header.seq for frame in frames]


def stream(count: int, keyint: int) -> list[p.VideoFrame]:
    """Units 1..count with a keyframe at 1, 1 + keyint, ..."""
    return [unit(seq, keyframe=(seq - 1) % keyint == 0) for seq in range(1, count + 1)]


# -- GopCache ------------------------------------------------------------------------------


def test_the_cache_holds_the_frames_since_the_newest_keyframe() -> None:
    cache = GopCache()
    for frame in stream(25, keyint=10):
        cache.add(frame)
    assert seqs(cache.frames) == [21, 22, 23, 24, 25]
    assert seqs(cache.after(0, 0)) == [21, 22, 23, 24, 25]  # a new child: from the keyframe


def test_a_switching_child_gets_only_what_comes_after_its_newest_frame() -> None:
    cache = GopCache()
    for frame in stream(25, keyint=10):
        cache.add(frame)
    assert seqs(cache.after(1, 23)) == [24, 25]
    assert cache.after(1, 25) == []  # up to date
    assert cache.after(1, 30) == []  # ahead of us (it had a faster parent)
    assert seqs(cache.after(1, 15)) == [21, 22, 23, 24, 25]  # before our keyframe
    assert seqs(cache.after(2, 23)) == [21, 22, 23, 24, 25]  # another stream


def test_after_a_gap_the_cache_waits_for_the_next_keyframe() -> None:
    cache = GopCache()
    frames = stream(25, keyint=10)
    for frame in frames[:22] + frames[23:]:  # unit 23 lost
        cache.add(frame)
    assert cache.frames == []  # nothing we hold decodes: new children wait
    cache.add(unit(31, keyframe=True))
    assert seqs(cache.frames) == [31]


def test_a_gop_too_big_to_replay_is_not_kept() -> None:
    cache = GopCache(max_bytes=1000)
    cache.add(unit(1, keyframe=True, size=500))
    cache.add(unit(2, size=400))
    assert seqs(cache.frames) == [1, 2]
    cache.add(unit(3, size=400))
    assert cache.frames == [] and cache.nbytes == 0


def test_a_jpeg_stream_keeps_only_its_newest_frame() -> None:
    cache = GopCache()
    for seq in range(1, 6):
        header = p.FrameHeader(epoch=1, seq=seq, capture_ns=seq, width=8, height=8)
        cache.add(p.VideoFrame(header=header, data=b"jpeg"))
    assert seqs(cache.frames) == [5]
    assert seqs(cache.after(1, 3)) == [5]


# -- DecodeGate ----------------------------------------------------------------------------


def test_the_gate_feeds_nothing_between_a_loss_and_the_next_keyframe() -> None:
    gate = DecodeGate()
    frames = stream(30, keyint=10)
    admitted = [
        frame.header.seq for frame in frames if frame.header.seq != 5 and gate.admit(frame.header)
    ]
    assert admitted == [1, 2, 3, 4, *range(11, 31)]
    assert gate.undecodable == 5  # units 6..10
    assert not gate.waiting


def test_a_viewer_starting_mid_gop_waits_for_a_keyframe() -> None:
    gate = DecodeGate()
    assert not gate.admit(unit(7).header)
    assert gate.waiting
    assert gate.admit(unit(11, keyframe=True).header)


def test_repeats_are_skipped_uncounted_and_a_resent_missing_unit_resumes_decoding() -> None:
    gate = DecodeGate()
    for seq in (1, 2, 3):
        assert gate.admit(unit(seq, keyframe=seq == 1).header)
    assert not gate.admit(unit(2).header)  # a repeat
    assert gate.undecodable == 0
    assert not gate.admit(unit(5).header)  # 4 is missing
    assert gate.admit(unit(4).header)  # a new parent resends it: the decoder is at 3
    assert gate.admit(unit(5).header)


def test_a_unit_that_fails_to_decode_is_a_loss() -> None:
    gate = DecodeGate()
    assert gate.admit(unit(1, keyframe=True).header)
    gate.failed()
    assert not gate.admit(unit(2).header)
    assert gate.undecodable == 2


@given(
    keyint=st.integers(1, 12),
    lost=st.sets(st.integers(1, 80)),
)
def test_the_gate_admits_exactly_the_units_that_decode(keyint: int, lost: set[int]) -> None:
    gate = DecodeGate()
    admitted = []
    for frame in stream(80, keyint):
        if frame.header.seq not in lost and gate.admit(frame.header):
            admitted.append(frame.header.seq)
    # A unit decodes when it and every unit back to its keyframe arrived.
    decodable = [
        seq
        for seq in range(1, 81)
        if all(s not in lost for s in range(seq - (seq - 1) % keyint, seq + 1))
    ]
    assert admitted == decodable
    assert gate.undecodable == 80 - len(lost) - len(decodable)


# -- KeyframeLimiter and the queue backlog -------------------------------------------------


def test_keyframe_requests_pass_at_most_once_a_second_and_the_rest_merge() -> None:
    limiter = KeyframeLimiter(interval_s=1.0)
    passed = [limiter.allow(t / 10) for t in range(25)]  # 2.5 s of requests, 10 a second
    assert passed.count(True) == 3  # at 0, 1.0 and 2.0 s
    assert limiter.merged == 22


def test_a_new_childs_backlog_is_sent_first_and_rides_above_the_bound() -> None:
    queue: FrameQueue[int] = FrameQueue(4)
    queue.put_backlog(list(range(1, 41)))  # a 40-frame GOP so far
    for live in range(41, 45):
        assert queue.put_frame(live)  # 4 live frames fit beside the backlog
    assert not queue.put_frame(45)  # a fifth does not: the oldest goes
    assert queue.dropped == 1 and len(queue) == 44


async def test_the_bound_comes_back_as_the_backlog_drains() -> None:
    queue: FrameQueue[int] = FrameQueue(2)
    queue.put_backlog([1, 2, 3])
    assert [await queue.get() for _ in range(3)] == [1, 2, 3]
    assert queue.put_frame(4) and queue.put_frame(5)
    assert not queue.put_frame(6)  # the backlog is gone: the bound of 2 is back
    assert queue.drop_frames() == 2 and queue.idle
