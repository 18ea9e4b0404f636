"""A bug in one decision stays one peer's problem, not every viewer's.

The Room's rules are pure and tested, but a rule can still meet a case nobody foresaw.
Left alone, its exception would end the connection's task, then the listener, then the
tracker, and every viewer's stream with it. So each peer's session, the periodic tick
and each probe result run inside `contained`: an exception from them (not a
cancellation, and not a connection that broke, which the caller handles) is a bug. Its
traceback goes to stderr under one line saying what was being done, the tracker's
`streamnest_internal_errors_total` counts it, and the caller carries on: a session ends
(its peer joins again, its children are re-placed as after any departure), a tick is
tried again at the next one.
"""

from __future__ import annotations

import contextlib
import sys
import traceback
from collections.abc import Callable, Iterator

import attrs
import trio

# A connection that broke or closed is the caller's to handle, not a bug.
STREAM_ENDED = (trio.BrokenResourceError, trio.ClosedResourceError)


@attrs.define
class Outcome:
    """Whether the work inside `contained` raised (and was contained)."""

    failed: bool = False


@contextlib.contextmanager
def contained(what: str, on_bug: Callable[[], None]) -> Iterator[Outcome]:
    """Run the block; a bug in it is said with its traceback and `on_bug` is called."""
    outcome = Outcome()
    try:
        yield outcome
    except STREAM_ENDED:
        raise
    except Exception:
        outcome.failed = True
        print(f"streamnest-tracker: internal error {what}; carrying on", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
        on_bug()
