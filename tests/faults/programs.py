"""Real tracker and peer processes for fault tests, with their output read as it comes.

Each `Program` is one `python -m tracker` or `python -m peer` process (optionally inside
a network namespace, through `ip netns exec`), in its own process group. Its stdout
(JSON statistics lines, or the tracker's `listening` line) and stderr (notices) are
read by pump tasks and stamped with the trio clock on arrival, so a test can say when
something happened without sleeping. `Programs` starts them and, on the way out,
kills every process group it started and reaps it, whatever happened in the test.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import trio

from protocol.addresses import format_address, parse_address
from tests.polling import eventually

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 20.0
MAX_NOTICES = 2000
LINE_LIMIT_BYTES = 1 << 20
REAP_TIMEOUT_S = 10.0

Stats = dict[str, Any]


@attrs.define(eq=False)
class Program:
    """One process we started, and what it has said so far (each line with its arrival time)."""

    name: str
    process: trio.Process
    stats: list[Stats] = attrs.field(factory=list)  # JSON stdout lines, "_at" = arrival
    lines: list[tuple[float, str]] = attrs.field(factory=list)  # other stdout lines
    notices: collections.deque[tuple[float, str]] = attrs.field(
        factory=lambda: collections.deque(maxlen=MAX_NOTICES)
    )

    @property
    def pid(self) -> int:
        """The process id (also the id of its process group)."""
        return self.process.pid

    def running(self) -> bool:
        """Whether the process has not exited yet."""
        return self.process.poll() is None

    def latest(self) -> Stats | None:
        """The newest statistics line, if any."""
        return self.stats[-1] if self.stats else None

    def stats_between(self, start_s: float, end_s: float) -> list[Stats]:
        """Statistics lines that arrived within [start_s, end_s] (trio clock)."""
        return [s for s in self.stats if start_s <= s["_at"] <= end_s]

    def frames(self) -> int:
        """Frames received so far, as of the newest statistics line."""
        latest = self.latest()
        return int(latest["frames_received"]) if latest else 0

    def said(self, text: str, since_s: float = -1.0) -> float | None:
        """When a notice containing `text` first arrived on stderr after `since_s`."""
        for at, line in self.notices:
            if at >= since_s and text in line:
                return at
        return None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to the whole process group (kill -9 by default)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)

    async def next_line(self, within_s: float = STARTUP_TIMEOUT_S) -> str:
        """Wait for the first plain (non-JSON) stdout line and return it."""
        await eventually(
            lambda: bool(self.lines) or not self.running(),
            within_s=within_s,
            what=f"{self.name} printing a line",
        )
        if not self.lines:
            raise AssertionError(f"{self.name} exited: {self.tail()}")
        return self.lines[0][1]

    def tail(self, count: int = 15) -> str:
        """The last notices, for failure messages."""
        return "\n".join(line for _, line in list(self.notices)[-count:])


@attrs.define(eq=False)
class Programs:
    """Starts processes in the test's nursery and kills and reaps all of them at the end."""

    nursery: trio.Nursery
    started: list[Program] = attrs.field(factory=list)

    async def start(self, name: str, *argv: str, netns: str | None = None) -> Program:
        """Start `python argv...` (inside network namespace `netns` if given)."""
        command = [sys.executable, *argv]
        if netns is not None:
            command = ["ip", "netns", "exec", netns, *command]
        process = await trio.lowlevel.open_process(
            command,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: kill() reaches everything
        )
        program = Program(name=name, process=process)
        self.started.append(program)
        assert process.stdout is not None and process.stderr is not None
        self.nursery.start_soon(
            _pump, process.stdout, lambda at, line: _on_stdout(program, at, line)
        )
        self.nursery.start_soon(
            _pump, process.stderr, lambda at, line: program.notices.append((at, line))
        )
        return program

    async def tracker(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        db: Path | None = None,
        netns: str | None = None,
        name: str = "tracker",
        options: Sequence[str] = (),
    ) -> tuple[Program, tuple[str, int]]:
        """A tracker process (with `options` on its command line); returns it once it
        listens, with its address."""
        argv = ["-m", "tracker", "--host", host, "--port", str(port), *options]
        if db is not None:
            argv += ["--db", str(db)]
        program = await self.start(name, *argv, netns=netns)
        line = await program.next_line()
        assert line.startswith("tracker listening on "), line
        return program, parse_address(line.rsplit(" ", 1)[-1])

    async def source(
        self,
        tracker: tuple[str, int],
        name: str,
        *,
        spec: str = "testsrc:320x240@30",
        fanout: int = 2,
        listen: str | None = "127.0.0.1",
        netns: str | None = None,
        port_mapping: bool = False,
    ) -> Program:
        """A streaming source with --stats-json; returns once it reports statistics.

        `listen` None: the default (every interface). `port_mapping`: let it ask its
        router for a port mapping (only inside a lab's namespace).
        """
        program = await self.start(
            name, "-m", "peer", "source", spec, "--tracker", _address(tracker), "--name", name,
            "--fanout", str(fanout), *_listen(listen), "--stats-json",
            *_mapping(port_mapping, netns), netns=netns,
        )  # fmt: skip
        await self.wait_stats(program)
        return program

    async def viewer(
        self,
        tracker: tuple[str, int],
        name: str,
        *,
        max_children: int = 2,
        listen: str | None = "127.0.0.1",
        decode: bool = False,
        netns: str | None = None,
        port_mapping: bool = False,
    ) -> Program:
        """A relaying viewer with --stats-json; returns once it reports statistics.

        `listen` None: the default (every interface). `port_mapping`: let it ask its
        router for a port mapping (only inside a lab's namespace).
        """
        argv = [
            "-m", "peer", "view", "--tracker", _address(tracker), "--name", name,
            "--max-children", str(max_children), *_listen(listen), "--stats-json",
            *_mapping(port_mapping, netns),
        ]  # fmt: skip
        if not decode:
            argv.append("--no-decode")
        program = await self.start(name, *argv, netns=netns)
        await self.wait_stats(program)
        return program

    async def tree_watcher(
        self, tracker: tuple[str, int], *, netns: str | None = None, interval_s: float = 0.05
    ) -> Program:
        """A tests.faults.watch_tree process: the tracker's tree as JSON lines, in `stats`."""
        program = await self.start(
            "watch-tree", "-m", "tests.faults.watch_tree", "--tracker", _address(tracker),
            "--interval", str(interval_s), netns=netns,
        )  # fmt: skip
        await self.wait_stats(program)
        return program

    async def status(self, tracker: tuple[str, int], *, netns: str | None = None) -> Any:
        """`streamnest-peer status --json` run to its end: the tracker's view, as data."""
        command = [sys.executable, "-m", "peer", "status", "--tracker", _address(tracker), "--json"]
        if netns is not None:
            command = ["ip", "netns", "exec", netns, *command]
        with trio.fail_after(STARTUP_TIMEOUT_S):
            done = await trio.run_process(command, cwd=ROOT, capture_stdout=True, check=True)
        return json.loads(done.stdout)

    async def wait_stats(self, program: Program) -> None:
        """Wait for the first statistics line of `program` (it registered and runs)."""
        await eventually(
            lambda: bool(program.stats) or not program.running(),
            within_s=STARTUP_TIMEOUT_S,
            what=f"{program.name} reporting statistics",
        )
        if not program.stats:
            raise AssertionError(f"{program.name} exited early:\n{program.tail()}")

    async def stop_all(self) -> None:
        """Kill every process group we started and reap each process."""
        for program in self.started:
            program.kill(signal.SIGCONT)  # a stopped process must run to die
            program.kill()
        with trio.move_on_after(REAP_TIMEOUT_S):
            for program in self.started:
                await program.process.wait()


def listen_address(program: Program) -> tuple[str, int]:
    """Where the peer's children connect, from its `children connect to HOST:PORT` notice."""
    for _, line in program.notices:
        marker = "children connect to "
        if marker in line:
            return parse_address(line.split(marker, 1)[1].strip())
    raise AssertionError(f"{program.name} did not say where children connect")


def _address(address: tuple[str, int]) -> str:
    return format_address(*address)


def _listen(host: str | None) -> list[str]:
    return [] if host is None else ["--listen", format_address(host, 0)]


def _mapping(port_mapping: bool, netns: str | None) -> list[str]:
    """The flag that keeps a peer from asking for a port mapping, unless it may: outside
    a lab namespace the gateway it would ask is this machine's own network's."""
    assert not port_mapping or netns is not None, "port mappings only inside the lab"
    return [] if port_mapping else ["--no-port-mapping"]


def _on_stdout(program: Program, at: float, line: str) -> None:
    if line.startswith("{"):
        try:
            stats = json.loads(line)
        except json.JSONDecodeError:
            pass
        else:
            stats["_at"] = at
            program.stats.append(stats)
            return
    program.lines.append((at, line))


async def _pump(stream: trio.abc.ReceiveStream, on_line: Callable[[float, str], None]) -> None:
    """Read `stream` to its end, handing each line to `on_line` with its arrival time."""
    buffer = b""
    async with stream:
        while True:
            try:
                chunk = await stream.receive_some(65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            if not chunk:
                return
            buffer += chunk
            *complete, buffer = buffer.split(b"\n")
            buffer = buffer[-LINE_LIMIT_BYTES:]
            now = trio.current_time()
            for raw in complete:
                on_line(now, raw.decode("utf-8", "replace"))
