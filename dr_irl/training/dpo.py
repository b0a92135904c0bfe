"""DPO (TRL's DPOTrainer) and DPO-S, DPO whose β is scaled per pair by the DR-IRL α (``optimizer.name=dpo``,
``dpo_s``).

Pairs: chosen = the record's ``chosen`` or its demonstration, rejected = the record's ``rejected`` or a
reference sample ỹ ~ π_ref (the same negatives the IRL reward models see).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig
from trl import DPOConfig

from dr_irl.config import policy_seed
from dr_irl.data.pairs import Pair, preference_pairs
from dr_irl.distributed.ranks import world_size
from dr_irl.hf_trainer import JsonlMetricsCallback, TrackerCallback, checkpoint_args, hardware_args
from dr_irl.io import atomic_write_json
from dr_irl.pipeline import Context
from dr_irl.rewards.families import reward_models
from dr_irl.run_artifacts import (
    hardness_scorer,
    init_policy_path,
    offline_delta_bar,
    records,
    reference_samples,
)
from dr_irl.scaling import DynamicRewardScaler
from dr_irl.scaling.build import build_scaler
from dr_irl.training.dpo_trainers import (
    OnlineScaledDPOTrainer,
    ScaledDPOTrainer,
    WeightedPreferenceCollator,
)
from dr_irl.training.methods import register_method


@dataclass
class OnlineScaling:
    """What online DPO-S needs besides the pairs: the stateful scaler, each pair's category index and δ (None
    without α^D), and δ̄ per category."""

    scaler: DynamicRewardScaler
    category_index: list[int]
    delta: list[float] | None = None
    delta_bar: torch.Tensor | None = None


def dpo_dataset(
    pairs: Sequence[Pair],
    beta_scale: Sequence[float] | None = None,
    online: OnlineScaling | None = None,
):
    """The preference rows, with DPO-S's per-pair columns: ``beta_scale`` (offline α) or the category
    index and δ the online scaler reads."""
    from datasets import Dataset

    rows = [
        {
            "prompt": [{"role": "user", "content": p.prompt}],
            "chosen": [{"role": "assistant", "content": p.chosen}],
            "rejected": [{"role": "assistant", "content": p.rejected}],
        }
        for p in pairs
    ]
    columns = {"beta_scale": beta_scale}
    if online is not None:
        columns |= {"category_index": online.category_index, "delta": online.delta}
    for name, values in columns.items():
        if values is not None:
            for row, value in zip(rows, values, strict=True):
                row[name] = value
    return Dataset.from_list(rows)


def dpo_config(
    out_dir: Path,
    opt: DictConfig,
    hardware: DictConfig,
    seed: int,
    report_to: str,
    precompute_ref: bool = False,
) -> DPOConfig:
    """TRL's DPOConfig from the optimizer and hardware groups (sigmoid loss: DPO-S and RRM build on it)."""
    return DPOConfig(
        output_dir=str(out_dir / "trainer"),
        num_train_epochs=opt.epochs,
        max_steps=opt.max_steps,
        learning_rate=opt.learning_rate,
        beta=opt.beta,
        per_device_train_batch_size=opt.batch_size,
        max_length=opt.max_length,
        loss_type=["sigmoid"],
        precompute_ref_log_probs=precompute_ref,
        report_to=report_to,
        logging_steps=opt.logging_steps,
        seed=seed,
        **checkpoint_args(opt),
        **hardware_args(hardware),
    )


def train_dpo(
    model_path: str,
    pairs: Sequence[Pair],
    out_dir: Path,
    opt: DictConfig,
    model_cfg: DictConfig,
    hardware: DictConfig,
    seed: int,
    beta_scale: Sequence[float] | None = None,
    online: OnlineScaling | None = None,
    report_to: str = "none",
    callbacks=(),
) -> dict:
    """Train with DPO from ``model_path`` (β scaled per pair by ``beta_scale``, or every step by ``online``);
    saves the policy to ``out_dir/model``."""
    from dr_irl.hf_trainer import (
        load_trainable_policy,
        lora_config,
        save_trained,
        seed_model_construction,
        train_resumable,
        use_compact_progress,
    )

    if beta_scale is not None and online is not None:
        raise ValueError("DPO-S scales beta offline (beta_scale) or online, not both")
    if online is not None and world_size() > 1:
        # TRL precomputes the reference log-probs of an in-memory dataset into a per-process temporary file that
        # the other ranks cannot read: online DPO-S runs on one process
        raise ValueError(
            "optimizer.alpha_mode=online runs on one process (hardware.num_gpus=1); "
            "use optimizer.alpha_mode=offline on several GPUs"
        )
    seed_model_construction(seed)
    model, tokenizer = load_trainable_policy(model_path, model_cfg)
    args = dpo_config(out_dir, opt, hardware, seed, report_to, precompute_ref=online is not None)
    collator = WeightedPreferenceCollator(pad_token_id=tokenizer.pad_token_id, max_length=opt.max_length)
    common = dict(
        model=model,
        args=args,
        train_dataset=dpo_dataset(pairs, beta_scale, online),
        processing_class=tokenizer,
        data_collator=collator,
        peft_config=lora_config(model_cfg.lora),
        callbacks=list(callbacks),
    )
    if online is not None:
        trainer = OnlineScaledDPOTrainer(**common, scaler=online.scaler, delta_bar=online.delta_bar)
    else:
        trainer = ScaledDPOTrainer(**common)
    use_compact_progress(trainer, "DPO" if beta_scale is None and online is None else "DPO-S")
    result = train_resumable(trainer)
    save_trained(trainer, tokenizer, out_dir / "model")
    return {"train_loss": result.training_loss, "pairs": len(pairs), "steps": trainer.state.global_step}


def pair_deltas(ctx: Context, pairs: Sequence[Pair]) -> torch.Tensor:
    """δ of each pair's rejected sample against its demonstration (α^D's hardness)."""
    return hardness_scorer(ctx).delta([p.rejected for p in pairs], [p.chosen for p in pairs])


def dpo_s_scales(ctx: Context, pairs: list[Pair]) -> torch.Tensor:
    """Offline α per pair for DPO-S: δ of the rejected sample vs the demonstration, gap R(x, y*) − R(x, ỹ).

    One pass over all pairs (group size 1), α^M per pair as σ(gap_i)/σ(category mean gap).
    """
    cfg = ctx.cfg
    sc = cfg.scaler
    categories = list(cfg.dataset.categories)
    index = {c: i for i, c in enumerate(categories)}
    scaler = build_scaler(sc, categories, granularity="response", gap_pooling="unit")
    delta = pair_deltas(ctx, pairs) if sc.use_data else None
    gap = None
    if sc.use_model:
        models = reward_models(ctx)
        prompts, cats = [p.prompt for p in pairs], [p.category for p in pairs]
        gap = models.score(prompts, [p.chosen for p in pairs], cats) - models.score(
            prompts, [p.rejected for p in pairs], cats
        )
    bar = offline_delta_bar(ctx, categories) if sc.use_data else None
    result = scaler(
        torch.tensor([index[p.category] for p in pairs]), group_size=1, delta=delta, gap=gap, delta_bar=bar
    )
    ctx.tracker.log(
        {**{f"{ctx.stage}/dpo_s/{k}": v for k, v in result.stats.items()}, f"{ctx.stage}/step": 0}
    )
    return result.alpha


def online_scaling(ctx: Context, pairs: list[Pair]) -> OnlineScaling:
    """The online scaler (one α per pair, the configured gap pooling) with each pair's category and δ."""
    sc = ctx.cfg.scaler
    categories = list(ctx.cfg.dataset.categories)
    index = {c: i for i, c in enumerate(categories)}
    return OnlineScaling(
        scaler=build_scaler(sc, categories, granularity="response"),
        category_index=[index[p.category] for p in pairs],
        delta=pair_deltas(ctx, pairs).tolist() if sc.use_data else None,
        delta_bar=offline_delta_bar(ctx, categories) if sc.use_data else None,
    )


def _run_dpo(ctx: Context, out: Path, scaled: bool) -> dict:
    cfg = ctx.cfg
    pairs = preference_pairs(records(ctx, "train"), reference_samples(ctx))
    mode = cfg.optimizer.alpha_mode if scaled else None
    scales = dpo_s_scales(ctx, pairs).tolist() if mode == "offline" else None
    if scales is not None:
        atomic_write_json(
            out / "beta_scale.json",
            {p.prompt_id + f"#{i}": s for i, (p, s) in enumerate(zip(pairs, scales, strict=True))},
        )
    summary = train_dpo(
        init_policy_path(ctx),
        pairs,
        out,
        cfg.optimizer,
        cfg.model,
        cfg.hardware,
        policy_seed(cfg),
        beta_scale=scales,
        online=online_scaling(ctx, pairs) if mode == "online" else None,
        callbacks=[JsonlMetricsCallback(out / "train_log.jsonl"), TrackerCallback(ctx.tracker, ctx.stage)],
    )
    if scales is not None:
        summary["beta_scale"] = {"mean": sum(scales) / len(scales), "min": min(scales), "max": max(scales)}
    if mode == "online":  # a variant of DPO-S: reports keep it apart from the offline one
        summary["variant"] = "online α"
    return {**summary, "model_path": "model", "responder": "greedy"}


@register_method("dpo", reads=("reference_samples",))
def run_dpo(ctx: Context, out: Path) -> dict:
    """DPO on (demonstration or chosen ≻ reference sample or rejected) pairs."""
    return _run_dpo(ctx, out, scaled=False)


@register_method(
    "dpo_s",
    reads=("reference_samples", "reward_models", "alpha_offline"),
    uses_scaler=True,
    requires_scaler=True,
)
def run_dpo_s(ctx: Context, out: Path) -> dict:
    """DPO whose β is scaled per pair by the α of ``scaler``: once before training from the reference
    samples (``optimizer.alpha_mode=offline``) or every step from the policy's margin (``online``)."""
    return _run_dpo(ctx, out, scaled=True)
