"""The rule for peer names, shared by the tracker (which enforces it) and the CLI."""

from __future__ import annotations

from protocol.limits import MAX_NAME_CHARS, MIN_NAME_CHARS


def name_problem(name: str) -> str | None:
    """Why `name` is not a valid peer name, or None if it is."""
    if not MIN_NAME_CHARS <= len(name) <= MAX_NAME_CHARS:
        return f"a name has {MIN_NAME_CHARS}-{MAX_NAME_CHARS} characters, not {len(name)}"
    if not name.isprintable():
        return "a name has printable characters only"
    if name != name.strip():
        return "a name does not start or end with a space"
    return None


def name_key(name: str) -> str:
    """The form names are compared in: case-insensitive."""
    return name.casefold()
