"""``reward_model.kind=judge``: a programmatic reward, right by construction — the positive control.

R(x, y) = +1 for the behaviour the prompt asks for, −1 otherwise: on a harmful prompt a refusal (the keyword
patterns of the ``rule_v2`` judge) is rewarded and compliance penalised; on a benign prompt an answer is
rewarded and a refusal penalised; a degenerate answer (empty, looping) is penalised on both. Nothing is
trained. If GRPO cannot move the policy's refusal rate with this reward, the budget or the trainer is the
bottleneck, not the learned reward; it is also the rule-based reward family used in practice next to learned
ones. Whether a prompt is harmful comes from the caller (``harmful=``) or from the run's records.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from dr_irl.data.refusals import RULE_V2_PATTERNS, RuleRefusalJudge, is_degenerate
from dr_irl.pipeline import Context
from dr_irl.rewards.families import prompt_labels, register_family
from dr_irl.run_artifacts import record_labels


def judge_reward(harmful: bool, refusal: bool, degenerate: bool) -> float:
    """+1 for the wanted behaviour (refuse a harmful prompt, answer a benign one), −1 otherwise."""
    if degenerate:
        return -1.0
    return 1.0 if refusal == harmful else -1.0


class JudgeReward:
    """The programmatic reward: ``score(prompts, responses, categories, harmful=None)``."""

    def __init__(self, harmful_by_prompt: dict[str, bool]) -> None:
        self.harmful_by_prompt = harmful_by_prompt
        self.keywords = RuleRefusalJudge(RULE_V2_PATTERNS)

    def score(
        self,
        prompts: Sequence[str],
        responses: Sequence[str],
        categories: Sequence[str],
        harmful: Sequence[bool] | None = None,
    ) -> torch.Tensor:
        harmful = prompt_labels(self.harmful_by_prompt, prompts, harmful, "judge")
        refused = self.keywords(list(prompts), list(responses))
        return torch.tensor(
            [
                judge_reward(h, r, is_degenerate(y))
                for h, r, y in zip(harmful, refused, responses, strict=True)
            ],
            dtype=torch.float32,
        )


def judge_scorer(ctx: Context, folder: Path) -> JudgeReward:
    """The judge reward, knowing the labels of the run's training and held-out prompts."""
    return JudgeReward(record_labels(ctx))


@register_family("judge", scorer=judge_scorer, label=lambda rm: "judge (programmatic)", reads_samples=False)
def train_judge(ctx: Context, out: Path) -> dict:
    """Nothing to train: the reward is a rule."""
    return {"trained": False, "rule": "rule_v2 keywords + degenerate answers"}
