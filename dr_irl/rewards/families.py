"""Reward-model families (``reward_model.kind``): the registry, and the run's reward models as one scorer.

A family registers itself next to its code with :func:`register_family`: how the ``reward_models`` stage
trains it, how its models score, which stages it reads and its label in reports. Every family's scorer
answers ``score(prompts, responses, categories) -> Tensor``, so GRPO(-S), DPO-S, Best-of-N and the evaluation
use any of them the same way. The built-in families:

- ``irl_linear`` (:mod:`dr_irl.rewards.linear_irl`, the default): maximum-likelihood IRL with a linear reward
  on frozen sentence features, per category and prompt label, partially pooled;
- ``irl`` (:mod:`dr_irl.rewards.irl`): maximum-likelihood IRL, demonstration ≻ reference sample, one
  fine-tuned sequence classifier per category (or one shared);
- ``bradley_terry`` (:mod:`dr_irl.rewards.bradley_terry`): TRL's RewardTrainer on preference pairs: the
  dataset's own (chosen, rejected) where it has them, else (demonstration, reference sample);
- ``afd`` (:mod:`dr_irl.rewards.afd`): the AfD discriminator (logit reward) of ``reward_model.afd_variant``,
  or the closed-form log π_SFT − log π_init (``afd_variant=log_ratio``);
- ``representation`` (:mod:`dr_irl.rewards.representation`): RRM's hybrid probe on the initial policy's
  hidden states;
- ``judge`` (:mod:`dr_irl.rewards.judge`): the programmatic reward of the keyword judge, right by
  construction with respect to the evaluation's judge (the positive control), nothing learnt;
- ``labelled`` (:mod:`dr_irl.rewards.labelled`): supervised, not IRL — logistic heads on frozen sentence
  features fitted on blind-labelled answers of the policy (a graded control, never the method).

A scorer's ``score`` also takes ``harmful`` (one bool per prompt, or None) where the caller knows the prompts'
labels; the learned families ignore it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from dr_irl.distributed.memory import REWARD_FOOTPRINTS, Footprint
from dr_irl.pipeline import Context
from dr_irl.registry import Registry

# what every family reads: the records (with their demonstrations); those that learn from pairs also read the
# reference samples ỹ ~ π_ref (``RewardFamily.reads_samples``)
COMMON_READS = ("data", "demonstrations")


def _reads_nothing_more(cfg: DictConfig) -> tuple[str, ...]:
    return ()


def _option_name(rm: DictConfig) -> str:
    return rm.name


@dataclass(frozen=True)
class RewardFamily:
    """A reward-model family and its rules."""

    train: Callable[[Context, Path], dict]  # (ctx, stage folder) -> summary
    scorer: Callable[
        [Context, Path], Any
    ]  # (ctx, stage folder) -> object with .score(prompts, responses, cats)
    # stages it reads beyond COMMON_READS, when it trains or scores (e.g. π_SFT for AfD's log-ratio)
    reads: Callable[[DictConfig], tuple[str, ...]] = _reads_nothing_more
    label: Callable[[DictConfig], str] = _option_name  # (reward_model config) -> its name in reports
    reads_samples: bool = True  # learns from the reference samples ỹ ~ π_ref (False: a rule, nothing learnt)


REWARD_FAMILIES: Registry[RewardFamily] = Registry(
    "reward_model.kind",
    builtins=(
        "dr_irl.rewards.irl",
        "dr_irl.rewards.bradley_terry",
        "dr_irl.rewards.afd",
        "dr_irl.rewards.representation",
        "dr_irl.rewards.judge",
        "dr_irl.rewards.linear_irl",
        "dr_irl.rewards.labelled",
    ),
)


def register_family(
    kind: str,
    *,
    scorer: Callable[[Context, Path], Any],
    reads: Callable[[DictConfig], tuple[str, ...]] = _reads_nothing_more,
    label: Callable[[DictConfig], str] = _option_name,
    footprint: Footprint | None = None,
    reads_samples: bool = True,
) -> Callable[[Callable[[Context, Path], dict]], Callable[[Context, Path], dict]]:
    """Decorator of a family's ``train(ctx, out) -> summary``: registers it as ``reward_model.kind=<kind>``.

    ``footprint(cfg, shapes, policy_bytes) -> Component``: the memory its models take on each process, for the
    start-up plan and ``hardware=auto`` (:mod:`dr_irl.distributed.memory`); without one they are estimated as
    sequence classifiers on ``reward_model.backbone``, one per category (``classifier_footprint``).
    ``reads_samples=False``: the family needs no reference samples, so a run of it alone skips that stage."""

    def decorator(train: Callable[[Context, Path], dict]) -> Callable[[Context, Path], dict]:
        REWARD_FAMILIES.register(kind)(RewardFamily(train, scorer, reads, label, reads_samples))
        if footprint is not None:
            REWARD_FOOTPRINTS.register(kind)(footprint)
        return train

    return decorator


def family_reads(cfg: DictConfig, kind: str) -> tuple[str, ...]:
    """The stages the models of ``kind`` read, to train and to score."""
    family = REWARD_FAMILIES.get(kind)
    samples = ("reference_samples",) if family.reads_samples else ()
    return (*COMMON_READS, *samples, *family.reads(cfg))


def family_label(rm: DictConfig) -> str:
    """The reward model's name in reports (``afd:<variant>`` for AfD, whichever way the variant was set)."""
    return REWARD_FAMILIES.get(rm.kind).label(rm)


def family_folder(ctx: Context, kind: str) -> Path:
    """The stage folder holding the trained models of ``kind``: ``reward_models`` for ``reward_model.kind``,
    ``policy_reward`` for a method's own other family."""
    return ctx.output("reward_models" if kind == ctx.cfg.reward_model.kind else "policy_reward")


def prompt_labels(
    known: dict[str, bool], prompts: Sequence[str], harmful: Sequence[bool] | None, kind: str
) -> list[bool]:
    """Whether each prompt is harmful: ``harmful`` when the caller passes it, else the run's records
    (``known``: prompt → label); a prompt in neither fails naming the family."""
    if harmful is not None:
        return [bool(h) for h in harmful]
    unknown = [p for p in prompts if p not in known]
    if unknown:
        raise KeyError(
            f"reward_model.kind={kind} needs each prompt's label, and {len(unknown)} prompts are in none of the "
            f"run's records (the first: {unknown[0][:80]!r}); pass harmful= to score()"
        )
    return [known[p] for p in prompts]


class _IgnoresLabels:
    """A scorer whose ``score`` takes no ``harmful=``: callers may pass it all the same."""

    def __init__(self, scorer) -> None:
        self.scorer = scorer

    def score(self, prompts, responses, categories, harmful=None):
        return self.scorer.score(prompts, responses, categories)

    def __getattr__(self, name: str):
        return getattr(self.scorer, name)


def accepting_labels(scorer):
    """``scorer`` itself when its ``score`` takes ``harmful=``, else a wrapper that drops it."""
    import inspect

    return scorer if "harmful" in inspect.signature(scorer.score).parameters else _IgnoresLabels(scorer)


def reward_models(ctx: Context):
    """The scorer of ``reward_model.kind``: ``score(prompts, responses, categories, harmful=None)``
    (memoised)."""
    family = REWARD_FAMILIES.get(ctx.cfg.reward_model.kind)
    return ctx.memo(
        "reward_models", lambda: accepting_labels(family.scorer(ctx, ctx.output("reward_models")))
    )
