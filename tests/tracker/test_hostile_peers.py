"""Bad input closes the offending connection with a reason; everyone else carries on."""

from __future__ import annotations

import struct

import pytest
import trio

import protocol as p
from protocol.limits import MAGIC, MAX_CONTROL_PAYLOAD_BYTES
from tests.tracker.client import Client, joined
from tracker.service import Tracker, TrackerConfig


async def assert_tracker_still_serves(address: tuple[str, int], name: str) -> None:
    client = await joined(address, name)
    await client.send(p.ChatSend(text="still fine"))
    assert (await client.expect(p.ChatMessage)).text == "still fine"


async def refused_with(client: Client) -> p.Reject:
    reject = await client.expect(p.Reject)
    assert await client.closed()
    return reject


@pytest.mark.parametrize(
    ("label", "data", "reason"),
    [
        ("garbage", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "bad_magic"),
        ("wrong version", struct.pack(">2sBBBBI", MAGIC, 9, 1, 0, 0, 2) + b"{}", "version"),
        (
            "oversize",
            struct.pack(
                ">2sBBBBI", MAGIC, p.PROTOCOL_VERSION, 0x30, 0, 0, MAX_CONTROL_PAYLOAD_BYTES + 1
            ),
            "too_large",
        ),
        (
            "malformed json",
            struct.pack(">2sBBBBI", MAGIC, p.PROTOCOL_VERSION, 1, 0, 0, 3) + b"{x}",
            "malformed",
        ),
        (
            "a video frame",
            p.encode(
                p.VideoFrame(
                    header=p.FrameHeader(epoch=0, seq=0, capture_ns=0, width=1, height=1),
                    data=b"x",
                )
            ),
            "unexpected_type",
        ),
    ],
)
async def test_protocol_violations_are_refused_and_closed(
    address: tuple[str, int], label: str, data: bytes, reason: str
) -> None:
    bystander = await joined(address, "bystander")
    client = await Client.connect(address)
    await client.send_raw(data)
    reject = await refused_with(client)
    assert reject.code is p.RejectCode.PROTOCOL_ERROR
    assert reason in reject.message, label
    await assert_tracker_still_serves(address, "next")
    await bystander.send(p.Heartbeat(seq=1))
    assert (await bystander.expect(p.HeartbeatAck)).seq == 1


async def test_a_message_before_hello_is_refused(address: tuple[str, int]) -> None:
    client = await Client.connect(address)
    await client.send(p.ChatSend(text="who am I?"))
    assert (await refused_with(client)).code is p.RejectCode.EXPECTED_HELLO


async def test_a_second_hello_is_refused(address: tuple[str, int]) -> None:
    client = await joined(address, "ann")
    await client.send(p.Hello(protocol_version=p.PROTOCOL_VERSION, name="bob", role="viewer"))
    assert (await refused_with(client)).code is p.RejectCode.UNEXPECTED
    await assert_tracker_still_serves(address, "bob")


async def test_a_connection_that_never_says_hello_is_closed(address: tuple[str, int]) -> None:
    client = await Client.connect(address)
    await client.send_raw(b"SN")  # half a header, then silence
    with trio.fail_after(5):  # the hello timeout is 0.5 s in this configuration
        reject = await refused_with(client)
    assert reject.code is p.RejectCode.HELLO_TIMEOUT


async def test_a_peer_cannot_speak_as_another(address: tuple[str, int]) -> None:
    ann = await joined(address, "ann")
    mallory = await joined(address, "mallory")
    # There is no sender field to forge: the tracker stamps the session's name.
    await mallory.send(p.ChatSend(text="I am ann"))
    line = await ann.expect(p.ChatMessage)
    assert line.sender == "mallory"
    # Claiming another's name in a new session is refused.
    impostor = await Client.connect(address)
    answer = await impostor.hello("ANN")
    assert isinstance(answer, p.Reject) and answer.code is p.RejectCode.NAME_TAKEN


async def test_connections_past_the_cap_are_refused_clearly(nursery: trio.Nursery) -> None:
    tracker = Tracker(
        TrackerConfig(port=0, max_peers=2, recovery_window_s=0.0, check_reachability=False)
    )
    await nursery.start(tracker.serve)
    assert tracker.address is not None
    first = await joined(tracker.address, "one")
    second = await joined(tracker.address, "two")
    third = await Client.connect(tracker.address)
    reject = await refused_with(third)
    assert reject.code is p.RejectCode.FULL
    await first.aclose()
    with trio.fail_after(5):
        while True:  # the slot frees once the tracker has seen the close
            retry = await Client.connect(tracker.address)
            answer = await retry.hello("three")
            if isinstance(answer, p.Welcome):
                break
            await trio.sleep(0.01)
    assert second.welcome is not None
