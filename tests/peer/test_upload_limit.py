"""--upload-limit: every child's bytes together stay within the cap (GCRA, virtual time)."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from peer.upload_limit import BURST_S, LimitedStream, UploadLimit


def test_writes_wait_so_the_rate_holds_with_a_small_burst() -> None:
    limit = UploadLimit(kbps=800.0)  # 100,000 bytes a second
    assert limit.delay_s(0.0, 2000) == 0.0, "within the burst: at once"
    waits = [limit.delay_s(0.0, 10_000) for _ in range(10)]
    # 102,000 bytes asked at t=0: the last write may start 1.02 s - burst later.
    assert waits[-1] == pytest.approx(1.02 - BURST_S)
    assert waits == sorted(waits), "first asked, first served"


def test_an_idle_link_does_not_bank_credit_beyond_the_burst() -> None:
    limit = UploadLimit(kbps=800.0)
    limit.delay_s(0.0, 1000)
    assert limit.delay_s(60.0, 5000) == pytest.approx(0.05 - BURST_S)


def test_too_small_a_cap_is_refused() -> None:
    with pytest.raises(ValueError):
        UploadLimit(kbps=1.0)


async def test_children_share_the_cap(autojump_clock: trio.testing.MockClock) -> None:
    limit = UploadLimit(kbps=800.0)
    received = [0, 0]
    sent_at: list[float] = []

    async def child(index: int) -> None:
        ours, theirs = trio.testing.memory_stream_pair()
        stream = LimitedStream(ours, limit)

        async def drain() -> None:
            while data := await theirs.receive_some():
                received[index] += len(data)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(drain)
            for _ in range(10):
                await stream.send_all(b"x" * 20_000)
            sent_at.append(trio.current_time())
            await stream.aclose()

    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(child, 0)
        nursery.start_soon(child, 1)
    assert received == [200_000, 200_000]
    # 400,000 bytes at 100,000 a second: four seconds, shared (both finish near the end).
    assert [round(t - start, 1) for t in sent_at] == [pytest.approx(4.0, abs=0.3)] * 2
