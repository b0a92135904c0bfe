"""Alignment methods (``optimizer.name``): the registry, and what each method declares it needs.

A method registers itself next to its code with :func:`register_method` (as verl registers its advantage
estimators): the function that produces the aligned policy in the ``policy`` stage, the stages it reads,
whether it uses or requires a scaler, and the reward family it needs. The pipeline asks this registry which
stages to run and what the ``policy`` stage depends on; it never tests a method's name.

``run(ctx, out) -> summary`` returns ``model_path`` (the policy folder, relative to the stage folder when
inside it) and ``responder`` (how the evaluation answers with it: ``greedy`` or ``best_of_n``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from dr_irl.pipeline import Context
from dr_irl.registry import Registry
from dr_irl.rewards.families import REWARD_FAMILIES

ANY = "any"  # a method's reward_kind: the run's reward model (reward_model.kind), whichever it is

Reads = Callable[[DictConfig], tuple[str, ...]]


def _reads_nothing(cfg: DictConfig) -> tuple[str, ...]:
    return ()


@dataclass(frozen=True)
class Method:
    """An alignment method and its needs."""

    run: Callable[[Context, Path], dict]
    # stages the policy stage reads beyond data, demonstrations and warm_start (the initial policy); a
    # reward stage listed here brings what its family reads (π_SFT for AfD's log-ratio)
    reads: Reads = _reads_nothing
    uses_scaler: bool = False  # False: only scaler=none is a distinct experiment (sweeps skip the others)
    requires_scaler: bool = False  # True: scaler=none is its base method, not this one (sweeps skip it)
    # the reward family it trains with: ANY (reward_model.kind, stage reward_models) or a family of its own
    # (trained in the policy_reward stage when it is not reward_model.kind)
    reward_kind: str = ANY


METHODS: Registry[Method] = Registry(
    "optimizer.name",
    builtins=(
        "dr_irl.training.grpo",
        "dr_irl.training.sft",
        "dr_irl.training.dpo",
        "dr_irl.training.best_of_n",
        "dr_irl.training.rrm",
    ),
)


def register_method(
    name: str,
    *,
    reads: tuple[str, ...] | Reads = (),
    uses_scaler: bool = False,
    requires_scaler: bool = False,
    reward_kind: str = ANY,
) -> Callable[[Callable[[Context, Path], dict]], Callable[[Context, Path], dict]]:
    """Decorator of a method's ``run(ctx, out) -> summary``: registers it as ``optimizer.name=<name>``.

    ``reads``: a tuple of stage names, or a function of the config returning one."""
    reads_fn = reads if callable(reads) else (lambda cfg, fixed=tuple(reads): fixed)

    def decorator(run: Callable[[Context, Path], dict]) -> Callable[[Context, Path], dict]:
        METHODS.register(name)(Method(run, reads_fn, uses_scaler, requires_scaler, reward_kind))
        return run

    return decorator


def method_of(cfg: DictConfig) -> Method:
    """The method of ``optimizer.name``."""
    return METHODS.get(cfg.optimizer.name)


def rewards_stage(cfg: DictConfig, kind: str) -> str:
    """The stage holding the reward models of ``kind`` (``ANY``: the run's reward model)."""
    return "reward_models" if kind in (ANY, cfg.reward_model.kind) else "policy_reward"


def reward_kinds(cfg: DictConfig) -> list[str]:
    """The families a run trains: ``reward_model.kind`` (stage ``reward_models``: it scores the evaluation and
    the reward-based methods), then the method's own ``reward_kind`` when it needs another one (stage
    ``policy_reward``: RRM-DPO's probe next to the IRL models, so every method of a sweep is evaluated by the
    same reward model)."""
    kinds = [cfg.reward_model.kind]
    own = method_of(cfg).reward_kind
    if own not in (ANY, *kinds):
        kinds.append(own)
    for kind in kinds:
        REWARD_FAMILIES.get(kind)  # fail on an unknown kind, naming the key
    return kinds
