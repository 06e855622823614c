"""Imitation learning: behaviour cloning (``bc``: ``cloning.py``, the reusable fit, and ``bc.py``, its trainer)."""
