"""What the desktop app says, in plain words: statistics, notices, errors, viewer lists.

Pure functions from the peer's numbers, events and errors to text: sentences someone
who never saw a terminal understands. Nothing here parses the peer's English: events
(peer/events.py) and errors (peer/errors.py) carry codes, and the wording is a function
of them.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import attrs

import protocol as p
from peer import events as ev
from peer.errors import PeerError, TrackerRefused, TrackerUnreachable
from protocol.addresses import parse_address
from protocol.limits import MAX_CHAT_CHARS
from protocol.names import name_key, name_problem

StatLine = tuple[str, str]  # (label, value)
NO_VALUE = "-"


class LoginProblem(ValueError):
    """What the user typed on the login screen cannot be used (the message says why)."""


def parse_login(username: str, tracker: str) -> tuple[str, tuple[str, int]]:
    """The name and tracker address typed on the login screen, or LoginProblem."""
    name = username.strip()
    if not name:
        raise LoginProblem("Type a user name first.")
    problem = name_problem(name)
    if problem is not None:
        raise LoginProblem(f"That user name cannot be used: {problem}.")
    try:
        address = parse_address(tracker.strip())
    except ValueError:
        raise LoginProblem(
            f"The tracker address '{tracker.strip()}' should look like 127.0.0.1:9000."
        ) from None
    if address[1] == 0:
        raise LoginProblem("The tracker address needs a port number, like 127.0.0.1:9000.")
    return name, address


def chat_problem(text: str) -> str | None:
    """Why a chat line would be refused before it is sent, or None."""
    length = len(text.strip())
    if length > MAX_CHAT_CHARS:
        return f"Not sent: the message has {length} characters; the limit is {MAX_CHAT_CHARS}."
    return None


def name_taken(reply: p.StatusReply, name: str) -> bool:
    """Whether someone in the swarm already uses `name` (names are case-insensitive)."""
    return any(name_key(info.name) == name_key(name) for info in reply.peers)


def plain_error(error: PeerError) -> str:
    """A peer error (one line for a terminal) as a sentence for the window."""
    if isinstance(error, TrackerUnreachable):
        host, port = error.address
        return (
            f"Cannot reach the tracker at {host}:{port} ({error.reason.lower() or 'no answer'}). "
            "Check the address, and that the tracker is running."
        )
    if isinstance(error, TrackerRefused):
        if error.code is p.RejectCode.NAME_TAKEN:
            return f"The {error}. Choose another user name."
        if error.code is p.RejectCode.STREAM_LIVE:
            return stream_live_text(None)
    return sentence(str(error))


def name_taken_text(name: str) -> str:
    """Why the login screen cannot use `name`."""
    return f"The name {name!r} is already taken. Choose another user name."


def sentence(text: str) -> str:
    """`text` with a capital letter and a full stop."""
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def stream_live_text(source: str | None) -> str:
    """Why a second streamer cannot start (naming the streamer when we know who it is)."""
    who = f": {source} is streaming" if source else ""
    return (
        f"A stream is already live{who}, and there can be only one "
        "stream at a time. Join it instead, or start yours when it ends."
    )


def no_stream_text() -> str:
    """What the login screen says when a viewer joins with nothing live."""
    return "No stream is live right now. Wait here until someone starts one?"


def stream_end_text(reason: str) -> str:
    """The banner when the stream is over."""
    return f"The stream has ended ({reason}). You will see the next one here when it starts."


@attrs.frozen
class Notice:
    """A peer notice as the window shows it."""

    text: str
    warning: bool = False
    chat_error: bool = False  # shown under the chat entry, not in the banner


WAITING_NOTICES = {
    p.WaitReason.NO_STREAM: Notice(
        "No stream is live yet. It will appear here as soon as one starts."
    ),
    p.WaitReason.STREAM_ENDED: Notice(
        "The stream ended. Waiting for the next one to start...", warning=True
    ),
    p.WaitReason.NO_FREE_SLOT: Notice(
        "Waiting: no free place in the tree yet; you will be placed when one opens."
    ),
    p.WaitReason.CHECKING: Notice(
        "Waiting: the tracker is checking that other viewers can reach this computer."
    ),
}


@functools.singledispatch
def describe_event(event: ev.PeerEvent) -> Notice | None:
    """What the window says about a peer event (None: not worth showing).

    Parent changes are told by the view-model, which knows what came before; losses,
    refused or dropped children and skipped frames are the peer's own business.
    """
    return None


@describe_event.register
def _(event: ev.RequestRefused) -> Notice:
    return Notice(f"Not sent: {event.message}.", warning=True, chat_error=True)


@describe_event.register
def _(event: ev.Waiting) -> Notice:
    return WAITING_NOTICES[event.reason]


@describe_event.register
def _(event: ev.StreamStarted) -> Notice:
    return Notice(f"{event.source} started streaming.")


@describe_event.register
def _(event: ev.VideoEnded) -> Notice:
    return Notice("The video ended, so the stream is over.", warning=True)


@describe_event.register
def _(event: ev.TrackerLost) -> Notice:
    return Notice(
        "Lost the connection to the tracker; the video continues while it reconnects.",
        warning=True,
    )


@describe_event.register
def _(event: ev.ReachabilityChecked) -> Notice | None:
    if event.reachable:
        return None  # the status line says so; nothing to act on
    return Notice(
        "Other viewers cannot connect to this computer, so it relays only to viewers it "
        f"can connect to itself ({sentence(event.detail)})"
    )


@describe_event.register
def _(event: ev.TrackerBack) -> Notice:
    return Notice("Connected to the tracker again.")


@describe_event.register
def _(event: ev.TrackerRetrying) -> Notice:
    return Notice("The tracker is still unreachable; retrying...", warning=True)


@describe_event.register
def _(event: ev.SessionClosed) -> Notice:
    return Notice(f"The tracker closed our session: {sentence(event.message)}", warning=True)


@describe_event.register
def _(event: ev.UploadShed) -> Notice:
    kept = f"{event.keep} viewer{'s' if event.keep != 1 else ''}"
    return Notice(
        f"Your upload ({rate_text(event.upload_kbps)}) carries {kept}; "
        "the others are moved to other relays.",
        warning=True,
    )


@describe_event.register
def _(event: ev.UplinkMeasured) -> Notice:
    if event.slots == 0:
        return Notice(f"Your upload ({rate_text(event.upload_kbps)}) is too slow to relay.")
    viewers = f"{event.slots} viewer{'s' if event.slots != 1 else ''}"
    return Notice(f"Your upload ({rate_text(event.upload_kbps)}) can relay to {viewers}.")


@describe_event.register
def _(event: ev.CpuBehind) -> Notice:
    return Notice(
        "This computer is too busy to keep up with the viewers it relays to; "
        "closing other programs helps.",
        warning=True,
    )


CODEC_NAMES = {p.Codec.JPEG: "JPEG", p.Codec.H264: "H.264"}
# What the streamer screen says beside each choice: the trade-off, in a few words.
CODEC_HINTS = {
    p.Codec.JPEG: "each frame stands alone",
    p.Codec.H264: "about a tenth of the bits: fits home uplinks",
}


def codec_name(codec: p.Codec) -> str:
    """How the window names a codec: JPEG, H.264."""
    return CODEC_NAMES.get(codec, codec.label)


def codec_hint(codec: p.Codec) -> str:
    """Why one would choose `codec`, beside its button on the streamer screen."""
    return CODEC_HINTS.get(codec, "")


def stream_end_reason(event: ev.StreamEnded) -> str:
    """Why the stream ended, for the banner."""
    return f"{event.source} stopped streaming ({event.reason or 'the stream ended'})"


def rate_text(kbps: float) -> str:
    """A bit rate for people: 850 kb/s, 2.4 Mb/s."""
    if kbps >= 1000:
        return f"{kbps / 1000:.1f} Mb/s"
    return f"{kbps:.0f} kb/s"


def _number(stats: Mapping[str, Any], key: str) -> float:
    value = stats.get(key)
    return float(value) if isinstance(value, int | float) else 0.0


def stat_lines(
    role: str, stats: Mapping[str, Any], viewers_in_tree: int, fanout: int
) -> list[StatLine]:
    """The statistics panel: the streamer's or the viewer's lines (dashes before data)."""
    if role == "source":
        return source_stat_lines(stats, viewers_in_tree, fanout)
    return viewer_stat_lines(stats)


# The panels' lines, in the order they are shown (the panel places a line where it first
# appears, so the dashes before any data come in the same order).
SOURCE_STAT_LABELS = (
    "Codec",
    "Frames sent",
    "Encode time",
    "Stream bitrate",
    "Upload",
    "Viewers in the tree",
    "Direct children",
)
VIEWER_STAT_LABELS = (
    "Frame rate",
    "Codec",
    "Bandwidth",
    "Latency",
    "Packet loss",
    "Undecodable",
    "Depth",
    "Parent",
    "Relaying to",
    "Resolution",
)


def source_stat_lines(
    stats: Mapping[str, Any], viewers_in_tree: int, fanout: int
) -> list[StatLine]:
    """Codec, FPS sent, encode time, the stream's bitrate, upload, viewers, children."""
    if not stats:
        return [(label, NO_VALUE) for label in SOURCE_STAT_LABELS]
    skipped = int(_number(stats, "frames_skipped"))
    sent = f"{_number(stats, 'fps'):.1f} fps" + (f" ({skipped} skipped)" if skipped else "")
    values = (
        _codec_text(stats),
        sent,
        f"{_number(stats, 'encode_ms'):.1f} ms a frame",
        rate_text(_number(stats, "stream_kbps")),
        rate_text(_number(stats, "upload_kbps")),
        str(viewers_in_tree),
        f"{int(_number(stats, 'children'))} of {fanout}",
    )
    return list(zip(SOURCE_STAT_LABELS, values, strict=True))


# After "Relaying: 0 viewers" when the tracker could not dial us back.
UNREACHABLE_TEXT = " (other viewers cannot connect to this computer)"
# After the parent's name: how the link to it was made (stats' parent_link).
LINK_TEXTS = {
    "mapped": " (through the port its router forwards)",
    "reversed": " (it connected to us: it cannot be dialled)",
    "punched": " (we met through both routers: hole punching)",
}


def viewer_stat_lines(stats: Mapping[str, Any]) -> list[StatLine]:
    """FPS, codec, bandwidth, latency, loss, undecodable frames, depth, parent, relaying,
    resolution."""
    if not stats:
        return [(label, NO_VALUE) for label in VIEWER_STAT_LABELS]
    parent = stats.get("parent")
    depth = int(_number(stats, "depth"))
    lost = int(_number(stats, "frames_lost"))
    children = int(_number(stats, "children"))
    # Before the first frame the peer only knows the codec it would send with.
    codec = _codec_text(stats) if _number(stats, "frames_received") else NO_VALUE
    values = (
        f"{_number(stats, 'fps'):.1f} fps shown, {_number(stats, 'recv_fps'):.1f} received",
        codec,
        f"{rate_text(_number(stats, 'bandwidth_kbps'))} in, "
        f"{rate_text(_number(stats, 'upload_kbps'))} out",
        f"{_number(stats, 'latency_ms'):.1f} ms (RTT to parent {_number(stats, 'rtt_ms'):.1f} ms)",
        f"{_number(stats, 'loss_pct'):.1f}% now; {lost} lost in all",
        undecodable_text(int(_number(stats, "frames_undecodable"))),
        (f"{depth} hop{'s' if depth != 1 else ''} from the source" if parent else NO_VALUE),
        (str(parent) + LINK_TEXTS.get(str(stats.get("parent_link")), "")) if parent else "none yet",
        f"{children} viewer{'s' if children != 1 else ''}"
        + (UNREACHABLE_TEXT if stats.get("reachable") is False else ""),
        str(stats.get("resolution", NO_VALUE)),
    )
    return list(zip(VIEWER_STAT_LABELS, values, strict=True))


def undecodable_text(frames: int) -> str:
    """Frames not shown because one before them was lost (H.264 waits for a keyframe)."""
    if not frames:
        return "none"
    return f"{frames} frame{'s' if frames != 1 else ''} not shown"


def _codec_text(stats: Mapping[str, Any]) -> str:
    label = stats.get("codec")
    codec = p.CODECS_BY_LABEL.get(label) if isinstance(label, str) else None
    return codec_name(codec) if codec is not None else NO_VALUE


def viewers_in_tree(reply: p.StatusReply) -> int:
    """How many viewers are attached somewhere in the tree."""
    return sum(1 for info in reply.peers if info.role == "viewer" and info.parent is not None)


def viewer_lines(reply: p.StatusReply, me: str) -> list[str]:
    """The viewer list: the streamer first, then each viewer with its place in the tree."""
    lines: list[str] = []
    you = name_key(me)
    for info in sorted(reply.peers, key=lambda x: (x.role != "source", name_key(x.name))):
        if info.role == "observer":
            continue
        label = info.name + (" (you)" if name_key(info.name) == you else "")
        if info.role == "source":
            lines.append(f"{label}: streaming")
        elif info.parent is None:
            lines.append(f"{label}: waiting for a place")
        else:
            lines.append(f"{label}: depth {info.depth}, via {info.parent}")
    return lines
