"""Chat policy as the people in a room see it: order, limits, history, and clean text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import protocol as p
from protocol.limits import CHAT_HISTORY_LENGTH, MAX_CHAT_CHARS
from tracker.chat import CHAT_BURST, CHAT_RATE_PER_S, ChatLog, TokenBucket, clean_chat_text

T0_NS = 1_700_000_000_000_000_000


def accepted(result: p.ChatMessage | p.Error) -> p.ChatMessage:
    """The message a post produced, failing the test with the refusal if there was one."""
    assert isinstance(result, p.ChatMessage), result
    return result


def refused(result: p.ChatMessage | p.Error) -> p.Error:
    """The refusal a post produced, failing the test if the line was accepted."""
    assert isinstance(result, p.Error), result
    return result


@pytest.fixture
def log() -> ChatLog:
    return ChatLog()


def test_a_line_from_a_viewer_becomes_the_next_message_everyone_sees(log: ChatLog) -> None:
    first = accepted(log.post("alice", "hello, everyone", now_s=10.0, now_ns=T0_NS))
    second = accepted(log.post("bob", "hi alice", now_s=10.5, now_ns=T0_NS + 500))

    assert first == p.ChatMessage(id=1, sender="alice", time_ns=T0_NS, text="hello, everyone")
    assert second == p.ChatMessage(id=2, sender="bob", time_ns=T0_NS + 500, text="hi alice")
    assert log.history() == [first, second]


def test_control_characters_are_stripped_and_line_breaks_become_spaces() -> None:
    # Bell, escape sequence, right-to-left override, zero-width space, DEL, a C1 control.
    hostile = "\x07hi\x1b[31m there\u202e\u200b\x7f\x9b!"
    assert clean_chat_text(hostile) == "hi[31m there!"
    assert clean_chat_text("line one\r\nline two\n\n\tindented") == "line one line two indented"
    assert clean_chat_text("a\u2028b\u2029c") == "a b c"
    assert clean_chat_text("  spaced   out  ") == "spaced   out"


def test_a_lone_surrogate_is_dropped_so_the_line_can_be_sent_and_stored() -> None:
    # A JSON "\ud800" escape decodes to this; UTF-8 cannot encode it again.
    cleaned = clean_chat_text("a\ud800b")

    assert cleaned == "ab"
    cleaned.encode("utf-8")


def test_the_posted_text_is_the_cleaned_text(log: ChatLog) -> None:
    message = accepted(log.post("alice", "\tgood\x00 game\n", now_s=0.0, now_ns=T0_NS))

    assert message.text == "good game"


def test_500_characters_are_accepted_and_501_are_refused_with_the_count(log: ChatLog) -> None:
    at_limit = accepted(log.post("alice", "x" * MAX_CHAT_CHARS, now_s=0.0, now_ns=T0_NS))
    over = refused(log.post("alice", "x" * (MAX_CHAT_CHARS + 1), now_s=0.0, now_ns=T0_NS))

    assert len(at_limit.text) == 500
    assert over == p.Error(
        code=p.ErrorCode.CHAT_TOO_LONG, message="chat message is 501 characters; the limit is 500"
    )
    assert log.history() == [at_limit]


def test_the_limit_counts_characters_after_cleaning(log: ChatLog) -> None:
    padded = "\x00" * 100 + "y" * MAX_CHAT_CHARS + "\n" * 100

    assert len(accepted(log.post("alice", padded, now_s=0.0, now_ns=T0_NS)).text) == 500


@pytest.mark.parametrize("text", ["", "   ", "\n\t\r\n", "\x00\x07\u200b", "\u202e \u2028"])
def test_an_empty_or_invisible_message_is_refused(log: ChatLog, text: str) -> None:
    error = refused(log.post("alice", text, now_s=0.0, now_ns=T0_NS))

    assert error == p.Error(code=p.ErrorCode.CHAT_EMPTY, message="chat message is empty")
    assert log.history() == []


def test_a_spammer_is_told_to_slow_down_and_can_post_again_a_second_later(log: ChatLog) -> None:
    burst = [log.post("spammer", f"buy now {i}", now_s=100.0, now_ns=T0_NS) for i in range(10)]
    assert all(isinstance(result, p.ChatMessage) for result in burst)

    error = refused(log.post("spammer", "buy now!!!", now_s=100.0, now_ns=T0_NS))
    assert error == p.Error(
        code=p.ErrorCode.CHAT_RATE_LIMITED,
        message="too many chat messages; at most 5 per second (bursts of 10)",
    )

    # One second refills five tokens: five more lines, then refused again.
    later = [log.post("spammer", "still here", now_s=101.0, now_ns=T0_NS) for _ in range(6)]
    assert [isinstance(result, p.ChatMessage) for result in later] == [True] * 5 + [False]


def test_one_spammer_does_not_slow_anyone_else_down(log: ChatLog) -> None:
    for _ in range(CHAT_BURST + 5):
        log.post("spammer", "spam", now_s=0.0, now_ns=T0_NS)

    assert accepted(log.post("alice", "can anyone hear me?", now_s=0.0, now_ns=T0_NS))


def test_names_that_differ_only_in_case_share_one_allowance(log: ChatLog) -> None:
    for i in range(CHAT_BURST):
        accepted(log.post("Spammer" if i % 2 else "spammer", "spam", now_s=0.0, now_ns=T0_NS))

    refused(log.post("SPAMMER", "spam", now_s=0.0, now_ns=T0_NS))


def test_invalid_lines_also_count_against_the_rate_limit(log: ChatLog) -> None:
    for _ in range(CHAT_BURST):
        assert (
            refused(log.post("alice", "", now_s=0.0, now_ns=T0_NS)).code is p.ErrorCode.CHAT_EMPTY
        )

    error = refused(log.post("alice", "a real message", now_s=0.0, now_ns=T0_NS))
    assert error.code is p.ErrorCode.CHAT_RATE_LIMITED


def test_refused_lines_do_not_use_up_ids(log: ChatLog) -> None:
    accepted(log.post("alice", "one", now_s=0.0, now_ns=T0_NS))
    refused(log.post("alice", "", now_s=0.0, now_ns=T0_NS))
    refused(log.post("alice", "z" * 501, now_s=0.0, now_ns=T0_NS))

    assert accepted(log.post("alice", "two", now_s=0.0, now_ns=T0_NS)).id == 2


def test_history_keeps_the_last_100_messages_in_order(log: ChatLog) -> None:
    for i in range(250):
        # Distinct senders, so the rate limit stays out of the way.
        accepted(log.post(f"viewer-{i}", f"line {i}", now_s=0.0, now_ns=T0_NS + i))

    history = log.history()
    assert len(history) == CHAT_HISTORY_LENGTH == 100
    assert [message.text for message in history] == [f"line {i}" for i in range(150, 250)]
    assert [message.id for message in history] == list(range(151, 251))


def test_history_is_a_copy_the_caller_may_keep(log: ChatLog) -> None:
    accepted(log.post("alice", "first", now_s=0.0, now_ns=T0_NS))
    snapshot = log.history()
    accepted(log.post("alice", "second", now_s=0.0, now_ns=T0_NS))

    assert [message.text for message in snapshot] == ["first"]


def test_a_peer_that_leaves_and_rejoins_gets_a_fresh_allowance(log: ChatLog) -> None:
    for _ in range(CHAT_BURST):
        accepted(log.post("alice", "hi", now_s=0.0, now_ns=T0_NS))
    refused(log.post("alice", "hi", now_s=0.0, now_ns=T0_NS))

    log.forget("ALICE")
    log.forget("nobody-by-that-name")

    assert accepted(log.post("alice", "back again", now_s=0.0, now_ns=T0_NS))


def test_after_a_tracker_restart_ids_continue_from_the_stored_history(log: ChatLog) -> None:
    stored = [
        p.ChatMessage(id=i, sender="alice", time_ns=T0_NS + i, text=f"old {i}")
        for i in range(1, 131)
    ]

    log.restore(stored)
    fresh = accepted(log.post("bob", "after the restart", now_s=0.0, now_ns=T0_NS + 1000))

    assert fresh.id == 131
    history = log.history()
    assert len(history) == 100
    assert [message.id for message in history] == list(range(32, 132))


def test_restoring_an_empty_store_starts_at_id_1(log: ChatLog) -> None:
    log.restore([])

    assert accepted(log.post("alice", "first ever", now_s=0.0, now_ns=T0_NS)).id == 1


def test_a_bucket_refills_at_its_rate_and_never_above_its_burst() -> None:
    bucket = TokenBucket.full(rate_per_s=2.0, burst=3, now_s=0.0)
    assert [bucket.allow(0.0) for _ in range(4)] == [True, True, True, False]

    assert bucket.allow(0.5)  # half a second at 2/s: one token
    assert not bucket.allow(0.5)

    # An hour idle still allows only a burst of three.
    assert [bucket.allow(3600.0) for _ in range(4)] == [True, True, True, False]


def test_a_clock_that_steps_back_gives_no_extra_tokens() -> None:
    bucket = TokenBucket.full(rate_per_s=1.0, burst=1, now_s=10.0)
    assert bucket.allow(10.0)

    assert not bucket.allow(5.0)
    # Back at 10.5 only half a second has passed since the token was taken.
    assert not bucket.allow(10.5)
    assert bucket.allow(11.0)


texts = st.one_of(
    st.sampled_from(["hi", "gg", "x" * MAX_CHAT_CHARS]),
    st.text(max_size=40),
    st.sampled_from(["", " \n ", "x" * (MAX_CHAT_CHARS + 1)]),
)
# (sender, text, seconds since the previous volley, lines sent at that one instant):
# instant volleys, steady typing, and long pauses that must not bank extra tokens.
volleys = st.lists(
    st.tuples(
        st.sampled_from(["alice", "Alice", "bob", "carol", "dave", "erin", "frank"]),
        texts,
        st.one_of(st.just(0.0), st.floats(min_value=0.0, max_value=0.5), st.just(30.0)),
        st.integers(min_value=1, max_value=2 * CHAT_BURST),
    ),
    max_size=60,
)


@given(volleys)
def test_any_sequence_of_posts_keeps_one_order_bounded_history_and_the_rate_limit(
    events: list[tuple[str, str, float, int]],
) -> None:
    log = ChatLog()
    now_s = 1000.0
    accepted_at_s: dict[str, list[float]] = {}
    all_accepted: list[p.ChatMessage] = []

    for step, (sender, text, step_s, repeat) in enumerate(events):
        now_s += step_s
        for _ in range(repeat):
            result = log.post(sender, text, now_s=now_s, now_ns=T0_NS + step)
            if isinstance(result, p.Error):
                assert result.code in set(p.ErrorCode) - {p.ErrorCode.CHAT_BUSY}
                continue
            assert 1 <= len(result.text) <= MAX_CHAT_CHARS
            all_accepted.append(result)
            times = accepted_at_s.setdefault(sender.casefold(), [])
            times.append(now_s)
            # In every window ending now: at most a burst plus what the rate refilled.
            for count, since_s in enumerate(reversed(times), start=1):
                assert count <= CHAT_BURST + CHAT_RATE_PER_S * (now_s - since_s) + 1e-6

    ids = [message.id for message in all_accepted]
    assert ids == list(range(1, len(all_accepted) + 1))
    history = log.history()
    assert len(history) <= CHAT_HISTORY_LENGTH
    assert history == all_accepted[-CHAT_HISTORY_LENGTH:]
