"""What the desktop app says, in plain words: statistics, notices, errors, viewer lists.

Pure functions from the peer's numbers and messages to text; the peer's own notices
(short, for a terminal) are turned into sentences someone who never saw a terminal
understands.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

import protocol as p
from peer.wire import parse_address
from protocol.limits import MAX_CHAT_CHARS
from protocol.names import name_key, name_problem

StatLine = tuple[str, str]  # (label, value)
NO_VALUE = "-"
# Notices about the inner workings of relaying, for a terminal, not a banner: a parent
# switch is told through on_parent instead, the rest are the peer's own business.
QUIET_NOTICES = (
    "parent ",
    "refused child ",
    "child ",
    "dropped child ",
    "frame ",
    "too many assignments",
)


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


def plain_error(message: str) -> str:
    """A peer error (one line for a terminal) as a sentence for the window."""
    text = message.strip()
    if text.startswith("cannot reach the tracker at "):
        where, _, reason = text.removeprefix("cannot reach the tracker at ").partition(": ")
        return (
            f"Cannot reach the tracker at {where} ({reason.lower() or 'no answer'}). "
            "Check the address, and that the tracker is running."
        )
    if text.startswith("name ") and text.endswith("is already taken"):
        return f"The {text}. Choose another user name."
    if text.startswith("stream already live (source: "):
        return stream_live_text(text.removeprefix("stream already live (source: ").rstrip(")"))
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def stream_live_text(source: str) -> str:
    """Why a second streamer cannot start."""
    return (
        f"A stream is already live: {source} is streaming, and there can be only one "
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


def describe_notice(text: str) -> Notice | None:
    """Turn a peer's notice into what the window says (None: not worth showing)."""
    if text.startswith("tracker: "):
        detail = text.removeprefix("tracker: ")
        return Notice(f"Not sent: {detail}.", warning=True, chat_error=True)
    if text.startswith("waiting: "):
        reason = text.removeprefix("waiting: ")
        if reason == "no stream is live yet":
            return Notice("No stream is live yet. It will appear here as soon as one starts.")
        if reason == "the stream ended":
            return Notice("The stream ended. Waiting for the next one to start...", warning=True)
        return Notice(f"Waiting: {reason}.")
    if text.startswith("stream started by "):
        return Notice(f"{text.removeprefix('stream started by ')} started streaming.")
    if text.startswith("end of the video"):
        return Notice("The video ended, so the stream is over.", warning=True)
    if text.startswith("lost the tracker connection"):
        return Notice(
            "Lost the connection to the tracker; the video continues while it reconnects.",
            warning=True,
        )
    if text == "re-registered with the tracker":
        return Notice("Connected to the tracker again.")
    if text.startswith("tracker not back yet"):
        return Notice("The tracker is still unreachable; retrying...", warning=True)
    if text.startswith("the tracker closed our session"):
        return Notice(plain_error(text), warning=True)
    if text.startswith(QUIET_NOTICES):
        return None
    return Notice(plain_error(text))


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


def source_stat_lines(
    stats: Mapping[str, Any], viewers_in_tree: int, fanout: int
) -> list[StatLine]:
    """FPS sent, upload bandwidth, viewers in the whole tree, direct children."""
    if not stats:
        labels = ("Frames sent", "Upload", "Viewers in the tree", "Direct children")
        return [(label, NO_VALUE) for label in labels]
    skipped = int(_number(stats, "frames_skipped"))
    sent = f"{_number(stats, 'fps'):.1f} fps" + (f" ({skipped} skipped)" if skipped else "")
    return [
        ("Frames sent", sent),
        ("Upload", rate_text(_number(stats, "upload_kbps"))),
        ("Viewers in the tree", str(viewers_in_tree)),
        ("Direct children", f"{int(_number(stats, 'children'))} of {fanout}"),
    ]


def viewer_stat_lines(stats: Mapping[str, Any]) -> list[StatLine]:
    """FPS, bandwidth, latency, loss, depth, parent (and relaying, resolution)."""
    labels = ("Frame rate", "Bandwidth", "Latency", "Packet loss", "Depth", "Parent")
    if not stats:
        return [(label, NO_VALUE) for label in (*labels, "Relaying to", "Resolution")]
    parent = stats.get("parent")
    depth = int(_number(stats, "depth"))
    lost = int(_number(stats, "frames_lost"))
    children = int(_number(stats, "children"))
    values = (
        f"{_number(stats, 'fps'):.1f} fps shown, {_number(stats, 'recv_fps'):.1f} received",
        f"{rate_text(_number(stats, 'bandwidth_kbps'))} in, "
        f"{rate_text(_number(stats, 'upload_kbps'))} out",
        f"{_number(stats, 'latency_ms'):.1f} ms (RTT to parent {_number(stats, 'rtt_ms'):.1f} ms)",
        f"{_number(stats, 'loss_pct'):.1f}% now; {lost} lost in all",
        (f"{depth} hop{'s' if depth != 1 else ''} from the source" if parent else NO_VALUE),
        str(parent) if parent else "none yet",
    )
    return [
        *zip(labels, values, strict=True),
        ("Relaying to", f"{children} viewer{'s' if children != 1 else ''}"),
        ("Resolution", str(stats.get("resolution", NO_VALUE))),
    ]


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
