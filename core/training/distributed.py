"""Distributed data parallel training through ``torchrun`` (NCCL on CUDA, gloo on CPU)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in a (possibly single-process) run.

    Attributes:
        rank: Global rank.
        world_size: Number of processes.
        local_rank: Rank on this machine (selects the GPU).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        """Whether more than one process takes part."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this process writes files and shows progress."""
        return self.rank == 0


def init_distributed(device: str) -> tuple[DistContext, torch.device]:
    """Join the process group ``torchrun`` set up (``WORLD_SIZE`` > 1 in the environment), or stay single.

    Returns:
        The context and the device this process trains on (``cuda:LOCAL_RANK`` for distributed CUDA runs).
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    wanted = torch.device(device)
    if world_size <= 1:
        return DistContext(), wanted
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if wanted.type == "cuda":
        torch.cuda.set_device(local_rank)
        wanted = torch.device("cuda", local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if wanted.type == "cuda" else "gloo")
    return DistContext(rank, world_size, local_rank), wanted


def shutdown_distributed() -> None:
    """Leave the process group if this process joined one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_sum(values: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Sum a tensor over every process (identity in single-process runs)."""
    if ctx.distributed:
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def any_flag(flag: bool, ctx: DistContext, device: torch.device) -> bool:
    """Whether ``flag`` is set on any process (so every process stops at the same step)."""
    if not ctx.distributed:
        return flag
    return bool(all_sum(torch.tensor([1.0 if flag else 0.0], device=device), ctx).item() > 0)
