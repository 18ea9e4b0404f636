"""Control-message bodies: one compact UTF-8 JSON object per message.

Plan: decode the payload as strict UTF-8, parse it with the stdlib json module (NaN and
Infinity refused), then build the message class field by field from its type hints:
int, float, str, bool, reason codes (protocol/reasons.py), optional values, lists
and nested attrs classes. Keys we do not
know are ignored (a newer peer may add fields); a missing required key, a value of the
wrong type, or one a field validator refuses raises ProtocolError. The payload length
was checked against the type's limit before we get here, so parsing is bounded.
"""

from __future__ import annotations

import enum
import functools
import json
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

from protocol.errors import ProtocolError, Reason

T = TypeVar("T")
_INT64_MAX = 2**63 - 1


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed")


# Made once: json.dumps/loads with options build a new encoder or decoder on every call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def encode_body(message: Any) -> bytes:
    """Serialize an attrs message to its compact JSON body."""
    return _ENCODER.encode(_jsonable(message)).encode("utf-8")


def _jsonable(value: Any) -> Any:
    """attrs instances as dicts, lists element by element; other values as they are."""
    names = _field_names(typing.cast(Any, type(value)))
    if names is not None:
        return {name: _jsonable(getattr(value, name)) for name in names}
    if type(value) is list:
        return [_jsonable(item) for item in value]
    return value


@functools.cache
def _field_names(cls: type) -> tuple[str, ...] | None:
    return tuple(field.name for field in attrs.fields(cls)) if attrs.has(cls) else None


def decode_body(cls: type[T], payload: bytes | memoryview) -> T:
    """Parse a JSON body into an instance of `cls`, or raise ProtocolError."""
    try:
        text = str(payload, "utf-8")
        data = _DECODER.decode(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError(
            Reason.MALFORMED, f"{cls.__name__} body is not valid JSON: {exc}"
        ) from None
    try:
        built: T = _builder(typing.cast(Any, cls))(data)
    except _Refused as refused:
        raise ProtocolError(
            refused.reason, f"{cls.__name__}{refused.path}: {refused.detail}"
        ) from None
    return built


class _Refused(Exception):
    """A value that does not fit; `path` grows as the error travels up."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.path = ""


def _wrong(expected: str, value: Any) -> _Refused:
    return _Refused(Reason.MALFORMED, f"expected {expected}, got {type(value).__name__}")


Builder = Callable[[Any], Any]


def _build_int(value: Any) -> int:
    if type(value) is not int:
        raise _wrong("an integer", value)
    if abs(value) > _INT64_MAX:
        raise _Refused(Reason.OUT_OF_RANGE, "integer out of 64-bit range")
    return value


def _build_float(value: Any) -> float:
    if type(value) is float:
        return value
    if type(value) is not int:
        raise _wrong("a number", value)
    try:
        return float(value)
    except OverflowError:
        raise _Refused(Reason.OUT_OF_RANGE, "number too large") from None


def _build_str(value: Any) -> str:
    if type(value) is not str:
        raise _wrong("a string", value)
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _Refused(Reason.MALFORMED, "lone surrogate in a string") from None
    return value


def _build_bool(value: Any) -> bool:
    if type(value) is not bool:
        raise _wrong("true or false", value)
    return value


_SCALARS: dict[Any, Builder] = {
    int: _build_int,
    float: _build_float,
    str: _build_str,
    bool: _build_bool,
}


@functools.cache
def _builder(tp: Any) -> Builder:
    """A function checking and converting JSON data to `tp`, made once per type."""
    if tp in _SCALARS:
        return _SCALARS[tp]
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        (inner_type,) = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        inner = _builder(inner_type)
        return lambda value: None if value is None else inner(value)
    if origin is list:
        (item_type,) = typing.get_args(tp)
        return _list_builder(_builder(item_type))
    if attrs.has(tp):
        return _attrs_builder(tp)
    if isinstance(tp, type) and issubclass(tp, enum.StrEnum):
        return _code_builder(tp)
    raise TypeError(f"no JSON mapping for {tp!r}")  # a bug in a message definition


def _code_builder(kind: type[enum.StrEnum]) -> Builder:
    def build(value: Any) -> enum.StrEnum:
        if type(value) is not str:
            raise _wrong("a string", value)
        try:
            return kind(value)
        except ValueError:
            raise _Refused(Reason.OUT_OF_RANGE, f"unknown {kind.__name__} {value[:64]!r}") from None

    return build


def _list_builder(item: Builder) -> Builder:
    def build(value: Any) -> list[Any]:
        if type(value) is not list:
            raise _wrong("a list", value)
        out = []
        for index, element in enumerate(value):
            try:
                out.append(item(element))
            except _Refused as refused:
                refused.path = f"[{index}]{refused.path}"
                raise
        return out

    return build


def _attrs_builder(cls: Any) -> Builder:
    hints = typing.get_type_hints(cls)
    plan = [
        (field.name, _builder(hints[field.name]), field.default is attrs.NOTHING)
        for field in attrs.fields(cls)
    ]

    def build(value: Any) -> Any:
        if type(value) is not dict:
            raise _wrong("an object", value)
        kwargs: dict[str, Any] = {}
        for name, field_builder, required in plan:
            if name in value:
                try:
                    kwargs[name] = field_builder(value[name])
                except _Refused as refused:
                    refused.path = f".{name}{refused.path}"
                    raise
            elif required:
                raise _Refused(Reason.MALFORMED, f"missing field {name!r}")
        try:
            return cls(**kwargs)
        except (ValueError, TypeError) as exc:
            raise _Refused(Reason.OUT_OF_RANGE, str(exc)) from None

    return build
