"""The app on a private stream: the join key comes from the environment, as for the CLI."""

from __future__ import annotations

import pytest
import trio

from protocol.join_key import JOIN_KEY_ENV
from tests.gui.conftest import WindowOpener, log_in
from tests.gui.test_controller import streaming, watching
from tracker.service import Tracker, TrackerConfig

KEY = "a private stream key"


async def test_the_app_uses_the_join_key_from_the_environment(
    nursery: trio.Nursery, open_window: WindowOpener, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker = Tracker(TrackerConfig(port=0, join_key=KEY))
    address: tuple[str, int] = await nursery.start(tracker.serve)
    stranger = await open_window("stranger")
    await log_in(stranger, "stranger", address, "viewer")
    assert stranger.model.screen == "login"
    assert "private" in stranger.model.login.error
    monkeypatch.setenv(JOIN_KEY_ENV, KEY)
    await streaming(open_window, address)
    await watching(open_window, address, "friend")
    assert {"cam", "friend"} <= set(tracker.room.members)
