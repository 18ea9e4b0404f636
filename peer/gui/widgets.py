"""The pieces the streamer and viewer screens share: video, statistics, viewers, chat.

Each piece draws from the view-model when asked (`show` / `draw`) and reports what the
user did through a callback; none of them knows about the peer or trio.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable, Sequence
from tkinter import ttk

from peer.gui import wording
from peer.gui.viewmodel import ChatLog, LatestImage

PAD_PX = 6
VIDEO_BACKGROUND = "#101010"
WARNING_COLOUR = "#a33a00"
INFO_COLOUR = "#1f4e79"
ERROR_COLOUR = "#b00020"
HINT_COLOUR = "#5a5a5a"  # the small print beside a choice
CHAT_WIDTH_CHARS = 38
CHAT_HEIGHT_LINES = 11
VIEWER_LIST_LINES = 5
# Values keep at least this width, so the window does not jitter as numbers change.
STAT_VALUE_WIDTH_CHARS = 25


class VideoView(ttk.Frame):
    """The newest frame, drawn through a Tk PhotoImage from PPM bytes (no Pillow).

    The bytes come ready from the decode worker: the Tk thread, which also runs the
    peer's relaying, only hands them to the PhotoImage.
    """

    def __init__(self, master: tk.Misc, *, min_size: tuple[int, int], placeholder: str) -> None:
        super().__init__(master)
        width, height = min_size
        self.columnconfigure(0, minsize=width, weight=1)
        self.rowconfigure(0, minsize=height, weight=1)
        self.photo: tk.PhotoImage | None = None
        self.label = tk.Label(
            self, text=placeholder, fg="#d0d0d0", bg=VIDEO_BACKGROUND, compound="center"
        )
        self.label.grid(row=0, column=0, sticky="nsew")
        self._drawn_version = 0
        self.frames_drawn = 0  # since the view was made

    def draw(self, latest: LatestImage) -> bool:
        """Draw the newest frame if it is not drawn yet; whether anything was drawn."""
        if latest.version == self._drawn_version or latest.picture is None:
            return False
        self._drawn_version = latest.version
        data = latest.picture.ppm
        if self.photo is None:
            self.photo = tk.PhotoImage(master=self, data=data, format="PPM")
            self.label.configure(image=self.photo, text="")
        else:
            self.photo.configure(data=data, format="PPM")  # the photo takes the new size
        self.frames_drawn += 1
        return True

    def shown_size(self) -> tuple[int, int] | None:
        """The size of the image on screen, or None before the first frame."""
        if self.photo is None:
            return None
        return self.photo.width(), self.photo.height()


class Banner(ttk.Label):
    """One line at the top of a screen saying what is going on."""

    def __init__(self, master: tk.Misc) -> None:
        super().__init__(master, font="TkHeadingFont", wraplength=1000)
        self._shown: tuple[str, bool] = ("", False)

    def show(self, text: str, *, warning: bool) -> None:
        """Show `text` (in a warning colour if `warning`)."""
        if (text, warning) != self._shown:
            self._shown = (text, warning)
            self.configure(text=text, foreground=WARNING_COLOUR if warning else INFO_COLOUR)


def screen_header(screen: ttk.Frame, title: str) -> tuple[Banner, ttk.Frame]:
    """A screen's title and banner across the top, and the left column below them."""
    ttk.Label(screen, text=title, font="TkHeadingFont").grid(
        row=0, column=0, columnspan=2, sticky="w"
    )
    banner = Banner(screen)
    banner.grid(row=1, column=0, columnspan=2, sticky="w", pady=(0, PAD_PX))
    left = ttk.Frame(screen)
    left.grid(row=2, column=0, sticky="nw", padx=(0, 2 * PAD_PX))
    return banner, left


class StatsPanel(ttk.LabelFrame):
    """The live statistics, one label and value per line."""

    def __init__(self, master: tk.Misc, title: str = "Statistics") -> None:
        super().__init__(master, text=title, padding=PAD_PX)
        self.columnconfigure(1, weight=1)
        self.values: dict[str, ttk.Label] = {}

    def show(self, lines: Sequence[wording.StatLine]) -> None:
        """Show these lines (labels appear the first time they are seen)."""
        for label, value in lines:
            cell = self.values.get(label)
            if cell is None:
                row = len(self.values)
                ttk.Label(self, text=f"{label}:").grid(row=row, column=0, sticky="w", padx=(0, 8))
                cell = ttk.Label(self, text=value, width=STAT_VALUE_WIDTH_CHARS)
                cell.grid(row=row, column=1, sticky="w")
                self.values[label] = cell
            elif cell.cget("text") != value:
                cell.configure(text=value)

    def value(self, label: str) -> str:
        """What the panel shows for `label` ("" if nothing)."""
        cell = self.values.get(label)
        return str(cell.cget("text")) if cell is not None else ""


class ViewerList(ttk.LabelFrame):
    """Who is in the swarm, as the tracker last said."""

    def __init__(self, master: tk.Misc) -> None:
        super().__init__(master, text="Viewers", padding=PAD_PX)
        self.listbox = tk.Listbox(self, height=VIEWER_LIST_LINES, activestyle="none")
        self.listbox.pack(fill="both", expand=True)
        self._shown: list[str] = []

    def show(self, lines: Sequence[str]) -> None:
        """Replace the list with `lines`."""
        if list(lines) == self._shown:
            return
        self._shown = list(lines)
        self.listbox.delete(0, "end")
        for line in lines:
            self.listbox.insert("end", line)

    def lines(self) -> list[str]:
        """The lines shown."""
        return list(self._shown)


class ChatPanel(ttk.LabelFrame):
    """The chat: history and live lines, an entry (Enter sends), and why a line failed."""

    def __init__(self, master: tk.Misc, on_send: Callable[[str], None]) -> None:
        super().__init__(master, text="Chat", padding=PAD_PX)
        self._on_send = on_send
        self.columnconfigure(0, weight=1)
        self.rowconfigure(0, weight=1)
        self.text = tk.Text(
            self, width=CHAT_WIDTH_CHARS, height=CHAT_HEIGHT_LINES, wrap="word", state="disabled"
        )
        scroll = ttk.Scrollbar(self, orient="vertical", command=self.text.yview)
        self.text.configure(yscrollcommand=scroll.set)
        self.text.grid(row=0, column=0, columnspan=2, sticky="nsew")
        scroll.grid(row=0, column=2, sticky="ns")
        self.entry = ttk.Entry(self)
        self.entry.grid(row=1, column=0, sticky="ew", pady=(PAD_PX, 0))
        self.entry.bind("<Return>", lambda _event: self.send_line())
        self.send_button = ttk.Button(self, text="Send", command=self.send_line)
        self.send_button.grid(row=1, column=1, columnspan=2, sticky="e", pady=(PAD_PX, 0))
        self.error = ttk.Label(self, foreground=ERROR_COLOUR, wraplength=320)
        self.error.grid(row=2, column=0, columnspan=3, sticky="w")
        self._drawn_version = -1

    def send_line(self) -> None:
        """Send what is typed; the entry keeps a line that is too long, to shorten it."""
        text = self.entry.get()
        if not text.strip():
            return
        if wording.chat_problem(text) is None:
            self.entry.delete(0, "end")
        self._on_send(text)

    def show(self, chat: ChatLog, error: str) -> None:
        """Show the chat lines (scrolled to the newest) and the last problem, if any."""
        if self.error.cget("text") != error:
            self.error.configure(text=error)
        if chat.version == self._drawn_version:
            return
        self._drawn_version = chat.version
        self.text.configure(state="normal")
        self.text.delete("1.0", "end")
        self.text.insert("end", chat.text())
        self.text.configure(state="disabled")
        self.text.see("end")

    def shown_text(self) -> str:
        """Everything the chat shows."""
        return str(self.text.get("1.0", "end"))
