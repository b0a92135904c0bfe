"""DPO with preference confidence (RRM, arXiv 2503.10093) on pairs re-ranked by the representation probe.

γ = max(σ(a·[mean σ(r_c) − mean σ(r_r)]), ½) with the means over the batch (``per_sample``: γ_i from the pair's own
σ(r_c) − σ(r_r)); loss = −γ log σ(βh) − (1 − γ) log σ(−βh), h the DPO log-ratio margin
(log π/π_ref of chosen − of rejected). σ(r_c), σ(r_r) are the frozen probe's, precomputed per pair as the dataset
columns ``sig_chosen`` and ``sig_rejected``.

The ``optimizer.name=rrm_dpo`` method that samples, re-ranks and trains in rounds: :mod:`dr_irl.training.rrm`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from trl import DPOTrainer

from dr_irl.data.pairs import Pair
from dr_irl.hf_trainer import (
    load_trainable_policy,
    lora_config,
    save_trained,
    seed_model_construction,
    train_resumable,
    use_compact_progress,
)
from dr_irl.models import load_causal_lm
from dr_irl.rewards.representation import rerank
from dr_irl.training.dpo import WeightedPreferenceCollator, dpo_config, dpo_dataset

SIGMA_COLUMNS = ("sig_chosen", "sig_rejected")
ScoredPair = tuple[Pair, float, float]  # (pair, σ(r_chosen), σ(r_rejected))


def preference_confidence(
    sig_c: torch.Tensor, sig_r: torch.Tensor, a: float = 7.5, per_sample: bool = False
) -> torch.Tensor:
    """γ, floored at ½, one value per pair: the batch's γ repeated, or (``per_sample``) each pair's own."""
    diff = sig_c - sig_r if per_sample else (sig_c.mean() - sig_r.mean()).expand(sig_c.shape)
    return torch.sigmoid(a * diff).clamp_min(0.5)


def confidence_dpo_loss(h: torch.Tensor, beta: float, gamma: torch.Tensor) -> torch.Tensor:
    """mean(−γ log σ(βh) − (1 − γ) log σ(−βh))."""
    x = beta * h
    return (-gamma * F.logsigmoid(x) - (1 - gamma) * F.logsigmoid(-x)).mean()


class ConfidenceCollator(WeightedPreferenceCollator):
    """TRL's preference collator (and ``beta_scale``), passing ``sig_chosen`` / ``sig_rejected`` through."""

    def torch_call(self, examples):
        output = super().torch_call(examples)
        for name in SIGMA_COLUMNS:
            if name in examples[0]:
                output[name] = torch.tensor([e[name] for e in examples], dtype=torch.float32)
        return output


class ConfidenceDPOTrainer(DPOTrainer):
    """DPOTrainer whose loss is the confidence loss −γ log σ(βh) − (1 − γ) log σ(−βh), γ from the batch's σ columns.

    No TRL loss is this mixture for every γ in [½, 1] (``robust`` is −γ' log σ(x) − (1 − γ') log σ(−x) only with
    γ' = (1 − ε)/(1 − 2ε), which reaches ½ only as ε → −∞), but a combination of two is: with x = βh and
    log σ(−x) = log σ(x) − x the loss is −log σ(x) + (1 − γ)x, and TRL's ``robust`` loss with label smoothing ε
    is −log σ(x) − εx/(1 − 2ε). So ``2·sigmoid − robust(ε_i)`` with ε_i = c_i/(1 + 2c_i), c_i = 1 − γ_i ∈ [0, ½]
    (ε_i ∈ [0, ¼]) is −log σ(x_i) + c_i x_i exactly. For each batch the trainer sets TRL's loss types, weights
    and a per-pair label-smoothing tensor for the duration of TRL's own ``_compute_loss``: the forward passes, the
    reference (``ref_model``, the adapter-disabled PEFT model or precomputed log-probs), f-divergences, WPO
    weighting and every ``rewards/*`` metric stay TRL's. Without the σ columns it is TRL's sigmoid DPO.

    γ per batch is over each device's micro-batch (no gather across ranks or accumulation steps).
    """

    def __init__(self, *args, per_sample: bool = False, a: float = 7.5, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.loss_types != ["sigmoid"]:
            raise ValueError(f"confidence DPO generalises the sigmoid loss; loss_type={self.loss_types}")
        self.per_sample, self.confidence_a = per_sample, a

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        missing = [c for c in SIGMA_COLUMNS if c not in self._signature_columns]
        self._signature_columns = [*self._signature_columns, *missing]

    def _compute_loss(self, model, inputs, return_outputs):
        sig_c, sig_r = (inputs.pop(name, None) for name in SIGMA_COLUMNS)
        if sig_c is None or sig_r is None:
            return super()._compute_loss(model, inputs, return_outputs)
        device = self.accelerator.device
        sig_c, sig_r = sig_c.to(device), sig_r.to(device)
        gamma = preference_confidence(sig_c, sig_r, self.confidence_a, self.per_sample)
        c = 1.0 - gamma
        saved = self.loss_types, self.loss_weights, self.label_smoothing
        self.loss_types, self.loss_weights, self.label_smoothing = (
            ["sigmoid", "robust"],
            [2.0, -1.0],
            c / (1 + 2 * c),
        )
        try:
            result = super()._compute_loss(model, inputs, return_outputs)
        finally:
            self.loss_types, self.loss_weights, self.label_smoothing = saved
        mode = "train" if self.model.training else "eval"
        self._metrics[mode]["confidence/gamma"].append(
            self.accelerator.gather_for_metrics(gamma).mean().item()
        )
        margin = self.accelerator.gather_for_metrics(sig_c - sig_r).mean().item()
        self._metrics[mode]["confidence/sig_margin"].append(margin)
        return result


def reranked_pairs(
    prompt_ids: Sequence[str],
    categories: Sequence[str],
    prompts: Sequence[str],
    candidates: list[list[str]],
    rewards: torch.Tensor,
) -> list[ScoredPair]:
    """(best, worst) of each prompt's candidates by the probe's rewards (flattened prompt-major), with σ(r) of both.

    Prompts that :func:`dr_irl.rewards.representation.rerank` drops (no preference) give no pair.
    """
    sizes = [len(c) for c in candidates]
    sig = torch.sigmoid(rewards.detach().float().cpu()).split(sizes)
    pairs = []
    for i, picked in enumerate(rerank(candidates, rewards)):
        if picked is None:
            continue
        best, worst = picked
        pair = Pair(prompt_ids[i], categories[i], prompts[i], candidates[i][best], candidates[i][worst])
        pairs.append((pair, float(sig[i][best]), float(sig[i][worst])))
    return pairs


def rrm_dataset(pairs_with_sigmas: Sequence[ScoredPair]):
    """The DPO dataset of the pairs with their ``sig_chosen`` / ``sig_rejected`` columns."""
    dataset = dpo_dataset([p for p, _, _ in pairs_with_sigmas])
    dataset = dataset.add_column("sig_chosen", [float(s) for _, s, _ in pairs_with_sigmas])
    return dataset.add_column("sig_rejected", [float(s) for _, _, s in pairs_with_sigmas])


def train_rrm_dpo(
    model_path: str,
    pairs_with_sigmas: Sequence[ScoredPair],
    out_dir: Path,
    opt_cfg: DictConfig,
    model_cfg: DictConfig,
    hardware_cfg: DictConfig,
    seed: int,
    per_sample: bool = False,
    a: float = 7.5,
    report_to: str = "none",
    callbacks=(),
    ref_model_path: str | None = None,
) -> dict:
    """Train with confidence DPO from ``model_path`` on (pair, σ(r_c), σ(r_r)); saves the policy to ``out_dir/model``.

    ``opt_cfg`` has the fields of ``train_dpo``'s: epochs, max_steps, learning_rate, beta, batch_size,
    max_length, logging_steps. ``ref_model_path``: the DPO reference when it is not ``model_path`` itself (later
    rounds of the online update).
    """
    if not pairs_with_sigmas:
        raise ValueError("no re-ranked pairs to train on")
    seed_model_construction(seed)
    model, tokenizer = load_trainable_policy(model_path, model_cfg)
    ref_model = None
    if ref_model_path is not None and ref_model_path != model_path:
        ref_model = load_causal_lm(ref_model_path, model_cfg.dtype, model_cfg.trust_remote_code)
    args = dpo_config(out_dir, opt_cfg, hardware_cfg, seed, report_to)
    trainer = ConfidenceDPOTrainer(
        model=model,
        ref_model=ref_model,
        args=args,
        train_dataset=rrm_dataset(pairs_with_sigmas),
        processing_class=tokenizer,
        data_collator=ConfidenceCollator(pad_token_id=tokenizer.pad_token_id, max_length=opt_cfg.max_length),
        peft_config=lora_config(model_cfg.lora),
        callbacks=list(callbacks),
        per_sample=per_sample,
        a=a,
    )
    use_compact_progress(trainer, "RRM-DPO")
    result = train_resumable(trainer)
    save_trained(trainer, tokenizer, out_dir / "model")
    sig_c = torch.tensor([s for _, s, _ in pairs_with_sigmas])
    sig_r = torch.tensor([s for _, _, s in pairs_with_sigmas])
    return {
        "train_loss": result.training_loss,
        "pairs": len(pairs_with_sigmas),
        "steps": trainer.state.global_step,
        "sig_margin": (sig_c - sig_r).mean().item(),
        "gamma_all_pairs": preference_confidence(sig_c, sig_r, a)[0].item(),
    }
