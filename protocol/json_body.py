"""Control-message bodies: one compact UTF-8 JSON object per message.

Plan: decode the payload as strict UTF-8, parse it with the stdlib json module (NaN and
Infinity refused), then build the message class field by field from its type hints:
int, float, str, bool, optional values, lists and nested attrs classes. Keys we do not
know are ignored (a newer peer may add fields); a missing required key, a value of the
wrong type, or one a field validator refuses raises ProtocolError. The payload length
was checked against the type's limit before we get here, so parsing is bounded.
"""

from __future__ import annotations

import functools
import json
import types
import typing
from typing import Any, TypeVar

import attrs

from protocol.errors import ProtocolError, Reason

T = TypeVar("T")
_INT64_MAX = 2**63 - 1


def encode_body(message: Any) -> bytes:
    """Serialize an attrs message to its compact JSON body."""
    return json.dumps(
        attrs.asdict(message, recurse=True),
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    ).encode("utf-8")


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed")


def decode_body(cls: type[T], payload: bytes | memoryview) -> T:
    """Parse a JSON body into an instance of `cls`, or raise ProtocolError."""
    try:
        text = str(payload, "utf-8")
        data = json.loads(text, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError(
            Reason.MALFORMED, f"{cls.__name__} body is not valid JSON: {exc}"
        ) from None
    built: T = _build(cls, data, cls.__name__)
    return built


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _fail(path: str, expected: str, value: Any) -> ProtocolError:
    shown = type(value).__name__
    return ProtocolError(Reason.MALFORMED, f"{path}: expected {expected}, got {shown}")


def _build(tp: Any, value: Any, path: str) -> Any:
    if tp is int:
        if type(value) is not int:
            raise _fail(path, "an integer", value)
        if abs(value) > _INT64_MAX:
            raise ProtocolError(Reason.OUT_OF_RANGE, f"{path}: integer out of 64-bit range")
        return value
    if tp is float:
        if type(value) not in (int, float):
            raise _fail(path, "a number", value)
        try:
            return float(value)
        except OverflowError:
            raise ProtocolError(Reason.OUT_OF_RANGE, f"{path}: number too large") from None
    if tp is str:
        if type(value) is not str:
            raise _fail(path, "a string", value)
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ProtocolError(
                    Reason.MALFORMED, f"{path}: lone surrogate in a string"
                ) from None
        return value
    if tp is bool:
        if type(value) is not bool:
            raise _fail(path, "true or false", value)
        return value
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        options = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        if value is None:
            return None
        return _build(options[0], value, path)
    if origin is list:
        if type(value) is not list:
            raise _fail(path, "a list", value)
        (item_type,) = typing.get_args(tp)
        return [_build(item_type, item, f"{path}[{i}]") for i, item in enumerate(value)]
    if attrs.has(tp):
        return _build_attrs(tp, value, path)
    raise TypeError(f"no JSON mapping for {tp!r}")  # a bug in a message definition


def _build_attrs(cls: Any, value: Any, path: str) -> Any:
    if type(value) is not dict:
        raise _fail(path, "an object", value)
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for field in attrs.fields(cls):
        if field.name in value:
            kwargs[field.name] = _build(
                hints[field.name], value[field.name], f"{path}.{field.name}"
            )
        elif field.default is attrs.NOTHING:
            raise ProtocolError(Reason.MALFORMED, f"{path}: missing field {field.name!r}")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        raise ProtocolError(Reason.OUT_OF_RANGE, f"{path}: {exc}") from None
