"""The tracker's Prometheus metrics, scraped over HTTP as Prometheus would."""

from __future__ import annotations

import re
import subprocess
import sys

import trio
from prometheus_client.parser import text_string_to_metric_families

import protocol as p
from tests.tracker.client import joined
from tracker.service import Tracker, TrackerConfig

CONFIG = TrackerConfig(
    port=0, recovery_window_s=0.0, check_reachability=False, metrics=("127.0.0.1", 0)
)


async def get(address: tuple[str, int], target: str) -> tuple[int, str]:
    """One HTTP/1.1 GET; the status code and the body."""
    with trio.fail_after(10):
        stream = await trio.open_tcp_stream(*address)
        request = f"GET {target} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
        await stream.send_all(request.encode())
        reply = b""
        while chunk := await stream.receive_some(65536):
            reply += chunk
    head, _, body = reply.decode().partition("\r\n\r\n")
    return int(head.split()[1]), body


def samples(body: str) -> dict[str, float]:
    """Every sample as `name{label="v",...}` -> value (labels sorted)."""
    found = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}"] = sample.value
    return found


async def test_peers_joins_placements_repairs_and_chat_are_counted(
    nursery: trio.Nursery,
) -> None:
    tracker = Tracker(CONFIG)
    await nursery.start(tracker.serve)
    assert tracker.address is not None and tracker.metrics_address is not None
    cam = await joined(tracker.address, "cam", "source", capacity=1)
    alice = await joined(tracker.address, "alice", capacity=0)
    bob = await joined(tracker.address, "bob", capacity=0)  # the only slot is taken
    await bob.expect(p.Waiting)
    await alice.send(p.ChatSend(text="hello"))
    await alice.expect(p.ChatMessage)
    await alice.send(p.ParentLost(parent="cam", reason=p.LossReason.RESET))
    for beat in (1, 2):
        await cam.send(p.Heartbeat(seq=beat))
        await cam.expect(p.HeartbeatAck)

    status, body = await get(tracker.metrics_address, "/metrics")
    assert status == 200
    got = samples(body)
    assert got['streamnest_peers{reachable="unknown",role="viewer"}'] == 2
    assert got['streamnest_peers{reachable="unknown",role="source"}'] == 1
    assert got['streamnest_joins_total{role="viewer"}'] == 2
    assert got["streamnest_placements_total{}"] >= 1
    assert got["streamnest_placements_refused_total{}"] >= 1
    assert got["streamnest_chat_lines_total{}"] == 1
    assert got["streamnest_heartbeat_lateness_seconds_count{}"] == 1  # the second of two
    status, _ = await get(tracker.metrics_address, "/other")
    assert status == 404


async def test_a_malformed_scrape_is_closed_and_the_next_one_is_served(
    nursery: trio.Nursery,
) -> None:
    tracker = Tracker(CONFIG)
    await nursery.start(tracker.serve)
    assert tracker.metrics_address is not None
    with trio.fail_after(10):
        stream = await trio.open_tcp_stream(*tracker.metrics_address)
        await stream.send_all(b"\x00\x01 not http\r\n\r\n")
        assert await stream.receive_some(65536) == b""
    status, body = await get(tracker.metrics_address, "/metrics")
    assert status == 200 and "streamnest_tree_max_depth" in body


def test_the_program_says_where_its_metrics_are() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tracker", "--port", "0", "--metrics", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.readline().startswith("tracker listening on 127.0.0.1:")
        line = process.stderr.readline()
        assert re.fullmatch(r"metrics at http://127\.0\.0\.1:\d+/metrics\n", line), line
    finally:
        process.terminate()
        process.wait(timeout=10)
