"""Reward-model families (``reward_model.kind``): how the ``reward_models`` stage trains each, and how it scores.

Every family's scorer answers ``score(prompts, responses, categories) -> Tensor``, so GRPO(-S), DPO-S,
Best-of-N and the evaluation use any of them the same way:

- ``irl``: maximum-likelihood IRL, demonstration ≻ reference sample, one model per category (or one shared);
- ``bradley_terry``: TRL's RewardTrainer on preference pairs: the dataset's own (chosen, rejected) where it has
  them (PKU-SafeRLHF, HH-RLHF, ...), else (demonstration, reference sample);
- ``afd``: the AfD discriminator (logit reward) of ``reward_model.afd_variant``, or the closed-form
  log π_SFT − log π_init (``afd_variant=log_ratio``);
- ``representation``: RRM's hybrid probe on the initial policy's hidden states.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dr_irl.pipeline import Context
from dr_irl.registry import Registry


@dataclass(frozen=True)
class RewardFamily:
    train: Callable[[Context, Path], dict]  # (ctx, stage folder) -> summary
    scorer: Callable[
        [Context, Path], Any
    ]  # (ctx, stage folder) -> object with .score(prompts, responses, cats)


REWARD_FAMILIES: Registry[RewardFamily] = Registry("reward_model.kind")


def _device(ctx: Context) -> str:
    from dr_irl.distributed.ranks import device

    return device(ctx.cfg.hardware.use_cpu)


def classifier_scorer(ctx: Context, folder: Path):
    """The sequence-classifier reward models under ``folder/models`` (per category, shared or adapters)."""
    from dr_irl.rewards.backbones import resolve_backbone_path
    from dr_irl.rewards.router import CategoryRewardModels
    from dr_irl.run_artifacts import init_policy_path

    rm = ctx.cfg.reward_model
    return CategoryRewardModels(
        folder / "models",
        ctx.cfg.dataset.categories,
        rm.max_length,
        device=_device(ctx),
        base_path=resolve_backbone_path(rm.backbone, init_policy_path(ctx)),  # adapters: this run's backbone
    )


def train_pairwise(ctx: Context, out: Path, pairs: list, label: str) -> dict:
    """One RewardTrainer model per category (or one ``shared``) on (chosen ≻ rejected) ``pairs``."""
    from dr_irl.rewards.backbones import resolve_backbone_path
    from dr_irl.rewards.irl import model_groups, train_reward_model
    from dr_irl.run_artifacts import init_policy_path

    rm = ctx.cfg.reward_model
    backbone = resolve_backbone_path(rm.backbone, init_policy_path(ctx))
    summary = {}
    for name, group in model_groups(pairs, ctx.cfg.dataset.categories, rm.per_category).items():
        summary[name] = train_reward_model(
            group, backbone, out / "models" / name, rm, ctx.cfg.hardware, ctx.cfg.seed
        )
        print(f"{label} reward model {name}: {summary[name]}")
    return summary


def train_irl(ctx: Context, out: Path) -> dict:
    """One IRL reward model per category (or one shared): demonstration ≻ reference sample."""
    from dr_irl.run_artifacts import reward_pairs

    return train_pairwise(ctx, out, reward_pairs(ctx), "IRL")


def train_bradley_terry(ctx: Context, out: Path) -> dict:
    """A Bradley–Terry reward model on preference pairs (the dataset's own where it has them)."""
    from dr_irl.data.pairs import preference_pairs
    from dr_irl.run_artifacts import records, reference_samples

    train = records(ctx, "train")
    pairs = preference_pairs(train, reference_samples(ctx))
    own = sum(1 for r in train if r.chosen and r.rejected)
    print(
        f"Bradley–Terry pairs: {own} from the dataset's (chosen, rejected), "
        f"{len(pairs) - own} (demonstration, reference sample)"
    )
    return {**train_pairwise(ctx, out, pairs, "Bradley–Terry"), "dataset_pairs": own, "pairs": len(pairs)}


def train_afd(ctx: Context, out: Path) -> dict:
    """The AfD discriminator of ``afd_variant`` (BCE on its logit); nothing to train for ``log_ratio``."""
    from dr_irl.rewards.afd import check_variant, discriminator_examples, train_discriminator
    from dr_irl.rewards.backbones import resolve_backbone_path
    from dr_irl.rewards.irl import model_groups
    from dr_irl.run_artifacts import init_policy_path, records, reference_samples, sft_samples

    rm = ctx.cfg.reward_model
    check_variant(rm.afd_variant)
    if rm.afd_variant == "log_ratio":
        return {"variant": "log_ratio", "sft_policy": str(ctx.output("sft_policy") / "model")}
    samples = sft_samples(ctx) if "sft_samples" in ctx.outputs else {}
    examples = discriminator_examples(rm.afd_variant, records(ctx, "train"), reference_samples(ctx), samples)
    backbone = resolve_backbone_path(rm.backbone, init_policy_path(ctx))
    summary: dict = {"variant": rm.afd_variant}
    for name, group in model_groups(examples, ctx.cfg.dataset.categories, rm.per_category).items():
        summary[name] = train_discriminator(
            group, backbone, out / "models" / name, rm, ctx.cfg.hardware, ctx.cfg.seed
        )
        print(f"AfD discriminator ({rm.afd_variant}) {name}: {summary[name]}")
    return summary


def afd_scorer(ctx: Context, folder: Path):
    from dr_irl.rewards.afd import LogRatioScorer
    from dr_irl.run_artifacts import init_policy_path

    if ctx.cfg.reward_model.afd_variant != "log_ratio":
        return classifier_scorer(ctx, folder)
    model = ctx.cfg.model
    return LogRatioScorer(
        str(ctx.output("sft_policy") / "model"),
        init_policy_path(ctx),
        model.dtype,
        _device(ctx),
        model.trust_remote_code,
        ctx.cfg.reward_model.max_length,
    )


def train_representation(ctx: Context, out: Path) -> dict:
    """RRM's hybrid probe on the (frozen) initial policy's hidden states, margin-1 pairwise loss."""
    from dr_irl.distributed.ranks import barrier, is_main_process
    from dr_irl.rewards.representation import pooled_hidden_states, train_probe
    from dr_irl.run_artifacts import init_policy_path, load_policy, reward_pairs

    if not is_main_process():  # one probe, trained once (rank 0), read by every rank
        barrier()
        return {}
    rm = ctx.cfg.reward_model
    pairs = reward_pairs(ctx)
    model, tokenizer = load_policy(ctx, init_policy_path(ctx))
    prompts = [p.prompt for p in pairs]
    chosen = pooled_hidden_states(model, tokenizer, prompts, [p.chosen for p in pairs], pooling=rm.pooling)
    rejected = pooled_hidden_states(
        model, tokenizer, prompts, [p.rejected for p in pairs], pooling=rm.pooling
    )
    probe, stats = train_probe(
        chosen, rejected, epochs=rm.probe_epochs, lr=rm.probe_learning_rate, seed=ctx.cfg.seed
    )
    probe.save(out / "probe")
    print(f"representation probe: {stats}")
    barrier()
    return stats


def probe_scorer(ctx: Context, folder: Path):
    from dr_irl.rewards.representation import HybridProbe, ProbeScorer
    from dr_irl.run_artifacts import init_policy_path, load_policy

    model, tokenizer = load_policy(ctx, init_policy_path(ctx))
    probe = HybridProbe.load(folder / "probe", device=_device(ctx))
    return ProbeScorer(probe, model, tokenizer, ctx.cfg.reward_model.pooling)


def reward_models(ctx: Context):
    """The scorer of ``reward_model.kind``: ``score(prompts, responses, categories)`` (memoised)."""
    family = REWARD_FAMILIES.get(ctx.cfg.reward_model.kind)
    return ctx.memo("reward_models", lambda: family.scorer(ctx, ctx.output("reward_models")))


def family_folder(ctx: Context, kind: str) -> Path:
    """The stage folder holding the trained models of ``kind``."""
    return ctx.output("reward_models" if kind == ctx.cfg.reward_model.kind else "policy_reward")


REWARD_FAMILIES.register("irl")(RewardFamily(train_irl, classifier_scorer))
REWARD_FAMILIES.register("bradley_terry")(RewardFamily(train_bradley_terry, classifier_scorer))
REWARD_FAMILIES.register("afd")(RewardFamily(train_afd, afd_scorer))
REWARD_FAMILIES.register("representation")(RewardFamily(train_representation, probe_scorer))


def reward_kinds(cfg) -> list[str]:
    """The families a run trains: ``reward_model.kind`` (stage ``reward_models``: it scores the evaluation and
    the reward-based optimizers), then the optimizer's own ``reward_kind`` when it needs another one (stage
    ``policy_reward``: RRM-DPO's probe next to the IRL models, so every method of a sweep is evaluated by the
    same reward model)."""
    kinds = [cfg.reward_model.kind]
    if cfg.optimizer.reward_kind not in ("any", *kinds):
        kinds.append(cfg.optimizer.reward_kind)
    for kind in kinds:
        REWARD_FAMILIES.get(kind)  # fail on an unknown kind, naming the key
    return kinds
