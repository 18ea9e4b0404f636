"""Addresses as users type them (HOST:PORT, [v6]:PORT or PORT), checked."""

from __future__ import annotations


def parse_address(text: str, *, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """HOST:PORT or PORT, checked; raises ValueError with a readable message."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = default_host, text
    host = host.strip("[]") or default_host
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"'{text}' is not HOST:PORT with a port from 0 to 65535")
    return host, int(port_text)
