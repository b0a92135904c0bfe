"""The DeepSpeed JSON config generated from ``hardware.deepspeed`` (ZeRO-2/3, CPU offload).

Batch sizes, gradient accumulation, precision and clipping are ``"auto"``: the HF Trainer (which TRL's
trainers are) fills them from its own arguments, so the two can never disagree.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from omegaconf import DictConfig


def deepspeed_config(hardware: DictConfig) -> dict[str, Any] | None:
    """DeepSpeed config for the trainers, or None when ``hardware.deepspeed.enabled`` is false."""
    ds = hardware.deepspeed
    if not ds.enabled:
        return None
    if ds.stage not in (0, 1, 2, 3):
        raise ValueError(f"hardware.deepspeed.stage={ds.stage}: expected 0, 1, 2 or 3")
    if ds.offload_params and ds.stage != 3:
        raise ValueError("hardware.deepspeed.offload_params needs ZeRO stage 3")
    zero: dict[str, Any] = {
        "stage": ds.stage,
        "overlap_comm": ds.overlap_comm,
        "contiguous_gradients": True,
        "reduce_bucket_size": ds.reduce_bucket_size,
    }
    if ds.offload_optimizer:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": not hardware.use_cpu}
    if ds.stage == 3:
        zero.update(
            stage3_prefetch_bucket_size="auto",
            stage3_param_persistence_threshold="auto",
            stage3_gather_16bit_weights_on_model_save=True,
        )
        if ds.offload_params:
            zero["offload_param"] = {"device": "cpu", "pin_memory": not hardware.use_cpu}
    return {
        "train_micro_batch_size_per_gpu": "auto",
        "gradient_accumulation_steps": "auto",
        "train_batch_size": "auto",
        "gradient_clipping": "auto",
        "bf16": {"enabled": "auto"},
        "fp16": {"enabled": "auto"},
        "zero_optimization": zero,
    }


@contextmanager
def zero3_init_disabled() -> Iterator[None]:
    """Load models whole on this one process, even while a ZeRO-3 trainer config is alive.

    After a ZeRO-3 trainer was built, transformers' ``from_pretrained`` partitions every new model with
    ``deepspeed.zero.Init``: a collective, so a model loaded by rank 0 alone (generation, scoring, a merge)
    would wait forever for the other ranks. Inside this context that global switch is off.
    """
    from transformers.integrations import deepspeed as hf_deepspeed

    saved = hf_deepspeed._hf_deepspeed_config_weak_ref
    hf_deepspeed._hf_deepspeed_config_weak_ref = None
    try:
        yield
    finally:
        hf_deepspeed._hf_deepspeed_config_weak_ref = saved
