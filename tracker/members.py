"""A registered peer as the tracker sees it (the Room's record of one session), and who
may register at all."""

from __future__ import annotations

from collections.abc import Container

import attrs

import protocol as p
from protocol.addresses import choose_candidate, is_local_only, plain_host, usable_candidates
from protocol.admission import new_admission_key
from protocol.limits import MAX_ADVERTISED_ADDRESSES
from protocol.names import name_key, name_problem

# How long a viewer may go without video before it counts as having none: a join takes
# well under a second, a reversed one up to 3 s (peer/reversal.py), a repair about
# 1.5 s, and the heartbeat saying so comes a second later.
NO_VIDEO_GRACE_S = 4.0


@attrs.define
class Member:
    """A registered peer's session: who it is, how children reach it, what it reported."""

    key: str  # name_key(name): names are unique regardless of case
    name: str
    role: str  # one of p.ROLES
    # Where the tracker saw the connection come from (the Hello's listen_host when it
    # cannot tell: a stream that is not a socket), and the port children dial.
    host: str
    port: int
    max_children: int
    resolution: str
    admission_key: str  # checks the tokens of children sent to it
    last_seen_s: float
    stats: p.PeerStats | None = None
    # The backup parent it was told about (tracker/backups.py) and when its token was made.
    backup: str | None = None
    backup_offer: p.ParentOffer | None = None
    backup_minted_s: float = 0.0  # Unix time
    # After a tracker restart: the parent it says it still has (tracker/room.py, recovery).
    claimed_parent: str | None = None
    # Its own interface addresses another host could dial, and its --advertise host.
    lan: tuple[str, ...] = ()
    advertised: str | None = None
    # The port its home router forwards to `port` (UPnP), for children outside its LAN.
    mapped_port: int | None = None
    # The port the tracker sees its connection come from, when that connection leaves
    # from its listen port: its router's mapping of that port (hole punching).
    punch_port: int | None = None
    attached_s: float | None = None  # when it was last told its parent (monotonic)
    video_s: float | None = None  # its last heartbeat that counted frames arriving

    def shows_no_video(self, now_s: float) -> bool:
        """Whether no heartbeat has counted frames arriving for NO_VIDEO_GRACE_S since it
        was attached: a viewer whose parent never reached it, or went dark for good (a
        repair takes less). Children sent to it would get nothing either."""
        if self.attached_s is None:
            return False
        since_s = max(self.attached_s, self.video_s if self.video_s is not None else -1e18)
        return now_s - since_s >= NO_VIDEO_GRACE_S

    @classmethod
    def from_hello(
        cls, hello: p.Hello, seen_host: str | None, now_s: float, seen_port: int | None = None
    ) -> Member:
        """A new member as its Hello describes it, its connection seen from `seen_host`
        and `seen_port` (None: not a socket; the Hello's listen_host stands in), with a
        fresh admission key."""
        lan = usable_candidates(hello.addresses, MAX_ADVERTISED_ADDRESSES)
        if not hello.addresses and not is_local_only(hello.listen_host):
            lan = usable_candidates([hello.listen_host], 1)  # a peer that lists none
        host = plain_host(seen_host) if seen_host is not None else hello.listen_host
        return cls(
            key=name_key(hello.name),
            name=hello.name,
            role=hello.role,
            host=host,
            lan=tuple(lan),
            advertised=_advertised_host(hello.advertise, host, seen=seen_host is not None),
            port=hello.listen_port,
            mapped_port=hello.mapped_port,
            punch_port=seen_port if hello.from_listen_port and seen_host is not None else None,
            max_children=hello.max_children,
            resolution=hello.resolution,
            admission_key=new_admission_key(),
            last_seen_s=now_s,
        )

    @property
    def household(self) -> str | None:
        """The public address it shares with whoever sits behind the same home router:
        known only when the tracker sees it at an address that is not one of its own (a
        NAT between), since peers there meet over their LAN addresses instead, which the
        reachability probe did not try. None otherwise."""
        if not self.lan or self.host in self.lan or is_local_only(self.host):
            return None
        return self.host

    @property
    def punchable(self) -> bool:
        """Whether another peer behind a router may punch to it: it sits behind a router
        (`household`) that kept its listen port for the connection the tracker saw
        (`punch_port`). A router that keeps the port maps it the same way for every
        destination, as Linux's MASQUERADE does; one that changed it may pick a new port
        for each destination (MASQUERADE --random-fully), and from one connection the
        tracker cannot tell, so it is not punched to."""
        return self.punch_port == self.port and self.household is not None

    @property
    def checked_port(self) -> int:
        """The port the reachability probe dials at `host`: the mapped one, if any."""
        return self.mapped_port if self.mapped_port is not None else self.port

    def route_for(self, child: Member) -> tuple[str, int, p.LinkKind]:
        """Where `child` dials this member (protocol/addresses.py), and how: through
        its router's port mapping when the child comes from outside its LAN."""
        host = choose_candidate(
            parent_seen=self.host,
            parent_lan=self.lan,
            child_seen=child.host,
            child_lan=child.lan,
            advertised=self.advertised,
        )
        if self.mapped_port is not None and self.advertised is None and host == self.household:
            return host, self.mapped_port, p.LinkKind.MAPPED
        return host, self.port, p.LinkKind.DIRECT


def _advertised_host(advertise: str | None, host: str, *, seen: bool) -> str | None:
    """The --advertise host children may be handed: only the address the tracker sees
    the peer at (a port forward changes the port, not the host), or any when the peer
    is on the tracker's own host (or not on a socket). Anything else would let a peer
    send other peers to a third host the tracker never checked."""
    if advertise is None:
        return None
    if not seen or is_local_only(host) or plain_host(advertise) == host:
        return advertise
    return None


def hello_refusal(
    hello: p.Hello, *, taken: Container[str], live_source: str | None
) -> p.Reject | None:
    """Why this Hello cannot register (version, name, name taken, stream live), or None."""
    if hello.protocol_version != p.PROTOCOL_VERSION:
        return p.Reject(
            code=p.RejectCode.UNSUPPORTED_VERSION,
            message=f"this tracker speaks protocol version {p.PROTOCOL_VERSION}, "
            f"the peer speaks {hello.protocol_version}",
        )
    problem = name_problem(hello.name)
    if problem is not None:
        return p.Reject(
            code=p.RejectCode.INVALID_NAME, message=f"invalid name {hello.name!r}: {problem}"
        )
    if name_key(hello.name) in taken:
        return p.Reject(
            code=p.RejectCode.NAME_TAKEN, message=f"name {hello.name!r} is already taken"
        )
    if hello.role == "source" and live_source is not None:
        return p.Reject(
            code=p.RejectCode.STREAM_LIVE, message=f"stream already live (source: {live_source})"
        )
    return None
