"""The `streamnest-peer` program as a user runs it, next to a real `streamnest-tracker`.

Every program here is a subprocess started the way a user would start it; the tests read
what the user reads (stdout, stderr, exit codes), polling with a deadline, never sleeping.
"""

from __future__ import annotations

import itertools
import json
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from peer.cli import STATS_INTERVAL_S
from protocol.limits import MAX_CHAT_CHARS
from tests.peer.conftest import write_video
from tests.polling import POLL_INTERVAL_S, eventually

# Generous on purpose: a loaded 2-core machine can take a while to import OpenCV.
STARTUP_S = 15.0
EXIT_S = 5.0
COMMAND_S = 30.0
PATTERN = "testsrc:320x240@15"  # small, so CPU stays low
WATCH_S = 4  # a viewer's --duration
# A stats line is due every STATS_INTERVAL_S (on an absolute schedule): one may come this
# much early or late on a busy machine, and the mean gap stays within this share.
LINE_GAP_SLACK_S = 0.75
MEAN_GAP_SLACK = 0.2
UNREACHABLE_TRACKER = "127.0.0.1:1"  # nothing listens on port 1
STATS_KEYS = {
    "t", "name", "role", "fps", "recv_fps", "bandwidth_kbps", "upload_kbps", "latency_ms",
    "rtt_ms", "loss_pct", "frames_received", "frames_lost", "depth", "parent", "children",
    "resolution",
}  # fmt: skip


def chat_line(sender: str, text: str) -> str:
    """The regex of a chat line as a peer prints it: `[HH:MM:SS] sender: text`."""
    return rf"^\[\d\d:\d\d:\d\d\] {re.escape(sender)}: {re.escape(text)}$"


async def collect_lines(
    stream: trio.abc.ReceiveStream | None, lines: list[str], closed: trio.Event
) -> None:
    """Append each line read from `stream` to `lines` as it arrives; set `closed` at EOF."""
    assert stream is not None
    buffer = b""
    try:
        async with stream:
            while chunk := await stream.receive_some():
                buffer += chunk
                *complete, buffer = buffer.split(b"\n")
                lines.extend(line.decode("utf-8", "replace") for line in complete)
        if buffer:
            lines.append(buffer.decode("utf-8", "replace"))
    finally:
        closed.set()


@attrs.define
class Program:
    """A `streamnest-*` program running as a subprocess, its output collected line by line."""

    process: trio.Process
    stdout: list[str] = attrs.Factory(list)
    stderr: list[str] = attrs.Factory(list)
    stdout_closed: trio.Event = attrs.Factory(trio.Event)
    stderr_closed: trio.Event = attrs.Factory(trio.Event)

    async def type(self, line: str) -> None:
        """Type one line on the program's stdin."""
        assert self.process.stdin is not None, "started without stdin=True"
        await self.process.stdin.send_all(line.encode() + b"\n")

    async def exit_code(self, *, within_s: float = EXIT_S) -> int:
        """Wait until the program has exited and all its output is read; its exit code."""
        try:
            with trio.fail_after(within_s):
                code = await self.process.wait()
                await self.stdout_closed.wait()
                await self.stderr_closed.wait()
        except trio.TooSlowError:
            raise AssertionError(f"still running after {within_s} s\n{self.output()}") from None
        return code

    async def wait_for(
        self, pattern: str, *, on: str = "stderr", since: int = 0, within_s: float = STARTUP_S
    ) -> re.Match[str]:
        """Wait for a line matching `pattern` on stdout or stderr (from line `since` on)."""
        lines = self.stdout if on == "stdout" else self.stderr
        regex = re.compile(pattern)
        found: list[re.Match[str]] = []

        def seen() -> bool:
            found.extend(m for m in map(regex.search, lines[since:]) if m is not None)
            return bool(found)

        try:
            await eventually(seen, within_s=within_s, what=f"{pattern!r} on {on}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.output()}") from None
        return found[0]

    async def wait_for_stats(
        self, condition: Callable[[dict[str, Any]], bool], *, since: int = 0
    ) -> dict[str, Any]:
        """Wait for a --stats-json line (from line `since` on) for which `condition` holds."""
        found: list[dict[str, Any]] = []

        def seen() -> bool:
            found.extend(s for s in map(json.loads, self.stdout[since:]) if condition(s))
            return bool(found)

        try:
            await eventually(seen, within_s=STARTUP_S, what="the expected statistics")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.output()}") from None
        return found[0]

    def output(self) -> str:
        """Everything the program printed so far, for failure messages."""
        return "stdout:\n" + "\n".join(self.stdout) + "\nstderr:\n" + "\n".join(self.stderr)


Launch = Callable[..., Awaitable[Program]]


@pytest.fixture
async def launch(nursery: trio.Nursery) -> AsyncIterator[Launch]:
    """A factory: await launch("peer", "view", ..., stdin=False) -> Program; all killed after."""
    programs: list[Program] = []

    async def start(*args: str, stdin: bool = False) -> Program:
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", *args],
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        program = Program(process)
        programs.append(program)
        nursery.start_soon(collect_lines, process.stdout, program.stdout, program.stdout_closed)
        nursery.start_soon(collect_lines, process.stderr, program.stderr, program.stderr_closed)
        return program

    yield start
    for program in reversed(programs):  # peers first, the tracker last
        if program.process.returncode is None:
            program.process.kill()
    with trio.move_on_after(EXIT_S):
        for program in programs:
            await program.process.wait()
            if program.process.stdin is not None:
                await program.process.stdin.aclose()


@attrs.frozen
class Finished:
    """A one-shot command that has run to its end."""

    returncode: int
    stdout: str
    stderr: str


async def run_peer(*args: str, within_s: float = COMMAND_S) -> Finished:
    """Run `streamnest-peer ARGS` to its end (killed after `within_s`)."""
    with trio.fail_after(within_s):
        result = await trio.run_process(
            [sys.executable, "-m", "peer", *args],
            stdin=b"",
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    return Finished(result.returncode, result.stdout.decode(), result.stderr.decode())


@attrs.define
class Swarm:
    """Peers started against one real tracker, the way a user starts them."""

    launch: Launch
    tracker: str  # HOST:PORT

    async def start(self, command: str, *args: str, stdin: bool = False) -> Program:
        """Start `streamnest-peer COMMAND ARGS --tracker HOST:PORT` (a source or viewer
        with --no-port-mapping: this machine's own router is none of the tests' business)."""
        local = ("--no-port-mapping",) if command in ("source", "view") else ()
        return await self.launch(
            "peer", command, *local, *args, "--tracker", self.tracker, stdin=stdin
        )

    async def join(self, command: str, *args: str, name: str, stdin: bool = False) -> Program:
        """Start a source or viewer called `name`; return once the tracker registered it."""
        program = await self.start(command, *args, "--name", name, stdin=stdin)
        role = "source" if command == "source" else "viewer"
        await program.wait_for(rf"^{name}: {role} registered")
        return program

    async def run(self, command: str, *args: str, within_s: float = COMMAND_S) -> Finished:
        """Run a one-shot `streamnest-peer COMMAND ARGS --tracker HOST:PORT` to its end."""
        local = ("--no-port-mapping",) if command in ("source", "view") else ()
        return await run_peer(command, *local, *args, "--tracker", self.tracker, within_s=within_s)

    async def status(self) -> dict[str, Any]:
        """`streamnest-peer status --json`, parsed."""
        result = await self.run("status", "--json")
        assert result.returncode == 0, result.stderr
        status: dict[str, Any] = json.loads(result.stdout)
        return status

    async def status_until(
        self, condition: Callable[[dict[str, Any]], bool], *, within_s: float, what: str
    ) -> dict[str, Any]:
        """Ask for the status until `condition` holds on it; fail after `within_s`."""
        status: dict[str, Any] = {}
        with trio.move_on_after(within_s):
            while True:
                status = await self.status()
                if condition(status):
                    return status
                await trio.sleep(POLL_INTERVAL_S)
        raise AssertionError(f"{what} did not happen within {within_s} s; last status {status}")


@pytest.fixture
async def swarm(launch: Launch) -> Swarm:
    """A real `streamnest-tracker` on a free port, ready for peers."""
    tracker = await launch("tracker", "--port", "0")
    listening = await tracker.wait_for(r"^tracker listening on (\S+:\d+)$", on="stdout")
    return Swarm(launch, listening.group(1))


def names(status: dict[str, Any]) -> set[str]:
    """The names of the peers in a `status --json` answer."""
    return {peer["name"] for peer in status["peers"]}


# -- watching ------------------------------------------------------------------------------


async def test_a_viewer_prints_one_json_stats_line_a_second_and_leaves_after_its_duration(
    swarm: Swarm,
) -> None:
    await swarm.join("source", PATTERN, "--stats-json", name="cam")
    started = trio.current_time()
    viewer = await swarm.start(
        "view", "--name", "v1", "--stats-json", "--resolution", "360p",
        "--duration", str(WATCH_S),
    )  # fmt: skip

    assert await viewer.exit_code(within_s=WATCH_S + STARTUP_S) == 0, viewer.output()
    assert trio.current_time() - started >= WATCH_S, "it stays for its whole --duration"
    assert viewer.stdout, "it printed statistics"
    samples = [json.loads(line) for line in viewer.stdout]  # nothing but JSON lines
    assert all(isinstance(sample, dict) for sample in samples)
    for sample in samples:
        assert sample.keys() >= STATS_KEYS
    lines_due = WATCH_S / STATS_INTERVAL_S
    assert lines_due - 1 <= len(samples) <= lines_due + 1, "one line a second"
    for earlier, later in itertools.pairwise(samples):
        gap_s = later["t"] - earlier["t"]
        assert abs(gap_s - STATS_INTERVAL_S) <= LINE_GAP_SLACK_S, "no burst, no long silence"
        assert later["frames_received"] >= earlier["frames_received"]
    mean_gap_s = (samples[-1]["t"] - samples[0]["t"]) / (len(samples) - 1)
    assert abs(mean_gap_s - STATS_INTERVAL_S) <= MEAN_GAP_SLACK * STATS_INTERVAL_S
    for sample in samples[-2:]:
        assert sample["name"] == "v1"
        assert sample["role"] == "viewer"
        assert sample["parent"] == "cam"
        assert sample["depth"] == 1
        assert sample["recv_fps"] > 0
        assert sample["fps"] > 0
        assert sample["frames_received"] > 0
        assert sample["children"] == 0
        # Never upscaled: a 360p request of a 320x240 stream shows it at 240 lines.
        assert sample["resolution"] == "240p"
    assert not any("Traceback" in line for line in viewer.stderr)


async def test_a_viewer_chats_changes_resolution_and_quits_from_its_keyboard(
    swarm: Swarm,
) -> None:
    source = await swarm.join("source", "testsrc:1280x720@10", name="cam")
    viewer = await swarm.join("view", "--stats-json", name="v1", stdin=True)
    watching = await viewer.wait_for_stats(lambda s: s["frames_received"] > 0 and s["fps"] > 0)
    assert watching["resolution"] == "720p", "by default it shows the stream as it comes"

    await viewer.type("hello from v1")
    await viewer.wait_for(chat_line("v1", "hello from v1"))
    await source.wait_for(chat_line("v1", "hello from v1"))  # everyone sees it

    mark = len(viewer.stdout)
    await viewer.type("/res 360p")
    await viewer.wait_for(r"^resolution: 360p$")
    smaller = await viewer.wait_for_stats(lambda s: s["resolution"] == "360p", since=mark)
    assert smaller["frames_received"] > watching["frames_received"], "it kept watching"

    await viewer.type("/quit")
    assert await viewer.exit_code() == 0
    assert all(isinstance(json.loads(line), dict) for line in viewer.stdout), "JSON only"
    assert not any("Traceback" in line for line in viewer.stderr)


async def test_a_one_shot_chat_reaches_viewers_and_status_shows_the_tree(swarm: Swarm) -> None:
    await swarm.join("source", PATTERN, name="cam")
    viewer = await swarm.join("view", name="v1")
    await viewer.wait_for(r"^v1 \(depth 1 via cam\): ")  # its human summary: placed under cam

    chat = await swarm.run("chat", "--name", "bob", "hi all")
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout == ""
    await viewer.wait_for(chat_line("bob", "hi all"))

    status = await swarm.run("status")
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert lines[0].startswith("stream: cam "), status.stdout
    # Each peer as the tracker sees it, dialled back before it got children.
    assert any(
        re.match(r"cam at 127\.0\.0\.1:\d+ \((reachable|not checked)\) \[source", line)
        for line in lines
    ), status.stdout
    assert any(line.startswith("  v1 at 127.0.0.1:") for line in lines), "v1 indented under cam"

    as_json = await swarm.status()
    assert isinstance(as_json["peers"], list)
    peers = {peer["name"]: peer for peer in as_json["peers"]}
    assert peers["cam"]["role"] == "source"
    assert peers["v1"]["parent"] == "cam"
    assert peers["cam"]["children"] == ["v1"]
    assert peers["cam"]["reachable"] is True  # it was dialled back before v1 was placed


# -- mistakes a user can make ----------------------------------------------------------------


def assert_one_line_error(result: Finished, expected: str) -> None:
    """Non-zero exit, no traceback, nothing on stdout, and one clear line on stderr."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines, "it says what went wrong"
    assert expected in lines[-1], result.stderr
    if lines[0].startswith("usage: "):  # argparse: the usage block, then the one error line
        assert ": error: " in lines[-1]
        assert not any("error" in line for line in lines[:-1]), result.stderr
    else:
        assert len(lines) == 1, result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(
            ["source", "/nonexistent.mp4"], "no such video file: /nonexistent.mp4", id="no-file"
        ),
        pytest.param(
            ["view", "--resolution", "999p", "--duration", "1"],
            "unknown resolution '999p'",
            id="bad-resolution",
        ),
        pytest.param(
            ["source", "testsrc", "--codec", "vp9"],
            "argument --codec: invalid choice: 'vp9'",
            id="bad-codec",
        ),
        pytest.param(
            ["source", "testsrc", "--bitrate", "1500"],
            "--bitrate needs --codec h264",
            id="h264-option-without-h264",
        ),
        pytest.param(
            ["source", "testsrc", "--codec", "h264", "--crf", "60"],
            "argument --crf: 60 is not a CRF from 0 to 51",
            id="bad-crf",
        ),
        pytest.param(
            ["chat", "--name", "bob", ""],
            f"a chat message has 1 to {MAX_CHAT_CHARS} characters",
            id="empty-chat",
        ),
        pytest.param(
            ["chat", "--name", "bob", "x" * (MAX_CHAT_CHARS + 1)],
            f"a chat message has 1 to {MAX_CHAT_CHARS} characters",
            id="long-chat",
        ),
    ],
)
async def test_a_user_mistake_is_one_line_without_a_traceback(
    swarm: Swarm, args: list[str], expected: str
) -> None:
    assert_one_line_error(await swarm.run(*args, within_s=STARTUP_S), expected)


async def test_an_unreachable_tracker_is_reported_plainly() -> None:
    result = await run_peer(
        "view", "--no-port-mapping", "--tracker", UNREACHABLE_TRACKER, "--duration", "1"
    )
    assert_one_line_error(result, f"cannot reach the tracker at {UNREACHABLE_TRACKER}")


async def test_a_name_already_taken_is_refused(swarm: Swarm) -> None:
    first = await swarm.join("view", name="dup")
    result = await swarm.run("view", "--name", "dup", "--duration", "2")
    assert_one_line_error(result, "name 'dup' is already taken")
    assert first.process.returncode is None, "the first dup keeps watching"


async def test_a_second_source_is_refused_while_one_is_live(swarm: Swarm) -> None:
    await swarm.join("source", PATTERN, name="cam")
    result = await swarm.run("source", PATTERN, "--name", "cam2", within_s=STARTUP_S)
    assert_one_line_error(result, "stream already live (source: cam)")


# -- leaving -------------------------------------------------------------------------------


async def test_a_file_source_ends_the_stream_by_itself_and_frees_the_lock(
    swarm: Swarm, tmp_path: Path
) -> None:
    video = write_video(tmp_path / "clip.avi", width=320, height=240, fps=15, frames=30)
    viewer = await swarm.join("view", "--stats-json", name="v1")
    started = trio.current_time()
    source = await swarm.start("source", str(video), "--fps", "15", "--name", "cam")

    assert await source.exit_code(within_s=STARTUP_S) == 0, source.output()
    assert trio.current_time() - started >= 1.5, "30 frames at 15 fps take 2 s"
    assert "cam: end of the video: the stream is over" in source.stderr
    await viewer.wait_for_stats(lambda s: s["frames_received"] > 0)  # it did watch
    await viewer.wait_for(r"^v1: the stream is over: end of the video$")  # told down the tree
    await viewer.wait_for(r"^v1: cam stopped streaming")  # and by the tracker

    await swarm.join("source", PATTERN, name="cam2")  # the lock is free again
    await viewer.wait_for(r"^v1: stream started by cam2$")
    await viewer.wait_for_stats(lambda s: s["parent"] == "cam2" and s["recv_fps"] > 0)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
async def test_an_interrupted_viewer_leaves_at_once_and_cleanly(
    swarm: Swarm, signum: signal.Signals
) -> None:
    await swarm.join("source", PATTERN, name="cam")
    viewer = await swarm.join("view", name="v1")
    await swarm.status_until(
        lambda status: "v1" in names(status), within_s=STARTUP_S, what="v1 listed"
    )

    viewer.process.send_signal(signum)
    assert await viewer.exit_code(within_s=5.0) == 0, viewer.output()
    assert not any("Traceback" in line for line in viewer.stderr)
    await swarm.status_until(
        lambda status: "v1" not in names(status) and "cam" in names(status),
        within_s=10.0,
        what="v1 gone from the status",
    )
