"""Durable chat history and small tracker metadata, in one SQLite file.

Synchronous on purpose: the tracker calls these through `trio.to_thread.run_sync` with
a `CapacityLimiter(1)`, so one thread at a time uses the connection (hence
`check_same_thread=False`). Every write commits before it returns, and a file database
runs in WAL mode with `synchronous=FULL`: a chat line the tracker has acknowledged
survives a crash or a power cut. Opening problems raise `StoreError` (a TrackerError:
the user gave a path that does not work); later failures are `sqlite3.Error` and
propagate as they are.
"""

from __future__ import annotations

import sqlite3

import protocol as p
from tracker.errors import TrackerError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chat (
    id INTEGER PRIMARY KEY,
    sender TEXT NOT NULL,
    time_ns INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


class StoreError(TrackerError):
    """The chat database cannot be opened or holds something that is not a chat line."""


class ChatStore:
    """Chat lines by id and key/value metadata, persisted in SQLite (or memory for tests)."""

    def __init__(self, path: str | None) -> None:
        """Open (creating if needed) the database at `path`; None keeps it in memory."""
        self.path = ":memory:" if path is None else path
        try:
            self._connection = sqlite3.connect(self.path, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open chat database {self.path}: {exc}") from None
        try:
            if path is not None:
                self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.execute("PRAGMA synchronous=FULL")
            with self._connection:
                self._connection.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            self._connection.close()
            raise StoreError(f"cannot open chat database {self.path}: {exc}") from None

    def append(self, message: p.ChatMessage) -> None:
        """Store one chat line; it is committed when this returns."""
        with self._connection:
            self._connection.execute(
                "INSERT INTO chat (id, sender, time_ns, text) VALUES (?, ?, ?, ?)",
                (message.id, message.sender, message.time_ns, message.text),
            )

    def recent(self, limit: int) -> list[p.ChatMessage]:
        """The last `limit` chat lines by id, oldest first."""
        if limit <= 0:
            # SQLite reads a negative LIMIT as "no limit".
            return []
        rows = self._connection.execute(
            "SELECT id, sender, time_ns, text FROM chat ORDER BY id DESC LIMIT ?", (limit,)
        ).fetchall()
        messages = []
        for row_id, sender, time_ns, text in reversed(rows):
            try:
                messages.append(p.ChatMessage(id=row_id, sender=sender, time_ns=time_ns, text=text))
            except ValueError as exc:
                raise StoreError(
                    f"chat database {self.path} holds an invalid chat line {row_id}: {exc}"
                ) from None
        return messages

    def get_meta(self, key: str) -> str | None:
        """The value stored under `key`, or None if there is none."""
        row = self._connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Store `value` under `key`, replacing any earlier value; committed on return."""
        with self._connection:
            self._connection.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def close(self) -> None:
        """Close the connection; the store cannot be used afterwards."""
        self._connection.close()
