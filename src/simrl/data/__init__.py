"""Data from environments: the batched rollout collector (demonstrations and replay data build on it)."""
