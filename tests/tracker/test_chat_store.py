"""The chat database on a real file: what the tracker wrote is there after a restart."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

import protocol as p
from tracker.chat_store import ChatStore, StoreError

T0_NS = 1_700_000_000_000_000_000


def line(message_id: int, text: str | None = None) -> p.ChatMessage:
    """A chat line with the given id, sent by alice."""
    return p.ChatMessage(
        id=message_id,
        sender="alice",
        time_ns=T0_NS + message_id,
        text=f"line {message_id}" if text is None else text,
    )


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "tracker.db")


@pytest.fixture
def store(db_path: str) -> Iterator[ChatStore]:
    opened = ChatStore(db_path)
    yield opened
    opened.close()


def test_chat_survives_a_tracker_restart(db_path: str) -> None:
    written = [line(1, "first!"), line(2, "ünïcödé and emoji \U0001f600 survive too")]
    before = ChatStore(db_path)
    for message in written:
        before.append(message)
    before.close()

    after = ChatStore(db_path)
    try:
        assert after.recent(100) == written
    finally:
        after.close()


def test_a_line_is_on_disk_as_soon_as_append_returns(store: ChatStore, db_path: str) -> None:
    store.append(line(1))

    # A second connection, as a restarted tracker would open while this one still runs.
    other = sqlite3.connect(db_path)
    try:
        rows = other.execute("SELECT id, sender, time_ns, text FROM chat").fetchall()
    finally:
        other.close()
    assert rows == [(1, "alice", T0_NS + 1, "line 1")]


def test_recent_returns_the_last_n_lines_oldest_first(store: ChatStore) -> None:
    for message_id in range(1, 151):
        store.append(line(message_id))

    assert [message.id for message in store.recent(100)] == list(range(51, 151))
    assert [message.id for message in store.recent(3)] == [148, 149, 150]
    assert store.recent(0) == []
    assert store.recent(-1) == []


def test_recent_on_a_new_database_is_empty(store: ChatStore) -> None:
    assert store.recent(100) == []


def test_the_same_id_cannot_be_stored_twice(store: ChatStore) -> None:
    store.append(line(1))

    with pytest.raises(sqlite3.IntegrityError):
        store.append(line(1, "a different line with a reused id"))
    assert store.recent(10) == [line(1)]


def test_metadata_survives_a_restart_and_can_be_replaced(db_path: str) -> None:
    before = ChatStore(db_path)
    assert before.get_meta("epoch") is None
    before.set_meta("epoch", "7")
    before.set_meta("epoch", "8")
    before.set_meta("source", "alice")
    before.close()

    after = ChatStore(db_path)
    try:
        assert after.get_meta("epoch") == "8"
        assert after.get_meta("source") == "alice"
        assert after.get_meta("missing") is None
    finally:
        after.close()


def test_a_file_database_runs_in_wal_mode(store: ChatStore, db_path: str) -> None:
    other = sqlite3.connect(db_path)
    try:
        (mode,) = other.execute("PRAGMA journal_mode").fetchone()
    finally:
        other.close()
    assert mode == "wal"


def test_a_memory_database_works_without_a_path() -> None:
    store = ChatStore(None)
    try:
        store.append(line(1))
        store.set_meta("k", "v")
        assert store.recent(10) == [line(1)]
        assert store.get_meta("k") == "v"
    finally:
        store.close()


def test_a_database_in_a_missing_directory_is_a_readable_error(tmp_path: Path) -> None:
    path = tmp_path / "no-such-directory" / "tracker.db"

    with pytest.raises(StoreError) as caught:
        ChatStore(str(path))

    message = str(caught.value)
    assert message.startswith(f"cannot open chat database {path}: ")
    assert "\n" not in message


def test_a_file_that_is_not_a_database_is_a_readable_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"these are not the tables you are looking for\n" * 20)

    with pytest.raises(StoreError, match=r"cannot open chat database .*notes\.txt: "):
        ChatStore(str(path))
