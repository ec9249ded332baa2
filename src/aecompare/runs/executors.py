"""Where runs execute: the local process pool, or a Ray cluster. The run is what travels.

An executor maps a picklable function over tasks and hands each result to a callback in the driver as soon as
it arrives; the driver (which holds the output folder's lock) writes the run folders. Workers need no shared
filesystem: a task gets its dataset from the driver (Ray's object store) or loads it itself (a local process),
and returns its run folders' files as bytes.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import torch

from aecompare.core.runtime import one_thread
from aecompare.errors import ConfigError

log = logging.getLogger(__name__)

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class ExecutorOptions:
    """How runs are spread: ``local`` processes (``workers``, ``runs_per_gpu``) or ``ray`` tasks (``address``,
    ``cpus_per_run``, ``gpus_per_run``; fractional GPUs allowed)."""

    kind: str = "local"
    workers: int | None = None  # local: processes; None: one per core on the CPU, runs_per_gpu per GPU
    runs_per_gpu: int | None = None  # local with CUDA: runs side by side on each GPU; None: from free memory
    address: str | None = None  # ray: None starts a local instance; "auto" or "ray://host:10001" joins one
    cpus_per_run: float = 1.0
    gpus_per_run: float = 0.0
    max_retries: int = 3  # ray: a task whose worker died is run again; finished runs are never redone

    def __post_init__(self) -> None:
        if self.kind not in EXECUTORS:
            raise ConfigError(f"unknown executor {self.kind!r}; choose one of: {', '.join(EXECUTORS)}")
        if self.runs_per_gpu is not None and self.runs_per_gpu < 1:
            raise ConfigError(f"--runs-per-gpu must be at least 1, got {self.runs_per_gpu}")
        if self.cpus_per_run <= 0 or self.gpus_per_run < 0:
            raise ConfigError("--cpus-per-run must be positive and --gpus-per-run 0 or more (fractions allowed)")


def run_tasks(
    fn: Callable[..., Any],
    tasks: Sequence[tuple],
    on_result: Callable[[int, Any], None],
    options: ExecutorOptions,
    init: Callable[[], None] | None = None,
) -> None:
    """Call ``fn(*task)`` for every task and ``on_result(index, result)`` in the driver as each finishes.

    Args:
        fn: a module-level (picklable) function.
        tasks: its argument tuples.
        on_result: called in this process, in the order results arrive.
        options: where to run.
        init: run once in each local worker process before its first task (e.g. to cache data).
    """
    if options.kind == "ray":
        _run_on_ray(fn, tasks, on_result, options)
        return
    workers, devices = local_lanes(options, len(tasks))
    if workers == 1:
        with one_thread():  # as in the pool's workers: the numbers do not depend on the pool's size
            for i, task in enumerate(tasks):
                on_result(i, fn(*task))
        return
    _run_in_processes(fn, tasks, on_result, workers, devices, init)


def local_lanes(options: ExecutorOptions, n_tasks: int) -> tuple[int, list[int]]:
    """How many local processes, and the CUDA device of each (empty on the CPU): ``runs_per_gpu`` per GPU,
    every GPU of the machine used."""
    if not torch.cuda.is_available():
        workers = options.workers or min(n_tasks, os.cpu_count() or 1, 4)
        return max(1, min(workers, max(n_tasks, 1))), []
    per_gpu = options.runs_per_gpu or default_runs_per_gpu()
    devices = [d for d in range(torch.cuda.device_count()) for _ in range(per_gpu)]
    workers = options.workers or len(devices)
    return max(1, min(workers, max(n_tasks, 1))), devices


def default_runs_per_gpu(gib_per_run: float = 2.0, most: int = 8) -> int:
    """Runs side by side on one GPU, from its free memory (2 GiB each, at most 8): small models use a fraction
    of a modern GPU."""
    free, _ = torch.cuda.mem_get_info(0)
    return max(1, min(most, int(free / 2**30 // gib_per_run)))


_LANE: dict[str, int] = {}


def _init_lane(devices: list[int], lanes: Any, init: Callable[[], None] | None) -> None:
    torch.set_num_threads(1)  # the processes share the cores; one thread each avoids oversubscription
    lane = lanes.get()  # each process takes one lane: a CUDA device slot
    if devices:
        torch.cuda.set_device(devices[lane % len(devices)])
    _LANE["index"] = lane
    if init is not None:
        init()


def _run_in_processes(
    fn: Callable[..., Any],
    tasks: Sequence[tuple],
    on_result: Callable[[int, Any], None],
    workers: int,
    devices: list[int],
    init: Callable[[], None] | None,
) -> None:
    # spawn, not fork: forking a process that has started torch's thread pools (or CUDA) can deadlock.
    context = multiprocessing.get_context("spawn")
    manager_lanes = context.Manager()
    lanes = manager_lanes.Queue()
    for lane in range(workers):
        lanes.put(lane)
    with (
        manager_lanes,
        ProcessPoolExecutor(
            workers, mp_context=context, initializer=_init_lane, initargs=(devices, lanes, init)
        ) as pool,
    ):
        futures = {pool.submit(fn, *task): i for i, task in enumerate(tasks)}
        try:
            for future in as_completed(futures):
                on_result(futures[future], future.result())  # re-raises a run's error here, with its message
        except BaseException:
            for f in futures:
                f.cancel()
            raise


def _run_on_ray(
    fn: Callable[..., Any], tasks: Sequence[tuple], on_result: Callable[[int, Any], None], options: ExecutorOptions
) -> None:
    """One Ray task per item with declared resources; results are handed over as they finish, Ctrl-C cancels
    what is still outstanding, and a task whose worker died is retried."""
    ray = require_ray()
    if not ray.is_initialized():
        ray.init(
            address=options.address, log_to_driver=False, **({} if options.address else {"num_cpus": os.cpu_count()})
        )
    log.info(
        "ray: %s",
        ", ".join(f"{k} {v:g}" for k, v in sorted(ray.cluster_resources().items()) if k in ("CPU", "GPU", "memory")),
    )
    remote = ray.remote(num_cpus=options.cpus_per_run, num_gpus=options.gpus_per_run, max_retries=options.max_retries)(
        _ray_task
    )
    pending = {remote.remote(fn, *task): i for i, task in enumerate(tasks)}
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                on_result(pending.pop(ref), ray.get(ref))
    except BaseException:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise


def _ray_task(fn: Callable[..., Any], *args: Any) -> Any:
    with one_thread():  # the same numbers as the local pool, whose workers run one thread each
        return fn(*args)


def require_ray() -> Any:
    """The ``ray`` module.

    Raises:
        ConfigError: when Ray is not installed, saying how to install it.
    """
    try:
        import ray
    except ImportError:
        raise ConfigError("--executor ray needs Ray: pip install 'aecompare[ray]' (or pip install ray)") from None
    return ray
