"""Backbones of the reward models: sequence classifiers with one output (num_labels=1), loaded to train or,
saved, to score."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from omegaconf import DictConfig

from dr_irl.distributed.deepspeed import zero3_init_disabled
from dr_irl.encoders.text import minilm_folder
from dr_irl.models.weights import resolve_hub_path
from dr_irl.registry import Registry

__all__ = [
    "BACKBONE_SOURCES",
    "SHARED",
    "load_scoring_model",
    "minilm_folder",
    "resolve_backbone_path",
]

SHARED = "shared"  # the folder of the one model of reward_model.per_category=false

BACKBONE_SOURCES: Registry[Callable[[DictConfig, str], str]] = Registry("reward_model.backbone.source")


@BACKBONE_SOURCES.register("minilm")
def _minilm(backbone: DictConfig, policy_path: str) -> str:
    return minilm_folder()


@BACKBONE_SOURCES.register("hub")
def _hub(backbone: DictConfig, policy_path: str) -> str:
    return resolve_hub_path(backbone.path, None, "reward_model.backbone.path")


@BACKBONE_SOURCES.register("policy")
def _policy(backbone: DictConfig, policy_path: str) -> str:
    return policy_path


def resolve_backbone_path(backbone: DictConfig, policy_path: str) -> str:
    return BACKBONE_SOURCES.get(backbone.source)(backbone, policy_path)


def load_reward_tokenizer(path: str, trust_remote_code: bool = False):
    """The reward model's tokenizer: a pad token (the eos if none), right padding."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    return tokenizer


def load_reward_model(path: str, trust_remote_code: bool = False, seed: int | None = None):
    """(model, tokenizer) of a one-output sequence classifier; a new head is initialised if ``path`` has none.

    ``seed`` (to train the model): every RNG is seeded first, so the new head and whatever is initialised
    after it (LoRA weights) do not depend on what ran before in this process."""
    from transformers import AutoModelForSequenceClassification

    if seed is not None:
        from dr_irl.hf_trainer import seed_model_construction

        seed_model_construction(seed)
    tokenizer = load_reward_tokenizer(path, trust_remote_code)
    model = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=1, dtype=torch.float32, trust_remote_code=trust_remote_code
    )
    model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def encode_pairs(tokenizer, prompts: list[str], responses: list[str], max_length: int) -> dict[str, list]:
    """The one tokenisation of (prompt, response) used both to train and to score reward models."""
    encoded = tokenizer(prompts, responses, truncation="longest_first", max_length=max_length)
    return {"input_ids": encoded["input_ids"]}


@torch.inference_mode()
def score_texts(
    model, tokenizer, prompts: list[str], responses: list[str], max_length: int, batch_size: int = 32
) -> torch.Tensor:
    """Scalar reward R(x, y) for each pair, batched."""
    model.eval()
    device = next(model.parameters()).device
    scores = []
    for start in range(0, len(prompts), batch_size):
        ids = encode_pairs(
            tokenizer, prompts[start : start + batch_size], responses[start : start + batch_size], max_length
        )["input_ids"]
        batch = tokenizer.pad({"input_ids": ids}, return_tensors="pt", padding=True)
        logits = model(
            input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device)
        ).logits
        scores.append(logits[:, 0].float().cpu())
    return torch.cat(scores) if scores else torch.zeros(0)


@zero3_init_disabled()
def load_scoring_model(folder: Path, base_path: str | None = None):
    """(model, tokenizer) of a saved reward model: a plain folder, or a LoRA adapter on its base backbone —
    ``base_path`` when given (the run's own backbone: the adapter's recorded path may be another run's
    folder when the stage came from the stage cache), else the path the adapter recorded.

    Loaded whole on this process (scoring is never sharded), even next to a ZeRO-3 trainer."""
    if (Path(folder) / "adapter_config.json").is_file():
        from peft import PeftModel

        tokenizer = load_reward_tokenizer(str(folder))
        base, _ = load_reward_model(base_path or adapter_base_path(Path(folder)))
        base.config.pad_token_id = tokenizer.pad_token_id
        return PeftModel.from_pretrained(base, str(folder)).eval(), tokenizer
    return load_reward_model(str(folder))


def adapter_base_path(folder: Path) -> str:
    import json

    return json.loads((folder / "adapter_config.json").read_text())["base_model_name_or_path"]
