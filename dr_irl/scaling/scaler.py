"""The stateful combination of α^D and α^M into the per-completion factor α (GRPO-S)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from dr_irl.scaling.advantage import group_means
from dr_irl.scaling.hardness import alpha_data
from dr_irl.scaling.responsiveness import alpha_model, category_means, ema_update, outlier_mask

GRANULARITIES = ("prompt", "response")
GAP_POOLINGS = ("category", "unit")
DELTA_BAR_SCOPES = ("dataset", "category", "batch", "running")
COMBINES = ("product", "sum")


@dataclass
class ScalingResult:
    """α per completion, its two factors (None when unused) and the statistics to log."""

    alpha: torch.Tensor
    alpha_data: torch.Tensor | None = None
    alpha_model: torch.Tensor | None = None
    stats: dict[str, float] = field(default_factory=dict)


def _describe(name: str, values: torch.Tensor) -> dict[str, float]:
    return {
        f"{name}/mean": values.mean().item(),
        f"{name}/min": values.min().item(),
        f"{name}/max": values.max().item(),
    }


class DynamicRewardScaler:
    """Computes α = α^D · α^M (or a weighted sum) for a batch of G-completion groups.

    Call it on the *gathered* batch (every process sees the same tensors) so that the statistics
    (category means, outlier mask, EMA) are global and the state stays identical across ranks.

    Args:
        use_data / use_model: include α^D / α^M (both False: α ≡ 1, plain GRPO).
        combine: ``product`` (the paper's AND gate) or ``sum`` (w_D·α^D + w_M·α^M).
        granularity: ``prompt`` (δ and gap averaged over the group: one α per prompt) or ``response``.
        gap_pooling: ``category`` (α^M_j from the kept mean of category j, the paper) or ``unit``
            (each prompt/response its own σ(gap)/σ(EMA_j); outliers get α^M = 1).
        delta_bar_scope: ``dataset`` (the default): δ̄ per category over the data, passed as ``delta_bar``
            (computed offline from the reference samples); or the batch mean of the category, of the whole
            batch, or a running EMA per category. A passed ``delta_bar`` always wins.
        temperature_data / temperature_model: None (the paper's σ(x)/σ(x̄)) or T > 0 for the sharpened
            2·σ((x − x̄)/T), an option beyond the paper.
        tau: outlier threshold on (gap − category mean gap)².
        ema_gamma: γ of the running mean of the gap (and of δ̄ when ``running``).
        invert: use 1/α instead of α.
        clamp: (min, max) range of the final α.
    """

    def __init__(
        self,
        category_names: Sequence[str],
        use_data: bool = True,
        use_model: bool = True,
        combine: str = "product",
        weights: tuple[float, float] = (0.5, 0.5),
        granularity: str = "prompt",
        gap_pooling: str = "category",
        delta_bar_scope: str = "category",
        tau: float = 1.0,
        ema_gamma: float = 0.9,
        invert: bool = False,
        clamp: tuple[float, float] = (0.2, 5.0),
        temperature_data: float | None = None,
        temperature_model: float | None = None,
    ) -> None:
        for value, allowed, key in [
            (combine, COMBINES, "combine"),
            (granularity, GRANULARITIES, "granularity"),
            (gap_pooling, GAP_POOLINGS, "gap_pooling"),
            (delta_bar_scope, DELTA_BAR_SCOPES, "delta_bar_scope"),
        ]:
            if value not in allowed:
                raise ValueError(f"scaler.{key}={value!r}: expected one of {allowed}")
        if clamp[0] <= 0 or clamp[0] > clamp[1]:
            raise ValueError(f"scaler.clamp={clamp}: need 0 < min <= max")
        self.category_names = list(category_names)
        self.use_data, self.use_model = use_data, use_model
        self.combine, self.weights = combine, weights
        self.granularity, self.gap_pooling, self.delta_bar_scope = granularity, gap_pooling, delta_bar_scope
        self.tau, self.ema_gamma, self.invert, self.clamp = tau, ema_gamma, invert, clamp
        for value, key in ((temperature_data, "temperature_data"), (temperature_model, "temperature_model")):
            if value is not None and value <= 0:
                raise ValueError(f"scaler.{key}={value}: must be > 0 (or null for the paper's factor)")
        self.temperature_data, self.temperature_model = temperature_data, temperature_model
        n = len(self.category_names)
        self.gap_ema = torch.full((n,), float("nan"), dtype=torch.float64)
        self.delta_ema = torch.full((n,), float("nan"), dtype=torch.float64)

    @property
    def active(self) -> bool:
        return self.use_data or self.use_model

    def _unit(self, values: torch.Tensor, group_size: int) -> torch.Tensor:
        return group_means(values, group_size) if self.granularity == "prompt" else values

    def _alpha_data(self, delta, category, group_size, delta_bar, stats):
        d = self._unit(delta.double(), group_size)
        n = len(self.category_names)
        if delta_bar is not None:
            bar = delta_bar.double()
        elif self.delta_bar_scope == "dataset":
            raise ValueError(
                "scaler.delta_bar_scope=dataset needs the per-category delta_bar (stage alpha_offline)"
            )
        elif self.delta_bar_scope == "batch":
            bar = d.mean().expand(n).clone()
        else:
            bar, _ = category_means(d, category, n)
            if self.delta_bar_scope == "running":
                self.delta_ema = ema_update(self.delta_ema, bar, self.ema_gamma)
                bar = self.delta_ema
        stats.update(_describe("delta", d))
        return alpha_data(d, bar[category], self.temperature_data)

    def _alpha_model(self, gap, category, group_size, stats):
        g = self._unit(gap.double(), group_size)
        n = len(self.category_names)
        keep = outlier_mask(g, category, n, self.tau)
        kept_mean, _ = category_means(g, category, n, mask=keep)
        all_mean, _ = category_means(g, category, n)
        kept_mean = torch.where(torch.isnan(kept_mean), all_mean, kept_mean)
        previous = torch.where(torch.isnan(self.gap_ema), kept_mean, self.gap_ema)
        if self.gap_pooling == "category":
            a_m = alpha_model(kept_mean[category], previous[category], self.temperature_model)
        else:
            a_m = torch.where(
                keep, alpha_model(g, previous[category], self.temperature_model), torch.ones_like(g)
            )
        self.gap_ema = ema_update(self.gap_ema, kept_mean, self.ema_gamma)
        stats.update(_describe("gap", g))
        stats["gap/outlier_frac"] = 1.0 - keep.double().mean().item()
        return a_m

    def __call__(
        self,
        category: torch.Tensor,
        group_size: int,
        delta: torch.Tensor | None = None,
        gap: torch.Tensor | None = None,
        delta_bar: torch.Tensor | None = None,
    ) -> ScalingResult:
        """α for N = B·G completions (G consecutive completions per prompt).

        ``category``: category index per completion; ``delta``: 1 − W per completion (needed when
        ``use_data``); ``gap``: R(q, y*) − R(q, o_i) per completion (needed when ``use_model``);
        ``delta_bar``: per-category δ̄ computed offline (optional).
        """
        category = category.long()
        stats: dict[str, float] = {}
        ones = torch.ones(category.shape[0], dtype=torch.float64)
        a_d = a_m = None
        if self.use_data:
            if delta is None:
                raise ValueError("scaler uses alpha_data but no delta was given")
            a_d = self._alpha_data(delta, category, group_size, delta_bar, stats)
            stats.update(_describe("alpha_data", a_d))
        if self.use_model:
            if gap is None:
                raise ValueError("scaler uses alpha_model but no reward gap was given")
            a_m = self._alpha_model(gap, category, group_size, stats)
            stats.update(_describe("alpha_model", a_m))
        if self.combine == "product":
            alpha = (a_d if a_d is not None else ones) * (a_m if a_m is not None else ones)
        else:
            w_d, w_m = self.weights
            alpha = w_d * (a_d if a_d is not None else ones) + w_m * (a_m if a_m is not None else ones)
        if self.invert:
            alpha = 1.0 / alpha
        alpha = torch.nan_to_num(alpha, nan=1.0)  # an unscorable completion (NaN reward) is not rescaled
        alpha = alpha.clamp(*self.clamp) if self.active else ones
        stats.update(_describe("alpha", alpha))
        for j, name in enumerate(self.category_names):
            in_cat = category == j
            if in_cat.any():
                stats[f"alpha/{name}/mean"] = alpha[in_cat].mean().item()
                if self.use_model and not torch.isnan(self.gap_ema[j]):
                    stats[f"gap_ema/{name}"] = self.gap_ema[j].item()
        return ScalingResult(alpha=alpha.float(), alpha_data=a_d, alpha_model=a_m, stats=stats)
