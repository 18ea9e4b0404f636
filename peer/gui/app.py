"""Entry point of `streamnest-peer gui` (being built)."""

from __future__ import annotations

from peer.errors import PeerError


def run_app() -> int:
    """Open the desktop app and return the exit status when its window closes."""
    raise PeerError("'gui' is not available yet")
