"""Evaluation of any Policy: episodes on fixed seeds, the random baseline."""
