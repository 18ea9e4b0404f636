"""One trio run hosted inside Tk's mainloop (trio's guest mode).

Trio asks its host to "run this function soon" from two places: the Tk thread itself,
and trio's I/O thread (which waits for sockets while Tk waits for window events). The
host here queues the function and asks Tcl to call it back with `after idle`. With a
thread-enabled Tcl, which is what Python's installers and Linux distributions ship,
_tkinter hands a call made from another thread to the Tk thread's event queue, so the
I/O thread may make it; a Tcl built without threads gets a short polling loop instead.
This is the scheme of trio's own Tkinter guest-mode example (richardsheridan/trio-guest).

Everything trio runs (the peer, the stats polls) therefore runs on the Tk thread, between
window events; only blocking work the peer already sends to worker threads (OpenCV)
runs elsewhere.
"""

from __future__ import annotations

import collections
import tkinter as tk
from collections.abc import Awaitable, Callable
from typing import Any

import outcome
import trio

# Without a thread-enabled Tcl, how often the Tk thread looks for work from trio's thread.
UNTHREADED_POLL_MS = 5


def tcl_is_threaded(root: tk.Misc) -> bool:
    """Whether this Tcl may be called from threads other than the Tk thread."""
    return bool(root.tk.call("info", "exists", "tcl_platform(threaded)")) and bool(
        int(root.tk.call("set", "tcl_platform(threaded)"))
    )


class TkGuestHost:
    """Hosts a trio run inside the mainloop of `root` (start it, then `root.mainloop()`)."""

    def __init__(self, root: tk.Tk) -> None:
        self.root = root
        self._pending: collections.deque[Callable[[], object]] = collections.deque()
        self._command = root.register(self._run_next)
        self._threaded = tcl_is_threaded(root)
        self.outcome: outcome.Outcome[Any] | None = None

    def start(
        self,
        async_fn: Callable[..., Awaitable[Any]],
        *args: Any,
        done: Callable[[outcome.Outcome[Any]], object] | None = None,
    ) -> None:
        """Start `async_fn(*args)` as the guest run; `done` gets its outcome at the end."""

        def finished(result: outcome.Outcome[Any]) -> None:
            self.outcome = result
            if done is not None:
                done(result)

        if not self._threaded:
            self.root.after(UNTHREADED_POLL_MS, self._poll)
        trio.lowlevel.start_guest_run(
            async_fn,
            *args,
            run_sync_soon_threadsafe=self._run_soon_threadsafe,
            run_sync_soon_not_threadsafe=self._run_soon,
            done_callback=finished,
            host_uses_signal_set_wakeup_fd=False,
        )

    def _run_soon(self, fn: Callable[[], object]) -> None:
        """From the Tk thread: call `fn` when Tk is next idle."""
        self._pending.append(fn)
        self.root.call("after", "idle", self._command)

    def _run_soon_threadsafe(self, fn: Callable[[], object]) -> None:
        """From any thread: queue `fn` for the Tk thread (deque appends are atomic)."""
        if self._threaded:
            self._run_soon(fn)
        else:
            self._pending.append(fn)

    def _run_next(self) -> None:
        if self._pending:  # the unthreaded poll may have run it already
            self._pending.popleft()()

    def _poll(self) -> None:
        while self._pending:
            self._pending.popleft()()
        if self.outcome is None:
            self.root.after(UNTHREADED_POLL_MS, self._poll)


def run_in_tk(async_fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    """Run `async_fn(*args)` as a guest of a hidden Tk root's mainloop; return its result.

    For programs that open several windows from one trio run (tests, screenshots): each
    window is its own `tk.Tk()`, served by this one mainloop.
    """
    root = tk.Tk(className="StreamNestHost")
    root.withdraw()
    host = TkGuestHost(root)
    host.start(async_fn, *args, done=lambda _outcome: root.destroy())
    root.mainloop()
    if host.outcome is None:
        raise RuntimeError("the Tk mainloop ended before the trio run did")
    return host.outcome.unwrap()
