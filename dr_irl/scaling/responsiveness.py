"""Model-level responsiveness α^M: the reward gap between the demonstration and the policy's responses.

gap_i = R_j(q, y*) − R_j(q, o_i); outliers are the gaps with (gap − mean gap)² > τ;
α^M = σ(mean of kept gaps) / σ(EMA of that mean) (DAMA's running mean, γ = 0.9).
"""

from __future__ import annotations

import torch


def category_means(
    values: torch.Tensor, category: torch.Tensor, num_categories: int, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-category mean of ``values`` (optionally only where ``mask``); returns (means, counts).

    Categories absent from the batch get mean NaN and count 0.
    """
    weight = torch.ones_like(values) if mask is None else mask.to(values.dtype)
    weight = torch.where(torch.isnan(values), torch.zeros_like(weight), weight)  # NaN values are left out
    values = torch.nan_to_num(values, nan=0.0)
    sums = torch.zeros(num_categories, dtype=values.dtype).index_add_(0, category, values * weight)
    counts = torch.zeros(num_categories, dtype=values.dtype).index_add_(0, category, weight)
    means = torch.where(counts > 0, sums / counts.clamp_min(1), torch.full_like(sums, float("nan")))
    return means, counts


def outlier_mask(gap: torch.Tensor, category: torch.Tensor, num_categories: int, tau: float) -> torch.Tensor:
    """True where a gap is kept: (gap − mean of its category's gaps)² ≤ τ."""
    means, _ = category_means(gap, category, num_categories)
    return (gap - means[category]).pow(2) <= tau


def alpha_model(
    gap_mean: torch.Tensor, gap_ema: torch.Tensor, temperature: float | None = None
) -> torch.Tensor:
    """α^M = σ(gap mean) / σ(running mean of the gap), element-wise: the paper's factor.

    With a ``temperature`` T (beyond the paper, off by default): α^M = 2·σ((gap − EMA)/T), 1 when the gap
    equals its running mean, spanning (0, 2).
    """
    if temperature is None:
        return torch.sigmoid(gap_mean) / torch.sigmoid(gap_ema)
    if temperature <= 0:
        raise ValueError(f"scaler.temperature_model={temperature}: must be > 0")
    return 2.0 * torch.sigmoid((gap_mean - gap_ema) / temperature)


def ema_update(previous: torch.Tensor, current: torch.Tensor, gamma: float) -> torch.Tensor:
    """EMA ← γ·EMA + (1 − γ)·current; a NaN previous value starts at ``current``; NaN current keeps it."""
    start = torch.where(torch.isnan(previous), current, previous)
    updated = gamma * start + (1 - gamma) * current
    return torch.where(torch.isnan(current), previous, updated)
