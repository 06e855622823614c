"""Workflows that tie the layers together: configuration, training runs, checkpoints."""
