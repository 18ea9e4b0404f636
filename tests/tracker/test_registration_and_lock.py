"""Peers register with unique names, and only one stream can be live at a time."""

from __future__ import annotations

import protocol as p
from protocol.admission import check_token
from tests.tracker.client import Client, joined


async def test_a_viewer_waits_until_a_source_starts_then_gets_a_parent(
    address: tuple[str, int],
) -> None:
    alice = await joined(address, "alice")
    waiting = await alice.expect(p.Waiting)
    assert waiting.reason is p.WaitReason.NO_STREAM

    cam = await joined(address, "cam", "source")
    started = await alice.expect(p.StreamStarted)
    assert started.source == "cam"
    assign = await alice.expect(p.Assign)
    assert assign.parent.name == "cam"
    assert assign.depth == 1
    assert assign.epoch == started.epoch
    assert cam.welcome is not None
    ok, _ = check_token(
        cam.welcome.admission_key, assign.parent.token, parent="cam", child="alice", now_s=0
    )
    assert ok, "the source must accept the token the tracker gave alice"


async def test_names_are_unique_regardless_of_case(address: tuple[str, int]) -> None:
    first = await joined(address, "Alice")
    second = await Client.connect(address)
    answer = await second.hello("alice")
    assert isinstance(answer, p.Reject)
    assert answer.code is p.RejectCode.NAME_TAKEN
    assert await second.closed()
    assert first.welcome is not None and first.welcome.name == "Alice"


async def test_invalid_names_are_refused_with_the_reason(address: tuple[str, int]) -> None:
    for bad in ["", "x" * 33, "tab\there", " padded"]:
        client = await Client.connect(address)
        answer = await client.hello(bad)
        assert isinstance(answer, p.Reject), bad
        assert answer.code is p.RejectCode.INVALID_NAME
        assert "name" in answer.message


async def test_a_second_source_is_refused_while_one_is_live(address: tuple[str, int]) -> None:
    first = await joined(address, "cam", "source")
    other = await Client.connect(address)
    answer = await other.hello("cam2", "source")
    assert isinstance(answer, p.Reject)
    assert answer.message == "stream already live (source: cam)"

    await first.send(p.Goodbye(reason="done"))
    assert await first.closed()
    retry = await Client.connect(address)
    for _ in range(50):  # the lock is released as soon as the tracker sees the goodbye
        answer = await retry.hello("cam2", "source")
        if isinstance(answer, p.Welcome):
            break
        retry = await Client.connect(address)
    assert isinstance(answer, p.Welcome)


async def test_waiting_viewers_move_under_a_new_source(address: tuple[str, int]) -> None:
    cam = await joined(address, "cam", "source", capacity=2)
    viewers = [await joined(address, f"v{i}") for i in range(3)]
    for viewer in viewers:
        await viewer.expect(p.Assign)
    await cam.aclose()
    for viewer in viewers:
        await viewer.expect(p.StreamEnded)
    cam2 = await joined(address, "cam2", "source", capacity=2)
    # The source's two children come back under it; the third keeps its relay parent.
    for viewer in viewers[:2]:
        assign = await viewer.expect(p.Assign)
        assert assign.parent.name == "cam2"
    assert cam2.welcome is not None


async def test_wrong_protocol_version_in_hello_is_refused_clearly(
    address: tuple[str, int],
) -> None:
    client = await Client.connect(address)
    await client.send(p.Hello(protocol_version=99, name="future", role="viewer"))
    answer = await client.expect(p.Reject)
    assert answer.code is p.RejectCode.UNSUPPORTED_VERSION
    assert "99" in answer.message


async def test_status_shows_the_tree(address: tuple[str, int]) -> None:
    cam = await joined(address, "cam", "source", capacity=1)
    a = await joined(address, "a", capacity=1)
    await a.expect(p.Assign)
    b = await joined(address, "b", capacity=0)
    await b.expect(p.Assign)
    observer = await joined(address, "ops", "observer")
    await observer.send(p.StatusRequest())
    status = await observer.expect(p.StatusReply)
    assert status.source == "cam"
    assert status.source_fanout == 1
    assert status.max_depth == 2
    by_name = {peer.name: peer for peer in status.peers}
    assert by_name["a"].parent == "cam" and by_name["a"].depth == 1
    assert by_name["b"].parent == "a" and by_name["b"].depth == 2
    assert by_name["cam"].children == ["a"]
    assert by_name["ops"].role == "observer"
    await cam.aclose()
