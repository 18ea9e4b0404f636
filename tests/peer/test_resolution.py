"""What size a viewer sees at each resolution, and how the peer decodes to get there."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from peer.resolution import (
    RESOLUTIONS,
    DecodePlan,
    ResolutionError,
    imread_flag,
    parse_resolution,
    plan_decode,
    resolution_label,
    target_size,
)


@pytest.mark.parametrize(
    ("resolution", "size"),
    [
        ("360p", (640, 360)),
        ("480p", (854, 480)),
        ("720p", (1280, 720)),
        ("1080p", (1920, 1080)),
        ("source", (1920, 1080)),
    ],
)
def test_a_16_9_stream_shows_the_sizes_design_md_lists(
    resolution: str, size: tuple[int, int]
) -> None:
    assert target_size(1920, 1080, resolution) == size


def test_a_4_3_stream_keeps_its_aspect_ratio() -> None:
    assert target_size(1440, 1080, "360p") == (480, 360)
    assert target_size(1440, 1080, "480p") == (640, 480)
    assert target_size(1440, 1080, "720p") == (960, 720)
    assert target_size(1024, 768, "480p") == (640, 480)


def test_asking_for_more_than_the_stream_has_never_upscales() -> None:
    assert target_size(1280, 720, "1080p") == (1280, 720)
    assert target_size(1280, 720, "720p") == (1280, 720)
    assert target_size(1280, 720, "480p") == (854, 480)
    assert target_size(320, 240, "360p") == (320, 240)
    assert target_size(1280, 720, "source") == (1280, 720)


def test_a_very_narrow_stream_still_gets_at_least_one_column() -> None:
    assert target_size(16, 4096, "360p") == (2, 360)
    assert target_size(1, 4096, "360p") == (1, 360)


def test_resolution_names_are_read_leniently_and_refused_clearly() -> None:
    assert parse_resolution(" 720P ") == "720p"
    assert parse_resolution("Source") == "source"
    with pytest.raises(ResolutionError) as refused:
        parse_resolution("999p")
    assert str(refused.value) == (
        "unknown resolution '999p'; choose 360p, 480p, 720p, 1080p or source"
    )
    assert isinstance(refused.value, ValueError)
    with pytest.raises(ResolutionError):
        target_size(1920, 1080, "4k")


def test_a_source_size_below_one_pixel_is_a_bug() -> None:
    with pytest.raises(ValueError, match="at least 1x1"):
        target_size(0, 1080, "360p")


def test_a_1080p_stream_is_decoded_reduced_whenever_the_target_allows() -> None:
    # 1/8 gives 240x135 and 1/4 gives 480x270, both smaller than 640x360; 1/2 gives 960x540.
    assert plan_decode(1920, 1080, "360p") == DecodePlan(reduce_factor=2, width=640, height=360)
    # 960x540 still covers 854x480.
    assert plan_decode(1920, 1080, "480p") == DecodePlan(reduce_factor=2, width=854, height=480)
    # 960x540 does not cover 1280x720: full decode.
    assert plan_decode(1920, 1080, "720p") == DecodePlan(reduce_factor=1, width=1280, height=720)
    assert plan_decode(1920, 1080, "source") == DecodePlan(reduce_factor=1, width=1920, height=1080)
    # 4K: 1/4 gives 960x540 >= 640x360 and 854x480; 8K at 360p can use 1/8 (960x540).
    assert plan_decode(3840, 2160, "360p").reduce_factor == 4
    assert plan_decode(3840, 2160, "480p").reduce_factor == 4
    assert plan_decode(7680, 4320, "360p").reduce_factor == 8


def test_reduced_decode_sizes_round_up_like_opencv() -> None:
    # 1279x719 at 360p is 640x360; at 1/2 OpenCV decodes ceil(1279/2) x ceil(719/2) = 640x360.
    assert plan_decode(1279, 719, "360p") == DecodePlan(reduce_factor=2, width=640, height=360)


def test_imread_flags_match_the_reduce_factors() -> None:
    assert imread_flag(1) == cv2.IMREAD_COLOR
    assert imread_flag(2) == cv2.IMREAD_REDUCED_COLOR_2
    assert imread_flag(4) == cv2.IMREAD_REDUCED_COLOR_4
    assert imread_flag(8) == cv2.IMREAD_REDUCED_COLOR_8
    with pytest.raises(ValueError, match="1, 2, 4 or 8"):
        imread_flag(3)


@pytest.mark.parametrize(
    ("source", "resolution"),
    [
        ((1920, 1080), "360p"),
        ((1920, 1080), "480p"),
        ((1920, 1080), "720p"),
        ((1279, 719), "360p"),
        ((3840, 2160), "360p"),
    ],
)
def test_a_real_jpeg_decodes_reduced_and_resizes_to_exactly_the_target(
    source: tuple[int, int], resolution: str
) -> None:
    width, height = source
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    plan = plan_decode(width, height, resolution)

    decoded = cv2.imdecode(jpeg, imread_flag(plan.reduce_factor))

    assert decoded is not None
    decoded_height, decoded_width = decoded.shape[:2]
    assert decoded_width >= plan.width
    assert decoded_height >= plan.height
    assert (decoded_width, decoded_height) == (
        math.ceil(width / plan.reduce_factor),
        math.ceil(height / plan.reduce_factor),
    )
    shown = cv2.resize(decoded, (plan.width, plan.height), interpolation=cv2.INTER_AREA)
    assert shown.shape == (plan.height, plan.width, 3)


def test_frame_sizes_are_labelled_by_their_height() -> None:
    assert resolution_label(854, 480) == "480p"
    assert resolution_label(1280, 720) == "720p"
    assert resolution_label(800, 600) == "600p"
    assert resolution_label(1920, 1080) == "1080p"


@given(
    source_width=st.integers(16, 4096),
    source_height=st.integers(16, 4096),
    resolution=st.sampled_from(RESOLUTIONS),
)
def test_any_source_gives_a_target_within_it_that_a_reduced_decode_still_covers(
    source_width: int, source_height: int, resolution: str
) -> None:
    width, height = target_size(source_width, source_height, resolution)
    assert 1 <= width <= source_width
    assert 1 <= height <= source_height
    plan = plan_decode(source_width, source_height, resolution)
    assert (plan.width, plan.height) == (width, height)
    assert math.ceil(source_width / plan.reduce_factor) >= width
    assert math.ceil(source_height / plan.reduce_factor) >= height
    if plan.reduce_factor < 8:
        # No larger factor would have done: the plan reduces as much as it can.
        bigger = plan.reduce_factor * 2
        assert (
            math.ceil(source_width / bigger) < width or math.ceil(source_height / bigger) < height
        )
