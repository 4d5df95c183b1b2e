"""Runtime plumbing: device choice, memory kept for the next capture, safe image loading."""
