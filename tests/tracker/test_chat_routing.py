"""Chat reaches everyone in one order, late joiners get history, abuse gets an error."""

from __future__ import annotations

import trio

import protocol as p
from tests.tracker.client import Client, joined
from tracker.service import Tracker, TrackerConfig


async def test_everyone_sees_the_same_chat_in_the_same_order(address: tuple[str, int]) -> None:
    peers = [await joined(address, name) for name in ["ann", "bob", "cy"]]

    async def chatter(client: Client, name: str) -> None:
        for i in range(4):
            await client.send(p.ChatSend(text=f"{name} says {i}"))

    async with trio.open_nursery() as nursery:
        for client, name in zip(peers, ["ann", "bob", "cy"], strict=True):
            nursery.start_soon(chatter, client, name)

    seen = []
    for client in peers:
        lines = [await client.expect(p.ChatMessage) for _ in range(12)]
        seen.append([(m.id, m.sender, m.text) for m in lines])
    assert seen[0] == seen[1] == seen[2]
    ids = [entry[0] for entry in seen[0]]
    assert ids == sorted(ids) and len(set(ids)) == 12
    assert {entry[1] for entry in seen[0]} == {"ann", "bob", "cy"}


async def test_a_late_joiner_gets_the_history(address: tuple[str, int]) -> None:
    ann = await joined(address, "ann")
    for i in range(3):
        await ann.send(p.ChatSend(text=f"line {i}"))
    for _ in range(3):
        await ann.expect(p.ChatMessage)
    late = await joined(address, "late")
    history = await late.expect(p.ChatHistory)
    assert [m.text for m in history.messages] == ["line 0", "line 1", "line 2"]
    assert all(m.sender == "ann" for m in history.messages)


async def test_the_sender_is_stamped_by_the_tracker_and_text_is_cleaned(
    address: tuple[str, int],
) -> None:
    ann = await joined(address, "ann")
    await ann.send(p.ChatSend(text="  hi\x07 there\n "))
    line = await ann.expect(p.ChatMessage)
    assert line.sender == "ann"
    assert line.text == "hi there"


async def test_too_long_or_empty_chat_gets_an_error_not_a_disconnect(
    address: tuple[str, int],
) -> None:
    ann = await joined(address, "ann")
    await ann.send(p.ChatSend(text="x" * 501))
    error = await ann.expect(p.Error)
    assert error.code is p.ErrorCode.CHAT_TOO_LONG
    await ann.send(p.ChatSend(text=" \x00 "))
    assert (await ann.expect(p.Error)).code is p.ErrorCode.CHAT_EMPTY
    await ann.send(p.ChatSend(text="x" * 500))
    assert len((await ann.expect(p.ChatMessage)).text) == 500


async def test_a_flood_is_rate_limited_and_the_connection_stays(
    address: tuple[str, int],
) -> None:
    ann = await joined(address, "ann")
    for i in range(30):
        await ann.send(p.ChatSend(text=f"spam {i}"))
    accepted = refused = 0
    while accepted + refused < 30:
        message = await ann.expect_one_of(p.ChatMessage, p.Error)
        if isinstance(message, p.ChatMessage):
            accepted += 1
        else:
            assert isinstance(message, p.Error) and message.code is p.ErrorCode.CHAT_RATE_LIMITED
            refused += 1
    assert refused > 0
    assert 10 <= accepted <= 15  # a burst of 10, plus what refilled while we sent
    await ann.send(p.ChatSend(text="still here"))


async def test_chat_history_survives_a_tracker_restart(tmp_path: object) -> None:
    db = f"{tmp_path}/chat.db"
    config = TrackerConfig(port=0, db=db, recovery_window_s=0.0)
    for round_ in range(2):
        async with trio.open_nursery() as nursery:
            tracker = Tracker(config)
            await nursery.start(tracker.serve)
            assert tracker.address is not None
            client = await joined(tracker.address, f"peer{round_}")
            history = await client.expect(p.ChatHistory)
            assert [m.text for m in history.messages] == [
                f"before restart {i}" for i in range(round_)
            ]
            await client.send(p.ChatSend(text=f"before restart {round_}"))
            await client.expect(p.ChatMessage)  # acknowledged: stored before it is broadcast
            nursery.cancel_scope.cancel()
