"""A bug in one of the tracker's decisions ends one peer's session, not the tracker."""

from __future__ import annotations

import pytest
import trio

import protocol as p
from tests.tracker.client import joined
from tracker.room import Room
from tracker.service import Tracker


def boom(*_args: object, **_kwargs: object) -> list[object]:
    raise RuntimeError("a case nobody foresaw")


async def test_a_bug_handling_one_peer_ends_its_session_and_spares_the_rest(
    tracker: Tracker, address: tuple[str, int], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    cam = await joined(address, "cam", "source", capacity=1)
    relay = await joined(address, "relay", capacity=1)
    assert (await relay.expect(p.Assign)).parent.name == "cam"
    leaf = await joined(address, "leaf", capacity=0)
    assert (await leaf.expect(p.Assign)).parent.name == "relay"

    monkeypatch.setattr(Room, "parent_lost", boom)
    await leaf.send(p.ParentLost(parent="relay", reason=p.LossReason.CLOSED))
    assert await leaf.closed(), "the session that met the bug ends"
    assert tracker.metrics.internal_errors._value.get() == 1

    said = capsys.readouterr().err
    assert "streamnest-tracker: internal error serving 127.0.0.1" in said
    assert "RuntimeError: a case nobody foresaw" in said, "a bug keeps its traceback"
    # Everyone else is served as before, and the peer that left may come back.
    await relay.send(p.StatusRequest())
    status = await relay.expect(p.StatusReply)
    assert {peer.name for peer in status.peers} == {"cam", "relay"}
    again = await joined(address, "leaf", capacity=0)
    assert (await again.expect(p.Assign)).parent.name == "relay"
    assert cam.welcome is not None


async def test_a_bug_in_the_tick_skips_that_tick_only(
    tracker: Tracker, address: tuple[str, int], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    ticks = 0
    three = trio.Event()
    real_tick = Room.tick

    def tick_once_broken(room: Room, now: float) -> list[object]:
        nonlocal ticks
        ticks += 1
        if ticks == 3:
            three.set()
        if ticks == 1:
            raise RuntimeError("a tick nobody foresaw")
        return real_tick(room, now)  # type: ignore[return-value]

    monkeypatch.setattr(Room, "tick", tick_once_broken)
    with trio.fail_after(10):
        await three.wait()
    assert "internal error in the tick" in capsys.readouterr().err
    cam = await joined(address, "cam", "source", capacity=1)
    viewer = await joined(address, "viewer", capacity=0)
    assert (await viewer.expect(p.Assign)).parent.name == "cam"
    assert cam.welcome is not None
