"""A registered peer as the tracker sees it: the Room's record of one session."""

from __future__ import annotations

import attrs

import protocol as p


@attrs.define
class Member:
    """A registered peer's session: who it is, how children reach it, what it reported."""

    key: str  # name_key(name): names are unique regardless of case
    name: str
    role: str  # one of p.ROLES
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
