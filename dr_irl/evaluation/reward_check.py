"""Is the reward model hackable? Pairwise accuracy on adversarial pairs it never trained on.

Each kind of :func:`dr_irl.data.hard_negatives.adversarial_pairs` (a refusal opener followed by compliance or
nonsense, a degenerate loop, a refusal of a benign prompt) is scored by the run's reward model; the accuracy
is the share of pairs where the chosen response (the demonstration) gets the higher reward, with its 95%
Wilson interval. A reward model that pays for an apologetic opener fails ``apology_compliance``.
"""

from __future__ import annotations

from collections.abc import Sequence

from dr_irl.data.pairs import Pair
from dr_irl.evaluation.statistics import rate


def pairwise_accuracy(scorer, pairs: Sequence[Pair]) -> dict:
    """Share of pairs with R(chosen) > R(rejected) under ``scorer.score(prompts, responses, categories)``."""
    if not pairs:
        return {"value": None, "low": None, "high": None, "k": 0, "n": 0}
    prompts, categories = [p.prompt for p in pairs], [p.category for p in pairs]
    chosen = scorer.score(prompts, [p.chosen for p in pairs], categories).tolist()
    rejected = scorer.score(prompts, [p.rejected for p in pairs], categories).tolist()
    return rate([c > r for c, r in zip(chosen, rejected, strict=True)]).as_dict()


def adversarial_accuracy(scorer, kinds: dict[str, list[Pair]]) -> dict[str, dict]:
    """:func:`pairwise_accuracy` of every kind of adversarial pairs, and of all of them pooled (``all``)."""
    out = {kind: pairwise_accuracy(scorer, pairs) for kind, pairs in kinds.items()}
    pooled = [p for pairs in kinds.values() for p in pairs]
    out["all"] = pairwise_accuracy(scorer, pooled)
    return out


def refreshed_validity(ctx) -> dict:
    """Iterative IRL (``optimizer.reward_refresh_every``): the validity of the reward as GRPO left it, on the
    same blind-labelled answers as the ``reward_check`` stage; {} for a run without refresh."""
    from dr_irl.evaluation.reward_validity import load_labelled, reward_validity
    from dr_irl.rewards.linear_irl import REFRESH_STATE, refreshed_scorer

    path = ctx.output("policy") / REFRESH_STATE if "policy" in ctx.outputs else None
    if path is None or not path.is_file():
        return {}
    return reward_validity(refreshed_scorer(ctx, path), load_labelled(), ctx.cfg.dataset.categories)
