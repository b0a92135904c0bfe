"""``optimizer.name`` → the function that produces the aligned policy (the ``policy`` stage).

Each returns a summary with ``model_path`` (the policy folder, relative to the stage folder when inside it)
and ``responder`` (how the evaluation answers with it: ``greedy`` or ``best_of_n``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from dr_irl.registry import Registry

OPTIMIZERS: Registry[Callable[..., dict]] = Registry("optimizer.name")


def build_scaler(sc, categories, **overrides):
    from dr_irl.scaling import DynamicRewardScaler

    options = dict(
        use_data=sc.use_data,
        use_model=sc.use_model,
        combine=sc.combine,
        weights=tuple(sc.weights),
        granularity=sc.granularity,
        gap_pooling=sc.gap_pooling,
        delta_bar_scope=sc.delta_bar_scope,
        tau=sc.tau,
        ema_gamma=sc.ema_gamma,
        invert=sc.invert,
        clamp=tuple(sc.clamp),
        temperature_data=sc.temperature_data,
        temperature_model=sc.temperature_model,
    )
    return DynamicRewardScaler(categories, **{**options, **overrides})


def offline_delta_bar(ctx, categories) -> torch.Tensor | None:
    """δ̄ per category from the alpha_offline stage, when it ran (``delta_bar_scope=dataset`` or offline α^D)."""
    from dr_irl.io import read_json

    if "alpha_offline" not in ctx.outputs:
        return None
    saved = read_json(ctx.output("alpha_offline") / "delta.json")
    return torch.tensor([saved["delta_bar"][c] for c in categories])


def write_scaler_state(scaler, folder: Path) -> None:
    """Each rank's final scaler state (EMA of the gap, running δ̄): identical on every rank by design."""
    from dr_irl.distributed.ranks import rank
    from dr_irl.io import atomic_write_json

    state = {"gap_ema": scaler.gap_ema.tolist(), "delta_ema": scaler.delta_ema.tolist()}
    atomic_write_json(folder / f"rank{rank()}.json", state)


@OPTIMIZERS.register("grpo")
def run_grpo(ctx, out: Path) -> dict:
    """GRPO / GRPO-S on the training prompts, rewarded by the run's reward model (the category IRL models by default)."""
    from dr_irl.hf_trainer import (
        JsonlMetricsCallback,
        lora_config,
        save_trained,
        seed_model_construction,
        train_resumable,
        use_compact_progress,
    )
    from dr_irl.io import read_json
    from dr_irl.rewards import CategoryRewardFunction
    from dr_irl.rewards.families import reward_models
    from dr_irl.run_artifacts import hardness_scorer, init_policy_path, load_policy, records
    from dr_irl.training.grpo_s import GRPOSTrainer, grpo_config, grpo_dataset

    cfg = ctx.cfg
    sc = cfg.scaler
    categories = list(cfg.dataset.categories)
    hardness = offline_delta = None
    offline_bar = offline_delta_bar(ctx, categories) if sc.use_data else None
    if sc.use_data and sc.data_mode == "offline":
        offline_delta = read_json(ctx.output("alpha_offline") / "delta.json")["delta"]
    elif sc.use_data:
        hardness = hardness_scorer(ctx)
    seed_model_construction(cfg.seed)
    model, tokenizer = load_policy(ctx, init_policy_path(ctx), for_generation=False)
    trainer = GRPOSTrainer(
        model=model,
        args=grpo_config(out, cfg.optimizer, cfg.hardware, cfg.seed, ctx.tracker.report_to),
        train_dataset=grpo_dataset(
            [r for r in records(ctx, "train") if r.harmful or cfg.optimizer.include_benign]
        ),
        processing_class=tokenizer,
        reward_function=CategoryRewardFunction(reward_models(ctx)),
        scaler=build_scaler(sc, categories),
        hardness=hardness,
        offline_delta=offline_delta,
        offline_delta_bar=offline_bar,
        peft_config=lora_config(cfg.model.lora),
        callbacks=[JsonlMetricsCallback(out / "train_log.jsonl")],
    )
    use_compact_progress(trainer, f"GRPO ({sc.name})")
    resumed = trainer_checkpoint_step(trainer)
    result = train_resumable(trainer)
    write_scaler_state(trainer.scaler, out / "scaler_state")
    if cfg.optimizer.save_model:
        save_trained(trainer, tokenizer, out / "model")
    return {
        "train_loss": result.training_loss,
        "steps": trainer.state.global_step,
        "resumed_from_step": resumed,
        "model_path": "model",
        "responder": "greedy",
    }


def trainer_checkpoint_step(trainer) -> int:
    """The step a trainer will resume from (0: a fresh start)."""
    from dr_irl.hf_trainer import last_checkpoint

    checkpoint = last_checkpoint(trainer.args.output_dir)
    return int(Path(checkpoint).name.split("-")[-1]) if checkpoint else 0


@OPTIMIZERS.register("sft")
def run_sft(ctx, out: Path) -> dict:
    """SFT on every training demonstration (refusals and benign answers)."""
    from dr_irl.hf_trainer import JsonlMetricsCallback
    from dr_irl.run_artifacts import init_policy_path, records
    from dr_irl.training.sft import train_sft

    cfg = ctx.cfg
    summary = train_sft(
        init_policy_path(ctx),
        records(ctx, "train"),
        out,
        cfg.optimizer,
        cfg.model,
        cfg.hardware,
        cfg.seed,
        report_to=ctx.tracker.report_to,
        callbacks=[JsonlMetricsCallback(out / "train_log.jsonl")],
    )
    return {**summary, "model_path": "model", "responder": "greedy"}


def dpo_s_scales(ctx, pairs) -> torch.Tensor:
    """α per pair for DPO-S: δ of the rejected sample vs the demonstration, gap R(x, y*) − R(x, ỹ).

    One pass over all pairs (group size 1), α^M per pair as σ(gap_i)/σ(category mean gap).
    """
    from dr_irl.rewards.families import reward_models
    from dr_irl.run_artifacts import hardness_scorer

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
    ctx.tracker.log({f"dpo_s/{k}": v for k, v in result.stats.items()})
    return result.alpha


def _run_dpo(ctx, out: Path, scaled: bool) -> dict:
    from dr_irl.data.pairs import preference_pairs
    from dr_irl.hf_trainer import JsonlMetricsCallback
    from dr_irl.io import atomic_write_json
    from dr_irl.run_artifacts import init_policy_path, records, reference_samples
    from dr_irl.training.dpo import train_dpo

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
        cfg.seed,
        beta_scale=scales,
        report_to=ctx.tracker.report_to,
        callbacks=[JsonlMetricsCallback(out / "train_log.jsonl")],
    )
    if scales is not None:
        summary["beta_scale"] = {"mean": sum(scales) / len(scales), "min": min(scales), "max": max(scales)}
    return {**summary, "model_path": "model", "responder": "greedy"}


@OPTIMIZERS.register("dpo")
def run_dpo(ctx, out: Path) -> dict:
    return _run_dpo(ctx, out, scaled=False)


@OPTIMIZERS.register("dpo_s")
def run_dpo_s(ctx, out: Path) -> dict:
    return _run_dpo(ctx, out, scaled=True)


SAMPLERS: Registry[Callable[..., str]] = Registry("optimizer.sample_from")


@SAMPLERS.register("init")
def _initial_policy(ctx) -> str:
    from dr_irl.run_artifacts import init_policy_path

    return init_policy_path(ctx)


@SAMPLERS.register("sft")
def _sft_policy(ctx) -> str:
    return str(ctx.output("sft_policy") / "model")


@OPTIMIZERS.register("best_of_n")
def run_best_of_n(ctx, out: Path) -> dict:
    """No training: the policy (π_init, or π_SFT as in AfD) answers with the best of n samples."""
    import os

    opt = ctx.cfg.optimizer
    policy = Path(SAMPLERS.get(opt.sample_from)(ctx)).resolve()
    run_dir = ctx.run_dir.resolve()
    # inside the run dir: relative to this stage's folder, so that a copy of the run (or the stage cache) works
    model_path = os.path.relpath(policy, out.resolve()) if policy.is_relative_to(run_dir) else str(policy)
    return {
        "model_path": model_path,
        "responder": "best_of_n",
        "n": opt.n,
        "sample_from": opt.sample_from,
    }


@OPTIMIZERS.register("rrm_dpo")
def run_rrm_dpo(ctx, out: Path) -> dict:
    """RRM: re-ranking by the representation probe (optionally updated online), confidence-weighted DPO."""
    from dr_irl.training.rrm_dpo import run_rrm_dpo as run

    return {**run(ctx, out), "model_path": "model", "responder": "greedy"}
