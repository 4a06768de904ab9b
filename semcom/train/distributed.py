"""Data-parallel training under ``torchrun`` (DDP): process group, wrapping, rank queries.

Started by ``torchrun --nproc-per-node N -m semcom.train ...``, each process reads ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK`` from the environment; the group uses NCCL on GPUs and gloo on
CPUs.  Without those variables (a plain ``semcom train``) every function here is a no-op, so the
trainer has one code path.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

__all__ = ["init", "rank", "world_size", "wrap", "barrier"]


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

    return DistributedDataParallel(module, device_ids=None, find_unused_parameters=True,
                                   broadcast_buffers=False)


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
