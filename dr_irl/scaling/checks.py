"""Start-up checks of a scaler configuration: settings under which α^D or α^M is identically 1."""

from __future__ import annotations

from typing import Any


def inert_factor_warnings(scaler: Any, prompts_per_step: int, num_categories: int) -> list[str]:
    """Why α^D, α^M or α would be ≡ 1 (by construction, whatever the data) under ``scaler``; [] when none.

    ``scaler`` is the ``scaler`` config (attribute access); ``prompts_per_step`` the prompts of one GRPO step.
    """
    out = []
    per_prompt = scaler.granularity == "prompt"
    if (
        scaler.use_data
        and per_prompt
        and scaler.delta_bar_scope == "category"
        and prompts_per_step <= num_categories
    ):
        out.append(
            f"scaler.delta_bar_scope=category with granularity=prompt and {prompts_per_step} prompts per step over "
            f"{num_categories} categories: a category that appears once in a step has δ = δ̄, so α^D ≡ 1 for it "
            "(use delta_bar_scope=dataset, the default)"
        )
    if scaler.use_data and per_prompt and scaler.delta_bar_scope == "batch" and prompts_per_step == 1:
        out.append("scaler.delta_bar_scope=batch with one prompt per step: δ = δ̄, α^D ≡ 1")
    if (scaler.use_data or scaler.use_model) and scaler.clamp[0] == scaler.clamp[1] == 1:
        out.append("scaler.clamp=[1, 1]: α ≡ 1 (plain GRPO)")
    if scaler.use_data and scaler.use_model and scaler.combine == "sum" and not any(scaler.weights):
        out.append("scaler.combine=sum with weights [0, 0]: α ≡ 0")
    return out
