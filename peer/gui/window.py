"""One StreamNest window: the login, streamer and viewer screens over one AppModel.

The window reads the model every TICK_MS and redraws what changed (the video only
when a newer frame came); what the user does goes to the AppController, whose work
runs in the trio run. Closing the window hides it at once, leaves the tracker, and
`run` returns when every task has stopped.
"""

from __future__ import annotations

import tkinter as tk
from pathlib import Path
from tkinter import ttk

import trio

from peer.gui.controller import AppController
from peer.gui.login import LoginActions, LoginScreen
from peer.gui.streamer import StreamerActions, StreamerScreen
from peer.gui.viewer import ViewerActions, ViewerScreen
from peer.gui.viewmodel import AppModel

# How often the window looks at the model: often enough for 30-50 fps video.
TICK_MS = 15
PREFERRED_THEME = "clam"


class App:
    """The widgets of one window, wired to an AppController."""

    def __init__(
        self, root: tk.Tk, *, settings_file: Path | None = None, port_mapping: bool = True
    ) -> None:
        self.root = root
        self.model = AppModel()
        self.controller = AppController(
            self.model, settings_file=settings_file, port_mapping=port_mapping
        )
        style = ttk.Style(root)
        if PREFERRED_THEME in style.theme_names():
            style.theme_use(PREFERRED_THEME)
        root.title("StreamNest")
        root.protocol("WM_DELETE_WINDOW", self.close)
        submit, controller = self.controller.submit, self.controller
        self.login = LoginScreen(
            root,
            self.model.login,
            LoginActions(
                stream=lambda: submit(controller.login, "source"),
                join=lambda: submit(controller.login, "viewer"),
                wait=lambda: submit(controller.wait_for_stream),
                cancel_wait=lambda: submit(controller.cancel_wait),
            ),
        )
        self.screen: LoginScreen | StreamerScreen | ViewerScreen = self.login
        self.login.pack(fill="both", expand=True)
        self._drawn_version = self.model.version
        self._tick_id: str | None = self.root.after(TICK_MS, self._tick)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The trio side of the window; returns once it is closed and everything stopped."""
        await self.controller.run(task_status=task_status)

    def close(self) -> None:
        """What the window manager's close button does."""
        self.root.withdraw()
        self.controller.close()

    def destroy(self) -> None:
        """Destroy the window (once `run` has returned)."""
        if self._tick_id is not None:
            self.root.after_cancel(self._tick_id)
            self._tick_id = None
        self.root.destroy()

    def _tick(self) -> None:
        self._tick_id = None
        if self.controller.finished.is_set():
            return
        self._tick_id = self.root.after(TICK_MS, self._tick)
        if self.model.version != self._drawn_version:
            self._drawn_version = self.model.version
            self._show_screen()
        self.screen.refresh()

    def _show_screen(self) -> None:
        model, current = self.model, self.screen
        session = model.session
        if model.screen == "login" or session is None:
            if current is not self.login:
                current.destroy()
                self.screen = self.login
                self.login.pack(fill="both", expand=True)
                self.root.title("StreamNest")
            return
        if current is not self.login and current.model is session:
            return
        if current is self.login:
            self.login.pack_forget()
        else:
            current.destroy()
        submit, controller = self.controller.submit, self.controller
        say = lambda text: submit(controller.say, text)  # noqa: E731
        if session.role == "source":
            self.screen = StreamerScreen(
                self.root,
                session,
                StreamerActions(
                    start=lambda source, loop: submit(controller.start_stream, source, loop),
                    stop=lambda: submit(controller.stop_stream),
                    leave=lambda: submit(controller.leave),
                    say=say,
                ),
            )
            self.root.title(f"StreamNest - streaming as {session.name}")
        else:
            self.screen = ViewerScreen(
                self.root,
                session,
                ViewerActions(
                    set_resolution=lambda r: submit(controller.set_resolution, r),
                    leave=lambda: submit(controller.leave),
                    say=say,
                ),
            )
            self.root.title(f"StreamNest - watching as {session.name}")
        self.screen.pack(fill="both", expand=True)
