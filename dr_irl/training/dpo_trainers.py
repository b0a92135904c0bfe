"""TRL's DPOTrainer with a per-pair β: DPO-S with α fixed before training, or recomputed every step.

Both compute TRL's sigmoid loss −log σ(β_i·h_i), h_i = log-ratio(chosen) − log-ratio(rejected), by setting
``self.beta`` to the per-pair tensor β·α for the duration of the loss (TRL's code is then unchanged, and
the rewards it logs follow the scaled β).
"""

from __future__ import annotations

import torch
from trl import DPOTrainer
from trl.trainer.dpo_trainer import DataCollatorForPreference

from dr_irl.scaling import DynamicRewardScaler
from dr_irl.training.scaler_state import ScalerStateMixin

PAIR_COLUMNS = {"beta_scale": torch.float32, "delta": torch.float32, "category_index": torch.long}


class WeightedPreferenceCollator(DataCollatorForPreference):
    """TRL's preference collator, passing the per-pair columns of DPO-S through (``beta_scale``, ``delta``,
    ``category_index``)."""

    def torch_call(self, examples):
        output = super().torch_call(examples)
        for column, dtype in PAIR_COLUMNS.items():
            if column in examples[0]:
                output[column] = torch.tensor([e[column] for e in examples], dtype=dtype)
        return output


class ScaledDPOTrainer(DPOTrainer):
    """DPOTrainer with β_i = β · scale_i per pair (``sigmoid`` loss); a scale of 1 is TRL's DPO exactly."""

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        missing = [c for c in PAIR_COLUMNS if c not in self._signature_columns]
        self._signature_columns = [*self._signature_columns, *missing]

    def _require_sigmoid_loss(self) -> None:
        if self.loss_types != ["sigmoid"]:
            raise ValueError(
                f"DPO-S scales the sigmoid loss's beta; loss_type={self.loss_types} is not supported"
            )

    def _compute_loss(self, model, inputs, return_outputs):
        scale = inputs.pop("beta_scale", None)
        if scale is None:
            return super()._compute_loss(model, inputs, return_outputs)
        self._require_sigmoid_loss()
        base = self.beta
        self.beta = base * scale.to(self.accelerator.device)
        try:
            return super()._compute_loss(model, inputs, return_outputs)
        finally:
            self.beta = base


class OnlineScaledDPOTrainer(ScalerStateMixin, ScaledDPOTrainer):
    """DPO-S whose α follows the policy during training (DAMA's model-aware factor).

    Every training step, α^M reads the current policy's implicit reward margin on each pair,
    gap_i = β·h_i (the DPO counterpart of GRPO-S's R(x, y*) − R(x, o)), through the scaler's outlier mask and
    its EMA per category (updated after the step's α, as in DAMA); α^D reads the pair's δ (rejected sample vs
    demonstration, computed once) against the category's δ̄. The margin is taken, detached, from the loss's
    own forward pass (a forward hook on the policy), so the step costs no extra pass; this needs the
    reference log-probs precomputed (``precompute_ref_log_probs``), so that the policy's forward is the only
    one inside the loss. Evaluation batches use the unscaled β and leave the EMA alone.
    """

    def __init__(
        self, *args, scaler: DynamicRewardScaler, delta_bar: torch.Tensor | None = None, **kwargs
    ) -> None:
        super().__init__(*args, **kwargs)
        self.scaler = scaler
        self.delta_bar = delta_bar
        self._require_sigmoid_loss()
        if not self.precompute_ref_logps:
            raise ValueError("online DPO-S needs precompute_ref_log_probs=True (the margin hook reads them)")
        if self.ld_alpha is not None or self.f_divergence_type != "reverse_kl":
            raise ValueError(
                "online DPO-S supports the standard DPO log-ratio only (no ld_alpha, reverse KL)"
            )

    def _compute_loss(self, model, inputs, return_outputs):
        category = inputs.pop("category_index", None)
        delta = inputs.pop("delta", None)
        if not self.model.training or category is None:
            return super()._compute_loss(model, inputs, return_outputs)
        seq_len = inputs["completion_mask"].size(1) - 1
        base = self.beta
        calls = []

        def scale_beta(module, args, output) -> None:
            calls.append(1)
            logps = output.log_probs[:, -seq_len:].detach().sum(dim=1)
            chosen, rejected = logps.chunk(2, dim=0)
            margin = (chosen - inputs["ref_chosen_logps"]) - (rejected - inputs["ref_rejected_logps"])
            alpha = self._step_alpha(category, delta, base * margin)
            self.beta = base * alpha.to(margin.device, margin.dtype)

        handle = model.register_forward_hook(scale_beta)
        try:
            loss = super()._compute_loss(model, inputs, return_outputs)
        finally:
            handle.remove()
            self.beta = base
        if len(calls) != 1:
            raise RuntimeError(f"online DPO-S expected one policy forward per loss, saw {len(calls)}")
        return loss

    def _step_alpha(
        self, category: torch.Tensor, delta: torch.Tensor | None, gap: torch.Tensor
    ) -> torch.Tensor:
        """α of this process's pairs, computed on the batch gathered from every process (so the category
        means, the outlier mask and the EMA are the same on every rank)."""
        device = self.accelerator.device
        local = {"category": category.float(), "gap": gap.float()}
        if delta is not None:
            local["delta"] = delta.float()
        gathered = {k: self.accelerator.gather(v.to(device)).cpu() for k, v in local.items()}
        result = self.scaler(
            category=gathered["category"].long(),
            group_size=1,
            delta=gathered.get("delta"),
            gap=gathered["gap"],
            delta_bar=self.delta_bar,
        )
        for key, value in result.stats.items():
            self._metrics["train"][f"scaler/{key}"].append(value)
        if self.accelerator.is_main_process:
            self._record_alpha(result.alpha)
        start = self.accelerator.process_index * len(category)
        return result.alpha[start : start + len(category)]
