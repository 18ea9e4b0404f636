"""The login screen: user name, tracker address, Start Streaming / Join Stream.

Problems (tracker unreachable, name taken, a stream already live, none live yet) are
shown under the buttons in plain words; when no stream is live, a viewer is offered to
wait for one.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import ttk

import attrs

from peer.gui.viewmodel import LoginModel
from peer.gui.widgets import ERROR_COLOUR, INFO_COLOUR, PAD_PX

FIELD_WIDTH_CHARS = 28
MESSAGE_WIDTH_PX = 420


@attrs.frozen
class LoginActions:
    """What the login buttons ask for (each returns at once; the work runs in trio)."""

    stream: Callable[[], None]
    join: Callable[[], None]
    wait: Callable[[], None]
    cancel_wait: Callable[[], None]


class LoginScreen(ttk.Frame):
    """User name, tracker, two buttons, and what went wrong."""

    def __init__(self, master: tk.Misc, model: LoginModel, actions: LoginActions) -> None:
        super().__init__(master, padding=4 * PAD_PX)
        self.model = model
        self.actions = actions
        ttk.Label(self, text="StreamNest", font="TkHeadingFont").grid(
            row=0, column=0, columnspan=2, pady=(0, 2 * PAD_PX)
        )
        self.username = tk.StringVar(self, value=model.username)
        self.tracker = tk.StringVar(self, value=model.tracker)
        ttk.Label(self, text="User name").grid(row=1, column=0, sticky="w", pady=PAD_PX)
        self.username_entry = ttk.Entry(self, textvariable=self.username, width=FIELD_WIDTH_CHARS)
        self.username_entry.grid(row=1, column=1, sticky="ew", pady=PAD_PX)
        ttk.Label(self, text="Tracker").grid(row=2, column=0, sticky="w", padx=(0, PAD_PX))
        self.tracker_entry = ttk.Entry(self, textvariable=self.tracker, width=FIELD_WIDTH_CHARS)
        self.tracker_entry.grid(row=2, column=1, sticky="ew", pady=PAD_PX)
        buttons = ttk.Frame(self)
        buttons.grid(row=3, column=0, columnspan=2, pady=2 * PAD_PX)
        self.stream_button = ttk.Button(
            buttons, text="Start Streaming", command=lambda: self._submit(actions.stream)
        )
        self.join_button = ttk.Button(
            buttons, text="Join Stream", command=lambda: self._submit(actions.join)
        )
        self.stream_button.pack(side="left", padx=PAD_PX)
        self.join_button.pack(side="left", padx=PAD_PX)
        self.message = ttk.Label(self, wraplength=MESSAGE_WIDTH_PX, justify="left")
        self.message.grid(row=4, column=0, columnspan=2, sticky="w")
        self.wait_buttons = ttk.Frame(self)
        self.wait_button = ttk.Button(self.wait_buttons, text="Wait for it", command=actions.wait)
        self.cancel_button = ttk.Button(
            self.wait_buttons, text="Cancel", command=actions.cancel_wait
        )
        self.wait_button.pack(side="left", padx=PAD_PX)
        self.cancel_button.pack(side="left", padx=PAD_PX)
        self.username_entry.bind("<Return>", lambda _e: self._submit(actions.join))
        self.tracker_entry.bind("<Return>", lambda _e: self._submit(actions.join))
        self._drawn_version = -1

    def _submit(self, action: Callable[[], None]) -> None:
        self.model.username = self.username.get()
        self.model.tracker = self.tracker.get()
        action()

    def refresh(self) -> None:
        """Redraw from the model if it changed."""
        model = self.model
        if model.version == self._drawn_version:
            return
        self._drawn_version = model.version
        if model.error:
            self.message.configure(text=model.error, foreground=ERROR_COLOUR)
        else:
            self.message.configure(text=model.info, foreground=INFO_COLOUR)
        state = ["disabled"] if model.busy or model.offer_wait else ["!disabled"]
        for widget in (self.stream_button, self.join_button):
            widget.state(state)
        if model.offer_wait:
            self.wait_buttons.grid(row=5, column=0, columnspan=2, pady=PAD_PX)
        else:
            self.wait_buttons.grid_forget()
