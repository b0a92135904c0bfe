"""Maximum-likelihood IRL reward models (Li et al. 2024), one per category: demonstration ≻ policy sample.

Loss −log σ(R(x, y*) − R(x, ỹ)), ỹ ~ π_ref(·|x): TRL's RewardTrainer on pre-tokenised pairs. The family
``reward_model.kind=irl``; its pairwise trainer and classifier scorer serve the other classifier families.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from omegaconf import DictConfig, OmegaConf

from dr_irl.data.pairs import Pair
from dr_irl.distributed import is_main_process
from dr_irl.distributed.ranks import device
from dr_irl.hf_trainer import (
    TrackerCallback,
    checkpoint_args,
    hardware_args,
    lora_config,
    save_trained,
    train_resumable,
    use_compact_progress,
)
from dr_irl.pipeline import Context
from dr_irl.rewards.backbones import (
    SHARED,
    encode_pairs,
    load_reward_model,
    load_scoring_model,
    resolve_backbone_path,
    score_texts,
)
from dr_irl.rewards.families import register_family
from dr_irl.run_artifacts import reference_reads, reward_pairs, reward_reference_path

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
        "activation_checkpointing": False,
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
    callbacks=(),
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
        callbacks=list(callbacks),
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


def model_groups(pairs: list[Pair], categories: Sequence[str], per_category: bool) -> dict[str, list[Pair]]:
    """Which pairs train which model: one model per category, or one ``shared`` model."""
    if not per_category:
        return {SHARED: pairs}
    groups = {c: [p for p in pairs if p.category == c] for c in categories}
    empty = [c for c, g in groups.items() if not g]
    if empty:
        raise ValueError(f"no IRL training pairs for categories {empty}")
    return groups


def classifier_scorer(ctx: Context, folder: Path):
    """The sequence-classifier reward models under ``folder/models`` (per category, shared or adapters)."""
    from dr_irl.rewards.router import CategoryRewardModels

    rm = ctx.cfg.reward_model
    return CategoryRewardModels(
        folder / "models",
        ctx.cfg.dataset.categories,
        rm.max_length,
        device=device(ctx.cfg.hardware.use_cpu),
        # adapters: this run's backbone
        base_path=resolve_backbone_path(rm.backbone, reward_reference_path(ctx)),
    )


def train_per_category(ctx: Context, out: Path, items: list, train: Callable[..., dict], label: str) -> dict:
    """``train(group, backbone, folder, rm_cfg, hardware, seed, callbacks=...)`` for each model of
    ``reward_model.per_category`` (one per category, or one ``shared``) into ``out/models/<name>``; each
    model's curves go to the tracker under ``<stage>/<name>``. Returns the summaries by model."""
    rm = ctx.cfg.reward_model
    backbone = resolve_backbone_path(rm.backbone, reward_reference_path(ctx))
    summary = {}
    for name, group in model_groups(items, ctx.cfg.dataset.categories, rm.per_category).items():
        summary[name] = train(
            group,
            backbone,
            out / "models" / name,
            rm,
            ctx.cfg.hardware,
            ctx.cfg.seed,
            callbacks=[TrackerCallback(ctx.tracker, f"{ctx.stage}/{name}")],
        )
        print(f"{label} {name}: {summary[name]}")
    return summary


def train_pairwise(ctx: Context, out: Path, pairs: list, label: str) -> dict:
    """One RewardTrainer model per category (or one ``shared``) on (chosen ≻ rejected) ``pairs``."""
    return train_per_category(ctx, out, pairs, train_reward_model, f"{label} reward model")


def _reads_policy_backbone(cfg) -> tuple[str, ...]:
    """A backbone of the policy's own weights is π_ref's: the warm-started policy unless π_ref is the base model."""
    return reference_reads(cfg) if cfg.reward_model.backbone.source == "policy" else ()


@register_family("irl", scorer=classifier_scorer, reads=_reads_policy_backbone)
def train_irl(ctx: Context, out: Path) -> dict:
    """One IRL reward model per category (or one shared): demonstration ≻ reference sample."""
    return train_pairwise(ctx, out, reward_pairs(ctx), "IRL")
