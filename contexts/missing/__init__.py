"""Missing episodes: where a young person went missing from, where found, and the return interview."""
