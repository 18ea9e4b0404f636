"""Headless Chromium driven over the DevTools protocol (a WebSocket), for page tests.

Started with the flags that keep it off the network (this machine has none, and
Chromium otherwise keeps trying to reach Google), in a throwaway profile directory.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio
from trio_websocket import WebSocketConnection, open_websocket_url

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
START_TIMEOUT_S = 30.0
COMMAND_TIMEOUT_S = 30.0
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--window-size=1280,800",
    "--remote-debugging-port=0",
]


class Page:
    """One browser tab: evaluate JavaScript, take screenshots."""

    def __init__(self, socket: WebSocketConnection, session_id: str) -> None:
        self._socket = socket
        self._session_id = session_id
        self._ids = itertools.count(1)

    async def command(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one DevTools command to this tab and return its result."""
        return await _command(self._socket, self._ids, method, params, self._session_id)

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (promises awaited)."""
        reply = await self.command(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in reply:
            raise AssertionError(f"JavaScript failed: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    async def screenshot(self, path: Path) -> Path:
        """Save a PNG of the tab."""
        reply = await self.command("Page.captureScreenshot", format="png")
        await trio.Path(path).write_bytes(base64.b64decode(reply["data"]))
        return path


async def _command(
    socket: WebSocketConnection,
    ids: itertools.count[int],
    method: str,
    params: dict[str, Any],
    session_id: str | None = None,
) -> dict[str, Any]:
    number = next(ids)
    message: dict[str, Any] = {"id": number, "method": method, "params": params}
    if session_id is not None:
        message["sessionId"] = session_id
    await socket.send_message(json.dumps(message))
    with trio.fail_after(COMMAND_TIMEOUT_S):
        while True:
            reply = json.loads(await socket.get_message())
            if reply.get("id") == number and reply.get("sessionId") == session_id:
                if "error" in reply:
                    raise AssertionError(f"{method} failed: {reply['error']}")
                result: dict[str, Any] = reply["result"]
                return result


@asynccontextmanager
async def open_page(url: str, profile: Path) -> AsyncIterator[Page]:
    """Start Chromium, open `url` in a new tab, and stop Chromium at the end."""
    assert CHROMIUM is not None
    process = await trio.lowlevel.open_process(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        endpoint = await _devtools_endpoint(process)
        async with (
            trio.open_nursery() as nursery,
            open_websocket_url(endpoint, max_message_size=64 * 1024 * 1024) as socket,
        ):
            nursery.start_soon(_drain, process)  # a full stderr pipe would stall Chromium
            ids = itertools.count(1_000_000)
            target = await _command(socket, ids, "Target.createTarget", {"url": "about:blank"})
            attached = await _command(
                socket,
                ids,
                "Target.attachToTarget",
                {"targetId": target["targetId"], "flatten": True},
            )
            page = Page(socket, attached["sessionId"])
            await page.command("Page.enable")
            await page.command("Page.navigate", url=url)
            yield page
            nursery.cancel_scope.cancel()
    finally:
        process.kill()
        with trio.move_on_after(10):
            await process.wait()


async def _drain(process: trio.Process) -> None:
    assert process.stderr is not None
    while await process.stderr.receive_some(65536):
        pass


async def _devtools_endpoint(process: trio.Process) -> str:
    """Read Chromium's stderr until it says where DevTools listens."""
    assert process.stderr is not None
    seen = b""
    with trio.fail_after(START_TIMEOUT_S):
        while True:
            chunk = await process.stderr.receive_some(4096)
            if not chunk:
                raise AssertionError(f"Chromium exited: {seen.decode(errors='replace')}")
            seen += chunk
            found = re.search(rb"DevTools listening on (ws://\S+)", seen)
            if found:
                return found.group(1).decode()
