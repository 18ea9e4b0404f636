"""StreamNest tracker: registration, the streamer lock, tree placement, chat. Never video."""
