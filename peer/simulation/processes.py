"""The processes a simulation (or a soak run) starts: stdout read as lines, stdin written
as JSON commands.

Each child's stdout is pumped into a channel of LINE_QUEUE lines; a line longer than
MAX_LINE_BYTES is dropped rather than held. stderr goes nowhere: a child reports on
stdout or not at all.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import attrs
import trio

LINE_QUEUE = 4096
MAX_LINE_BYTES = 64 * 1024 * 1024
COMMAND_TIMEOUT_S = 10.0


@attrs.define(eq=False)
class Child:
    """A process we started, with its stdout as a channel of lines."""

    process: trio.Process
    lines: trio.MemoryReceiveChannel[str]
    name: str


async def spawn(nursery: trio.Nursery, name: str, argv: Sequence[str]) -> Child:
    """Start `python argv...`; its stdout lines arrive on a channel."""
    process = await trio.lowlevel.open_process(
        [sys.executable, *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    send, receive = trio.open_memory_channel[str](LINE_QUEUE)

    async def pump() -> None:
        assert process.stdout is not None
        buffer = b""
        async with send:
            while True:
                try:
                    chunk = await process.stdout.receive_some(1 << 20)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return
                if not chunk:
                    return
                buffer += chunk
                if len(buffer) > MAX_LINE_BYTES:
                    buffer = b""
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    await send.send(line.decode("utf-8", "replace"))

    nursery.start_soon(pump)
    return Child(process=process, lines=receive, name=name)


async def command(child: Child, message: dict[str, Any]) -> None:
    """Send one JSON command line to a worker."""
    assert child.process.stdin is not None
    with trio.fail_after(COMMAND_TIMEOUT_S):
        await child.process.stdin.send_all((json.dumps(message) + "\n").encode())
