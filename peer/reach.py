"""How other peers reach us: our listening port, the port our home router forwards to
it (peer/port_mapping.py), and the tracker's checks of both (tracker/reachability.py).

The peer listens before it registers; once registered it asks its router for a
mapping (off the path to the first frame) and tells the tracker of each change, which
dials the new port to check it. People are told where a child elsewhere would reach us.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

import protocol as p
from peer import events as ev
from peer.children import ChildrenHub
from peer.config import PeerConfig
from peer.port_mapping import Mapping, PortMapper
from peer.stats import PeerCounters
from peer.tracker_link import TrackerLink
from protocol.addresses import ip_or_none


@attrs.define
class Reach:
    """Our listening port as the world sees it, kept mapped and checked."""

    config: PeerConfig
    hub: ChildrenHub
    tracker: TrackerLink
    counters: PeerCounters
    on_event: Callable[[ev.PeerEvent], None]
    mapper: PortMapper = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.mapper = PortMapper(
            name=self.config.name, on_change=self._mapped, on_event=self.on_event
        )

    async def run(self) -> None:
        """Keep our port mapped on the router while the peer runs, if we should."""
        port = self.port_to_map()
        if port is not None:
            await self.mapper.run(port)

    @property
    def listen_port(self) -> int:
        """The port we accept children on (0 before we listen)."""
        return self.hub.address[1] if self.hub.address else 0

    @property
    def mapped_port(self) -> int | None:
        """The port our home router forwards to our listener (None: none)."""
        mapping = self.mapper.mapping
        return mapping.external_port if mapping is not None else None

    def port_to_map(self) -> int | None:
        """The port to ask the router to forward to us: ours, when asked to map it and
        listening where a router could forward to (not only on loopback)."""
        if not self.config.port_mapping:
            return None
        return self.port_to_share() or None

    def port_to_share(self) -> int:
        """Our listen port, for connections that leave from it (hole punching), when we
        listen where a router could be in between; 0 otherwise (loopback only)."""
        listen = ip_or_none(self.config.listen[0])
        return 0 if listen is not None and listen.is_loopback else self.listen_port

    def check(self) -> bool:
        """Ask the tracker to dial us again (after opening a port); False if it cannot
        be asked now. The answer comes as a ReachabilityChecked event."""
        return self.tracker.send(p.CheckReachability())

    def dial_address(self) -> str:
        """Where a child on another host would reach us, as far as we know: --advertise,
        else the address the tracker sees us at, with our mapped or listening port."""
        welcome = self.tracker.welcome
        return self.config.dial_address(
            observed_host=welcome.observed_host if welcome else None,
            port=self.mapped_port or self.listen_port or None,
        )

    def _mapped(self, mapping: Mapping | None) -> None:
        """The router maps a new port to us, or no longer does: the tracker checks it."""
        self.counters.mapped_port = mapping.external_port if mapping else None
        self.tracker.send(p.CheckReachability(mapped_port=mapping.external_port if mapping else 0))
