"""`streamnest-peer gui` as a user starts it: a window opens; Ctrl-C or SIGTERM closes it;
no display means one plain line, not a traceback."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from tests.polling import POLL_INTERVAL_S

STARTUP_S = 20.0  # importing OpenCV on a loaded machine takes a while
EXIT_S = 5.0


async def window_named(title: str) -> bool:
    """Whether a window with exactly this title is on the display."""
    found = await trio.run_process(
        ["xdotool", "search", "--name", f"^{title}$"], capture_stdout=True, check=False
    )
    return found.returncode == 0


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
async def test_the_gui_command_opens_the_window_and_a_signal_closes_it(
    x_display: str, stop: signal.Signals, tmp_path: Path
) -> None:
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed (Debian: apt-get install xdotool)")
    output = tmp_path / "output.txt"
    with output.open("w") as sink:
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "peer", "gui", "--no-port-mapping"], stdout=sink, stderr=sink
        )
    try:
        with trio.fail_after(STARTUP_S):
            while not await window_named("StreamNest"):  # noqa: ASYNC110 (polls X)
                await trio.sleep(POLL_INTERVAL_S)
        process.send_signal(stop)
        with trio.fail_after(EXIT_S):
            assert await process.wait() == 0
        assert output.read_text() == "", "nothing on the terminal"
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


def test_without_a_display_the_gui_command_says_so_in_one_line() -> None:
    environ = {key: value for key, value in os.environ.items() if key != "DISPLAY"}
    result = subprocess.run(
        [sys.executable, "-m", "peer", "gui", "--no-port-mapping"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=STARTUP_S,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("streamnest-peer: cannot open a window: ")
    assert result.stderr.count("\n") == 1, result.stderr
