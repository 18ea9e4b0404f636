"""One peer run on behalf of the window: the same `Peer` the command line runs.

`PeerSession` starts a `Peer` whose hooks write into a `SessionModel`, polls its
statistics once a second and the tracker's view of the swarm every two seconds, and
stops it with a goodbye. Setup failures (tracker unreachable, name taken, stream
already live, a file OpenCV cannot open) come back from `start` as a plain message;
a failure after that ends the session with a banner, never the window.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import trio

from peer import errors
from peer.config import PeerConfig, PeerHooks
from peer.errors import PeerError
from peer.gui import wording
from peer.gui.viewmodel import SessionModel, ppm_picture
from peer.node import Peer

STATS_INTERVAL_S = 1.0
STATUS_INTERVAL_S = 2.0
LEAVE_TIMEOUT_S = 3.0

log = logging.getLogger(__name__)


class SessionFailed(Exception):
    """The peer could not start; the message is for the user, in plain words."""


def user_error(exc: BaseException) -> str | None:
    """The plain message of a failure the user can act on, or None for anything else
    (the peer's one policy, peer.errors.user_error, worded for the window)."""
    error = errors.user_error(exc)
    return wording.plain_error(error) if error is not None else None


class _StartedFlag(trio.TaskStatus[Any]):
    """Passes `started()` on, and remembers that it was called."""

    def __init__(self, inner: trio.TaskStatus[Any]) -> None:
        self.inner = inner
        self.done = False

    def started(self, value: Any = None) -> None:
        self.done = True
        self.inner.started(value)


class PeerSession:
    """A running source or viewer, reporting to one SessionModel."""

    def __init__(self, model: SessionModel, config: PeerConfig) -> None:
        self.model = model
        hooks = PeerHooks(
            on_event=model.on_event,
            on_chat=model.on_chat,
            on_image=model.on_image,
            prepare_image=ppm_picture,  # in the decode worker, not on the Tk thread
        )
        self.peer = Peer(config, hooks)
        self.stopped = trio.Event()

    async def start(self, nursery: trio.Nursery) -> None:
        """Register with the tracker and start; SessionFailed with the reason if not."""
        try:
            await nursery.start(self._run)
        except (PeerError, BaseExceptionGroup) as exc:
            message = user_error(exc)
            if message is None:
                raise
            raise SessionFailed(message) from None
        nursery.start_soon(self._poll)

    async def stop(self, reason: str) -> None:
        """Leave the tracker cleanly and stop every task of the peer."""
        with trio.move_on_after(LEAVE_TIMEOUT_S):
            await self.peer.leave(reason)
        self.peer.kill()  # a no-op after a clean leave; the end of it if the leave hung
        with trio.move_on_after(LEAVE_TIMEOUT_S):
            await self.stopped.wait()

    def say(self, text: str) -> None:
        """Post a chat line (problems appear under the chat entry)."""
        problem = wording.chat_problem(text)
        if problem is None and not self.peer.say(text.strip()):
            problem = "Not sent: the tracker is not reachable right now."
        self.model.set_chat_error(problem or "")

    def set_resolution(self, resolution: str) -> None:
        """Decode the next frames at `resolution`."""
        self.peer.set_resolution(resolution)
        self.model.resolution = resolution
        self.model.version += 1

    async def _run(self, *, task_status: trio.TaskStatus[Any]) -> None:
        flag = _StartedFlag(task_status)
        try:
            await self.peer.run(task_status=flag)
        except Exception as exc:
            if not flag.done:
                raise
            message = user_error(exc)
            if message is None:
                log.exception("the peer stopped")
                message = f"The peer stopped unexpectedly: {exc!r}"
            self.model.set_state("ended", message, warning=True)
        finally:
            self.stopped.set()

    async def _poll(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._poll_stats)
            nursery.start_soon(self._poll_status)
            await self.peer.finished.wait()
            nursery.cancel_scope.cancel()
        if self.model.role == "source":
            self.model.set_state("idle")  # the streamer can start again

    async def _poll_stats(self) -> None:
        while True:
            self.model.set_stats(self.peer.stats())
            await trio.sleep(STATS_INTERVAL_S)

    async def _poll_status(self) -> None:
        while True:
            # PeerError / TooSlowError: the tracker is away, and the banner says so.
            with contextlib.suppress(PeerError, trio.TooSlowError):
                self.model.set_status(await self.peer.status())
            await trio.sleep(STATUS_INTERVAL_S)
