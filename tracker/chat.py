"""Chat policy: what the tracker accepts as a chat line, in which order, and how often.

Pure decisions, no I/O: the caller passes the clock in (`now_s` from a monotonic clock
for rate limits, `now_ns` wall-clock time for the message) and sends whatever `post`
returns, a `ChatMessage` to every peer or an `Error` to the sender alone. Ids come from
one counter, so every peer sees the same total order. Memory is bounded: the last
CHAT_HISTORY_LENGTH messages, plus one small token bucket per sender until `forget`.
"""

from __future__ import annotations

import collections
import re
import unicodedata

import attrs

import protocol as p
from protocol.limits import CHAT_HISTORY_LENGTH, MAX_CHAT_CHARS

# Sustained rate per sender, and how many lines a sender may post at once after a pause.
CHAT_RATE_PER_S = 5.0
CHAT_BURST = 10

# Tabs and every character str.splitlines() breaks on. U+2028/U+2029 are not Cc or Cf,
# so they are named here; a run of them becomes one space.
_LINE_BREAKS = re.compile("[\t\n\v\f\r\x1c\x1d\x1e\x85\u2028\u2029]+")
# Cc: C0/C1 controls. Cf: invisible format characters (bidi overrides, zero-width ...).
# Cs: lone surrogates, which JSON "\ud800" escapes let through and which cannot be
# encoded as UTF-8 again, neither on the wire nor in SQLite.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})


def clean_chat_text(text: str) -> str:
    """Turn line breaks and tabs into spaces, drop control characters, strip the ends."""
    spaced = _LINE_BREAKS.sub(" ", text)
    kept = "".join(ch for ch in spaced if unicodedata.category(ch) not in _DROPPED_CATEGORIES)
    return kept.strip()


@attrs.define
class TokenBucket:
    """Allow `rate_per_s` events per second on average, up to `burst` at once."""

    rate_per_s: float
    burst: int
    tokens: float
    updated_s: float

    @classmethod
    def full(cls, rate_per_s: float, burst: int, now_s: float) -> TokenBucket:
        """A bucket that has been idle long enough to allow a whole burst."""
        return cls(rate_per_s=rate_per_s, burst=burst, tokens=float(burst), updated_s=now_s)

    def allow(self, now_s: float) -> bool:
        """Refill for the time since the last call, then take one token if there is one."""
        # A clock that steps back refills nothing and does not move `updated_s` back,
        # so the same interval is never credited twice.
        elapsed_s = max(0.0, now_s - self.updated_s)
        self.tokens = min(float(self.burst), self.tokens + elapsed_s * self.rate_per_s)
        self.updated_s = max(self.updated_s, now_s)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


def _new_history() -> collections.deque[p.ChatMessage]:
    return collections.deque(maxlen=CHAT_HISTORY_LENGTH)


@attrs.define
class ChatLog:
    """The room's chat: numbers accepted lines, keeps recent history, limits each sender."""

    next_id: int = 1
    rate_per_s: float = CHAT_RATE_PER_S
    burst: int = CHAT_BURST
    _recent: collections.deque[p.ChatMessage] = attrs.field(factory=_new_history)
    # Keyed by sender.casefold(), so "Alice" and "alice" share one allowance.
    _buckets: dict[str, TokenBucket] = attrs.field(factory=dict)

    def post(self, sender: str, text: str, now_s: float, now_ns: int) -> p.ChatMessage | p.Error:
        """Accept one line from `sender` as the next message, or say why not.

        The rate limit is checked first and every attempt costs a token, valid or not:
        a client flooding empty or oversized lines is slowed down like any other.
        Length is counted in characters after `clean_chat_text`.
        """
        key = sender.casefold()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket.full(self.rate_per_s, self.burst, now_s)
        if not bucket.allow(now_s):
            return p.Error(
                code=p.ErrorCode.CHAT_RATE_LIMITED,
                message=(
                    f"too many chat messages; at most {self.rate_per_s:g} per second "
                    f"(bursts of {self.burst})"
                ),
            )
        cleaned = clean_chat_text(text)
        if not cleaned:
            return p.Error(code=p.ErrorCode.CHAT_EMPTY, message="chat message is empty")
        if len(cleaned) > MAX_CHAT_CHARS:
            return p.Error(
                code=p.ErrorCode.CHAT_TOO_LONG,
                message=(
                    f"chat message is {len(cleaned)} characters; the limit is {MAX_CHAT_CHARS}"
                ),
            )
        message = p.ChatMessage(id=self.next_id, sender=sender, time_ns=now_ns, text=cleaned)
        self._recent.append(message)
        self.next_id += 1
        return message

    def history(self) -> list[p.ChatMessage]:
        """The last CHAT_HISTORY_LENGTH messages, oldest first (what a joining peer gets)."""
        return list(self._recent)

    def forget(self, sender: str) -> None:
        """Drop the rate-limit state of a peer that left."""
        self._buckets.pop(sender.casefold(), None)

    def restore(self, messages: list[p.ChatMessage]) -> None:
        """Replace the history with messages loaded from storage, and continue their ids."""
        ordered = sorted(messages, key=lambda message: message.id)
        self._recent = collections.deque(ordered, maxlen=CHAT_HISTORY_LENGTH)
        if ordered:
            # Never step back: an id once handed out is never reused.
            self.next_id = max(self.next_id, ordered[-1].id + 1)
