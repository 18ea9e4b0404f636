"""Deadlines that follow activity: a silent link is noticed on time, a busy one never."""

from __future__ import annotations

import trio
import trio.testing

from peer.addresses import parse_address
from peer.wire import extend_deadline


async def test_a_silent_link_times_out_after_the_limit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    start = trio.current_time()
    with trio.CancelScope() as silence:
        extend_deadline(silence, 1.5, 0.25)
        await trio.sleep_forever()
    assert silence.cancelled_caught
    assert 1.25 <= trio.current_time() - start <= 1.5


async def test_a_busy_link_never_times_out(autojump_clock: trio.testing.MockClock) -> None:
    with trio.CancelScope() as silence:
        for _ in range(100):  # a message every 0.1 s for 10 s
            extend_deadline(silence, 1.5, 0.25)
            await trio.sleep(0.1)
    assert not silence.cancelled_caught


def test_addresses() -> None:
    assert parse_address("127.0.0.1:9000") == ("127.0.0.1", 9000)
    assert parse_address("9000") == ("127.0.0.1", 9000)
    assert parse_address("[::1]:80") == ("::1", 80)
