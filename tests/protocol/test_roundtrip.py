"""Every message survives encode -> decode, however the bytes are chunked."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

import protocol as p
from tests.protocol.strategies import STRATEGIES, any_message


def decode_all(data: bytes, cuts: list[int]) -> list[p.Message]:
    """Feed `data` split at `cuts`, then EOF; return every message decoded."""
    decoder = p.MessageDecoder()
    out: list[p.Message] = []
    edges = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    for start, end in itertools.pairwise(edges):
        decoder.receive_data(data[start:end])
        out.extend(decoder)
    decoder.receive_data(b"")
    assert decoder.next_message() is p.CLOSED
    return out


def test_every_message_type_has_a_strategy() -> None:
    assert set(STRATEGIES) == set(p.MESSAGE_TYPES)


def test_type_codes_are_unique_and_stable() -> None:
    assert len({cls.TYPE_CODE for cls in p.MESSAGE_TYPES}) == len(p.MESSAGE_TYPES)
    assert p.BY_TYPE_CODE[0x50] is p.VideoFrame
    assert p.BY_TYPE_CODE[0x01] is p.Hello


@given(messages=st.lists(any_message, min_size=1, max_size=8), cuts=st.lists(st.integers(0)))
@settings(max_examples=300)
def test_messages_round_trip_in_any_chunking(messages: list[p.Message], cuts: list[int]) -> None:
    data = b"".join(p.encode(m) for m in messages)
    assert decode_all(data, cuts) == messages


@given(message=any_message)
def test_byte_at_a_time_decoding(message: p.Message) -> None:
    data = p.encode(message)
    decoder = p.MessageDecoder()
    got: list[p.Message] = []
    for i in range(len(data)):
        decoder.receive_data(data[i : i + 1])
        got.extend(decoder)
    assert got == [message]
    assert decoder.buffered_bytes == 0


@given(message=any_message)
def test_encoding_is_deterministic(message: p.Message) -> None:
    assert p.encode(message) == p.encode(message)


def test_bytearray_and_memoryview_input_are_copied_not_aliased() -> None:
    data = bytearray(p.encode(p.Goodbye(reason="bye")))
    decoder = p.MessageDecoder()
    decoder.receive_data(data[:5])
    decoder.receive_data(memoryview(data)[5:])
    data[:] = b"\x00" * len(data)
    assert list(decoder) == [p.Goodbye(reason="bye")]
