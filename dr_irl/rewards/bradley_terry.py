"""``reward_model.kind=bradley_terry``: TRL's RewardTrainer on preference pairs, the dataset's own (chosen,
rejected) where it has them (PKU-SafeRLHF, HH-RLHF, ...), else (demonstration, reference sample)."""

from __future__ import annotations

from pathlib import Path

from dr_irl.data.pairs import preference_pairs
from dr_irl.pipeline import Context
from dr_irl.rewards.families import register_family
from dr_irl.rewards.irl import classifier_scorer, train_pairwise
from dr_irl.run_artifacts import records, reference_samples


@register_family("bradley_terry", scorer=classifier_scorer)
def train_bradley_terry(ctx: Context, out: Path) -> dict:
    """A Bradley–Terry reward model on preference pairs (the dataset's own where it has them)."""
    train = records(ctx, "train")
    pairs = preference_pairs(train, reference_samples(ctx))
    own = sum(1 for r in train if r.chosen and r.rejected)
    print(
        f"Bradley–Terry pairs: {own} from the dataset's (chosen, rejected), "
        f"{len(pairs) - own} (demonstration, reference sample)"
    )
    return {**train_pairwise(ctx, out, pairs, "Bradley–Terry"), "dataset_pairs": own, "pairs": len(pairs)}
