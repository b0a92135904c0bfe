"""Dynamic reward scaling of DR-IRL (GRPO-S): pure tensor functions, no model, no trainer.

Tensors in, tensors out, so that every formula is testable on its own (docs/design.md, 1.3).
"""

from dr_irl.scaling.advantage import group_normalised_advantages, scale_advantages
from dr_irl.scaling.hardness import alpha_data, sentence_set_similarity, split_subsentences
from dr_irl.scaling.responsiveness import alpha_model, outlier_mask
from dr_irl.scaling.scaler import DynamicRewardScaler, ScalingResult

__all__ = [
    "DynamicRewardScaler",
    "ScalingResult",
    "alpha_data",
    "alpha_model",
    "group_normalised_advantages",
    "outlier_mask",
    "scale_advantages",
    "sentence_set_similarity",
    "split_subsentences",
]
