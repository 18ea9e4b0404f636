"""Waiting for something in a test: poll with a deadline, never sleep a fixed time."""

from __future__ import annotations

from collections.abc import Callable

import trio

POLL_INTERVAL_S = 0.02


async def eventually(
    condition: Callable[[], bool], *, within_s: float, what: str = "condition"
) -> float:
    """Wait until `condition()` holds; return how long it took. Fails after `within_s`."""
    start = trio.current_time()
    with trio.move_on_after(within_s):
        while not condition():  # noqa: ASYNC110 (the condition is plain state, no event)
            await trio.sleep(POLL_INTERVAL_S)
        return trio.current_time() - start
    raise AssertionError(f"{what} did not happen within {within_s} s")
