"""Parameter counts and layer shapes of a model, read from its Hugging Face config — no weights loaded.

Where a config comes from, first hit wins: the random-weight builder's shape (``model.source=tiny``), the
model's own ``config.json`` when it is on this machine (a folder, the HF cache, SmolLM2's converted copy),
else the shapes the model's YAML declares under ``model.arch`` (the HF config's own key names). The count
is exact: the model class is instantiated on PyTorch's ``meta`` device and its parameters are summed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from omegaconf import DictConfig, OmegaConf


@dataclass(frozen=True)
class ModelShape:
    """What the memory plan needs of a model."""

    parameters: int
    hidden_size: int
    num_layers: int
    vocab_size: int
    kv_width: int  # num_key_value_heads × head_dim: one token's K (or V) in one layer
    linear_shapes: tuple[tuple[str, int, int], ...]  # (module name, in, out) of every Linear, for LoRA counts
    origin: str  # where the config came from


def _local_config_file(model_cfg: DictConfig, cache_dir: Path) -> Path | None:
    """The model's config.json if it is on this machine (a folder, the HF cache, a converted copy)."""
    if model_cfg.source == "smollm2_gguf":
        found = cache_dir / "models" / "smollm2-135m-instruct" / "config.json"
        return found if found.is_file() else None
    path = str(model_cfg.get("path") or "")
    if not path:
        return None
    folder = Path(path).expanduser()
    if (folder / "config.json").is_file():
        return folder / "config.json"
    if path.startswith(("/", ".", "~")):
        return None
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(path, "config.json", revision=model_cfg.get("revision"))
    return Path(cached) if isinstance(cached, str) else None


def hf_config(model_cfg: DictConfig, cache_dir: str | Path):
    """(transformers config, where it came from) of ``model_cfg``, or None when nothing declares its shape."""
    from transformers import AutoConfig, LlamaConfig

    if model_cfg.source == "tiny":
        tiny = model_cfg.tiny
        config = LlamaConfig(  # the same shape dr_irl.models.tiny.build_tiny_model saves
            vocab_size=tiny.vocab_size,
            hidden_size=tiny.hidden_size,
            intermediate_size=tiny.intermediate_size or tiny.hidden_size * 2,
            num_hidden_layers=tiny.num_layers,
            num_attention_heads=tiny.num_heads,
            num_key_value_heads=tiny.num_kv_heads or tiny.num_heads,
            tie_word_embeddings=True,
        )
        return config, "model.tiny"
    local = _local_config_file(model_cfg, Path(cache_dir))
    if local is not None:
        raw = json.loads(local.read_text(encoding="utf-8"))
        raw.pop("quantization_config", None)
        try:  # a config class transformers knows (no remote code is run for a plan)
            return AutoConfig.for_model(**raw), str(local)
        except (ValueError, KeyError, TypeError):
            pass
    arch = model_cfg.get("arch")
    if arch is not None and arch.model_type:
        fields = {k: v for k, v in OmegaConf.to_container(arch).items() if v not in (None, 0, "")}
        fields.setdefault("tie_word_embeddings", bool(arch.tie_word_embeddings))
        return AutoConfig.for_model(**fields), "model.arch"
    return None


def count_shape(config, origin: str, head: str = "causal_lm") -> ModelShape:
    """Exact parameter count of ``config``'s model (``head``: causal_lm or a one-output sequence classifier)."""
    import torch
    from torch import nn
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    if head == "sequence_classifier":
        config.num_labels = 1
        factory = AutoModelForSequenceClassification
    else:
        factory = AutoModelForCausalLM
    with torch.device("meta"):
        model = factory.from_config(config)
    heads = getattr(config, "num_attention_heads", 1) or 1
    hidden = config.hidden_size
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    linears = tuple(
        (name, module.in_features, module.out_features)
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear)
    )
    return ModelShape(
        parameters=sum(p.numel() for p in model.parameters()),
        hidden_size=hidden,
        num_layers=config.num_hidden_layers,
        vocab_size=config.vocab_size,
        kv_width=kv_heads * head_dim,
        linear_shapes=linears,
        origin=origin,
    )


@lru_cache(maxsize=32)
def _cached_shape(model_yaml: str, cache_dir: str, head: str) -> ModelShape | None:
    found = hf_config(OmegaConf.create(model_yaml), cache_dir)
    return None if found is None else count_shape(found[0], found[1], head)


def model_shape(model_cfg: DictConfig, cache_dir: str | Path, head: str = "causal_lm") -> ModelShape | None:
    """The shape of ``model_cfg``'s model, or None when neither a local config nor ``model.arch`` gives it."""
    text = OmegaConf.to_yaml(model_cfg, resolve=True)
    return _cached_shape(text, str(cache_dir), head)


def folder_shape(folder: str | Path, head: str = "sequence_classifier") -> ModelShape | None:
    """The shape of the model saved in ``folder`` (e.g. a reward backbone), or None without a config.json."""
    config_file = Path(folder) / "config.json"
    if not config_file.is_file():
        return None
    return _cached_shape(OmegaConf.to_yaml({"source": "hub", "path": str(folder)}), "", head)


def lora_parameters(shape: ModelShape, r: int, target_modules: str) -> int:
    """Trainable parameters of LoRA adapters of rank ``r``: r·(in + out) per targeted Linear.

    ``all-linear`` targets every Linear but the output head (peft's rule); otherwise a comma-separated list of
    module-name suffixes (``q_proj,v_proj``).
    """
    if target_modules == "all-linear":
        chosen = [
            s for s in shape.linear_shapes if s[0].split(".")[-1] not in ("lm_head", "score", "classifier")
        ]
    else:
        names = {t.strip() for t in target_modules.split(",") if t.strip()}
        chosen = [s for s in shape.linear_shapes if s[0].split(".")[-1] in names]
    return sum(r * (fan_in + fan_out) for _, fan_in, fan_out in chosen)
