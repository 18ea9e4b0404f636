"""What a peer starts with (`PeerConfig`) and what it tells its user interfaces (`PeerHooks`)."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

import attrs

import protocol as p
from peer import events as ev
from peer.h264 import H264Settings


@attrs.frozen
class PeerConfig:
    """Everything a peer is started with (see `streamnest-peer --help`)."""

    role: str = attrs.field(validator=attrs.validators.in_(p.STREAMING_ROLES))
    name: str
    tracker: tuple[str, int] = ("127.0.0.1", 9000)
    # Where children connect: every interface (peer/addresses.py), any free port.
    listen: tuple[str, int] = ("::", 0)
    advertise: tuple[str, int] | None = None  # what children dial instead (--advertise)
    max_children: int = 3  # the source's fanout, or a viewer's relay slots: a ceiling
    # Learn the slots our upload serves (peer/capacity.py); False: offer max_children.
    measure_slots: bool = True
    upload_limit_kbps: float | None = None  # cap on what we send our children (--upload-limit)
    resolution: str = "source"
    source: str | None = None
    fps: float | None = None
    quality: int = 80  # JPEG
    codec: p.Codec = p.Codec.JPEG
    h264: H264Settings = attrs.field(factory=H264Settings)
    max_resolution: str | None = None
    loop: bool = False
    join_key: str | None = None  # for a private stream (the tracker's --join-key)
    tls: ssl.SSLContext | None = attrs.field(default=None, eq=False)  # TLS to the tracker
    decode: bool = True  # a viewer makes pictures for its display
    preview: bool = False  # a source decodes the newest frame it sent (the GUI's preview)


def _ignore(*_: Any) -> None:
    return None


@attrs.define
class PeerHooks:
    """What the peer tells its user interface. Each hook must return at once."""

    # Everything that happened (parent changed, waiting, stream ended, tracker lost...).
    on_event: Callable[[ev.PeerEvent], None] = _ignore
    on_chat: Callable[[p.ChatMessage], None] = _ignore
    on_image: Callable[[Any, p.FrameHeader], None] = _ignore
    # Run in the decode worker thread on each decoded image; its result is what on_image
    # receives (None: the image itself).
    prepare_image: Callable[[Any], Any] | None = None
    # Every frame as it arrives (header, arrival Unix ns), before decoding: for probes.
    on_frame_received: Callable[[p.FrameHeader, int], None] = _ignore
