"""Suite-wide settings."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Small networks on a shared 2-core machine run 10-20x faster on one thread (as the CLI defaults to).

    Under pytest-xdist every worker is its own process and runs this once: one torch thread per worker.
    """
    import torch

    torch.set_num_threads(1)
    yield


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """(pytest-xdist, in the controller) Tell each worker the --dist mode, for the order below."""
    node.workerinput["dist"] = node.config.getoption("dist")


def _minutes(item: pytest.Item) -> float:
    slow = item.get_closest_marker("slow")
    return slow.kwargs.get("minutes", 0) if slow else 0


def pytest_collection_modifyitems(config, items):
    """Under `--dist loadfile` (make test), start the tests of minutes, `slow(minutes=...)`, first, longest first.

    loadfile hands whole files to the workers in the order collected (with --no-loadscope-reorder): the
    first file to one worker, the second to the other, and each worker queues one more file behind its
    first; then files go to whichever worker is free. Left in place, the learning tests would start late
    and run one after the other at the end. Only tests of a minute or more carry `minutes` (a third one
    would queue behind the first). A serial run keeps the collected order.
    """
    if getattr(config, "workerinput", {}).get("dist") in ("loadfile", "loadscope", "loadgroup"):
        items.sort(key=lambda item: -_minutes(item))
