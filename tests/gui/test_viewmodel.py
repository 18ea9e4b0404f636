"""What the windows show, decided without a display: frames, chat, banners, stats, settings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import protocol as p
from peer import events as ev
from peer.errors import TrackerRefused, TrackerUnreachable, UsageError
from peer.gui import wording
from peer.gui.config import Settings, load_settings, save_settings, settings_path
from peer.gui.viewmodel import (
    CHAT_LINES_KEPT,
    CODEC_CHOICES,
    ChatLog,
    LatestImage,
    SessionModel,
    ppm_picture,
)
from protocol.limits import MAX_CHAT_CHARS
from protocol.reasons import DropReason, ErrorCode, LossReason, RejectCode, WaitReason


def chat(id: int, sender: str = "alice", text: str = "hi") -> p.ChatMessage:
    return p.ChatMessage(id=id, sender=sender, time_ns=1_700_000_000_000_000_000 + id, text=text)


def header(width: int = 1280, height: int = 720) -> p.FrameHeader:
    return p.FrameHeader(epoch=1, seq=1, capture_ns=1, width=width, height=height)


def viewer(**kw: object) -> SessionModel:
    return SessionModel(role="viewer", name="alice", tracker="127.0.0.1:9000", **kw)  # type: ignore[arg-type]


def test_a_frame_becomes_ppm_bytes_tk_can_read_in_rgb_order() -> None:
    image = np.zeros((2, 3, 3), dtype=np.uint8)
    image[0, 0] = (255, 0, 0)  # blue, in OpenCV's BGR order
    image[1, 2] = (0, 0, 255)  # red
    picture = ppm_picture(image)
    assert (picture.width, picture.height) == (3, 2)
    assert picture.ppm.startswith(b"P6 3 2 255\n")
    pixels = np.frombuffer(picture.ppm[len(b"P6 3 2 255\n") :], dtype=np.uint8).reshape(2, 3, 3)
    assert tuple(pixels[0, 0]) == (0, 0, 255)
    assert tuple(pixels[1, 2]) == (255, 0, 0)
    assert not pixels[0, 1:].any() and not pixels[1, :2].any()


def test_a_cropped_view_of_a_frame_is_converted_too() -> None:
    frame = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    picture = ppm_picture(frame[1:3, ::2])
    assert picture.ppm.startswith(b"P6 3 2 255\n")
    assert len(picture.ppm) == len(b"P6 3 2 255\n") + 2 * 3 * 3
    assert picture.ppm.endswith(bytes(frame[2, 4, ::-1]))


def test_anything_but_a_colour_frame_is_refused() -> None:
    with pytest.raises(ValueError):
        ppm_picture(np.zeros((4, 4), dtype=np.uint8))


def test_only_the_newest_frame_is_kept() -> None:
    latest = LatestImage()
    assert (latest.width, latest.height) == (0, 0)
    for value in range(5):
        latest.put(ppm_picture(np.full((4, 8, 3), value, dtype=np.uint8)))
    assert latest.version == 5
    assert (latest.width, latest.height) == (8, 4)
    assert latest.picture is not None and latest.picture.ppm.endswith(b"\x04")


def test_chat_history_sent_again_after_a_reconnect_is_not_shown_twice() -> None:
    log = ChatLog()
    for message in (chat(1), chat(2, "bob", "hello"), chat(1), chat(2, "bob", "hello")):
        log.add(message)
    assert len(log.lines) == 2
    assert log.lines[1].endswith("bob: hello")


def test_the_chat_keeps_a_bounded_number_of_lines() -> None:
    log = ChatLog()
    for id in range(CHAT_LINES_KEPT + 50):
        log.add(chat(id, text=f"line {id}"))
    assert len(log.lines) == CHAT_LINES_KEPT
    assert log.lines[-1].endswith(f"line {CHAT_LINES_KEPT + 49}")


def test_chat_refusals_from_the_tracker_show_under_the_chat_not_in_the_banner() -> None:
    model = viewer()
    model.say("Watching the stream.")
    model.on_event(
        ev.RequestRefused(
            code=ErrorCode.CHAT_RATE_LIMITED,
            message="too many chat messages; at most 5 per second (bursts of 10)",
        )
    )
    assert model.chat_error.startswith("Not sent: too many chat messages")
    assert model.banner == "Watching the stream."
    model.on_chat(chat(7, "alice"))
    assert model.chat_error, "echoes of earlier lines may arrive after the refusal"


def test_a_viewer_with_no_stream_is_told_so_in_plain_words() -> None:
    model = viewer()
    model.on_event(ev.Waiting(reason=WaitReason.NO_STREAM))
    assert "No stream is live yet" in model.banner
    assert not model.warning


def test_the_banner_says_when_the_parent_is_lost_changes_or_the_stream_ends() -> None:
    model = viewer()
    model.on_event(ev.ParentChanged(parent="cam", depth=1))
    assert model.state == "live" and "cam" in model.banner
    model.on_event(ev.ParentChanged(parent=None, depth=0))
    assert "Lost the connection to cam" in model.banner and model.warning
    model.on_event(ev.ParentChanged(parent="bob", depth=2))
    assert "now receiving from bob" in model.banner
    model.on_event(ev.ParentChanged(parent=None, depth=0))
    model.on_event(ev.ParentChanged(parent="bob", depth=2))
    assert model.banner == "Reconnected to bob."
    model.on_event(ev.StreamEnded(source="cam", reason="stopped streaming"))
    assert model.state == "ended"
    assert model.banner.startswith("The stream has ended (cam stopped streaming")
    model.on_event(ev.ParentChanged(parent=None, depth=0))
    model.on_event(ev.ParentLost(parent="bob", reason=LossReason.CLOSED))
    assert model.banner.startswith("The stream has ended"), "the end is what matters"


def test_a_viewer_whose_video_stops_is_told_instead_of_a_frozen_picture() -> None:
    model = viewer()
    model.on_parent("cam")
    quiet = {"recv_fps": 0.0, "parent": "cam"}
    model.set_stats({**quiet, "recv_fps": 30.0})
    model.set_stats(quiet)
    assert "No video" not in model.banner
    model.set_stats(quiet)
    assert "No video from cam" in model.banner and model.warning


def test_every_change_moves_the_version_the_window_redraws_on() -> None:
    model = viewer()
    versions = [model.version]
    model.on_event(ev.StreamStarted(source="cam"))
    versions.append(model.version)
    model.on_image(ppm_picture(np.zeros((480, 854, 3), np.uint8)), header())
    versions.append(model.version)
    model.set_stats({"fps": 30.0})
    versions.append(model.version)
    assert versions == sorted(set(versions)), versions
    assert model.image.version == 1 and model.stream_size == (1280, 720)


def streamer(**kw: object) -> SessionModel:
    return SessionModel(role="source", name="cam", tracker="127.0.0.1:9000", **kw)  # type: ignore[arg-type]


def test_the_streamer_offers_jpeg_first_and_h264_beside_it() -> None:
    assert CODEC_CHOICES == (p.Codec.JPEG, p.Codec.H264)
    model = streamer()
    assert (model.codec, model.choosing) == (p.Codec.JPEG, True)
    version = model.version
    assert model.choose_codec(p.Codec.H264)
    assert model.codec is p.Codec.H264 and model.version > version
    version = model.version
    assert model.choose_codec(p.Codec.H264)
    assert model.version == version, "the same choice again redraws nothing"


def test_the_codec_cannot_change_while_streaming_and_can_again_after_stop() -> None:
    model = streamer(codec=p.Codec.H264)
    for state in ("starting", "live"):
        model.set_state(state)
        assert not model.choosing
        assert not model.choose_codec(p.Codec.JPEG)
        assert model.codec is p.Codec.H264
    model.set_state("idle", "Stopped. Press Start to stream again.")
    assert model.choosing and model.choose_codec(p.Codec.JPEG)
    assert model.codec is p.Codec.JPEG


def test_a_viewer_chooses_no_codec() -> None:
    model = viewer()
    assert not model.choosing and not model.choose_codec(p.Codec.H264)


def test_viewer_statistics_read_as_sentences() -> None:
    stats = {
        "fps": 29.96, "recv_fps": 30.0, "bandwidth_kbps": 6300.0, "upload_kbps": 850.0,
        "latency_ms": 5.61, "rtt_ms": 1.04, "loss_pct": 1.5, "frames_received": 197,
        "frames_lost": 3, "depth": 2, "parent": "bob", "children": 1, "resolution": "480p",
        "codec": "h264", "frames_undecodable": 12, "stream_kbps": 6300.0,
    }  # fmt: skip
    lines = dict(wording.viewer_stat_lines(stats))
    assert list(lines) == list(wording.VIEWER_STAT_LABELS)
    assert lines["Frame rate"] == "30.0 fps shown, 30.0 received"
    assert lines["Codec"] == "H.264"
    assert lines["Bandwidth"] == "6.3 Mb/s in, 850 kb/s out"
    assert lines["Latency"] == "5.6 ms (RTT to parent 1.0 ms)"
    assert lines["Packet loss"] == "1.5% now; 3 lost in all"
    assert lines["Undecodable"] == "12 frames not shown"
    assert lines["Depth"] == "2 hops from the source"
    assert lines["Parent"] == "bob"
    assert lines["Relaying to"] == "1 viewer"
    assert lines["Resolution"] == "480p"
    behind_a_router = dict(wording.viewer_stat_lines({**stats, "children": 0, "reachable": False}))
    assert behind_a_router["Relaying to"] == (
        "0 viewers (other viewers cannot connect to this computer)"
    )
    reversed_link = dict(wording.viewer_stat_lines({**stats, "parent_link": "reversed"}))
    assert reversed_link["Parent"] == "bob (it connected to us: it cannot be dialled)"
    mapped_link = dict(wording.viewer_stat_lines({**stats, "parent_link": "mapped"}))
    assert mapped_link["Parent"] == "bob (through the port its router forwards)"
    punched_link = dict(wording.viewer_stat_lines({**stats, "parent_link": "punched"}))
    assert punched_link["Parent"] == "bob (we met through both routers: hole punching)"


def test_streamer_statistics_count_the_whole_tree() -> None:
    stats = {
        "fps": 30.0, "upload_kbps": 12_600.0, "children": 2, "frames_skipped": 0,
        "codec": "jpeg", "stream_kbps": 6_300.0, "encode_ms": 4.26, "keyframes_forced": 0,
    }  # fmt: skip
    lines = wording.source_stat_lines(stats, viewers_in_tree=7, fanout=3)
    assert lines == [
        ("Codec", "JPEG"),
        ("Frames sent", "30.0 fps"),
        ("Encode time", "4.3 ms a frame"),
        ("Stream bitrate", "6.3 Mb/s"),
        ("Upload", "12.6 Mb/s"),
        ("Viewers in the tree", "7"),
        ("Direct children", "2 of 3"),
    ]


def test_the_streamer_sees_the_h264_stream_its_own_bitrate_beside_its_upload() -> None:
    stats = {"codec": "h264", "stream_kbps": 640.0, "upload_kbps": 1_920.0, "encode_ms": 7.0}
    lines = dict(wording.source_stat_lines(stats, viewers_in_tree=3, fanout=3))
    assert lines["Codec"] == "H.264"
    assert (lines["Stream bitrate"], lines["Upload"]) == ("640 kb/s", "1.9 Mb/s")
    assert lines["Encode time"] == "7.0 ms a frame"


def test_a_viewer_names_the_codec_once_frames_come_and_counts_frames_it_could_not_show() -> None:
    waiting = dict(wording.viewer_stat_lines({"codec": "jpeg", "frames_received": 0}))
    assert waiting["Codec"] == "-", "before a frame the peer only knows its own default"
    assert waiting["Undecodable"] == "none"
    watching = {"codec": "h264", "frames_received": 40, "frames_undecodable": 1}
    lines = dict(wording.viewer_stat_lines(watching))
    assert (lines["Codec"], lines["Undecodable"]) == ("H.264", "1 frame not shown")
    assert dict(wording.viewer_stat_lines({**watching, "codec": "vp9"}))["Codec"] == "-"


def test_each_codec_has_a_name_and_a_reason_to_choose_it() -> None:
    assert [wording.codec_name(codec) for codec in CODEC_CHOICES] == ["JPEG", "H.264"]
    assert wording.codec_hint(p.Codec.JPEG) == "each frame stands alone"
    assert wording.codec_hint(p.Codec.H264) == "about a tenth of the bits: fits home uplinks"


def test_before_any_numbers_the_panels_show_dashes_on_the_same_lines() -> None:
    viewer_lines = wording.viewer_stat_lines({})
    source_lines = wording.source_stat_lines({}, 0, 3)
    assert all(value == "-" for _, value in (*viewer_lines, *source_lines))
    assert [label for label, _ in viewer_lines] == list(wording.VIEWER_STAT_LABELS)
    assert [label for label, _ in source_lines] == list(wording.SOURCE_STAT_LABELS)


def status(*peers: p.PeerInfo, source: str | None = "cam") -> p.StatusReply:
    return p.StatusReply(source=source, epoch=1, peers=list(peers), max_depth=2, source_fanout=3)


def info(name: str, role: str, parent: str | None = None, depth: int = 0) -> p.PeerInfo:
    return p.PeerInfo(
        name=name, role=role, parent=parent, depth=depth, children=[], max_children=3,
        resolution="480p",
    )  # fmt: skip


def test_the_viewer_list_shows_the_tree_and_hides_observers() -> None:
    reply = status(
        info("bob", "viewer", "alice", 2),
        info("cam", "source"),
        info("gui-1234", "observer"),
        info("Alice", "viewer", "cam", 1),
        info("dave", "viewer"),
    )
    assert wording.viewer_lines(reply, me="alice") == [
        "cam: streaming",
        "Alice (you): depth 1, via cam",
        "bob: depth 2, via alice",
        "dave: waiting for a place",
    ]
    assert wording.viewers_in_tree(reply) == 2
    assert wording.name_taken(reply, "BOB") and not wording.name_taken(reply, "eve")


def test_the_streamers_count_of_viewers_changes_as_soon_as_the_tracker_says() -> None:
    model = SessionModel(role="source", name="cam", tracker="127.0.0.1:9000")
    model.set_stats({"fps": 30.0, "children": 1, "codec": "jpeg"})
    model.set_status(status(info("cam", "source"), info("alice", "viewer", "cam", 1)))
    assert dict(model.stats)["Viewers in the tree"] == "1", "not a statistics sample later"
    assert dict(model.stats)["Frames sent"] == "30.0 fps", "the other lines are kept"


@pytest.mark.parametrize(
    ("username", "tracker", "problem"),
    [
        ("", "127.0.0.1:9000", "Type a user name"),
        ("x" * 40, "127.0.0.1:9000", "cannot be used"),
        ("alice", "localhost:http", "should look like 127.0.0.1:9000"),
        ("alice", "127.0.0.1:0", "needs a port number"),
    ],
)
def test_login_problems_are_explained(username: str, tracker: str, problem: str) -> None:
    with pytest.raises(wording.LoginProblem, match=problem):
        wording.parse_login(username, tracker)


def test_a_good_login_gives_the_name_and_address() -> None:
    assert wording.parse_login(" alice ", "10.0.0.2:9100") == ("alice", ("10.0.0.2", 9100))


def test_peer_errors_become_sentences() -> None:
    refused = TrackerUnreachable(("127.0.0.1", 9000), "Connection refused")
    assert wording.plain_error(refused) == (
        "Cannot reach the tracker at 127.0.0.1:9000 (connection refused). "
        "Check the address, and that the tracker is running."
    )
    taken = TrackerRefused(RejectCode.NAME_TAKEN, "name 'bob' is already taken")
    assert "Choose another user name" in wording.plain_error(taken)
    live = TrackerRefused(RejectCode.STREAM_LIVE, "stream already live (source: cam)")
    assert "only one stream at a time" in wording.plain_error(live)
    assert wording.plain_error(UsageError("no such video file: x.mp4")) == (
        "No such video file: x.mp4."
    )


def test_every_peer_event_the_window_cares_about_has_words_and_the_rest_stay_quiet() -> None:
    shown = [ev.Waiting(reason=reason) for reason in WaitReason] + [
        ev.StreamStarted(source="cam"),
        ev.VideoEnded(),
        ev.TrackerLost(),
        ev.TrackerBack(),
        ev.TrackerRetrying(detail="refused"),
        ev.SessionClosed(message="bye"),
        ev.UploadShed(keep=1, upload_kbps=900.0, stream_kbps=800.0, children=("b",)),
    ]
    for event in shown:
        notice = wording.describe_event(event)
        assert notice is not None and notice.text, event
    quiet = [
        ev.ParentLost(parent="a", reason=LossReason.SILENT, backup="b"),
        ev.ChildRefused(child="x", code=RejectCode.BAD_TOKEN),
        ev.ChildDropped(child="x", reason=DropReason.STALLED),
        ev.FrameUndecodable(seq=3),
        ev.AssignmentIgnored(),
    ]
    assert [wording.describe_event(event) for event in quiet] == [None] * len(quiet)


def test_a_chat_line_over_the_limit_is_caught_before_sending() -> None:
    assert wording.chat_problem("x" * MAX_CHAT_CHARS) is None
    problem = wording.chat_problem("x" * (MAX_CHAT_CHARS + 1))
    assert problem is not None and f"the limit is {MAX_CHAT_CHARS}" in problem


def test_settings_live_in_the_xdg_config_directory(tmp_path: Path) -> None:
    assert settings_path({"XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path / "streamnest/gui.json"
    assert settings_path({"HOME": "/nowhere"}).parts[-3:] == (".config", "streamnest", "gui.json")


def test_settings_are_remembered_between_runs(config_home: Path) -> None:
    assert load_settings() == Settings()
    assert load_settings().chosen_codec is p.Codec.JPEG
    assert save_settings(Settings("alice", "10.0.0.2:9100", resolution="720p", codec="h264"))
    assert (config_home / "streamnest" / "gui.json").exists()
    assert load_settings() == Settings("alice", "10.0.0.2:9100", "720p", "h264")
    assert load_settings().chosen_codec is p.Codec.H264


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[1, 2]",
        '{"username": 5, "resolution": "4k"}',
        '{"codec": "vp9"}',
        '{"codec": ["h264"]}',
        "",
    ],
)
def test_damaged_settings_mean_the_defaults(tmp_path: Path, content: str) -> None:
    path = tmp_path / "gui.json"
    path.write_text(content)
    assert load_settings(path) == Settings()
