"""The encoder–decoder Transformer of Vaswani et al. (2017), written from scratch; attention returned as data."""
