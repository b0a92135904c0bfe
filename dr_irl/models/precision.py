"""Which dtype generation runs in: ``eval.generation_dtype`` (``auto`` resolved for this machine).

On a CPU with native bf16 arithmetic (AVX512-BF16 or AMX), a bf16 matrix product runs about three times
faster than fp32 (docs/performance.md), so ``auto`` generates in bfloat16 there when the model is held in
float32; everywhere else (GPUs, CPUs without bf16 arithmetic, where bf16 is emulated and slower) it keeps
``model.dtype``. Training, and the readers of hidden states (RRM's probe, demonstrations), use ``model.dtype``.
:func:`dr_irl.cli.run` resolves ``auto`` at start-up, so the stages' fingerprints name the dtype.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

GENERATION_DTYPES = ("auto", "float32", "bfloat16", "float16")
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_has_native_bf16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """Whether this CPU computes bf16 products natively (AVX512-BF16 or AMX-BF16)."""
    import torch

    try:
        if torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported():
            return True
    except AttributeError:  # a torch without these checks
        pass
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    flags = {f for line in text.splitlines() if line.startswith("flags") for f in line.split()}
    return any(flag in flags for flag in BF16_CPU_FLAGS)


def resolve_generation_dtype(generation_dtype: str, model_dtype: str, on_cpu: bool, native_bf16: bool) -> str:
    """The dtype generation runs in: ``generation_dtype`` unless it is ``auto``; ``auto`` is bfloat16 for
    a float32 model on a CPU with native bf16 arithmetic, else ``model_dtype``."""
    if generation_dtype not in GENERATION_DTYPES:
        raise ValueError(
            f"eval.generation_dtype={generation_dtype!r}: expected one of {list(GENERATION_DTYPES)}"
        )
    if generation_dtype != "auto":
        return generation_dtype
    if on_cpu and native_bf16 and model_dtype == "float32":
        return "bfloat16"
    return model_dtype


def generation_dtype(cfg: DictConfig) -> str:
    """``eval.generation_dtype`` of a run's config, resolved on this machine."""
    requested = str(cfg.eval.get("generation_dtype", "auto"))
    on_cpu = bool(cfg.hardware.use_cpu)
    native = cpu_has_native_bf16() if on_cpu and requested == "auto" else False
    return resolve_generation_dtype(requested, str(cfg.model.dtype), on_cpu, native)
