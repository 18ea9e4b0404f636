"""The video view on a real Tk display: the picture the decode worker made, as it is."""

from __future__ import annotations

import tkinter as tk

import numpy as np

from peer.gui.viewmodel import LatestImage, ppm_picture
from peer.gui.widgets import VideoView


def test_the_video_view_draws_the_prepared_picture_in_its_colours(x_display: str) -> None:
    image = np.zeros((36, 64, 3), dtype=np.uint8)
    image[:, :16] = (255, 0, 0)  # blue, in OpenCV's BGR order
    image[:, 16:32] = (0, 255, 0)  # green
    image[:, 32:48] = (0, 0, 255)  # red
    root = tk.Tk()
    try:
        view = VideoView(root, min_size=(64, 36), placeholder="waiting")
        view.pack()
        latest = LatestImage()
        assert not view.draw(latest), "nothing to draw yet"
        latest.put(ppm_picture(image))
        assert view.draw(latest)
        assert not view.draw(latest), "each picture is drawn once"
        assert view.shown_size() == (64, 36) and view.frames_drawn == 1
        assert view.photo is not None
        colours = [tuple(view.photo.get(x, 10)) for x in (8, 24, 40, 56)]
        assert colours == [(0, 0, 255), (0, 255, 0), (255, 0, 0), (0, 0, 0)]
        latest.put(ppm_picture(np.full((18, 32, 3), 200, dtype=np.uint8)))
        assert view.draw(latest) and view.shown_size() == (32, 18), "the photo takes the size"
    finally:
        root.destroy()
