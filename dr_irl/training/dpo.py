"""DPO (TRL's DPOTrainer) and DPO-S, DPO whose β is scaled per pair by the DR-IRL α (``optimizer.name=dpo``,
``dpo_s``).

Pairs: chosen = the record's ``chosen`` or its demonstration, rejected = the record's ``rejected`` or a
reference sample ỹ ~ π_ref (the same negatives the IRL reward models see).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from omegaconf import DictConfig
from trl import DPOConfig, DPOTrainer
from trl.trainer.dpo_trainer import DataCollatorForPreference

from dr_irl.config import policy_seed
from dr_irl.data.pairs import Pair, preference_pairs
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
from dr_irl.scaling.build import build_scaler
from dr_irl.training.methods import register_method


class WeightedPreferenceCollator(DataCollatorForPreference):
    """TRL's preference collator, passing a per-pair ``beta_scale`` through."""

    def torch_call(self, examples):
        output = super().torch_call(examples)
        if "beta_scale" in examples[0]:
            output["beta_scale"] = torch.tensor([e["beta_scale"] for e in examples], dtype=torch.float32)
        return output


class ScaledDPOTrainer(DPOTrainer):
    """DPOTrainer with β_i = β · scale_i per pair (``sigmoid`` loss); a scale of 1 is TRL's DPO exactly.

    TRL's sigmoid loss is −log σ(β·h); with ``self.beta`` set to the per-pair tensor β·scale for the
    duration of the loss, the same code computes −log σ(β·scale_i·h_i), and the logged rewards follow.
    """

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        if "beta_scale" not in self._signature_columns:
            self._signature_columns = [*self._signature_columns, "beta_scale"]

    def _compute_loss(self, model, inputs, return_outputs):
        scale = inputs.pop("beta_scale", None)
        if scale is None:
            return super()._compute_loss(model, inputs, return_outputs)
        if self.loss_types != ["sigmoid"]:
            raise ValueError(
                f"DPO-S scales the sigmoid loss's beta; loss_type={self.loss_types} is not supported"
            )
        base = self.beta
        self.beta = base * scale.to(self.accelerator.device)
        try:
            return super()._compute_loss(model, inputs, return_outputs)
        finally:
            self.beta = base


def dpo_dataset(pairs: Sequence[Pair], beta_scale: Sequence[float] | None = None):
    from datasets import Dataset

    rows = [
        {
            "prompt": [{"role": "user", "content": p.prompt}],
            "chosen": [{"role": "assistant", "content": p.chosen}],
            "rejected": [{"role": "assistant", "content": p.rejected}],
        }
        for p in pairs
    ]
    if beta_scale is not None:
        for row, scale in zip(rows, beta_scale, strict=True):
            row["beta_scale"] = float(scale)
    return Dataset.from_list(rows)


def dpo_config(out_dir: Path, opt: DictConfig, hardware: DictConfig, seed: int, report_to: str) -> DPOConfig:
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
    report_to: str = "none",
    callbacks=(),
) -> dict:
    """Train with (scaled) DPO from ``model_path``; saves the policy to ``out_dir/model``."""
    from dr_irl.hf_trainer import (
        load_trainable_policy,
        lora_config,
        save_trained,
        seed_model_construction,
        train_resumable,
        use_compact_progress,
    )

    seed_model_construction(seed)
    model, tokenizer = load_trainable_policy(model_path, model_cfg)
    args = dpo_config(out_dir, opt, hardware, seed, report_to)
    collator = WeightedPreferenceCollator(pad_token_id=tokenizer.pad_token_id, max_length=opt.max_length)
    trainer = ScaledDPOTrainer(
        model=model,
        args=args,
        train_dataset=dpo_dataset(pairs, beta_scale),
        processing_class=tokenizer,
        data_collator=collator,
        peft_config=lora_config(model_cfg.lora),
        callbacks=list(callbacks),
    )
    use_compact_progress(trainer, "DPO-S" if beta_scale is not None else "DPO")
    result = train_resumable(trainer)
    save_trained(trainer, tokenizer, out_dir / "model")
    return {"train_loss": result.training_loss, "pairs": len(pairs), "steps": trainer.state.global_step}


def dpo_s_scales(ctx: Context, pairs: list[Pair]) -> torch.Tensor:
    """α per pair for DPO-S: δ of the rejected sample vs the demonstration, gap R(x, y*) − R(x, ỹ).

    One pass over all pairs (group size 1), α^M per pair as σ(gap_i)/σ(category mean gap).
    """
    cfg = ctx.cfg
    sc = cfg.scaler
    categories = list(cfg.dataset.categories)
    index = {c: i for i, c in enumerate(categories)}
    scaler = build_scaler(sc, categories, granularity="response", gap_pooling="unit")
    delta = gap = None
    if sc.use_data:
        delta = hardness_scorer(ctx).delta([p.rejected for p in pairs], [p.chosen for p in pairs])
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


def _run_dpo(ctx: Context, out: Path, scaled: bool) -> dict:
    cfg = ctx.cfg
    pairs = preference_pairs(records(ctx, "train"), reference_samples(ctx))
    scales = dpo_s_scales(ctx, pairs).tolist() if scaled else None
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
        callbacks=[JsonlMetricsCallback(out / "train_log.jsonl"), TrackerCallback(ctx.tracker, ctx.stage)],
    )
    if scales is not None:
        summary["beta_scale"] = {"mean": sum(scales) / len(scales), "min": min(scales), "max": max(scales)}
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
    """DPO whose β is scaled per pair by the α of ``scaler``."""
    return _run_dpo(ctx, out, scaled=True)
