"""Shared fixtures: a real tracker service on a free loopback port, in the test's nursery."""

from __future__ import annotations

import pytest
import trio

from tracker.service import Tracker, TrackerConfig


@pytest.fixture
def tracker_config() -> TrackerConfig:
    """Settings for the tracker under test (short hello timeout; peers live 3 s unheard)."""
    return TrackerConfig(
        port=0,
        heartbeat_interval_s=1.0,
        missed_heartbeats=3,
        hello_timeout_s=0.5,
        recovery_window_s=0.0,
    )


@pytest.fixture
async def tracker(nursery: trio.Nursery, tracker_config: TrackerConfig) -> Tracker:
    """A tracker listening on 127.0.0.1 on a free port."""
    service = Tracker(tracker_config)
    await nursery.start(service.serve)
    return service


@pytest.fixture
def address(tracker: Tracker) -> tuple[str, int]:
    """Where the tracker under test listens."""
    assert tracker.address is not None
    return tracker.address
