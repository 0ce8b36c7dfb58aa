"""Datasets: the zarr store of rendered presets, its builder, and loaders for training."""
