"""The HTTP tap: MJPEG stream, live page, stats, chat and snapshots of a running peer."""
