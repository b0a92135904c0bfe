"""``optimizer.name=grpo``: GRPO through TRL's GRPOTrainer, GRPO-S with a scaler (α scales the normalised
advantage, :mod:`dr_irl.training.grpo_s`), rewarded by the run's reward model."""

from __future__ import annotations

from pathlib import Path

from dr_irl.config import policy_seed
from dr_irl.data.balance import repeat_benign
from dr_irl.distributed import is_main_process
from dr_irl.hf_trainer import (
    JsonlMetricsCallback,
    TrackerCallback,
    last_checkpoint,
    lora_config,
    save_trained,
    seed_model_construction,
    train_resumable,
    use_compact_progress,
)
from dr_irl.io import atomic_write_json
from dr_irl.pipeline import Context
from dr_irl.rewards import CategoryRewardFunction
from dr_irl.rewards.families import reward_models
from dr_irl.rewards.linear_irl import refreshing_linear_reward
from dr_irl.run_artifacts import (
    hardness_scorer,
    init_policy_path,
    load_policy,
    offline_delta_bar,
    offline_deltas,
    records,
)
from dr_irl.scaling.build import build_scaler, offline_delta
from dr_irl.training.methods import register_method
from dr_irl.training.reward_refresh import REFRESH_LOG, RewardRefreshCallback


def write_scaler_state(scaler, folder: Path) -> None:
    """Each rank's final scaler state (EMA of the gap, running δ̄): identical on every rank by design."""
    from dr_irl.distributed.ranks import rank

    state = {"gap_ema": scaler.gap_ema.tolist(), "delta_ema": scaler.delta_ema.tolist()}
    atomic_write_json(folder / f"rank{rank()}.json", state)


def trainer_checkpoint_step(trainer) -> int:
    """The step a trainer will resume from (0: a fresh start)."""
    checkpoint = last_checkpoint(trainer.args.output_dir)
    return int(Path(checkpoint).name.split("-")[-1]) if checkpoint else 0


def grpo_prompts(train: list, opt) -> list:
    """The GRPO training prompts: the harmful ones, and with ``include_benign`` each benign look-alike
    ``benign_repeats`` times (so refusing a benign prompt costs as often as complying with a harmful one)."""
    return repeat_benign([r for r in train if r.harmful or opt.include_benign], opt.benign_repeats)


def grpo_reads(cfg) -> tuple[str, ...]:
    """The reward and α^D's offline δ; with iterative IRL also π_ref's samples (each refit's negatives)."""
    refresh = ("reference_samples",) if cfg.optimizer.get("reward_refresh_every") else ()
    return ("reward_models", "alpha_offline", *refresh)


@register_method("grpo", reads=grpo_reads, uses_scaler=True)
def run_grpo(ctx: Context, out: Path) -> dict:
    """GRPO / GRPO-S on the training prompts, rewarded by the run's reward model (the category IRL models by
    default)."""
    from dr_irl.training.grpo_s import GRPOSTrainer, grpo_config, grpo_dataset

    cfg = ctx.cfg
    sc = cfg.scaler
    categories = list(cfg.dataset.categories)
    hardness = delta = None
    bar = offline_delta_bar(ctx, categories) if sc.use_data else None
    if offline_delta(sc):
        delta = offline_deltas(ctx)["delta"]
    elif sc.use_data:
        hardness = hardness_scorer(ctx)
    seed = policy_seed(cfg)  # replicates of the policy alone
    seed_model_construction(seed)
    model, tokenizer = load_policy(ctx, init_policy_path(ctx), for_generation=False)
    every = cfg.optimizer.reward_refresh_every
    refresh = refreshing_linear_reward(ctx) if every else None
    reward_function = CategoryRewardFunction(refresh or reward_models(ctx))
    callbacks = [JsonlMetricsCallback(out / "train_log.jsonl"), TrackerCallback(ctx.tracker, ctx.stage)]
    if refresh is not None:
        callbacks.append(RewardRefreshCallback(refresh, reward_function, every, out / REFRESH_LOG))
    trainer = GRPOSTrainer(
        model=model,
        args=grpo_config(out, cfg.optimizer, cfg.hardware, seed, "none"),
        train_dataset=grpo_dataset(grpo_prompts(records(ctx, "train"), cfg.optimizer)),
        processing_class=tokenizer,
        reward_function=reward_function,
        scaler=build_scaler(sc, categories),
        hardness=hardness,
        offline_delta=delta,
        offline_delta_bar=bar,
        peft_config=lora_config(cfg.model.lora),
        callbacks=callbacks,
        reward_refresh=refresh,
        log_rollouts=cfg.optimizer.log_rollouts,
    )
    use_compact_progress(trainer, f"GRPO ({sc.name})")
    resumed = trainer_checkpoint_step(trainer)
    result = train_resumable(trainer)
    write_scaler_state(trainer.scaler, out / "scaler_state")
    refreshed = {}
    if refresh is not None:
        if is_main_process():
            refresh.save(out)
        refreshed = {
            "reward_refresh": {"every": every, "refits": refresh.refits, "rollouts": len(refresh.rollouts)}
        }
    if cfg.optimizer.save_model:
        save_trained(trainer, tokenizer, out / "model")
    return {
        "train_loss": result.training_loss,
        "steps": trainer.state.global_step,
        "resumed_from_step": resumed,
        "model_path": "model",
        "responder": "greedy",
        **refreshed,
    }
