"""The peer's events as short lines for a terminal (the command line's stderr).

One function per concern: `describe(event)` for events, `waiting_text` for the
tracker's wait codes. The desktop app words the same events for people who never saw
a terminal (peer/gui/wording.py).
"""

from __future__ import annotations

import functools

import protocol as p
from peer import events as ev

WAITING_TEXT = {
    p.WaitReason.NO_STREAM: "no stream is live yet",
    p.WaitReason.STREAM_ENDED: "the stream ended",
    p.WaitReason.NO_FREE_SLOT: "no free slot in the tree yet; you will be placed when one opens",
    p.WaitReason.CHECKING: "the tracker is checking that other viewers can reach us",
}


def waiting_text(reason: p.WaitReason) -> str:
    """Why we wait, in a few words."""
    return WAITING_TEXT[reason]


def _with_detail(code: str, detail: str) -> str:
    return f"{code}: {detail}" if detail else code


@functools.singledispatch
def describe(event: ev.PeerEvent) -> str:
    """One terminal line for `event` (without the peer's name in front)."""
    raise TypeError(f"no wording for {type(event).__name__}")


@describe.register
def _(event: ev.ParentChanged) -> str:
    if event.parent is None:
        return "no parent; looking for one"
    how = {
        p.LinkKind.DIRECT: "",
        p.LinkKind.MAPPED: f" (through the port {event.parent}'s router forwards to it)",
        p.LinkKind.REVERSED: f" ({event.parent} connected to us: it cannot be dialled)",
        p.LinkKind.PUNCHED: f" (we and {event.parent} connected to each other through our routers)",
    }[event.link]
    return f"receiving from {event.parent} at depth {event.depth}{how}"


@describe.register
def _(event: ev.ParentLost) -> str:
    why = _with_detail(event.reason, event.detail)
    if event.backup is not None:
        return f"parent {event.parent} lost ({why}); switching to backup {event.backup}"
    return f"parent {event.parent} lost ({why}); asking the tracker for another"


@describe.register
def _(event: ev.AssignmentIgnored) -> str:
    return "too many assignments queued; ignoring one"


@describe.register
def _(event: ev.Waiting) -> str:
    return f"waiting: {waiting_text(event.reason)}"


@describe.register
def _(event: ev.StreamStarted) -> str:
    return f"stream started by {event.source}"


@describe.register
def _(event: ev.StreamEnded) -> str:
    if event.from_parent:
        return f"the stream is over: {event.reason or 'the source stopped'}"
    return f"{event.source} stopped streaming ({event.reason or 'the stream ended'})"


@describe.register
def _(event: ev.VideoEnded) -> str:
    return "end of the video: the stream is over"


@describe.register
def _(event: ev.FrameUndecodable) -> str:
    return f"frame {event.seq} is not a valid picture; skipped"


@describe.register
def _(event: ev.ChildRefused) -> str:
    return f"refused child {event.child}: {event.message or event.code}"


@describe.register
def _(event: ev.ParentRefused) -> str:
    return f"refused parent {event.parent}: {event.message or event.code}"


@describe.register
def _(event: ev.ChildUnreachable) -> str:
    why = f": {event.detail}" if event.detail else ""
    return f"cannot connect to child {event.child}{why}"


@describe.register
def _(event: ev.ChildDropped) -> str:
    return f"dropped child {event.child} ({_with_detail(event.reason, event.detail)})"


@describe.register
def _(event: ev.UploadShed) -> str:
    return (
        f"upload carries {event.keep} children ({event.upload_kbps:.0f} kb/s sent, "
        f"{event.stream_kbps:.0f} kb/s each); letting {', '.join(event.children)} go"
    )


@describe.register
def _(event: ev.UplinkMeasured) -> str:
    rate = f"{'at least ' if event.complete else ''}{event.upload_kbps:.0f} kb/s"
    slots = f"{event.slots} child slot{'s' if event.slots != 1 else ''}"
    return f"uplink probe: {rate} delivered, {slots} at {event.stream_kbps:.0f} kb/s each"


@describe.register
def _(event: ev.CpuBehind) -> str:
    return (
        f"our CPU is behind (the event loop runs {event.late_ms_per_s:.0f} ms/s late); "
        f"keeping all {event.children} children: the upload is not the bottleneck"
    )


@describe.register
def _(event: ev.TrackerLost) -> str:
    because = f" ({event.detail})" if event.detail else ""
    return f"lost the tracker connection{because}; video continues, reconnecting"


@describe.register
def _(event: ev.TrackerRetrying) -> str:
    return f"tracker not back yet ({event.detail}); retrying"


@describe.register
def _(event: ev.ReachabilityChecked) -> str:
    if event.reachable:
        return f"reachable at {event.address}: peers can connect to us"
    return (
        f"not reachable at {event.address} ({event.detail}): we relay only to viewers "
        "we can connect to; turning UPnP on in the router, or forwarding that port to us "
        "(with --advertise if it differs), lets every viewer reach us"
    )


@describe.register
def _(event: ev.PortMapped) -> str:
    where = f"{event.external_host}:" if event.external_host else "port "
    return f"our router forwards {where}{event.external_port} to us ({event.internal}, UPnP)"


@describe.register
def _(event: ev.PortMappingFailed) -> str:
    return f"no port mapping: {event.detail}"


@describe.register
def _(event: ev.TrackerBack) -> str:
    return "re-registered with the tracker"


@describe.register
def _(event: ev.SessionClosed) -> str:
    return f"the tracker closed our session: {event.message}"


@describe.register
def _(event: ev.RequestRefused) -> str:
    return f"tracker: {event.message}"
