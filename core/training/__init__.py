"""The shared trainer: one loop for CPU and CUDA, checkpoints, resume, metrics."""
