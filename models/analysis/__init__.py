"""Pure numpy analysis of captured attention: rollout, mean distances, pooling, positional encodings."""
