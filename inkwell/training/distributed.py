"""Several processes training one run (``torchrun``, ``accelerate launch``): who writes, and one shared decision.

Stage ``training``: imports nothing from the package; torch is imported inside the functions.
Under a launcher every process trains on its share of each global batch (DDP averages the
gradients), but only the main process (rank 0) writes the run folder, and decisions that
change the course of training (a validation result, early stopping, the run's folder name)
are taken there and sent to every process, so all of them take the same steps. In one plain
process every function here is a no-op: rank 0 of a world of 1.
"""

from __future__ import annotations

import os
from typing import Any, TypeVar

__all__ = ["barrier", "broadcast_from_main", "is_main_process", "process_rank", "start_distributed", "sum_over_processes",
           "world_size"]

_T = TypeVar("_T")


def _initialised() -> bool:
    """Whether a torch.distributed process group exists (torch is only imported once a launcher set WORLD_SIZE)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    import torch.distributed as dist  # heavy: loaded on use

    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    """Processes training together: the process group's size, else the launcher's ``WORLD_SIZE``, else 1."""
    if _initialised():
        import torch.distributed as dist  # heavy: loaded on use

        return int(dist.get_world_size())
    return int(os.environ.get("WORLD_SIZE", "1"))


def process_rank() -> int:
    """This process's global rank: from the process group, else the launcher's ``RANK``, else 0."""
    if _initialised():
        import torch.distributed as dist  # heavy: loaded on use

        return int(dist.get_rank())
    return int(os.environ.get("RANK", "0"))


def is_main_process() -> bool:
    """True in the one process that writes files and prints (rank 0; always True without a launcher)."""
    return process_rank() == 0


def start_distributed(cuda: bool) -> int:
    """Join the launcher's process group if there is one and it is not joined yet; return the world size.

    The backend is NCCL on CUDA GPUs (each process on the GPU ``LOCAL_RANK`` names) and gloo on
    CPUs. transformers' Trainer finds the group joined and uses it for DDP.

    Args:
        cuda: Whether training runs on CUDA GPUs.

    Returns:
        The number of processes (1 without a launcher: nothing is started).
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return 1
    import torch  # heavy: loaded on use
    import torch.distributed as dist  # heavy: loaded on use

    if not dist.is_initialized():
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    return int(dist.get_world_size())


def broadcast_from_main(value: _T) -> _T:
    """The main process's ``value``, in every process (``value`` itself without a process group).

    Args:
        value: Any picklable object; only the main process's one matters.

    Returns:
        The main process's object.
    """
    if not _initialised():
        return value
    import torch.distributed as dist  # heavy: loaded on use

    box: list[Any] = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def sum_over_processes(tensor: Any) -> Any:
    """The sum of ``tensor`` over all processes, as a new tensor (a copy of ``tensor`` without a process group)."""
    total = tensor.detach().clone()
    if _initialised():
        import torch.distributed as dist  # heavy: loaded on use

        dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total


def barrier() -> None:
    """Wait until every process gets here (nothing without a process group)."""
    if _initialised():
        import torch.distributed as dist  # heavy: loaded on use

        dist.barrier()
