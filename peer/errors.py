"""The errors of the peer layer: something the user can fix or act on, in one line.

`PeerError` is the one type a caller catches; its kinds say who is at fault, so a user
interface can word each without parsing its message:
- `UsageError`: we were asked for something that cannot be done here (a bad option,
  a missing file, a chat line too long): the user's own input;
- `TrackerError`: the tracker cannot be reached, or turned us away (`TrackerRefused`,
  with the tracker's `RejectCode`).
Anything else escaping the peer is a bug and keeps its traceback. The command lines
catch these with `except*` (peer/__main__.py); `user_error` unwraps them from the
exception groups trio raises, for the desktop app.
"""

from __future__ import annotations

import protocol as p


class PeerError(Exception):
    """A failure the user caused or can act on (bad file, tracker unreachable, refused).

    The command line prints its message as one line on stderr and exits non-zero.
    """


class UsageError(PeerError):
    """What we were asked to do cannot be done: a bad option, file or chat line."""


class TrackerError(PeerError):
    """The tracker cannot be reached, did not answer, or ended our session."""


class TrackerUnreachable(TrackerError):
    """No connection to the tracker at `address` (`reason` says why, e.g. refused)."""

    def __init__(self, address: tuple[str, int], reason: str) -> None:
        host, port = address
        super().__init__(f"cannot reach the tracker at {host}:{port}: {reason}")
        self.address = address
        self.reason = reason


class TrackerRefused(TrackerError):
    """The tracker refused to register us, with its code (name taken, stream live...)."""

    def __init__(self, code: p.RejectCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def user_error(exc: BaseException) -> PeerError | None:
    """The PeerError that `exc` is or holds, if every failure inside it is one.

    Exception groups are unwrapped; a group that also holds a cancellation or a bug is
    not a user's error (None), so the bug is not hidden behind the user's message.
    """
    if isinstance(exc, PeerError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        found = [user_error(inner) for inner in exc.exceptions]
        if found and all(error is not None for error in found):
            return found[0]
    return None
