"""``python train.py hardware.num_gpus=N`` relaunches itself under torchrun with N processes per node.

Every rank gets the same Hydra run directory (passed as ``hydra.run.dir``), so the artifacts of one
experiment stay in one place; only rank 0 writes them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from omegaconf import DictConfig


def needs_launch(hardware: DictConfig) -> bool:
    """True when more than one process is asked for, or DeepSpeed on one GPU (its engine needs torchrun's
    rendezvous even alone), and we are not already one of them."""
    several = hardware.num_gpus > 1 or hardware.num_nodes > 1
    one_deepspeed = hardware.deepspeed.enabled and not hardware.use_cpu
    return (several or one_deepspeed) and "LOCAL_RANK" not in os.environ


def torchrun_command(
    hardware: DictConfig, script: str | Path, overrides: list[str], run_dir: str | Path
) -> list[str]:
    kept = [o for o in overrides if not o.startswith("hydra.run.dir=")]
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc_per_node={hardware.num_gpus}",
        f"--nnodes={hardware.num_nodes}",
        f"--node_rank={hardware.node_rank}",
        f"--master_addr={hardware.master_addr}",
        f"--master_port={hardware.master_port}",
        str(script),
        *kept,
        f"hydra.run.dir={run_dir}",
    ]


def launch(hardware: DictConfig, script: str | Path, overrides: list[str], run_dir: str | Path) -> int:
    """Run the experiment under torchrun and return its exit status."""
    command = torchrun_command(hardware, script, overrides, run_dir)
    print("launching:", " ".join(command), flush=True)
    return subprocess.call(command)
