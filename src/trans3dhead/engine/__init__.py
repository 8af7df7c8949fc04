"""Training and evaluation engine: checkpoints, samplers, the training loop, distributed helpers."""
