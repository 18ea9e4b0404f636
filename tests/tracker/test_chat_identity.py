"""No peer can post chat as another: the tracker stamps the sender from the session."""

from __future__ import annotations

import json

import protocol as p
from protocol.envelope import pack_envelope
from tests.tracker.client import joined


async def test_a_forged_sender_field_is_ignored(address: tuple[str, int]) -> None:
    alice = await joined(address, "alice")
    mallory = await joined(address, "mallory")
    body = json.dumps({"text": "send me your password", "sender": "alice"}).encode()
    await mallory.send_raw(pack_envelope(p.ChatSend.TYPE_CODE, 0, len(body)) + body)
    line = await alice.expect(p.ChatMessage)
    assert (line.sender, line.text) == ("mallory", "send me your password")


async def test_a_chat_message_cannot_be_injected_as_if_from_the_tracker(
    address: tuple[str, int],
) -> None:
    mallory = await joined(address, "mallory")
    forged = p.ChatMessage(id=1, sender="alice", time_ns=0, text="hi")
    await mallory.send(forged)  # peers may not send tracker-to-peer messages at all
    assert (await mallory.expect(p.Reject)).code is p.RejectCode.PROTOCOL_ERROR
    assert await mallory.closed()
