"""Data-parallel training across processes started by ``torchrun`` (gloo on the CPU, NCCL on GPUs).

Every process holds the same model and draws the same global batch order; each trains on its rows of every
global batch and the gradients are summed across processes before each step, which is what
DistributedDataParallel does. Here the sum is one ``all_reduce`` of the flat gradient buffer per step, and
each process scales its loss by its share of the global batch, so the step equals a single process's at the
same global batch size (up to the order of float additions). A VAE's noise is drawn for the whole global batch
on every process and each takes its rows, so it matches too.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """(this process's rank, how many processes); (0, 1) outside ``torchrun``."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    """Whether this process writes files (rank 0, or the only process)."""
    return world()[0] == 0


def init_from_environment() -> bool:
    """Join the process group ``torchrun`` describes in the environment (``WORLD_SIZE`` > 1); True if joined.
    Each process on a GPU machine takes the GPU of its ``LOCAL_RANK``."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or not dist.is_available() or dist.is_initialized():
        return False
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    return True


def shard(n: int) -> slice:
    """This process's rows of a global batch of ``n`` (contiguous, sizes differing by at most one)."""
    rank, size = world()
    return slice(rank * n // size, (rank + 1) * n // size)


def sum_across(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` summed over every process, in place; unchanged in a single process."""
    if world()[1] > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor
