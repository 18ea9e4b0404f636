"""What the windows show, as plain state: the peer writes it, the widgets read it.

Nothing here imports tkinter or touches the network, so every rule of the display
(what a notice means to the user, how many chat lines are kept, that only the newest
frame is drawn) is tested without a display. Each model has a `version` that every
change bumps; the window redraws a screen only when its version moved.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

import attrs
import cv2
import numpy as np

import protocol as p
from peer import events as ev
from peer.chat_board import chat_line
from peer.gui import wording

Image = Any  # a numpy array, height x width x 3, uint8 BGR (as the peer decodes it)

DEFAULT_TRACKER = "127.0.0.1:9000"
DEFAULT_RESOLUTION = "480p"
VIEWER_RESOLUTIONS = ("360p", "480p", "720p", "1080p")
# What the streamer screen offers, in this order; JPEG until the user picks another.
CODEC_CHOICES = (p.Codec.JPEG, p.Codec.H264)
DEFAULT_CODEC = p.Codec.JPEG
CHAT_LINES_KEPT = 200
# A viewer with a parent that received nothing for this many 1 s samples says so.
QUIET_SAMPLES_BEFORE_WARNING = 2
SCREENS = ("login", "streamer", "viewer")
SESSION_STATES = ("idle", "starting", "live", "ended")


@attrs.frozen
class Picture:
    """A frame ready for Tk's PhotoImage: binary PPM (P6) bytes, and its size."""

    ppm: bytes
    width: int
    height: int


def ppm_picture(image: Image) -> Picture:
    """The picture of a decoded BGR frame, made in the decode worker (`prepare_image`).

    OpenCV swaps the channels to RGB straight into the buffer behind the PPM header: about
    2 ms for 1080p here, where the numpy reversal it replaces took 9-13 ms on the Tk thread.
    """
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"expected a height x width x 3 uint8 image, not {array.shape}")
    height, width = array.shape[:2]
    header = b"P6 %d %d 255\n" % (width, height)
    buffer = np.empty(len(header) + array.size, dtype=np.uint8)
    buffer[: len(header)] = np.frombuffer(header, dtype=np.uint8)
    rgb = buffer[len(header) :].reshape(height, width, 3)
    cv2.cvtColor(array, cv2.COLOR_BGR2RGB, dst=rgb)
    return Picture(ppm=buffer.tobytes(), width=width, height=height)


@attrs.define
class LatestImage:
    """The newest picture to draw and a counter of how many were put: never a queue."""

    picture: Picture | None = None
    version: int = 0

    @property
    def width(self) -> int:
        """The newest picture's width (0 before the first)."""
        return self.picture.width if self.picture is not None else 0

    @property
    def height(self) -> int:
        """The newest picture's height (0 before the first)."""
        return self.picture.height if self.picture is not None else 0

    def put(self, picture: Picture) -> None:
        """Replace whatever was here (a picture not drawn yet is simply never drawn)."""
        self.picture = picture
        self.version += 1


@attrs.define
class ChatLog:
    """The last CHAT_LINES_KEPT chat lines, each message once (history is re-sent on
    every re-registration, so lines are keyed by their id, sender and time)."""

    lines: deque[str] = attrs.field(factory=lambda: deque(maxlen=CHAT_LINES_KEPT))
    _keys: deque[tuple[int, str, int]] = attrs.field(factory=lambda: deque(maxlen=CHAT_LINES_KEPT))
    version: int = 0

    def add(self, message: p.ChatMessage) -> bool:
        """Add one message; False if it is already shown."""
        key = (message.id, message.sender, message.time_ns)
        if key in self._keys:
            return False
        self._keys.append(key)
        self.lines.append(chat_line(message))
        self.version += 1
        return True

    def text(self) -> str:
        """All kept lines, oldest first."""
        return "\n".join(self.lines)


@attrs.define
class LoginModel:
    """The login screen: what was typed, and what went wrong in plain words."""

    username: str = ""
    tracker: str = DEFAULT_TRACKER
    error: str = ""
    info: str = ""
    busy: bool = False
    offer_wait: bool = False  # no stream is live: offer to wait for one
    version: int = 0

    def show(
        self, *, error: str = "", info: str = "", busy: bool = False, offer_wait: bool = False
    ) -> None:
        """Set what the screen says below the buttons (everything else is cleared)."""
        self.error, self.info, self.busy, self.offer_wait = error, info, busy, offer_wait
        self.version += 1


@attrs.define
class SessionModel:
    """A streaming or watching session: video, statistics, viewers, chat, banners."""

    role: str = attrs.field(validator=attrs.validators.in_(("source", "viewer")))
    name: str
    tracker: str
    resolution: str = DEFAULT_RESOLUTION
    fanout: int = 3
    codec: p.Codec = DEFAULT_CODEC  # what the streamer sends with (its screen's choice)
    state: str = attrs.field(default="idle", validator=attrs.validators.in_(SESSION_STATES))
    banner: str = ""
    warning: bool = False
    stats: list[wording.StatLine] = attrs.field(factory=list)
    viewers: list[str] = attrs.field(factory=list)
    viewers_in_tree: int = 0
    last_stats: Mapping[str, Any] = attrs.field(factory=dict)
    parent: str | None = None
    last_parent: str | None = None
    chat: ChatLog = attrs.field(factory=ChatLog)
    chat_error: str = ""
    image: LatestImage = attrs.field(factory=LatestImage)
    stream_size: tuple[int, int] | None = None
    quiet_samples: int = 0
    version: int = 0

    def __attrs_post_init__(self) -> None:
        self.stats = wording.stat_lines(self.role, {}, self.viewers_in_tree, self.fanout)

    # -- what the peer reports (PeerHooks) -------------------------------------------

    def on_chat(self, message: p.ChatMessage) -> None:
        """A chat line from the tracker (live, or the history sent on joining)."""
        if self.chat.add(message):
            self.version += 1

    def on_event(self, event: ev.PeerEvent) -> None:
        """Something happened to the peer; chat refusals go under the chat."""
        if isinstance(event, ev.ParentChanged):
            self.on_parent(event.parent)
            return
        if isinstance(event, ev.StreamEnded):
            self.on_stream_end(wording.stream_end_reason(event))
            return
        notice = wording.describe_event(event)
        if notice is None:
            return
        if notice.chat_error:
            self.chat_error = notice.text
            self.version += 1
        else:
            self.say(notice.text, warning=notice.warning)

    def on_image(self, picture: Picture, header: p.FrameHeader) -> None:
        """The newest frame, as `ppm_picture` made it (the viewer's video or the preview)."""
        self.image.put(picture)
        size = (header.width, header.height)
        if size != self.stream_size:
            self.stream_size = size
            self.version += 1

    def on_parent(self, name: str | None) -> None:
        """The viewer's parent changed, or was lost (None)."""
        previous, self.parent = self.parent, name
        if name is None:
            if previous is not None and self.state != "ended":
                self.say(f"Lost the connection to {previous}; reconnecting...", warning=True)
            else:
                self.version += 1
            return
        last, self.last_parent = self.last_parent, name
        if self.state != "live":
            self.state = "live"
            self.say(f"Watching the stream, received from {name}.")
        elif name != last:
            self.say(f"Switched to a new parent: now receiving from {name}.")
        elif previous is None:
            self.say(f"Reconnected to {name}.")
        else:
            self.version += 1

    def on_stream_end(self, reason: str) -> None:
        """The stream is over (the source stopped, or its video ended)."""
        self.state = "ended"
        self.say(wording.stream_end_text(reason), warning=True)

    # -- what the session polls --------------------------------------------------------

    def set_stats(self, stats: Mapping[str, Any]) -> None:
        """A statistics sample from the peer (once a second)."""
        self.last_stats = stats
        self.stats = wording.stat_lines(self.role, stats, self.viewers_in_tree, self.fanout)
        self.version += 1
        if self.role != "viewer":
            return
        quiet = self.parent is not None and not stats.get("recv_fps")
        self.quiet_samples = self.quiet_samples + 1 if quiet else 0
        if self.quiet_samples == QUIET_SAMPLES_BEFORE_WARNING:
            self.say(f"No video from {self.parent} for a moment; waiting for it...", warning=True)

    def set_status(self, reply: p.StatusReply) -> None:
        """The tracker's view of the swarm (every few seconds)."""
        self.viewers = wording.viewer_lines(reply, self.name)
        self.viewers_in_tree = wording.viewers_in_tree(reply)
        # The streamer's panel counts the viewers: show the new count now, not a second on.
        self.stats = wording.stat_lines(
            self.role, self.last_stats, self.viewers_in_tree, self.fanout
        )
        self.version += 1

    # -- what the user chooses ----------------------------------------------------------

    @property
    def choosing(self) -> bool:
        """Whether the streamer may change what to stream and how (never while streaming)."""
        return self.role == "source" and self.state not in ("starting", "live")

    def choose_codec(self, codec: p.Codec) -> bool:
        """The streamer picked `codec` for the next Start; False (kept) while streaming."""
        if not self.choosing or codec not in CODEC_CHOICES:
            return False
        if codec is not self.codec:
            self.codec = codec
            self.version += 1
        return True

    # -- what the session itself decides --------------------------------------------

    def say(self, text: str, *, warning: bool = False) -> None:
        """Show `text` in the banner at the top of the screen."""
        self.banner, self.warning = text, warning
        self.version += 1

    def set_state(self, state: str, banner: str | None = None, *, warning: bool = False) -> None:
        """Move to another state (idle, starting, live, ended), optionally saying why."""
        self.state = state
        if state != "live":
            self.parent = None
            self.quiet_samples = 0
        if banner is not None:
            self.say(banner, warning=warning)
        else:
            self.version += 1

    def set_chat_error(self, text: str) -> None:
        """A chat line was not sent (shown under the chat entry; "" clears it)."""
        self.chat_error = text
        self.version += 1


@attrs.define
class AppModel:
    """One window: which screen is showing, and the models behind the screens."""

    login: LoginModel = attrs.field(factory=LoginModel)
    session: SessionModel | None = None
    screen: str = attrs.field(default="login", validator=attrs.validators.in_(SCREENS))
    version: int = 0

    def show_login(self) -> None:
        """Back to the login screen."""
        self.screen = "login"
        self.session = None
        self.version += 1

    def show_session(self, session: SessionModel) -> None:
        """Show the streamer or viewer screen for `session`."""
        self.session = session
        self.screen = "streamer" if session.role == "source" else "viewer"
        self.version += 1
