"""What the buttons do: the trio side of one window, with no tkinter in it.

The window calls `submit(controller.login, "viewer")` and the like from its callbacks;
the work runs as a task in the trio run (hosted by Tk in guest mode, or by a test) and
its outcome lands in the `AppModel`, which the window redraws from. Closing the window
leaves the tracker before anything stops.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import trio

import protocol as p
from peer.config import PeerConfig
from peer.gui import wording
from peer.gui.config import Settings, load_settings, save_settings
from peer.gui.session import PeerSession, SessionFailed, user_error
from peer.gui.viewmodel import AppModel, SessionModel
from peer.one_shot import one_shot
from protocol.join_key import JOIN_KEY_ENV

SOURCE_FANOUT = 3
VIEWER_RELAY_SLOTS = 3
# The streamer's preview is decoded at this size, whatever the stream's resolution.
PREVIEW_RESOLUTION = "360p"
TEST_PATTERN = "testsrc"
CAMERA = "0"
LOOPBACK = "127.0.0.1"


def describe_source(source: str) -> str:
    """How the banner names what is being streamed."""
    if source.startswith(TEST_PATTERN):
        return "the test pattern"
    if source.isdigit():
        return f"camera {source}"
    return os.path.basename(source) or source


class AppController:
    """Runs the peers one window asks for and keeps its AppModel current."""

    def __init__(
        self, model: AppModel, *, settings_file: Path | None = None, port_mapping: bool = True
    ) -> None:
        self.model = model
        self.settings_file = settings_file
        self.port_mapping = port_mapping  # peers ask the home router to forward a port
        # A private stream's key comes from the environment, as for the command line.
        self.join_key = os.environ.get(JOIN_KEY_ENV) or None
        settings = load_settings(settings_file)
        model.login.username = settings.username
        model.login.tracker = settings.tracker
        self.resolution = settings.resolution
        self.codec = settings.chosen_codec  # what the streamer screen offers first
        self.finished = trio.Event()
        self._closing = trio.Event()
        self._nursery: trio.Nursery | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._session: PeerSession | None = None
        self._pending_join: tuple[str, tuple[str, int]] | None = None
        self._address: tuple[str, int] = (LOOPBACK, 9000)

    # -- the run -----------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve the window until it closes; then leave the tracker and stop every task."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self._token = trio.lowlevel.current_trio_token()
                task_status.started()
                await self._closing.wait()
                await self._end_session("closed the window")
                nursery.cancel_scope.cancel()
        finally:
            self.finished.set()

    def submit(self, async_fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Start `async_fn(*args)` in the trio run; safe from any window callback."""
        self._call_soon(self._spawn, async_fn, args)

    def close(self) -> None:
        """The window is closing: leave the tracker, then stop (see `finished`)."""
        self._call_soon(self._closing.set)

    def _call_soon(self, fn: Callable[..., object], *args: Any) -> None:
        if self._token is None:
            return
        with contextlib.suppress(trio.RunFinishedError):
            self._token.run_sync_soon(fn, *args)

    def _spawn(self, async_fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...]) -> None:
        if self._nursery is None or self._closing.is_set():
            return
        with contextlib.suppress(RuntimeError):  # the nursery is closing with the window
            self._nursery.start_soon(async_fn, *args)

    # -- login -------------------------------------------------------------------------

    async def login(self, role: str) -> None:
        """Start Streaming (role "source") or Join Stream ("viewer") from the login screen."""
        login = self.model.login
        if login.busy:
            return
        try:
            name, address = wording.parse_login(login.username, login.tracker)
        except wording.LoginProblem as exc:
            login.show(error=str(exc))
            return
        login.show(busy=True, info="Connecting to the tracker...")
        try:
            reply = await self._status(address)
        except SessionFailed as exc:
            login.show(error=str(exc))
            return
        if wording.name_taken(reply, name):
            login.show(error=wording.name_taken_text(name))
            return
        if role == "source" and reply.source is not None:
            login.show(error=wording.stream_live_text(reply.source))
            return
        self._address = address
        self._remember(username=name, tracker=login.tracker.strip())
        if role == "source":
            login.show()
            session = SessionModel(
                role="source",
                name=name,
                tracker=login.tracker.strip(),
                fanout=SOURCE_FANOUT,
                codec=self.codec,
            )
            session.say("Choose what to stream, then press Start.")
            self.model.show_session(session)
        elif reply.source is None:
            self._pending_join = (name, address)
            login.show(info=wording.no_stream_text(), offer_wait=True)
        else:
            await self._join(name, address)

    async def wait_for_stream(self) -> None:
        """The user chose to wait for a stream: join now and watch when one starts."""
        if self._pending_join is not None and not self.model.login.busy:
            name, address = self._pending_join
            self._pending_join = None
            await self._join(name, address)

    async def cancel_wait(self) -> None:
        """The user chose not to wait for a stream."""
        self._pending_join = None
        self.model.login.show()

    async def _status(self, address: tuple[str, int]) -> p.StatusReply:
        """Ask the tracker who is there (as an observer, so the user's name stays free)."""
        try:
            answers = await one_shot(
                address, f"gui-{secrets.token_hex(4)}", p.StatusRequest(), join_key=self.join_key
            )
        except Exception as exc:
            message = user_error(exc)
            if message is None:
                raise
            raise SessionFailed(message) from None
        for answer in answers:
            if isinstance(answer, p.StatusReply):
                return answer
        raise SessionFailed("The tracker did not answer. Try again in a moment.")

    async def _join(self, name: str, address: tuple[str, int]) -> None:
        login = self.model.login
        login.show(busy=True, info="Joining the stream...")
        model = SessionModel(
            role="viewer", name=name, tracker=login.tracker.strip(), resolution=self.resolution
        )
        model.set_state("starting", "Connecting to the stream...")
        config = PeerConfig(
            role="viewer",
            name=name,
            tracker=address,
            resolution=self.resolution,
            max_children=VIEWER_RELAY_SLOTS,
            join_key=self.join_key,
            port_mapping=self.port_mapping,
        )
        if not await self._start(PeerSession(model, config)):
            login.show(error=model.banner)
            return
        login.show()
        self.model.show_session(model)

    async def _start(self, session: PeerSession) -> bool:
        assert self._nursery is not None
        try:
            await session.start(self._nursery)
        except SessionFailed as exc:
            session.model.set_state("idle", str(exc), warning=True)
            return False
        self._session = session
        return True

    # -- the streamer ------------------------------------------------------------------

    async def start_stream(self, source: str, loop: bool = True) -> None:
        """Start streaming `source` (a file path, "testsrc" or "0") from the streamer screen,
        with the codec chosen there (remembered once the stream is live)."""
        model = self.model.session
        if model is None or not model.choosing:
            return
        source = source.strip()
        if not source:
            model.say("Choose a video file first (or the test pattern, or camera 0).", warning=True)
            return
        model.set_state("starting", f"Starting to stream {describe_source(source)}...")
        config = PeerConfig(
            role="source",
            name=model.name,
            tracker=self._address,
            max_children=model.fanout,
            resolution=PREVIEW_RESOLUTION,
            source=source,
            loop=loop,
            preview=True,
            codec=model.codec,
            join_key=self.join_key,
            port_mapping=self.port_mapping,
        )
        if await self._start(PeerSession(model, config)):
            model.set_state("live", f"Streaming {describe_source(source)}: viewers can join now.")
            self.codec = model.codec
            self._remember()

    async def stop_stream(self) -> None:
        """Stop streaming (viewers are told the stream ended); Start works again after."""
        model = self.model.session
        if model is None or model.role != "source" or self._session is None:
            return
        await self._end_session("stopped streaming")
        model.set_state("idle", "Stopped. Press Start to stream again.")

    # -- both --------------------------------------------------------------------------

    async def leave(self) -> None:
        """Leave the stream (or stop streaming) and go back to the login screen."""
        role = self.model.session.role if self.model.session else None
        await self._end_session("left")
        self.model.show_login()
        self.model.login.show(
            info="You stopped streaming." if role == "source" else "You left the stream."
        )

    async def say(self, text: str) -> None:
        """Send a chat line (Enter in the chat entry)."""
        model = self.model.session
        if model is None or not text.strip():
            return
        if self._session is None or self._session.stopped.is_set():
            model.set_chat_error("Not sent: start streaming first to join the chat.")
            return
        self._session.say(text)

    async def set_resolution(self, resolution: str) -> None:
        """Show the video at `resolution` from the next frame on (and remember it)."""
        self.resolution = resolution
        if self._session is not None and self._session.model.role == "viewer":
            self._session.set_resolution(resolution)
        self._remember(resolution=resolution)

    async def _end_session(self, reason: str) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.stop(reason)

    def _remember(self, **changes: str) -> None:
        login = self.model.login
        settings = Settings(
            username=login.username.strip(),
            tracker=login.tracker.strip(),
            resolution=self.resolution,
            codec=self.codec.label,
        )
        save_settings(attrs.evolve(settings, **changes), self.settings_file)
