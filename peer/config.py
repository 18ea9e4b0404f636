"""What a peer starts with (`PeerConfig`) and what it tells its user interfaces (`PeerHooks`)."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

import attrs

import protocol as p
from peer import events as ev
from peer.capacity import SlotEstimate
from peer.h264 import H264Settings
from protocol.addresses import format_address


@attrs.frozen
class PeerConfig:
    """Everything a peer is started with (see `streamnest-peer --help`)."""

    role: str = attrs.field(validator=attrs.validators.in_(p.STREAMING_ROLES))
    name: str
    tracker: tuple[str, int] = ("127.0.0.1", 9000)
    # Where children connect: every interface (peer/addresses.py), any free port.
    listen: tuple[str, int] = ("::", 0)
    advertise: tuple[str, int] | None = None  # what children dial instead (--advertise)
    # Ask the home router to forward our port (peer/port_mapping.py). The programs turn
    # it on (--no-port-mapping turns it off); off here, for tests and simulations.
    port_mapping: bool = False
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

    def hello(
        self,
        *,
        port: int,
        addresses: list[str],
        slots: int,
        resolution: str,
        parent: str | None,
        stream_key: str | None,
        mapped_port: int | None = None,
        from_listen_port: bool = False,
    ) -> p.Hello:
        """The Hello this peer registers with: listening on `port` (unless --advertise
        names another) of `addresses`, which our router forwards `mapped_port` to,
        offering `slots` children now (what its upload serves), and, after a tracker
        restart, the `parent` it still has; `from_listen_port`: our connection to the
        tracker leaves from our listen port (hole punching)."""
        advertise = self.advertise
        return p.Hello(
            protocol_version=p.PROTOCOL_VERSION,
            name=self.name,
            role=self.role,
            listen_host=self.listen[0],
            listen_port=advertise[1] if advertise else port,
            addresses=addresses,
            advertise=advertise[0] if advertise else None,
            max_children=slots,
            resolution=resolution,
            parent=parent,
            stream_key=stream_key,
            join_key=self.join_key,
            mapped_port=None if advertise else mapped_port,
            from_listen_port=from_listen_port and not advertise,
        )

    def slot_estimate(self) -> SlotEstimate | None:
        """How the peer learns the child slots its upload serves (None: fixed at the
        ceiling)."""
        if not self.measure_slots:
            return None
        if self.role == "source":
            return SlotEstimate.fixed(self.max_children)
        return SlotEstimate.for_viewer(self.max_children)

    def dial_address(self, *, observed_host: str | None, port: int | None) -> str:
        """Where a child on another host would reach us, as far as we know: --advertise,
        else the address the tracker sees us at (`observed_host`) with `port` (ours, or
        the one our router forwards)."""
        if self.advertise is not None:
            return format_address(*self.advertise)
        return format_address(observed_host or self.listen[0], port or self.listen[1])


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
