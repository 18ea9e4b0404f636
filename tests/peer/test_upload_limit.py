"""--upload-limit: every child's bytes together stay within the cap, and the slots a peer
offers follow what the cap carries."""

from __future__ import annotations

import pytest
import trio

from peer.upload_limit import BURST_S, UploadLimit
from tests.peer.conftest import PeerStarter
from tests.polling import eventually
from tracker.service import Tracker

STREAM = "testsrc:320x240@30"
RATE_SLACK = 0.15  # the peer's own rate window, and the burst allowance, over 2 s


def test_writes_wait_so_the_rate_holds_with_a_burst() -> None:
    limit = UploadLimit(kbps=800.0)  # 100,000 bytes a second
    assert limit.delay_s(0.0, 2000) == 0.0, "within the burst: at once"
    waits = [limit.delay_s(0.0, 10_000) for _ in range(10)]
    # 102,000 bytes asked at t=0: the last write may start 1.02 s - burst later.
    assert waits[-1] == pytest.approx(1.02 - BURST_S)
    assert waits == sorted(waits), "first asked, first served"


def test_take_now_reserves_only_what_may_go_at_once() -> None:
    limit = UploadLimit(kbps=800.0)
    burst = int(100_000 * BURST_S)
    assert limit.take_now(0.0, burst)
    assert not limit.take_now(0.0, 1000), "the burst is spent"
    assert limit.delay_s(0.0, 1000) == pytest.approx(0.01), "a refusal reserved nothing"
    assert limit.take_now(1.0, burst), "a second later the burst is back"


def test_an_idle_link_does_not_bank_credit_beyond_the_burst() -> None:
    limit = UploadLimit(kbps=800.0)
    limit.delay_s(0.0, 1000)
    assert limit.delay_s(60.0, 50_000) == pytest.approx(0.5 - BURST_S)


def test_too_small_a_cap_is_refused() -> None:
    with pytest.raises(ValueError):
        UploadLimit(kbps=1.0)


async def test_a_capped_relay_sends_no_more_than_its_cap_and_offers_what_it_carries(
    start_peer: PeerStarter, tracker: Tracker
) -> None:
    await start_peer("source", "cam", source=STREAM, max_children=1)
    free = await start_peer("viewer", "free", max_children=8, decode=False)
    await eventually(lambda: free.counters.loss.frames_received > 30, within_s=20,
                     what="the relay receiving")  # fmt: skip
    stream_kbps = free.counters.stream_kbps(trio.current_time())
    # Room for 1.5 streams: two children starve, so the relay keeps one and offers one.
    cap = 1.5 * stream_kbps
    relay = await start_peer("viewer", "relay", max_children=8, decode=False, upload_limit_kbps=cap)
    await eventually(lambda: relay.counters.parent is not None, within_s=20, what="relay placed")
    kids = [await start_peer("viewer", f"k{i}", max_children=0, decode=False) for i in range(3)]
    await eventually(
        lambda: (
            sum(1 for k in kids if k.counters.parent == "relay") == 1 and relay.gate.capacity == 1
        ),
        within_s=30,
        what="the relay carrying one child and offering one slot",
    )
    assert tracker.room.tree["relay"].capacity == 1, "the tracker places by the measured slots"
    sent_before, started = relay.hub.bytes_sent, trio.current_time()
    await trio.sleep(2.0)
    sent_kbps = (relay.hub.bytes_sent - sent_before) * 8 / 1000 / (trio.current_time() - started)
    assert sent_kbps <= cap * (1 + RATE_SLACK), (sent_kbps, cap)
    await eventually(
        lambda: all(k.counters.loss.frames_received > 30 for k in kids),
        within_s=30,
        what="every viewer watching, from parents that can carry them",
    )
