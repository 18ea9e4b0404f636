"""StreamNest peer: the source that seeds the stream and the viewers that watch and relay it."""
