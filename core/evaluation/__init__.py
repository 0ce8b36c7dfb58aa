"""Evaluation: parameter and audio metrics, reference rows, reports."""
