"""Run a whole swarm job until it ends or the user stops it, always cleaning up."""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

import trio

T = TypeVar("T")


async def run_stoppable(
    body: Callable[[trio.Nursery], Awaitable[T]], cleanup: Callable[[], Awaitable[None]]
) -> T | None:
    """`body(nursery)`'s result, or None if Ctrl-C or SIGTERM stopped it; `cleanup` always
    runs (shielded), so every process the job started is stopped on every way out."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def stop_on_signal() -> None:
                async for _ in signals:
                    nursery.cancel_scope.cancel()
                    return

            nursery.start_soon(stop_on_signal)
            try:
                return await body(nursery)
            finally:
                with trio.CancelScope(shield=True):
                    await cleanup()
                nursery.cancel_scope.cancel()
    return None


async def stop_processes(processes: Iterable[trio.Process], grace_s: float = 10.0) -> None:
    """Close each one's stdin and SIGTERM it, kill whatever lingers after `grace_s`, and
    reap them all."""
    processes = list(processes)
    for process in processes:
        if process.stdin is not None:
            await process.stdin.aclose()
        if process.returncode is None:
            process.terminate()
    with trio.move_on_after(grace_s):
        for process in processes:
            await process.wait()
    for process in processes:
        if process.returncode is None:
            process.kill()
            await process.wait()
