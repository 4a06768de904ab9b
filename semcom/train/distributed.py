"""Data-parallel training under ``torchrun`` (DDP): process group, wrapping, rank queries.

Started by ``torchrun --nproc-per-node N -m semcom.train ...``, each process reads ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK`` from the environment; the group uses NCCL on GPUs and gloo on
CPUs.  Without those variables (a plain ``semcom train``) every function here is a no-op, so the
trainer has one code path.
"""

from __future__ import annotations

import contextlib
import os

import torch
import torch.distributed as dist

__all__ = ["init", "rank", "world_size", "wrap", "barrier", "accumulating", "mean"]


def _launched() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init(device: torch.device) -> None:
    """Join the process group torchrun set up (once per process)."""
    if not _launched() or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend)


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return int(os.environ.get("WORLD_SIZE", "1"))


def wrap(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``module`` in DistributedDataParallel when several processes train, else as it is.

    Called again whenever the set of trainable parameters changes (a new stage), since DDP
    registers its gradient hooks for the parameters that require gradients when it is built.
    """
    if world_size() <= 1 or not dist.is_initialized():
        return module
    from torch.nn.parallel import DistributedDataParallel

    # a stage may train a module its loss does not reach in every pass; DDP must then not wait for it
    return DistributedDataParallel(module, device_ids=None, find_unused_parameters=True)


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def accumulating(model: torch.nn.Module, more_to_come: bool):
    """Context for one backward pass: without the gradient all-reduce while ``more_to_come``
    (more local shards follow), with it on the last one."""
    from torch.nn.parallel import DistributedDataParallel

    if more_to_come and isinstance(model, DistributedDataParallel):
        return model.no_sync()
    return contextlib.nullcontext()


def mean(value: torch.Tensor) -> torch.Tensor:
    """The mean of ``value`` over all processes (itself in a single process)."""
    if world_size() <= 1 or not dist.is_initialized():
        return value
    out = value.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / world_size()
