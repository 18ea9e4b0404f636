"""The commands the network lab runs to build its hosts, and its one error type."""

from __future__ import annotations

import subprocess

COMMAND_TIMEOUT_S = 10.0


class LabUnavailable(Exception):
    """Network namespaces cannot be created here (not root, no iproute2, no permission)."""


def run(command: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a lab command; a failure raises with its own message (unless not `check`)."""
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {result.stderr.strip()}")
    return result


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `ip args...`; a failure raises with ip's own message."""
    return run(["ip", *args], check=check)
