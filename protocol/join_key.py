"""Private streams: the join key a tracker may require in every Hello.

Pure checks only; where the key comes from (a flag, a file, the environment) is the
programs' business. Keys are compared in constant time, so timing says nothing about
how much of a guess was right.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from protocol.limits import MAX_TOKEN_CHARS

JOIN_KEY_ENV = "STREAMNEST_JOIN_KEY"
MIN_JOIN_KEY_CHARS = 8


def join_key_problem(key: str) -> str | None:
    """Why `key` cannot be a join key, or None if it can."""
    if not MIN_JOIN_KEY_CHARS <= len(key) <= MAX_TOKEN_CHARS:
        return f"a join key has {MIN_JOIN_KEY_CHARS} to {MAX_TOKEN_CHARS} characters"
    if not key.isprintable() or key.strip() != key:
        return "a join key is printable, without leading or trailing spaces"
    return None


def choose_join_key(
    flag: str | None, file_text: str | None, environ: Mapping[str, str]
) -> str | None:
    """The key a program was given: --join-key, else its file's first line, else the
    environment (STREAMNEST_JOIN_KEY), else None (an open stream)."""
    if file_text is not None:
        flag = file_text.strip()
    return flag or environ.get(JOIN_KEY_ENV) or None


def join_key_matches(expected: str, given: str | None) -> bool:
    """Whether `given` is the tracker's key, in time independent of where they differ."""
    return hmac.compare_digest(expected.encode(), (given or "").encode())
