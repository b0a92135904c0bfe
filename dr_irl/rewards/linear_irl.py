"""``reward_model.kind=irl_linear``: maximum-likelihood IRL with a linear reward on frozen sentence features.

R_{j,ℓ}(x, y) = θ_{j,ℓ}ᵀ φ(x, y), with φ the features of ``reward_model.features``
(:mod:`dr_irl.rewards.linear_features`: by default the frozen all-MiniLM-L6-v2 embedding of the response, the
α^D encoder), j the prompt's category and ℓ its label (harmful, or a benign look-alike). θ is fitted by the IRL
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
from dr_irl.rewards.linear_features import linear_features
from dr_irl.run_artifacts import record_labels, records, reference_reads, reward_pairs

SHARED = "shared"
# iterative IRL's state, in its checkpoints and its policy stage: θ and the rollouts; φ of the texts fitted
REFRESH_STATE = "reward_refresh.json"
REFRESH_EMBEDDINGS = "reward_refresh_embeddings.npz"
LABELS = {True: "harmful", False: "benign"}


def fit_linear_reward(
    differences: np.ndarray, weights: np.ndarray, l2: float, standardize: bool = False
) -> np.ndarray:
    """θ minimising Σ w_i · −log σ(θᵀd_i) + ‖θ‖² / (2C): logistic regression on ±d (no intercept: a constant
    cancels in every pair). ``standardize``: fit on d / s (s the per-dimension standard deviation of d, floored
    at 1e-6 of the largest, so the penalty weighs every dimension alike) and return θ / s, the same reward in
    raw units."""
    from sklearn.linear_model import LogisticRegression

    if len(differences) == 0:
        raise ValueError("irl_linear: no pairs to fit")
    scale = np.ones(differences.shape[1])
    if standardize:  # a dimension that barely varies keeps a floor relative to the widest, not a fixed 1e-6
        spread = differences.std(axis=0)
        scale = np.maximum(spread, 1e-6 * spread.max()) if spread.max() > 0 else scale
    scaled = differences / scale
    features = np.concatenate([scaled, -scaled])
    targets = np.r_[np.ones(len(differences)), np.zeros(len(differences))]
    model = LogisticRegression(C=l2, fit_intercept=False, max_iter=5000)
    model.fit(features, targets, sample_weight=np.r_[weights, weights])
    return (model.coef_[0] / scale).astype(np.float64)


def fit_routes(
    pairs: Sequence[Pair],
    harmful: dict[str, bool],
    embed,
    categories: Sequence[str],
    per_category: bool,
    pool_weight: float,
    l2: float,
    standardize: bool = False,
) -> dict[str, list[float]]:
    """θ of every route ``<category or shared>/<harmful|benign>`` from the pairs (``harmful``: record id → label;
    ``embed(prompts, texts)``: φ of each text answering its prompt)."""
    thetas = {}
    for is_harmful, label in LABELS.items():
        group = [p for p in pairs if harmful[p.prompt_id] == is_harmful]
        if not group:
            continue
        prompts = [p.prompt for p in group]
        differences = embed(prompts, [p.chosen for p in group]) - embed(prompts, [p.rejected for p in group])
        for route in categories if per_category else [SHARED]:
            weights = np.array(
                [1.0 if route == SHARED or p.category == route else pool_weight for p in group]
            )
            thetas[f"{route}/{label}"] = fit_linear_reward(differences, weights, l2, standardize).tolist()
    return thetas


def route_key(category: str, harmful: bool, per_category: bool) -> str:
    """The θ that scores an answer: ``<category or shared>/<harmful|benign>``."""
    return f"{category if per_category else SHARED}/{LABELS[bool(harmful)]}"


class LinearRewardModels:
    """``score(prompts, responses, categories, harmful=None)``: θ_{category, label} · φ(prompt, response), with
    ``featurize(prompts, responses)`` giving φ (:mod:`dr_irl.rewards.linear_features`)."""

    def __init__(self, thetas: dict[str, list[float]], featurize, harmful_by_prompt: dict[str, bool]) -> None:
        self.thetas = {k: torch.tensor(v, dtype=torch.float32) for k, v in thetas.items()}
        self.featurize = featurize
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
        features = torch.as_tensor(
            np.asarray(self.featurize(list(prompts), list(responses))), dtype=torch.float32
        )
        keys = [route_key(c, h, self.per_category) for c, h in zip(categories, labels, strict=True)]
        missing = sorted({k for k in keys if k not in self.thetas})
        if missing:
            raise KeyError(f"irl_linear has no reward for {missing} (known: {sorted(self.thetas)})")
        theta = torch.stack([self.thetas[k] for k in keys])
        return (features * theta).sum(dim=1)


def linear_scorer(ctx: Context, folder: Path) -> LinearRewardModels:
    thetas = json.loads((folder / "models" / "linear.json").read_text(encoding="utf-8"))["theta"]
    return LinearRewardModels(thetas, linear_features(ctx), record_labels(ctx))


def _embedder(ctx: Context):
    """φ of (prompt, text) pairs, each computed once per run: refits in iterative IRL reuse the cache, and a
    resumed run gets it back from the checkpoint (a batch pads its texts to a common length, which moves φ
    in the last float bits, so encoding the same texts in other batches would not give the same θ)."""
    return cached_embed(linear_features(ctx), embedding_cache(ctx))


def cached_embed(featurize, cache: dict[str, np.ndarray]):
    """``embed(prompts, texts)``: φ of each pair, computed by ``featurize`` once per ``featurize.key`` and kept
    in ``cache``."""

    def embed(prompts: list[str], texts: list[str]) -> np.ndarray:
        keys = [featurize.key(p, t) for p, t in zip(prompts, texts, strict=True)]
        fresh = dict(zip(keys, zip(prompts, texts, strict=True), strict=True))
        fresh = {k: v for k, v in fresh.items() if k not in cache}
        if fresh:
            computed = featurize([p for p, _ in fresh.values()], [t for _, t in fresh.values()])
            cache.update(zip(fresh, computed, strict=True))
        return np.stack([cache[k] for k in keys])

    return embed


def embedding_cache(ctx: Context) -> dict[str, np.ndarray]:
    """The run's text → φ cache of the linear reward's fits."""
    return ctx.memo("linear_irl_embeddings", dict)


def fit_pairs(ctx: Context, pairs: Sequence[Pair]) -> tuple[dict[str, list[float]], float]:
    """θ of every route fitted on ``pairs``, and the share of the pairs it orders right (from the cached φ the
    fit used: no text is encoded twice)."""
    rm = ctx.cfg.reward_model
    harmful = {r.id: r.harmful for r in records(ctx, "train")}
    embed = _embedder(ctx)
    standardize = linear_features(ctx).standardize
    thetas = fit_routes(
        pairs,
        harmful,
        embed,
        ctx.cfg.dataset.categories,
        rm.per_category,
        rm.pool_weight,
        rm.linear_l2,
        standardize,
    )
    theta = np.array([thetas[route_key(p.category, harmful[p.prompt_id], rm.per_category)] for p in pairs])
    prompts = [p.prompt for p in pairs]
    differences = embed(prompts, [p.chosen for p in pairs]) - embed(prompts, [p.rejected for p in pairs])
    margins = (differences * theta).sum(axis=1)
    return thetas, float((margins > 0).mean())


class RefreshingLinearReward:
    """Iterative IRL (``optimizer.reward_refresh_every``): the linear reward of the ``reward_models`` stage,
    refitted on demand with the policy's own rollouts among the samples ỹ, so the negatives follow the policy
    as adversarial IRL and AfD refresh theirs. ``observe`` keeps the rollouts the reward scored; ``refit``
    fits θ again on the reference samples and every rollout kept so far (same pair design, same loss)."""

    def __init__(
        self, scorer: LinearRewardModels, fit, embeddings: dict[str, np.ndarray] | None = None
    ) -> None:
        self.scorer = scorer
        self._fit = fit  # (record id → rollouts) -> (θ by route, pair accuracy)
        self.embeddings = {} if embeddings is None else embeddings  # the fits' text → φ cache
        self.pending: list[tuple[str, str]] = []  # this process's rollouts since the last commit
        self.rollouts: list[tuple[str, str]] = []  # every process's rollouts, committed in one order
        self.refits = 0

    def score(self, prompts, responses, categories, harmful=None) -> torch.Tensor:
        return self.scorer.score(prompts, responses, categories, harmful=harmful)

    def observe(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        self.pending += [(str(i), t) for i, t in zip(ids, texts, strict=True) if t.strip()]

    def take_pending(self) -> list[tuple[str, str]]:
        pending, self.pending = self.pending, []
        return pending

    def commit(self, rollouts: Sequence[Sequence[str]]) -> None:
        """Keep ``rollouts`` (every process's, gathered in rank order) for the next refit."""
        self.rollouts += [(str(i), str(t)) for i, t in rollouts]

    def refit(self) -> dict:
        by_prompt: dict[str, list[str]] = {}
        for key, text in self.rollouts:
            by_prompt.setdefault(key, []).append(text)
        thetas, accuracy = self._fit(by_prompt)
        self.scorer.thetas = {k: torch.tensor(v, dtype=torch.float32) for k, v in thetas.items()}
        self.refits += 1
        return {"refits": self.refits, "rollouts": len(self.rollouts), "pair_accuracy": accuracy}

    def save(self, folder: Path) -> None:
        """θ, the rollouts and the refit count (:data:`REFRESH_STATE`), and the embeddings of every text fitted
        so far (:data:`REFRESH_EMBEDDINGS`), into ``folder``."""
        from dr_irl.io import atomic_path

        atomic_write_json(
            folder / REFRESH_STATE,
            {
                "refits": self.refits,
                "rollouts": [list(r) for r in self.rollouts],
                "theta": {k: v.tolist() for k, v in self.scorer.thetas.items()},
            },
        )
        texts = list(self.embeddings)
        matrix = np.stack([self.embeddings[t] for t in texts]) if texts else np.zeros((0, 0), np.float32)
        with atomic_path(folder / REFRESH_EMBEDDINGS) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, texts=np.array(texts, dtype=str), embeddings=matrix)

    def load(self, folder: Path) -> None:
        state = json.loads((folder / REFRESH_STATE).read_text(encoding="utf-8"))
        self.refits = int(state["refits"])
        self.rollouts = [(str(i), str(t)) for i, t in state["rollouts"]]
        self.scorer.thetas = {k: torch.tensor(v, dtype=torch.float32) for k, v in state["theta"].items()}
        with np.load(folder / REFRESH_EMBEDDINGS) as saved:
            self.embeddings.update(zip(saved["texts"].tolist(), saved["embeddings"], strict=True))


def refreshed_scorer(ctx: Context, path: Path) -> LinearRewardModels:
    """The reward as iterative IRL left it (a :data:`REFRESH_STATE` file)."""
    return LinearRewardModels(
        json.loads(path.read_text(encoding="utf-8"))["theta"], linear_features(ctx), record_labels(ctx)
    )


def refreshing_linear_reward(ctx: Context) -> RefreshingLinearReward:
    """The run's ``irl_linear`` reward, ready to be refitted with the policy's rollouts."""
    scorer = linear_scorer(ctx, ctx.output("reward_models"))
    fit = lambda extra: fit_pairs(ctx, reward_pairs(ctx, extra))  # noqa: E731
    return RefreshingLinearReward(scorer, fit, embedding_cache(ctx))


def _linear_reads(cfg) -> tuple[str, ...]:
    """The policy's own features read π_ref: the initial policy (the warm-started one, when enabled) unless
    ``reward_model.reference_policy=base``."""
    return reference_reads(cfg) if cfg.reward_model.get("features") == "policy_hidden" else ()


@register_family("irl_linear", scorer=linear_scorer, reads=_linear_reads)
def train_linear_irl(ctx: Context, out: Path) -> dict:
    """θ per (category, label) on the pairs of ``reward_model.pairs``; its pairwise accuracy on the pairs."""
    pairs = reward_pairs(ctx)
    thetas, accuracy = fit_pairs(ctx, pairs)
    summary = {
        "pairs": len(pairs),
        "routes": len(thetas),
        "train_accuracy": accuracy,
        "device": device(ctx.cfg.hardware.use_cpu),
    }
    if is_main_process():
        atomic_write_json(out / "models" / "linear.json", {"theta": thetas, "summary": summary})
    return summary
