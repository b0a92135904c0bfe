"""``optimizer.name=best_of_n`` (AfD's efficient algorithm): no training; at evaluation the policy samples
``optimizer.n`` answers per prompt and keeps the one the reward model scores highest (the ``best_of_n``
responder of :mod:`dr_irl.evaluation.responders`). ``optimizer.sample_from`` chooses the policy sampled."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from dr_irl.config import policy_seed
from dr_irl.pipeline import Context
from dr_irl.registry import Registry
from dr_irl.run_artifacts import init_policy_path, sft_policy_path
from dr_irl.training.methods import register_method


@dataclass(frozen=True)
class Sampler:
    path: Callable[[Context], str]  # the policy's folder
    reads: tuple[str, ...] = ()  # the stage that produced it, when it is not the initial policy


SAMPLERS: Registry[Sampler] = Registry("optimizer.sample_from")
SAMPLERS.register("init")(Sampler(init_policy_path))
SAMPLERS.register("sft")(Sampler(sft_policy_path, reads=("sft_policy",)))


def sampler_reads(cfg: DictConfig) -> tuple[str, ...]:
    return SAMPLERS.get(cfg.optimizer.sample_from).reads


@register_method("best_of_n", reads=sampler_reads)
def run_best_of_n(ctx: Context, out: Path) -> dict:
    """No training: the policy (π_init, or π_SFT as in AfD) answers with the best of n samples."""
    opt = ctx.cfg.optimizer
    policy = Path(SAMPLERS.get(opt.sample_from).path(ctx)).resolve()
    run_dir = ctx.run_dir.resolve()
    # inside the run dir: relative to this stage's folder, so that a copy of the run (or the stage cache) works
    model_path = os.path.relpath(policy, out.resolve()) if policy.is_relative_to(run_dir) else str(policy)
    return {
        "model_path": model_path,
        "responder": "best_of_n",
        "n": opt.n,
        "sample_from": opt.sample_from,
        "seed": policy_seed(ctx.cfg),  # the evaluation samples with it: each seed's answers are its own
    }
