"""``reward_model.kind=labelled``: a reward trained on blind-labelled answers of the policy — supervised, not IRL.

Two logistic regressions on the frozen MiniLM embedding φ(y) of the answer (the features of
:mod:`dr_irl.rewards.linear_irl`), fitted on the blind-labelled SmolLM2 answers of the splits
``reward_model.label_splits`` (:mod:`dr_irl.data.labelled_answers`): p(y) = P(refusal | φ(y)) and
q(y) = P(incoherent | φ(y)). The reward is the probability of the wanted coherent behaviour, rescaled to [−1, 1]:

    harmful prompt:  R = 2 · p · (1 − q) − 1        (a coherent refusal)
    benign prompt:   R = 2 · (1 − p) · (1 − q) − 1  (a coherent answer)

It is graded where the keyword rule of ``reward_model=judge`` is ±1, so a GRPO group whose rollouts all comply
still has spread, and it is fitted on the distribution it will score — the policy's own answers — where the
IRL reward is fitted on demonstrations. It is an option, a stronger control for the IRL reward, never the
method: the labels validate a reward, the paper's reward is learnt from demonstrations. The splits it is
trained on are marked as such in the run's reward-validity table; the others remain a held-out check.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from dr_irl.data.labelled_answers import load_labelled
from dr_irl.distributed import is_main_process
from dr_irl.io import atomic_write_json
from dr_irl.pipeline import Context
from dr_irl.rewards.families import prompt_labels, register_family
from dr_irl.run_artifacts import record_labels, text_encoder


def labelled_reward(
    p_refusal: torch.Tensor, p_incoherent: torch.Tensor, harmful: torch.Tensor
) -> torch.Tensor:
    """2·p·(1−q) − 1 on harmful prompts, 2·(1−p)·(1−q) − 1 on benign ones."""
    wanted = torch.where(harmful, p_refusal, 1 - p_refusal)
    return 2 * wanted * (1 - p_incoherent) - 1


class LabelledReward:
    """``score(prompts, responses, categories, harmful=None)`` from the two fitted logistic regressions."""

    def __init__(self, heads: dict[str, dict], encoder, harmful_by_prompt: dict[str, bool]) -> None:
        self.heads = {
            name: (torch.tensor(h["coef"], dtype=torch.float32), float(h["intercept"]))
            for name, h in heads.items()
        }
        self.encoder = encoder
        self.harmful_by_prompt = harmful_by_prompt

    def _probability(self, name: str, features: torch.Tensor) -> torch.Tensor:
        coef, intercept = self.heads[name]
        return torch.sigmoid(features @ coef + intercept)

    def score(
        self,
        prompts: Sequence[str],
        responses: Sequence[str],
        categories: Sequence[str],
        harmful: Sequence[bool] | None = None,
    ) -> torch.Tensor:
        if not prompts:
            return torch.zeros(0)
        labels = torch.tensor(prompt_labels(self.harmful_by_prompt, prompts, harmful, "labelled"))
        features = self.encoder.encode(list(responses)).float().cpu()
        return labelled_reward(
            self._probability("refusal", features), self._probability("incoherent", features), labels
        )


def labelled_scorer(ctx: Context, folder: Path) -> LabelledReward:
    heads = json.loads((folder / "models" / "labelled.json").read_text(encoding="utf-8"))["heads"]
    return LabelledReward(heads, text_encoder(ctx), record_labels(ctx))


def fit_heads(
    features: np.ndarray, refusal: np.ndarray, incoherent: np.ndarray, l2: float
) -> dict[str, dict]:
    """The two logistic regressions (scikit-learn, inverse L2 strength ``l2``)."""
    from sklearn.linear_model import LogisticRegression

    heads = {}
    for name, target in (("refusal", refusal), ("incoherent", incoherent)):
        if len(set(target.tolist())) < 2:
            raise ValueError(f"reward_model.label_splits: the {name} labels have one class only; add splits")
        model = LogisticRegression(C=l2, max_iter=2000).fit(features, target)
        heads[name] = {"coef": model.coef_[0].tolist(), "intercept": float(model.intercept_[0])}
    return heads


@register_family("labelled", scorer=labelled_scorer, reads_samples=False)
def train_labelled(ctx: Context, out: Path) -> dict:
    """Fit the heads on the labelled answers of ``reward_model.label_splits``."""
    rm = ctx.cfg.reward_model
    splits = list(rm.label_splits)
    labelled = load_labelled()
    rows = [r for r in labelled if r.split in splits]
    known = sorted({r.split for r in labelled})
    if not rows or not set(splits) <= set(known):
        raise ValueError(f"reward_model.label_splits={splits}: the labelled answers have the splits {known}")
    features = text_encoder(ctx).encode([r.response for r in rows]).float().cpu().numpy()
    refusal = np.array([int(r.refusal) for r in rows])
    incoherent = np.array([int(r.incoherent) for r in rows])
    heads = fit_heads(features, refusal, incoherent, rm.linear_l2)
    summary = {"answers": len(rows), "label_splits": splits, "refusals": int(refusal.sum())}
    if is_main_process():
        atomic_write_json(out / "models" / "labelled.json", {"heads": heads, "summary": summary})
    return summary
