"""The one error type of the peer layer: something the user can fix, in one line."""

from __future__ import annotations


class PeerError(Exception):
    """A failure the user caused or can act on (bad file, tracker unreachable, refused).

    The command line prints its message as one line on stderr and exits non-zero.
    """
