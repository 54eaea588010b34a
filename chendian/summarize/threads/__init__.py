"""Thread disentanglement: the reply linker, its decoding and its shipped weights."""
