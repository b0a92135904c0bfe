"""Rank helpers that work with and without torch.distributed (one process: rank 0 of 1)."""

from __future__ import annotations

import os
from datetime import timedelta


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main_process() -> bool:
    return rank() == 0


def init_process_group(use_cpu: bool) -> None:
    """Join the process group torchrun set up (gloo on CPU, nccl on GPU); no-op for one process."""
    if world_size() == 1:
        return
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        if not use_cpu and torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        # generous timeout: other ranks wait at barriers while rank 0 generates or evaluates
        dist.init_process_group("gloo" if use_cpu else "nccl", timeout=timedelta(hours=6))


def device(use_cpu: bool) -> str:
    """This process's device: its CUDA GPU (LOCAL_RANK) unless ``use_cpu`` or none is available."""
    import torch

    if use_cpu or not torch.cuda.is_available():
        return "cpu"
    return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"


def barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def broadcast_from_main(value):
    """Rank 0's ``value`` on every rank (a picklable object); the value itself with one process."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return value
    box = [value if is_main_process() else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]
