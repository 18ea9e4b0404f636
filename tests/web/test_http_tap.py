"""The HTTP tap over real sockets: page, stream, snapshot, stats, chat, and bad requests."""

from __future__ import annotations

import contextlib
import json

import cv2
import numpy as np
import pytest
import trio

import protocol as p
from peer.config import PeerHooks
from peer.web import http_server
from peer.web.app import WebTap
from peer.web.server import serve_tap
from tests.peer.conftest import PeerStarter
from tests.polling import eventually
from tests.web.client import PartCounter, count_parts, get, open_stream, post, read_body
from tests.web.conftest import SOURCE_FPS, Tapped, start_tap

WINDOW_FRAMES = 90  # three seconds at the source's rate
DEADLINE_TARGETS = 5
# Parts and frames on their way at either end of the window go uncounted.
CLIENT_SHARE_FLOOR = 0.85
CHILD_SHARE_FLOOR = 0.9
# Scaling costs CPU; however busy the machine, a client of a scaled size keeps moving.
SCALED_SHARE_FLOOR = 0.25


def jpeg_size(data: bytes) -> tuple[int, int]:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return image.shape[1], image.shape[0]


async def test_the_page_is_self_contained(tapped: Tapped) -> None:
    reply = await get(tapped.url)
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/html")
    page = reply.body.decode()
    assert "stream.mjpg" in page and "stats.json" in page and "chat" in page
    assert "http://" not in page and "https://" not in page  # no CDN, nothing fetched elsewhere


async def test_snapshot_at_the_peers_resolution_and_per_request(tapped: Tapped) -> None:
    assert jpeg_size((await get(tapped.url + "snapshot.jpg")).body) == (640, 360)
    assert jpeg_size((await get(tapped.url + "snapshot.jpg?res=480p")).body) == (854, 480)
    # `source` passes the received bytes through untouched.
    reply = await get(tapped.url + "snapshot.jpg?res=source")
    assert jpeg_size(reply.body) == (960, 540)
    before = tapped.tap.renditions.encoded
    await get(tapped.url + "snapshot.jpg?res=1080p")  # more than the stream has: as it is
    assert tapped.tap.renditions.encoded == before


async def test_stream_parts_are_jpegs_at_the_requested_resolution(tapped: Tapped) -> None:
    stream = await open_stream(tapped.host_port, "/stream.mjpg?res=480p")
    with trio.fail_after(10):
        response, data = await read_body(
            stream, lambda body: body.count(b"\r\n--streamnestframe") >= 1
        )
    await stream.aclose()
    content_type = dict(response.headers)[b"content-type"]
    assert content_type == b"multipart/x-mixed-replace; boundary=streamnestframe"
    part_head, _, body = data.partition(b"--streamnestframe\r\n")[2].partition(b"\r\n\r\n")
    length = int(part_head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    assert jpeg_size(body[:length]) == (854, 480)


async def test_stats_json_has_the_design_fields_and_the_viewer_count(tapped: Tapped) -> None:
    reply = await get(tapped.url + "stats.json")
    assert reply.status == 200
    stats = reply.json()
    for field in ("fps", "bandwidth_kbps", "latency_ms", "loss_pct", "depth", "parent"):
        assert field in stats
    assert stats["parent"] == "cam" and stats["depth"] == 1

    # The count comes from the tracker, refreshed every 2 s while someone reads stats.
    with trio.fail_after(10):
        while (await get(tapped.url + "stats.json")).json()["viewers"] != 1:  # noqa: ASYNC110
            await trio.sleep(0.2)


async def test_chat_history_and_posting_as_this_peer(
    tapped: Tapped, start_peer: PeerStarter
) -> None:
    heard: list[p.ChatMessage] = []
    await start_peer("viewer", "bob", PeerHooks(on_chat=heard.append))
    reply = await post(tapped.url + "chat", json.dumps({"text": "hello from the web"}).encode())
    assert reply.status == 200, reply.body
    assert reply.json()["sender"] == "alice"
    await eventually(
        lambda: any(m.text == "hello from the web" and m.sender == "alice" for m in heard),
        within_s=5,
        what="bob hearing the web chat",
    )
    lines = (await get(tapped.url + "chat")).json()
    assert [line["text"] for line in lines["lines"]] == ["hello from the web"]
    newer = (await get(tapped.url + f"chat?after={lines['last']}")).json()
    assert newer["lines"] == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json", 400),
        (b'{"text": 5}', 400),
        (b'{"text": "   "}', 400),
        (json.dumps({"text": "x" * 501}).encode(), 400),
        (b'{"text": "' + b"x" * 5000 + b'"}', 413),
    ],
    ids=["not-json", "not-text", "empty", "too-long", "oversize-body"],
)
async def test_bad_chat_posts_get_4xx(tapped: Tapped, body: bytes, status: int) -> None:
    reply = await post(tapped.url + "chat", body)
    assert reply.status == status
    assert "error" in reply.json()
    assert (await get(tapped.url + "stats.json")).status == 200  # and the peer carries on


async def test_chat_rate_limit_is_429(tapped: Tapped) -> None:
    statuses = []
    for index in range(15):
        reply = await post(tapped.url + "chat", json.dumps({"text": f"spam {index}"}).encode())
        statuses.append(reply.status)
    assert 429 in statuses
    assert statuses[0] == 200


@pytest.mark.parametrize(
    ("method", "target", "status"),
    [
        ("GET", "/nope", 404),
        ("GET", "/stream.mjpg?res=999p", 400),
        ("GET", "/snapshot.jpg?size=big", 400),
        ("GET", "/chat?after=-1", 400),
        ("GET", "/snapshot.jpg?res=360p&res=480p", 400),
        ("DELETE", "/chat", 405),
        ("POST", "/stream.mjpg", 405),
    ],
)
async def test_bad_requests_get_4xx_and_the_peer_carries_on(
    tapped: Tapped, method: str, target: str, status: int
) -> None:
    stream = await trio.open_tcp_stream(*tapped.host_port)
    await stream.send_all(
        f"{method} {target} HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n".encode()
    )
    data = b""
    with trio.fail_after(5):
        while b"\r\n\r\n" not in data:
            data += await stream.receive_some(4096)
    await stream.aclose()
    assert data.startswith(f"HTTP/1.1 {status} ".encode())
    assert (await get(tapped.url + "snapshot.jpg")).status == 200


async def test_malformed_http_is_refused(tapped: Tapped) -> None:
    stream = await trio.open_tcp_stream(*tapped.host_port)
    await stream.send_all(b"\x16\x03\x01 this is not HTTP at all\r\n\r\n")
    with trio.fail_after(5):
        data = await stream.receive_some(4096)
    await stream.aclose()
    assert data == b"" or data.startswith(b"HTTP/1.1 400")
    assert (await get(tapped.url + "stats.json")).status == 200


async def test_clients_past_the_limit_get_503(tapped: Tapped, nursery: trio.Nursery) -> None:
    tap, url = await start_tap(nursery, tapped.viewer, max_clients=2)
    host, port = url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    streams = [await open_stream((host, int(port))) for _ in range(2)]
    await eventually(lambda: tap.clients == 2, within_s=5, what="two clients served")
    reply = await get(url + "stats.json")
    assert reply.status == 503
    assert "too many clients" in reply.json()["error"]
    for stream in streams:
        await stream.aclose()
    await eventually(lambda: tap.clients == 0, within_s=5, what="clients released")
    assert (await get(url + "stats.json")).status == 200


async def test_twenty_clients_and_one_that_never_reads_keep_full_rate(
    tapped: Tapped, start_peer: PeerStarter, nursery: trio.Nursery
) -> None:
    child = await start_peer("viewer", "carol")
    stalled = await open_stream(tapped.host_port, "/stream.mjpg?res=source")  # never read
    counters = [PartCounter() for _ in range(19)]
    resolutions = ["360p", "source", "480p"]
    for index, counter in enumerate(counters):
        target = f"/stream.mjpg?res={resolutions[index % 3]}"
        nursery.start_soon(count_parts, await open_stream(tapped.host_port, target), counter)
    await eventually(lambda: all(c.parts > 0 for c in counters), within_s=10, what="all streaming")

    # A window of WINDOW_FRAMES frames reaching the tapped viewer. A client of the stream
    # as it comes should get each of them; one of a scaled rendition, each frame the tap
    # scaled at that size (it scales the newest frame when a client is ready, once for
    # all clients of that size, so a busy machine scales fewer). And the viewer's child
    # gets every frame the source sent.
    tapped_viewer, source = tapped.viewer.counters.loss, tapped.source.counters
    start_parts = [c.parts for c in counters]
    start_tapped, start_scaled = tapped_viewer.frames_received, tapped.tap.renditions.encoded
    start_child, start_sent = child.counters.loss.frames_received, source.frames_sent
    await eventually(
        lambda: tapped_viewer.frames_received >= start_tapped + WINDOW_FRAMES,
        within_s=DEADLINE_TARGETS * WINDOW_FRAMES / SOURCE_FPS,
        what=f"{WINDOW_FRAMES} frames reaching the tapped viewer",
    )
    published = tapped_viewer.frames_received - start_tapped
    scaled = tapped.tap.renditions.encoded - start_scaled
    got: dict[str, list[int]] = {resolution: [] for resolution in resolutions}
    for index, (counter, start) in enumerate(zip(counters, start_parts, strict=True)):
        got[resolutions[index % 3]].append(counter.parts - start)
    print(f"\n{published} frames tapped, {scaled} scaled; parts per client: {got}")
    assert min(got["source"]) >= CLIENT_SHARE_FLOOR * published, got["source"]
    assert min(got["360p"]) + min(got["480p"]) >= CLIENT_SHARE_FLOOR * scaled, got
    scaled_least = min(got["360p"] + got["480p"])
    assert scaled_least >= SCALED_SHARE_FLOOR * published, f"a scaled client stalled: {got}"
    child_got = child.counters.loss.frames_received - start_child
    sent = source.frames_sent - start_sent
    assert child_got >= CHILD_SHARE_FLOOR * sent, f"the child got {child_got} of {sent} frames"
    await stalled.aclose()


async def test_a_client_that_stops_reading_is_cut_off_and_frees_its_slot(
    tapped: Tapped, nursery: trio.Nursery
) -> None:
    tap = WebTap(tapped.viewer, client_stall_s=1.0)
    url: str = await nursery.start(serve_tap, tap, "127.0.0.1", 0)
    tapped.viewer.picture_sinks.append(tap.publish)
    host, port = url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    sock = trio.socket.socket()
    sock.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_RCVBUF, 4096)
    await sock.connect((host, int(port)))
    stalled = trio.SocketStream(sock)
    await stalled.send_all(b"GET /stream.mjpg?res=source HTTP/1.1\r\nHost: t\r\n\r\n")
    await eventually(lambda: tap.fanout.subscribers == 1, within_s=5, what="the stream starting")
    # Its socket buffers fill first (a few MB of frames), then 1 s without progress.
    await eventually(lambda: tap.fanout.subscribers == 0, within_s=60, what="the stall cut-off")
    # The stream ends before its connection is closed and the slot handed back.
    await eventually(lambda: tap.clients == 0, within_s=5, what="the slot released")
    await stalled.aclose()


async def test_a_slowloris_request_head_is_timed_out(
    tapped: Tapped, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_server, "HEAD_TIMEOUT_S", 0.5)
    stream = await trio.open_tcp_stream(*tapped.host_port)
    await stream.send_all(b"GET /stats.json HTTP/1.1\r\nHost: t\r\n")  # and never the end
    data = b""
    with trio.fail_after(5):
        while chunk := await stream.receive_some(4096):
            data += chunk
    assert data.startswith(b"HTTP/1.1 408 ")
    await eventually(lambda: tapped.tap.clients == 0, within_s=5, what="the slot released")


async def test_an_oversize_request_head_is_refused(tapped: Tapped) -> None:
    stream = await trio.open_tcp_stream(*tapped.host_port)
    junk = b"X-Junk: " + b"a" * 40_000 + b"\r\n"
    with contextlib.suppress(trio.BrokenResourceError):
        await stream.send_all(b"GET / HTTP/1.1\r\nHost: t\r\n" + junk + b"\r\n")
    with trio.fail_after(5):
        data = await stream.receive_some(4096)
    assert data.startswith(b"HTTP/1.1 431 ")
    assert (await get(tapped.url + "stats.json")).status == 200


async def test_the_source_serves_what_it_sends(tapped: Tapped, nursery: trio.Nursery) -> None:
    tap, url = await start_tap(nursery, tapped.source)
    await eventually(lambda: tap.fanout.latest is not None, within_s=10, what="a sent frame")
    assert jpeg_size((await get(url + "snapshot.jpg")).body) == (960, 540)
    stats = (await get(url + "stats.json")).json()
    assert stats["role"] == "source" and stats["fps"] > 0
