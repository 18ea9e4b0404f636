"""The streamer screen: what to stream and how, a preview of what is sent, start/stop,
stats, chat."""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import filedialog, ttk

import attrs

import protocol as p
from peer.gui import wording
from peer.gui.controller import CAMERA, TEST_PATTERN
from peer.gui.viewmodel import CODEC_CHOICES, SessionModel
from peer.gui.widgets import (
    HINT_COLOUR,
    PAD_PX,
    ChatPanel,
    StatsPanel,
    VideoView,
    ViewerList,
    screen_header,
)

PREVIEW_SIZE_PX = (640, 360)
PATH_WIDTH_CHARS = 44
VIDEO_FILE_TYPES = (
    ("Video files", "*.mp4 *.avi *.mkv"),
    ("MP4", "*.mp4"),
    ("AVI", "*.avi"),
    ("MKV", "*.mkv"),
    ("All files", "*"),
)
FILE, PATTERN, CAMERA_CHOICE = "file", "testsrc", "camera"


@attrs.frozen
class StreamerActions:
    """What the streamer screen asks for."""

    start: Callable[[str, bool], None]  # (source, loop)
    stop: Callable[[], None]
    leave: Callable[[], None]
    say: Callable[[str], None]


class StreamerScreen(ttk.Frame):
    """Choose a file, the test pattern or camera 0, and JPEG or H.264; see the preview
    and the numbers."""

    def __init__(self, master: tk.Misc, model: SessionModel, actions: StreamerActions) -> None:
        super().__init__(master, padding=2 * PAD_PX)
        self.model = model
        self.actions = actions
        title = f"Streaming as {model.name}, tracker {model.tracker}"
        self.banner, left = screen_header(self, title)
        self.preview = VideoView(
            left, min_size=PREVIEW_SIZE_PX, placeholder="The preview of what you send shows here"
        )
        self.preview.grid(row=0, column=0, sticky="nw")
        self._build_source_choice(left).grid(row=1, column=0, sticky="ew", pady=PAD_PX)
        self._build_codec_choice(left).grid(row=2, column=0, sticky="ew", pady=(0, PAD_PX))
        buttons = ttk.Frame(left)
        buttons.grid(row=3, column=0, sticky="w")
        self.start_button = ttk.Button(buttons, text="Start", command=self.start)
        self.stop_button = ttk.Button(buttons, text="Stop", command=actions.stop)
        self.leave_button = ttk.Button(buttons, text="Log out", command=actions.leave)
        for button in (self.start_button, self.stop_button, self.leave_button):
            button.pack(side="left", padx=(0, PAD_PX))

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

    def _build_source_choice(self, master: tk.Misc) -> ttk.LabelFrame:
        box = ttk.LabelFrame(master, text="What to stream", padding=PAD_PX)
        box.columnconfigure(1, weight=1)
        self.choice = tk.StringVar(self, value=FILE)
        self.path = tk.StringVar(self)
        self.loop = tk.BooleanVar(self, value=True)
        self.file_choice = ttk.Radiobutton(box, text="Video file", value=FILE, variable=self.choice)
        self.file_choice.grid(row=0, column=0, sticky="w")
        self.path_entry = ttk.Entry(box, textvariable=self.path, width=PATH_WIDTH_CHARS)
        self.path_entry.grid(row=0, column=1, sticky="ew", padx=PAD_PX)
        self.path_entry.bind("<FocusIn>", lambda _e: self.choice.set(FILE))
        self.browse_button = ttk.Button(box, text="Browse...", command=self.browse)
        self.browse_button.grid(row=0, column=2)
        self.pattern_choice = ttk.Radiobutton(
            box, text="Test pattern", value=PATTERN, variable=self.choice
        )
        self.pattern_choice.grid(row=1, column=0, columnspan=2, sticky="w")
        self.camera_choice = ttk.Radiobutton(
            box, text="Camera 0", value=CAMERA_CHOICE, variable=self.choice
        )
        self.camera_choice.grid(row=2, column=0, columnspan=2, sticky="w")
        self.loop_check = ttk.Checkbutton(box, text="Loop the video at its end", variable=self.loop)
        self.loop_check.grid(row=3, column=0, columnspan=3, sticky="w")
        return box

    def _build_codec_choice(self, master: tk.Misc) -> ttk.LabelFrame:
        box = ttk.LabelFrame(master, text="How to send it", padding=PAD_PX)
        self.codec = tk.StringVar(self, value=self.model.codec.label)
        self.codec_choices: dict[p.Codec, ttk.Radiobutton] = {}
        for row, codec in enumerate(CODEC_CHOICES):
            button = ttk.Radiobutton(
                box,
                text=wording.codec_name(codec),
                value=codec.label,
                variable=self.codec,
                command=self._codec_chosen,
            )
            button.grid(row=row, column=0, sticky="w")
            hint = ttk.Label(box, text=wording.codec_hint(codec), foreground=HINT_COLOUR)
            hint.grid(row=row, column=1, sticky="w", padx=PAD_PX)
            self.codec_choices[codec] = button
        return box

    def _codec_chosen(self) -> None:
        # The model decides: no change while streaming, and the buttons show what it kept.
        if not self.model.choose_codec(p.CODECS_BY_LABEL[self.codec.get()]):
            self.codec.set(self.model.codec.label)

    def browse(self) -> None:
        """Pick a video file (MP4, AVI, MKV, or anything)."""
        path = filedialog.askopenfilename(
            parent=self, title="Choose a video to stream", filetypes=VIDEO_FILE_TYPES
        )
        if path:
            self.path.set(path)
            self.choice.set(FILE)

    def source(self) -> str:
        """The SOURCE the peer is started with for the current choice."""
        choice = self.choice.get()
        if choice == PATTERN:
            return TEST_PATTERN
        if choice == CAMERA_CHOICE:
            return CAMERA
        return self.path.get().strip()

    def start(self) -> None:
        """Start streaming the chosen source."""
        self.actions.start(self.source(), bool(self.loop.get()))

    def refresh(self) -> None:
        """Redraw the preview if a new frame came, and the rest if the model changed."""
        model = self.model
        self.preview.draw(model.image)
        if model.version == self._drawn_version:
            return
        self._drawn_version = model.version
        self.banner.show(model.banner, warning=model.warning)
        choosing = model.choosing
        self.start_button.state(["!disabled"] if choosing else ["disabled"])
        self.stop_button.state(["disabled"] if choosing else ["!disabled"])
        for widget in (
            self.file_choice,
            self.path_entry,
            self.browse_button,
            self.pattern_choice,
            self.camera_choice,
            self.loop_check,
            *self.codec_choices.values(),
        ):
            widget.state(["!disabled"] if choosing else ["disabled"])
        if self.codec.get() != model.codec.label:
            self.codec.set(model.codec.label)
        self.stats.show(model.stats)
        self.viewers.show(model.viewers)
        self.chat.show(model.chat, model.chat_error)
