"""Validators for message fields: every value a message holds is checked on construction.

A message that exists is a valid message, whether we built it or decoded it. Decoding
turns the `ValueError` these raise into a `ProtocolError`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

Validator = Callable[[Any, Any, Any], None]


def int_between(low: int, high: int) -> Validator:
    """An int (not a bool) in [low, high]."""

    def check(_: Any, attribute: Any, value: Any) -> None:
        if type(value) is not int:
            raise ValueError(f"{attribute.name} must be an integer")
        if not low <= value <= high:
            raise ValueError(f"{attribute.name}={value} is outside [{low}, {high}]")

    return check


def non_negative_float(_: Any, attribute: Any, value: Any) -> None:
    """A finite float >= 0."""
    if type(value) not in (int, float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{attribute.name} must be a finite number >= 0")


def text(max_chars: int, *, min_chars: int = 0) -> Validator:
    """A str of min_chars..max_chars characters."""

    def check(_: Any, attribute: Any, value: Any) -> None:
        if type(value) is not str:
            raise ValueError(f"{attribute.name} must be a string")
        if not min_chars <= len(value) <= max_chars:
            raise ValueError(
                f"{attribute.name} has {len(value)} characters, allowed {min_chars}..{max_chars}"
            )

    return check


def hex_text(chars: int) -> Validator:
    """A str of exactly `chars` lowercase hex digits (a key or digest)."""
    digits = frozenset("0123456789abcdef")

    def check(_: Any, attribute: Any, value: Any) -> None:
        if type(value) is not str or len(value) != chars or not digits.issuperset(value):
            raise ValueError(f"{attribute.name} must be {chars} lowercase hex digits")

    return check


def optional(inner: Validator) -> Validator:
    """None, or whatever `inner` accepts."""

    def check(instance: Any, attribute: Any, value: Any) -> None:
        if value is not None:
            inner(instance, attribute, value)

    return check


def one_of(choices: Sequence[str]) -> Validator:
    """One of a fixed set of strings."""

    def check(_: Any, attribute: Any, value: Any) -> None:
        if value not in choices:
            raise ValueError(f"{attribute.name}={value!r} is not one of {', '.join(choices)}")

    return check


def list_of(item_type: type, max_items: int) -> Validator:
    """A list of at most max_items items, each of item_type."""

    def check(_: Any, attribute: Any, value: Any) -> None:
        if type(value) is not list:
            raise ValueError(f"{attribute.name} must be a list")
        if len(value) > max_items:
            raise ValueError(f"{attribute.name} has {len(value)} items, at most {max_items}")
        for item in value:
            if not isinstance(item, item_type):
                raise ValueError(f"{attribute.name} holds a {type(item).__name__}")

    return check
