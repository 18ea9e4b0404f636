"""The viewer screen: the video at the chosen resolution, stats, viewers, chat, leave."""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import ttk

import attrs

from peer.gui.viewmodel import VIEWER_RESOLUTIONS, SessionModel
from peer.gui.widgets import (
    PAD_PX,
    ChatPanel,
    StatsPanel,
    VideoView,
    ViewerList,
    screen_header,
)
from peer.resolution import RESOLUTION_HEIGHTS_PX

# The video area keeps at least the 480p size, so the window does not jump at the start.
VIDEO_MIN_SIZE_PX = (854, 480)


@attrs.frozen
class ViewerActions:
    """What the viewer screen asks for."""

    set_resolution: Callable[[str], None]
    leave: Callable[[], None]
    say: Callable[[str], None]


class ViewerScreen(ttk.Frame):
    """Watch the stream, relay it onward, chat."""

    def __init__(self, master: tk.Misc, model: SessionModel, actions: ViewerActions) -> None:
        super().__init__(master, padding=2 * PAD_PX)
        self.model = model
        self.actions = actions
        title = f"Watching as {model.name}, tracker {model.tracker}"
        self.banner, left = screen_header(self, title)
        min_width, min_height = VIDEO_MIN_SIZE_PX
        height = RESOLUTION_HEIGHTS_PX.get(model.resolution, min_height)
        self.video = VideoView(
            left,
            min_size=(min(min_width, height * 16 // 9), min(min_height, height)),
            placeholder="The video shows here as soon as it arrives",
        )
        self.video.grid(row=0, column=0, sticky="nw")
        controls = ttk.Frame(left)
        controls.grid(row=1, column=0, sticky="ew", pady=PAD_PX)
        ttk.Label(controls, text="Resolution").pack(side="left")
        self.resolution = ttk.Combobox(
            controls, values=VIEWER_RESOLUTIONS, state="readonly", width=7
        )
        self.resolution.set(model.resolution)
        self.resolution.pack(side="left", padx=PAD_PX)
        self.resolution.bind("<<ComboboxSelected>>", self._resolution_chosen)
        self.size_label = ttk.Label(controls)
        self.size_label.pack(side="left", padx=PAD_PX)
        self.leave_button = ttk.Button(controls, text="Leave", command=actions.leave)
        self.leave_button.pack(side="right")

        right = ttk.Frame(self)
        right.grid(row=2, column=1, sticky="nsew")
        right.rowconfigure(2, weight=1)
        self.stats = StatsPanel(right)
        self.stats.grid(row=0, column=0, sticky="ew")
        self.viewers = ViewerList(right)
        self.viewers.grid(row=1, column=0, sticky="ew", pady=PAD_PX)
        self.chat = ChatPanel(right, on_send=actions.say)
        self.chat.grid(row=2, column=0, sticky="nsew")
        self._drawn_version = -1

    def _resolution_chosen(self, _event: object = None) -> None:
        self.actions.set_resolution(self.resolution.get())

    def refresh(self) -> None:
        """Draw the newest frame, and the rest if the model changed."""
        model = self.model
        if self.video.draw(model.image):
            size = self.video.shown_size()
            stream = model.stream_size
            text = f"showing {size[0]}x{size[1]}" if size else ""
            if stream and size and stream != size:
                text += f" of {stream[0]}x{stream[1]}"
            if self.size_label.cget("text") != text:
                self.size_label.configure(text=text)
        if model.version == self._drawn_version:
            return
        self._drawn_version = model.version
        self.banner.show(model.banner, warning=model.warning)
        self.stats.show(model.stats)
        self.viewers.show(model.viewers)
        self.chat.show(model.chat, model.chat_error)
