"""Learned dynamics: an ensemble of MLPs predicting normalized state deltas, and how it is fitted."""
