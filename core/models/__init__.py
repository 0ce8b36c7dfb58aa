"""Trainable models: baselines, auto-encoders and the flow models of the method."""
