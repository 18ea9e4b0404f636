"""Shared fixtures: a real tracker service on a free loopback port, in the test's nursery;
and a time limit that ends a hung trio test cleanly."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio

from tracker.service import Tracker, TrackerConfig

# A trio test still running this long before pytest-timeout's limit is cancelled from
# inside trio: it fails with its fixtures torn down. pytest-timeout's own signal would
# interrupt trio's event loop and leave it half-stopped, failing every trio test after.
TRIO_TIME_LIMIT_MARGIN_S = 10.0


def timeout_of(item: pytest.Item) -> float | None:
    """The limit pytest-timeout applies to `item` (its mark, --timeout or the ini), if any."""
    marker = item.get_closest_marker("timeout")
    if marker is not None:
        value = marker.kwargs.get("timeout", marker.args[0] if marker.args else None)
    else:
        value = item.config.getoption("timeout", None)
        if value is None:
            value = item.config.getini("timeout")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds > 0 else None


async def cancelled_after(limit_s: float, test: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    """Run `test`, cancelling it after `limit_s` of wall-clock time (virtual clocks or not)."""
    token = trio.lowlevel.current_trio_token()
    with trio.CancelScope() as scope:

        def expire() -> None:
            with contextlib.suppress(trio.RunFinishedError):
                trio.from_thread.run_sync(scope.cancel, trio_token=token)

        timer = threading.Timer(limit_s, expire)
        timer.daemon = True
        timer.start()
        try:
            return await test(*args)
        finally:
            timer.cancel()
    pytest.fail(f"still running after {limit_s:.0f} s: cancelled", pytrace=False)


@pytest.fixture(autouse=True)
def trio_time_limit(request: pytest.FixtureRequest) -> None:
    """Give each trio test a clean time limit a little inside pytest-timeout's.

    pytest-trio runs a test with the `run` of its closest `trio` mark; a mark put in
    front here runs the whole test, fixtures included, inside one cancel scope.
    """
    item = request.node
    trio_mark = item.get_closest_marker("trio")
    timeout_s = timeout_of(item)
    if trio_mark is None or timeout_s is None:
        return
    limit_s = max(timeout_s - TRIO_TIME_LIMIT_MARGIN_S, timeout_s / 2)
    real_run = trio_mark.kwargs.get("run", trio.run)

    def run(test: Callable[..., Awaitable[Any]], *args: Any, **options: Any) -> Any:
        return real_run(cancelled_after, limit_s, test, *args, **options)

    item.add_marker(pytest.mark.trio(run=run), append=False)


@pytest.fixture
def tracker_config() -> TrackerConfig:
    """Settings for the tracker under test (short hello timeout; peers live 3 s unheard)."""
    return default_tracker_config()


def default_tracker_config() -> TrackerConfig:
    """The tracker_config fixture's settings, for conftest files that change one."""
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
