"""``reward_model.kind=irl_linear``: maximum-likelihood IRL with a linear reward on frozen sentence features.

R_{j,ℓ}(x, y) = θ_{j,ℓ}ᵀ φ(y), with φ the frozen all-MiniLM-L6-v2 embedding of the response (the α^D
encoder), j the prompt's category and ℓ its label (harmful, or a benign look-alike). θ is fitted by the IRL
objective of the paper, −log σ(R(x, y*) − R(x, ỹ)) summed over the (demonstration ≻ sample) pairs of
``reward_model.pairs``, with an L2 penalty: a logistic regression on the feature differences φ(y*) − φ(ỹ)
(scikit-learn), the classic linear-reward form of IRL. The pairs of the prompt's own category count with
weight 1 and those of the other categories with ``reward_model.pool_weight`` (partial pooling: 20
demonstrations a category are too few for a model of their own); ``per_category=false`` fits one θ per label.

Why not the fine-tuned cross-encoder of :mod:`dr_irl.rewards.irl`: on SmolLM2's own answers it ranks refusals
below compliance (the design and its measurements: docs/design.md, "Reward validity"), because with a few
hundred pairs a fine-tuned encoder learns who wrote a text; a linear reward on frozen semantic features cannot
express much besides what the answer says.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from dr_irl.data.pairs import Pair
from dr_irl.distributed import is_main_process
from dr_irl.distributed.ranks import device
from dr_irl.io import atomic_write_json
from dr_irl.pipeline import Context
from dr_irl.rewards.families import prompt_labels, register_family
from dr_irl.run_artifacts import record_labels, records, reward_pairs, text_encoder

SHARED = "shared"
LABELS = {True: "harmful", False: "benign"}


def fit_linear_reward(differences: np.ndarray, weights: np.ndarray, l2: float) -> np.ndarray:
    """θ minimising Σ w_i · −log σ(θᵀd_i) + ‖θ‖² / (2C): logistic regression on ±d (no intercept: a constant
    cancels in every pair)."""
    from sklearn.linear_model import LogisticRegression

    if len(differences) == 0:
        raise ValueError("irl_linear: no pairs to fit")
    features = np.concatenate([differences, -differences])
    targets = np.r_[np.ones(len(differences)), np.zeros(len(differences))]
    model = LogisticRegression(C=l2, fit_intercept=False, max_iter=5000)
    model.fit(features, targets, sample_weight=np.r_[weights, weights])
    return model.coef_[0].astype(np.float64)


def fit_routes(
    pairs: Sequence[Pair],
    harmful: dict[str, bool],
    embed,
    categories: Sequence[str],
    per_category: bool,
    pool_weight: float,
    l2: float,
) -> dict[str, list[float]]:
    """θ of every route ``<category or shared>/<harmful|benign>`` from the pairs (``harmful``: record id → label)."""
    thetas = {}
    for is_harmful, label in LABELS.items():
        group = [p for p in pairs if harmful[p.prompt_id] == is_harmful]
        if not group:
            continue
        differences = embed([p.chosen for p in group]) - embed([p.rejected for p in group])
        for route in categories if per_category else [SHARED]:
            weights = np.array(
                [1.0 if route == SHARED or p.category == route else pool_weight for p in group]
            )
            thetas[f"{route}/{label}"] = fit_linear_reward(differences, weights, l2).tolist()
    return thetas


class LinearRewardModels:
    """``score(prompts, responses, categories, harmful=None)``: θ_{category, label} · φ(response)."""

    def __init__(self, thetas: dict[str, list[float]], encoder, harmful_by_prompt: dict[str, bool]) -> None:
        self.thetas = {k: torch.tensor(v, dtype=torch.float32) for k, v in thetas.items()}
        self.encoder = encoder
        self.harmful_by_prompt = harmful_by_prompt
        self.per_category = not any(k.startswith(f"{SHARED}/") for k in thetas)

    def score(
        self,
        prompts: Sequence[str],
        responses: Sequence[str],
        categories: Sequence[str],
        harmful: Sequence[bool] | None = None,
    ) -> torch.Tensor:
        if not prompts:
            return torch.zeros(0)
        labels = prompt_labels(self.harmful_by_prompt, prompts, harmful, "irl_linear")
        features = self.encoder.encode(list(responses)).float().cpu()
        keys = [
            f"{c if self.per_category else SHARED}/{LABELS[bool(h)]}"
            for c, h in zip(categories, labels, strict=True)
        ]
        missing = sorted({k for k in keys if k not in self.thetas})
        if missing:
            raise KeyError(f"irl_linear has no reward for {missing} (known: {sorted(self.thetas)})")
        theta = torch.stack([self.thetas[k] for k in keys])
        return (features * theta).sum(dim=1)


def linear_scorer(ctx: Context, folder: Path) -> LinearRewardModels:
    thetas = json.loads((folder / "models" / "linear.json").read_text(encoding="utf-8"))["theta"]
    return LinearRewardModels(thetas, text_encoder(ctx), record_labels(ctx))


@register_family("irl_linear", scorer=linear_scorer)
def train_linear_irl(ctx: Context, out: Path) -> dict:
    """θ per (category, label) on the pairs of ``reward_model.pairs``; its pairwise accuracy on the pairs."""
    rm = ctx.cfg.reward_model
    pairs = reward_pairs(ctx)
    harmful = {r.id: r.harmful for r in records(ctx, "train")}
    encoder = text_encoder(ctx)
    cache: dict[str, np.ndarray] = {}

    def embed(texts: list[str]) -> np.ndarray:
        fresh = [t for t in dict.fromkeys(texts) if t not in cache]
        if fresh:
            cache.update(zip(fresh, encoder.encode(fresh).float().cpu().numpy(), strict=True))
        return np.stack([cache[t] for t in texts])

    thetas = fit_routes(
        pairs, harmful, embed, ctx.cfg.dataset.categories, rm.per_category, rm.pool_weight, rm.linear_l2
    )
    scorer = LinearRewardModels(thetas, encoder, {})
    chosen = scorer.score(
        [p.prompt for p in pairs],
        [p.chosen for p in pairs],
        [p.category for p in pairs],
        harmful=[harmful[p.prompt_id] for p in pairs],
    )
    rejected = scorer.score(
        [p.prompt for p in pairs],
        [p.rejected for p in pairs],
        [p.category for p in pairs],
        harmful=[harmful[p.prompt_id] for p in pairs],
    )
    summary = {
        "pairs": len(pairs),
        "routes": len(thetas),
        "train_accuracy": float((chosen > rejected).float().mean()),
        "device": device(ctx.cfg.hardware.use_cpu),
    }
    if is_main_process():
        atomic_write_json(out / "models" / "linear.json", {"theta": thetas, "summary": summary})
    return summary
