"""What the Room decides the connection layer should do: send, broadcast, close, probe."""

from __future__ import annotations

import attrs

import protocol as p
from tracker.reachability import Probe


@attrs.frozen
class Send:
    """Send `message` to the member `to` (a name key)."""

    to: str
    message: p.Message


@attrs.frozen
class Broadcast:
    """Send `message` to every member."""

    message: p.Message


@attrs.frozen
class Close:
    """Close the member's connection (after anything already queued for it)."""

    to: str
    reason: str


Action = Send | Broadcast | Close | Probe  # Probe: dial a peer (tracker/reachability.py)
