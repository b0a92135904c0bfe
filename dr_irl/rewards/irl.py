"""Maximum-likelihood IRL reward models (Li et al. 2024), one per category: demonstration ≻ policy sample.

Loss −log σ(R(x, y*) − R(x, ỹ)), ỹ ~ π_ref(·|x): TRL's RewardTrainer on pre-tokenised pairs.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

from omegaconf import DictConfig, OmegaConf

from dr_irl.data.pairs import Pair
from dr_irl.distributed import is_main_process
from dr_irl.distributed.deepspeed import zero3_init_disabled
from dr_irl.hf_trainer import (
    checkpoint_args,
    hardware_args,
    lora_config,
    save_trained,
    train_resumable,
    use_compact_progress,
)
from dr_irl.rewards.backbones import encode_pairs, load_reward_model, load_reward_tokenizer, score_texts

SHARED = "shared"
T = TypeVar("T")


def split_by_prompt(pairs: list[T], eval_fraction: float, seed: int) -> tuple[list[T], list[T]]:
    """Held-out items (anything with a ``prompt_id``) for accuracy, split by prompt so no prompt is in both."""
    ids = sorted({p.prompt_id for p in pairs})
    random.Random(seed).shuffle(ids)
    n_eval = int(round(len(ids) * eval_fraction)) if len(ids) > 1 else 0
    eval_ids = set(ids[:n_eval])
    return [p for p in pairs if p.prompt_id not in eval_ids], [p for p in pairs if p.prompt_id in eval_ids]


def pairwise_accuracy(model, tokenizer, pairs: list[Pair], max_length: int) -> float | None:
    if not pairs:
        return None
    chosen = score_texts(model, tokenizer, [p.prompt for p in pairs], [p.chosen for p in pairs], max_length)
    rejected = score_texts(
        model, tokenizer, [p.prompt for p in pairs], [p.rejected for p in pairs], max_length
    )
    return (chosen > rejected).float().mean().item()


def reward_training_args(
    rm_cfg: DictConfig, hardware: DictConfig, out_dir: Path, seed: int, report_to: str
) -> dict:
    """The TrainingArguments every reward-model trainer (RewardTrainer, the AfD discriminator's) shares."""
    return {
        "output_dir": str(out_dir / "trainer"),
        "num_train_epochs": rm_cfg.epochs,
        "learning_rate": rm_cfg.learning_rate,
        "per_device_train_batch_size": rm_cfg.batch_size,
        **hardware_args(hardware),
        "gradient_checkpointing": False,
        "report_to": report_to,
        "logging_steps": 5,
        "seed": seed,
        **checkpoint_args(rm_cfg),
    }


def reward_lora_config(rm_cfg: DictConfig):
    """peft config of a reward model (SEQ_CLS): ``backbone.lora``, always on with ``shared_backbone`` (adapters
    on one backbone are the point of that option, whatever ``lora.enabled`` says)."""
    lora = rm_cfg.backbone.lora
    if rm_cfg.shared_backbone:
        lora = {**lora, "enabled": True}
    return lora_config(OmegaConf.create(lora) if isinstance(lora, dict) else lora, task_type="SEQ_CLS")


def fit_and_save(trainer, tokenizer, out_dir: Path, rm_cfg: DictConfig, desc: str):
    """Train a reward model's trainer (resuming from its last checkpoint after a crash) and save the model
    to ``out_dir`` (LoRA merged unless the adapters share a backbone); returns the trainer's result."""
    use_compact_progress(trainer, desc)
    result = train_resumable(trainer)
    save_trained(
        trainer,
        tokenizer,
        out_dir,
        peft_auto_class="AutoPeftModelForSequenceClassification",
        merge=not rm_cfg.shared_backbone,
    )
    return result


def train_reward_model(
    pairs: list[Pair],
    backbone_path: str,
    out_dir: Path,
    rm_cfg: DictConfig,
    hardware: DictConfig,
    seed: int,
    report_to: str = "none",
) -> dict[str, float | int | None]:
    """Train one reward model on ``pairs`` with TRL's RewardTrainer, save it (merged if LoRA) to ``out_dir``.

    A model an interrupted run of the stage finished (its ``reward_summary.json``, written last) is kept."""
    from datasets import Dataset
    from trl import RewardConfig, RewardTrainer

    finished = read_finished(out_dir)
    if finished is not None:
        return finished
    model, tokenizer = load_reward_model(backbone_path, seed=seed)
    train_pairs, eval_pairs = split_by_prompt(pairs, rm_cfg.eval_fraction, seed)
    chosen = encode_pairs(
        tokenizer, [p.prompt for p in train_pairs], [p.chosen for p in train_pairs], rm_cfg.max_length
    )
    rejected = encode_pairs(
        tokenizer, [p.prompt for p in train_pairs], [p.rejected for p in train_pairs], rm_cfg.max_length
    )
    dataset = Dataset.from_dict({"chosen_ids": chosen["input_ids"], "rejected_ids": rejected["input_ids"]})
    args = RewardConfig(
        **reward_training_args(rm_cfg, hardware, out_dir, seed, report_to), max_length=rm_cfg.max_length
    )
    trainer = RewardTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=reward_lora_config(rm_cfg),
    )
    result = fit_and_save(trainer, tokenizer, out_dir, rm_cfg, f"reward model {out_dir.name}")
    summary: dict[str, float | int | None] = {
        "train_pairs": len(train_pairs),
        "eval_pairs": len(eval_pairs),
        "train_loss": result.training_loss,
    }
    if is_main_process():
        model, tokenizer = load_scoring_model(out_dir)
        summary["train_accuracy"] = pairwise_accuracy(model, tokenizer, train_pairs, rm_cfg.max_length)
        summary["eval_accuracy"] = pairwise_accuracy(model, tokenizer, eval_pairs, rm_cfg.max_length)
        mark_finished(out_dir, summary)
    return summary


FINISHED = "reward_summary.json"


def mark_finished(out_dir: Path, summary: dict) -> None:
    """Record that the model in ``out_dir`` is complete (its summary, written after the weights)."""
    from dr_irl.io import atomic_write_json

    atomic_write_json(Path(out_dir) / FINISHED, summary)


def read_finished(out_dir: Path) -> dict | None:
    """The summary of a model an earlier, interrupted run of the stage finished in ``out_dir``, or None."""
    import json

    try:
        return json.loads((Path(out_dir) / FINISHED).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


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


def model_groups(pairs: list[Pair], categories: Sequence[str], per_category: bool) -> dict[str, list[Pair]]:
    """Which pairs train which model: one model per category, or one ``shared`` model."""
    if not per_category:
        return {SHARED: pairs}
    groups = {c: [p for p in pairs if p.category == c] for c in categories}
    empty = [c for c, g in groups.items() if not g]
    if empty:
        raise ValueError(f"no IRL training pairs for categories {empty}")
    return groups
