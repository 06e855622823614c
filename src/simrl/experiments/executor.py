"""Fan many independent tasks out over local worker processes or a Ray cluster, retrying failures.

One executor serves every fan-out of simrl (``simrl sweep``'s runs). A task is a call of a module-level
function with plain, picklable arguments; here it is always "train this run folder to its end", which
resumes from the folder's newest checkpoint when it is run again, so a retry (after an exception, a worker
killed by the kernel, or a Ray node lost mid-task) loses at most the steps since that checkpoint and ends
bit-identical to a run that never stopped.

- One worker: the tasks one after another in this process (no worker to start).
- Local (default): a ``concurrent.futures`` pool of ``workers`` spawned processes, one torch thread each.
  Each worker asks the kernel to kill it when the process that started it dies (Linux ``PR_SET_PDEATHSIG``),
  so killing the head never leaves a worker training a run folder behind it; a SIGTERM or Ctrl-C to the
  head stops its workers at once too, rather than waiting for their runs to end.
- Ray (``ray="auto"`` or an address): one Ray task per job with ``num_cpus=1``. Ray resubmits a task whose
  worker or node died (up to ``retries`` times: its own ``max_retries``); an exception in the task comes
  back here and is resubmitted the same way as locally.

Written here rather than with Ray alone: the local path must work without Ray (an optional extra), and the
retry rule (a failure never stops the others; a task is tried ``1 + retries`` times) must be the same on both.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from simrl.errors import ConfigError

POLL_S = 0.5  # how often the head wakes to call ``poll`` while tasks run


@dataclass(frozen=True)
class ExecutorSettings:
    """Where tasks run: ``workers`` local processes, or a Ray cluster (``ray``: "auto" or an address)."""

    workers: int = 1
    ray: str | None = None
    retries: int = 2
    """Times a failed task is tried again (so at most ``1 + retries`` attempts)."""

    def check(self) -> None:
        if self.workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {self.workers}")
        if self.retries < 0:
            raise ConfigError(f"--retries must be at least 0, got {self.retries}")
        if self.ray is not None:
            connect_ray(self.ray)


def connect_ray(address: str) -> None:
    """Join the Ray cluster at ``address`` ("auto": the one this machine belongs to), or a ConfigError."""
    if not address.strip():
        raise ConfigError("--ray needs 'auto' or a cluster address", "e.g. --ray auto, --ray 10.0.0.5:6379")
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray needs Ray installed", "pip install 'simrl[ray]'") from None
    if ray.is_initialized():
        return
    try:
        ray.init(address=address, log_to_driver=False, logging_level="WARNING")
    except (ConnectionError, RuntimeError, ValueError) as e:
        first = (str(e).strip().splitlines() or [""])[0]
        raise ConfigError(
            f"--ray {address}: no Ray cluster to join ({first})",
            "start one with 'ray start --head'; the README shows a cluster of several machines",
        ) from None


@dataclass(frozen=True)
class Outcome:
    """How one task ended: its return value, or the error of its last attempt."""

    key: Hashable
    ok: bool
    value: Any
    error: str | None
    attempts: int


Event = Callable[[str, Hashable, int, str | None], None]
"""``event(what, key, attempt, error)``: what is "start" (submitted), "done", "retry" or "failed"."""


def _init_worker() -> None:
    """Runs first in every local worker: die with the head; one torch thread (small networks on CPU)."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: the kernel kills this worker when its parent dies
        if os.getppid() == 1:  # the parent died before the call: nothing would deliver the signal
            os._exit(1)
    except (OSError, AttributeError):  # not Linux: a killed head may leave a worker finishing its task
        pass
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)


def _settle(
    key: Hashable,
    attempt: int,
    value: Any,
    error: BaseException | None,
    settings: ExecutorSettings,
    outcomes: dict[Hashable, Outcome],
    event: Event,
) -> bool:
    """Record how an attempt of ``key`` ended (its outcome, when final, and the event); True: try it again."""
    if error is None:
        outcomes[key] = Outcome(key, True, value, None, attempt)
        event("done", key, attempt, None)
        return False
    text = _describe(error)
    if attempt > settings.retries:
        outcomes[key] = Outcome(key, False, None, text, attempt)
        event("failed", key, attempt, text)
        return False
    event("retry", key, attempt, text)
    return True


def _describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[-1] if text else ''}".rstrip(": ")


def run_tasks(
    fn: Callable[..., Any],
    tasks: Mapping[Hashable, tuple[Any, ...]],
    settings: ExecutorSettings,
    *,
    event: Event | None = None,
    poll: Callable[[], None] | None = None,
) -> dict[Hashable, Outcome]:
    """Call ``fn(*args)`` for every task, ``settings.workers`` at a time (or on Ray), retrying failures.

    Returns every task's :class:`Outcome`, in the order of ``tasks``. A task that raises is submitted again
    until it has been tried ``1 + settings.retries`` times; the other tasks go on meanwhile.
    """
    if not tasks:
        return {}
    runner = _run_ray if settings.ray is not None else _run_local if settings.workers > 1 else _run_inline
    outcomes = runner(fn, dict(tasks), settings, event or (lambda *a: None), poll or (lambda: None))
    return {key: outcomes[key] for key in tasks}


def _run_inline(
    fn: Callable[..., Any],
    tasks: dict[Hashable, tuple[Any, ...]],
    settings: ExecutorSettings,
    event: Event,
    poll: Callable[[], None],
) -> dict[Hashable, Outcome]:
    """One worker: the tasks in this process, one after another (no process to start, nothing to import)."""
    import threading

    outcomes: dict[Hashable, Outcome] = {}
    stop = threading.Event()

    def polling() -> None:  # the live view while a task holds this thread
        while not stop.wait(POLL_S):
            poll()

    watcher = threading.Thread(target=polling, daemon=True)
    watcher.start()
    try:
        for key, args in tasks.items():
            attempt = 0
            while key not in outcomes:
                attempt += 1
                event("start", key, attempt, None)
                value, error = None, None
                try:
                    value = fn(*args)
                except Exception as e:
                    error = e
                _settle(key, attempt, value, error, settings, outcomes, event)
    finally:
        stop.set()
        watcher.join()
    poll()
    return outcomes


def _run_local(
    fn: Callable[..., Any],
    tasks: dict[Hashable, tuple[Any, ...]],
    settings: ExecutorSettings,
    event: Event,
    poll: Callable[[], None],
) -> dict[Hashable, Outcome]:
    ctx = multiprocessing.get_context("spawn")  # no fork of a process that may hold torch threads and locks
    attempts = dict.fromkeys(tasks, 0)
    outcomes: dict[Hashable, Outcome] = {}
    todo = list(tasks)
    while todo:  # one pass per pool: a pool broken by a killed worker is replaced and its tasks sent again
        workers = min(settings.workers, len(todo))
        with cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker) as pool:
            running: dict[cf.Future, Hashable] = {}

            def submit(key: Hashable, pool: cf.ProcessPoolExecutor = pool, running: dict = running) -> None:
                attempts[key] += 1
                running[pool.submit(fn, *tasks[key])] = key
                event("start", key, attempts[key], None)

            try:
                for key in todo:
                    submit(key)
                todo = []
                while running:
                    done, _ = cf.wait(running, timeout=POLL_S, return_when=cf.FIRST_COMPLETED)
                    poll()
                    for future in done:
                        key = running.pop(future)
                        error = future.exception()
                        value = future.result() if error is None else None
                        if _settle(key, attempts[key], value, error, settings, outcomes, event):
                            if isinstance(error, cf.process.BrokenProcessPool):
                                todo.append(key)  # the pool is gone: sent again with the next one
                            else:
                                submit(key)
            except BaseException:  # SIGTERM, Ctrl-C or a bug in the head: stop the workers now, not after their runs
                for process in multiprocessing.active_children():
                    process.terminate()
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    return outcomes


def _run_ray(
    fn: Callable[..., Any],
    tasks: dict[Hashable, tuple[Any, ...]],
    settings: ExecutorSettings,
    event: Event,
    poll: Callable[[], None],
) -> dict[Hashable, Outcome]:
    import ray

    connect_ray(settings.ray or "auto")
    # Ray resubmits a task whose worker or node died (max_retries); an exception comes back to be retried here.
    remote = ray.remote(num_cpus=1, max_retries=settings.retries)(_ray_call)
    attempts = dict.fromkeys(tasks, 0)
    outcomes: dict[Hashable, Outcome] = {}
    running: dict[Any, Hashable] = {}

    def submit(key: Hashable) -> None:
        attempts[key] += 1
        running[remote.remote(fn, tasks[key])] = key
        event("start", key, attempts[key], None)

    for key in tasks:
        submit(key)
    while running:
        done, _ = ray.wait(list(running), num_returns=1, timeout=POLL_S)
        poll()
        for ref in done:
            key = running.pop(ref)
            value, error = None, None
            try:
                value = ray.get(ref)
            except Exception as e:  # the task raised, or Ray gave up on it (its node lost too often)
                error = getattr(e, "cause", None) or e
            if _settle(key, attempts[key], value, error, settings, outcomes, event):
                submit(key)
    return outcomes


def _ray_call(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """A task on a Ray worker: one torch thread, as a local worker has."""
    import torch

    torch.set_num_threads(1)
    return fn(*args)
