"""Opening a connection to another peer or the tracker, and saying why it failed."""

from __future__ import annotations

import os


def connect_failure(exc: OSError) -> str:
    """The most specific reason trio's connect error carries (e.g. Connection refused)."""
    cause: BaseException | None = exc.__cause__
    while isinstance(cause, BaseExceptionGroup) and cause.exceptions:
        cause = cause.exceptions[0]
    if isinstance(cause, OSError) and cause.errno:
        return os.strerror(cause.errno)
    return exc.strerror or str(exc)
