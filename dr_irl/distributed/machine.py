"""The machine a run starts on: visible CUDA GPUs, their memory and bf16 support, host RAM.

``cpu_bf16``: the CPU computes bf16 natively (AVX512-BF16 or AMX, :func:`dr_irl.models.precision.cpu_has_native_bf16`),
what a CPU run's mixed precision needs.

``probe_machine`` asks torch.cuda (tests patch those queries to simulate machines); ``simulated_machine``
reads a spec such as ``8x80`` (8 GPUs of 80 GB) for ``plan_machine=...``: the plan another machine would get.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

GB = 1e9  # decimal gigabytes, as GPU data sheets and the memory plan count them


@dataclass(frozen=True)
class Machine:
    gpus: int
    gpu_memory: int = 0  # bytes of the smallest visible GPU
    bf16: bool = False  # every visible GPU supports bfloat16
    cpu_bf16: bool = False  # the CPU computes bfloat16 natively
    host_memory: int = 0  # bytes of RAM
    gpu_name: str = ""
    simulated: bool = False

    def describe(self) -> str:
        ram = f"{self.host_memory / GB:.0f} GB RAM"
        if not self.gpus:
            return f"no CUDA GPU, {ram}" + (" (simulated)" if self.simulated else "")
        name = f" {self.gpu_name}" if self.gpu_name else ""
        sim = ", simulated" if self.simulated else ""
        plural = "s" if self.gpus > 1 else ""
        return f"{self.gpus}{name} GPU{plural} of {self.gpu_memory / GB:.0f} GB ({ram}{sim})"


def host_memory() -> int:
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except ImportError:  # pragma: no cover - psutil comes with accelerate
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def probe_machine() -> Machine:
    """This machine, as torch.cuda sees it (``CUDA_VISIBLE_DEVICES`` respected)."""
    import torch

    from dr_irl.models.precision import cpu_has_native_bf16

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if not count:
        return Machine(gpus=0, host_memory=host_memory(), cpu_bf16=cpu_has_native_bf16())
    props = [torch.cuda.get_device_properties(i) for i in range(count)]
    return Machine(
        gpus=count,
        gpu_memory=min(int(p.total_memory) for p in props),
        bf16=bool(torch.cuda.is_bf16_supported()),
        host_memory=host_memory(),
        gpu_name=str(props[0].name),
        cpu_bf16=cpu_has_native_bf16(),
    )


SPEC = re.compile(
    r"^\s*(?P<gpus>\d+)\s*(?:x\s*(?P<gb>\d+(?:\.\d+)?)\s*(?:gb)?)?\s*(?:,\s*ram\s*=\s*(?P<ram>\d+)\s*(?:gb)?)?\s*$",
    re.I,
)


def simulated_machine(spec: str) -> Machine:
    """``8x80`` → 8 GPUs of 80 GB with bf16; ``0`` → no GPU (a CPU without bf16 arithmetic); ``,ram=512``
    sets the host RAM in GB.

    Without ``ram`` the host gets twice the GPUs' total memory (at least 256 GB), like an 8-GPU server.
    """
    match = SPEC.match(str(spec))
    if not match or (int(match["gpus"]) > 0 and not match["gb"]):
        raise ValueError(f"plan_machine={spec!r}: expected <gpus>x<GB per GPU>[,ram=<GB>], e.g. 8x80 or 0")
    gpus = int(match["gpus"])
    gpu_memory = int(float(match["gb"] or 0) * GB)
    ram = float(match["ram"]) * GB if match["ram"] else max(256 * GB, 2 * gpus * gpu_memory)
    return Machine(gpus=gpus, gpu_memory=gpu_memory, bf16=gpus > 0, host_memory=int(ram), simulated=True)
