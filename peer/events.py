"""What a running peer tells its user interfaces: small immutable event classes.

The peer core never formats a sentence for a person. It hands each sink (the command
line, the desktop app, the HTTP tap, probes) one of these events through
`PeerHooks.on_event`, and each sink words it its own way: the terminal in
peer/event_text.py, the desktop app in peer/gui/wording.py. Like h11's events, each
is a frozen, slotted attrs class whose fields are checked on construction, so a sink
never receives a malformed event. Codes are the wire's enums (protocol/reasons.py);
a `detail` is free text for logs, never something to parse.
"""

from __future__ import annotations

import attrs

import protocol as p

_text = attrs.validators.instance_of(str)
_optional_text = attrs.validators.optional(_text)
_count = attrs.validators.and_(attrs.validators.instance_of(int), attrs.validators.ge(0))


class PeerEvent:
    """Base class of everything the peer tells its sinks."""

    __slots__ = ()


# -- the parent -----------------------------------------------------------------------


@attrs.frozen(slots=True)
class ParentChanged(PeerEvent):
    """The viewer now receives from `parent` at `depth` (None, 0: looking for one)."""

    parent: str | None = attrs.field(validator=_optional_text)
    depth: int = attrs.field(validator=_count)
    # How the link was made: we dialled the parent (direct, or through its router's
    # port mapping), or it connected to us (connection reversal).
    link: p.LinkKind = attrs.field(
        default=p.LinkKind.DIRECT, validator=attrs.validators.instance_of(p.LinkKind)
    )


@attrs.frozen(slots=True)
class ParentLost(PeerEvent):
    """The link to `parent` ended; the viewer tries `backup` next, or asks the tracker."""

    parent: str = attrs.field(validator=_text)
    reason: p.LossReason = attrs.field(validator=attrs.validators.instance_of(p.LossReason))
    detail: str = attrs.field(default="", validator=_text)
    backup: str | None = attrs.field(default=None, validator=_optional_text)


@attrs.frozen(slots=True)
class AssignmentIgnored(PeerEvent):
    """Too many placements arrived at once; the oldest unread ones win, this one is dropped."""


@attrs.frozen(slots=True)
class Waiting(PeerEvent):
    """Registered, but the tracker has no place for us yet, and says why."""

    reason: p.WaitReason = attrs.field(validator=attrs.validators.instance_of(p.WaitReason))


# -- the stream -----------------------------------------------------------------------


@attrs.frozen(slots=True)
class StreamStarted(PeerEvent):
    """Somebody else went live; a viewer will be placed in the tree shortly."""

    source: str = attrs.field(validator=_text)


@attrs.frozen(slots=True)
class StreamEnded(PeerEvent):
    """The stream we watched is over (`reason` as the source or the tracker put it).

    Told twice to a viewer: down the tree by its parent (`from_parent`), and by the
    tracker to everyone.
    """

    source: str = attrs.field(validator=_text)
    reason: str = attrs.field(default="", validator=_text)
    from_parent: bool = False


@attrs.frozen(slots=True)
class VideoEnded(PeerEvent):
    """The source reached the end of its video: it ends the stream and leaves."""


@attrs.frozen(slots=True)
class FrameUndecodable(PeerEvent):
    """A frame passed its signature check but is not a picture we can decode; skipped."""

    seq: int = attrs.field(validator=_count)


# -- the children ---------------------------------------------------------------------


@attrs.frozen(slots=True)
class ChildRefused(PeerEvent):
    """A connection asked to be our child and was turned away."""

    child: str = attrs.field(validator=_text)
    code: p.RejectCode = attrs.field(validator=attrs.validators.instance_of(p.RejectCode))
    message: str = attrs.field(default="", validator=_text)


@attrs.frozen(slots=True)
class ParentRefused(PeerEvent):
    """A connection claimed to be a parent sent to us (connection reversal) and was
    turned away."""

    parent: str = attrs.field(validator=_text)
    code: p.RejectCode = attrs.field(validator=attrs.validators.instance_of(p.RejectCode))
    message: str = attrs.field(default="", validator=_text)


@attrs.frozen(slots=True)
class ChildUnreachable(PeerEvent):
    """The tracker asked us to connect to a child (we cannot be dialled) and we could not."""

    child: str = attrs.field(validator=_text)
    detail: str = attrs.field(default="", validator=_text)


@attrs.frozen(slots=True)
class ChildDropped(PeerEvent):
    """We cut a child off; the tracker is told so it re-places the child."""

    child: str = attrs.field(validator=_text)
    reason: p.DropReason = attrs.field(validator=attrs.validators.instance_of(p.DropReason))
    detail: str = attrs.field(default="", validator=_text)


@attrs.frozen(slots=True)
class UploadShed(PeerEvent):
    """Our upload cannot carry every child: keep `keep`, let `children` go."""

    keep: int = attrs.field(validator=_count)
    upload_kbps: float
    stream_kbps: float
    children: tuple[str, ...]


@attrs.frozen(slots=True)
class UplinkMeasured(PeerEvent):
    """A probe timed our uplink (peer/uplink_probe.py): it delivered `upload_kbps` (at
    least, when `complete`), enough for `slots` children of a `stream_kbps` stream."""

    upload_kbps: float
    stream_kbps: float
    slots: int = attrs.field(validator=_count)
    complete: bool


@attrs.frozen(slots=True)
class CpuBehind(PeerEvent):
    """Children starve because our CPU is behind (our event loop runs late), not because
    of our upload: nobody is let go for it."""

    late_ms_per_s: float
    children: int = attrs.field(validator=_count)


# -- the tracker ----------------------------------------------------------------------


@attrs.frozen(slots=True)
class TrackerLost(PeerEvent):
    """The control connection broke; video goes on while we reconnect."""

    detail: str = attrs.field(default="", validator=_text)


@attrs.frozen(slots=True)
class TrackerRetrying(PeerEvent):
    """Still cannot re-register with the tracker (said every few attempts)."""

    detail: str = attrs.field(validator=_text)


@attrs.frozen(slots=True)
class ReachabilityChecked(PeerEvent):
    """The tracker dialled us back at `address`: whether children can reach us there."""

    reachable: bool
    address: str = attrs.field(validator=_text)
    detail: str = attrs.field(validator=_text)


@attrs.frozen(slots=True)
class PortMapped(PeerEvent):
    """Our home router now forwards `external_port` (on `external_host`, if it said)
    to our listener at `internal` (peer/port_mapping.py)."""

    external_port: int = attrs.field(validator=_count)
    internal: str = attrs.field(validator=_text)
    external_host: str | None = attrs.field(default=None, validator=_optional_text)


@attrs.frozen(slots=True)
class PortMappingFailed(PeerEvent):
    """No port mapping: no gateway answered, it refused, or it let the one we had go."""

    detail: str = attrs.field(validator=_text)


@attrs.frozen(slots=True)
class TrackerBack(PeerEvent):
    """Registered again after a lost connection."""


@attrs.frozen(slots=True)
class SessionClosed(PeerEvent):
    """The tracker ended our session (a Reject or a Goodbye), saying why."""

    message: str = attrs.field(validator=_text)


@attrs.frozen(slots=True)
class RequestRefused(PeerEvent):
    """The tracker refused one request (a chat line); the session goes on."""

    code: p.ErrorCode = attrs.field(validator=attrs.validators.instance_of(p.ErrorCode))
    message: str = attrs.field(validator=_text)


def from_tracker(message: p.Message, own_name: str) -> PeerEvent | None:
    """The event a message from the tracker is for the user, if any."""
    if isinstance(message, p.StreamStarted) and message.source != own_name:
        return StreamStarted(source=message.source)
    if isinstance(message, p.StreamEnded) and message.source != own_name:
        return StreamEnded(source=message.source, reason=message.reason)
    if isinstance(message, p.Waiting):
        return Waiting(reason=message.reason)
    if isinstance(message, p.Reachability):
        return ReachabilityChecked(
            reachable=message.reachable, address=message.address, detail=message.detail
        )
    if isinstance(message, p.Error):
        return RequestRefused(code=message.code, message=message.message)
    if isinstance(message, p.Reject):
        return SessionClosed(message=message.message)
    if isinstance(message, p.Goodbye):
        return SessionClosed(message=message.reason)
    return None
