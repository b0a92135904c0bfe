"""GRPO-S: TRL's GRPOTrainer with the DR-IRL scaler multiplying the group-normalised advantages.

TRL computes Â over the gathered batch and slices each process's part. This subclass gathers the per
completion inputs of α (category, δ, reward gap) the same way, computes α on the whole batch (so category
means, the outlier mask and the EMA are global and identical on every rank), slices the local part and
multiplies: A_i = α_i · Â_i. With ``scaler=none`` the advantages are TRL's, untouched.

The scaler's running state (the EMA of the gap, the running δ̄) is saved inside every mid-stage checkpoint
and restored with it (:mod:`dr_irl.training.scaler_state`), so a resumed run scales its advantages as the
uninterrupted one would.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import torch
from omegaconf import DictConfig
from trl import GRPOConfig, GRPOTrainer

from dr_irl.encoders.delta import HardnessScorer
from dr_irl.hf_trainer import checkpoint_args, hardware_args
from dr_irl.rewards.router import CategoryRewardFunction
from dr_irl.scaling import DynamicRewardScaler, scale_advantages
from dr_irl.training.reward_refresh import RewardRefreshMixin
from dr_irl.training.rollout_log import RolloutLogMixin
from dr_irl.training.scaler_state import ScalerStateMixin


class GRPOSTrainer(RolloutLogMixin, RewardRefreshMixin, ScalerStateMixin, GRPOTrainer):
    """GRPOTrainer whose advantages are scaled by α = α^D · α^M (or the configured combination)."""

    def __init__(
        self,
        *args,
        reward_function: CategoryRewardFunction,
        scaler: DynamicRewardScaler,
        hardness: HardnessScorer | None = None,
        offline_delta: dict[str, float] | None = None,
        offline_delta_bar: torch.Tensor | None = None,
        reward_refresh=None,
        log_rollouts: bool = False,
        **kwargs,
    ) -> None:
        """``reward_refresh``: the refreshing reward of iterative IRL, saved in checkpoints (None: off);
        ``log_rollouts``: keep every rollout with its reward and advantage (:mod:`dr_irl.training.rollout_log`)."""
        super().__init__(*args, reward_funcs=[reward_function], **kwargs)
        self.log_rollouts = log_rollouts
        self.reward_refresh = reward_refresh
        self.reward_function = reward_function
        self.scaler = scaler
        self.hardness = hardness
        self.offline_delta = offline_delta
        self.offline_delta_bar = offline_delta_bar
        self.category_index = {name: i for i, name in enumerate(scaler.category_names)}

    def _local_scaling_inputs(self) -> dict[str, torch.Tensor]:
        """Per-completion category, δ and gap of this process's completions (from the last reward call)."""
        last = self.reward_function.last
        inputs = {
            "category": torch.tensor([self.category_index[c] for c in last["category"]], dtype=torch.float32)
        }
        if self.scaler.use_data:
            if self.offline_delta is not None:  # prompts without reference samples get δ̄ (α^D = 1)
                bar = self.offline_delta_bar
                fallback = [float(bar[self.category_index[c]]) for c in last["category"]]
                inputs["delta"] = torch.tensor(
                    [self.offline_delta.get(i, f) for i, f in zip(last["ids"], fallback, strict=True)],
                    dtype=torch.float32,
                )
            else:
                inputs["delta"] = self.hardness.delta(last["texts"], last["demonstration"]).float()
        if self.scaler.use_model:
            demo = self.reward_function.demonstration_rewards(
                last["ids"], last["prompt_text"], last["demonstration"], last["category"]
            )
            inputs["gap"] = (demo - last["rewards"]).float()
        return inputs

    def _generate_single_turn(self, *args, **kwargs):
        """Rollouts inside one autocast region under mixed precision (``hardware.bf16``): accelerate wraps
        each forward in its own, and leaving the outermost region drops autocast's cache of bf16 weights, so
        without this every decoding step would cast the weights again. Without mixed precision, or with vLLM
        (its own engine; the weight sync merges LoRA adapters): unchanged."""
        if self.use_vllm:
            return super()._generate_single_turn(*args, **kwargs)
        with self.accelerator.autocast():
            return super()._generate_single_turn(*args, **kwargs)

    def _generate_and_score_completions(self, inputs):
        output = super()._generate_and_score_completions(inputs)
        if not self.model.training:  # evaluation batches must not move the EMA, nor join the rollout log
            return output
        if self.scaler.active:
            output["advantages"] = self._scaled_advantages(output["advantages"])
        self._record_rollouts(output["advantages"])
        return output

    def _scaled_advantages(self, unscaled: torch.Tensor) -> torch.Tensor:
        """A_i = α_i · Â_i for this process's completions, α from the whole gathered batch."""
        mode, group_size = "train", self.num_generations
        device = self.accelerator.device
        started = time.perf_counter()
        local = self._local_scaling_inputs()
        gathered = {k: self.accelerator.gather(v.to(device)).cpu() for k, v in local.items()}
        result = self.scaler(
            category=gathered["category"].long(),
            group_size=group_size,
            delta=gathered.get("delta"),
            gap=gathered.get("gap"),
            delta_bar=self.offline_delta_bar,
        )
        n_local = len(local["category"])
        start = self.accelerator.process_index * n_local
        alpha = result.alpha[start : start + n_local].to(device)
        scaled = scale_advantages(unscaled, alpha)
        for key, value in {**result.stats, **alpha_effect(alpha.cpu(), unscaled.detach().cpu())}.items():
            self._metrics[mode][f"scaler/{key}"].append(value)
        if getattr(self.accelerator, "is_main_process", True):
            self._record_alpha(result.alpha)
        self._metrics[mode]["scaler/seconds"].append(time.perf_counter() - started)
        return scaled


def alpha_effect(alpha: torch.Tensor, advantages: torch.Tensor) -> dict[str, float]:
    """How much α moves (this process's completions): its 10/50/90th percentiles, and the share of the
    advantage mass it moves, Σ|α − 1|·|Â| / Σ|Â| (0 when α ≡ 1 or every Â is 0)."""
    alpha, adv = alpha.double().reshape(-1), advantages.double().abs().reshape(-1)
    if alpha.shape != adv.shape:
        raise ValueError(f"alpha {tuple(alpha.shape)} vs advantages {tuple(adv.shape)}")
    q = torch.quantile(alpha, torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64))
    mass = adv.sum()
    moved = float(((alpha - 1).abs() * adv).sum() / mass) if mass > 0 else 0.0
    return {
        "alpha/p10": q[0].item(),
        "alpha/p50": q[1].item(),
        "alpha/p90": q[2].item(),
        "alpha/moved_mass": moved,
    }


def grpo_dataset(records: Sequence):
    """GRPO prompts as conversations, with the columns the reward function and the scaler read."""
    from datasets import Dataset

    return Dataset.from_list(
        [
            {
                "prompt": [{"role": "user", "content": r.prompt}],
                "prompt_text": r.prompt,
                "category": r.category,
                "harmful": r.harmful,
                "demonstration": r.demonstration,
                "id": r.id,
            }
            for r in records
        ]
    )


def vllm_args(opt: DictConfig) -> dict:
    """TRL's vLLM generation arguments, or a clear error when vLLM is asked for but not installed."""
    if not opt.use_vllm:
        return {}
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        raise ImportError(
            "optimizer.use_vllm=true needs vLLM on a GPU machine: `pip install '.[vllm]'` "
            "(or set optimizer.use_vllm=false to generate with transformers)"
        )
    return {
        "use_vllm": True,
        "vllm_mode": opt.vllm_mode,
        "vllm_gpu_memory_utilization": opt.vllm_gpu_memory_utilization,
    }


def grpo_config(
    out_dir: Path, opt: DictConfig, hardware: DictConfig, seed: int, report_to: str
) -> GRPOConfig:
    return GRPOConfig(
        output_dir=str(out_dir / "trainer"),
        learning_rate=opt.learning_rate,
        max_steps=opt.max_steps,
        per_device_train_batch_size=opt.prompts_per_step * opt.num_generations,
        num_generations=opt.num_generations,
        max_completion_length=opt.max_completion_length,
        temperature=opt.temperature,
        beta=opt.beta,
        epsilon=opt.epsilon,
        loss_type=opt.loss_type,
        scale_rewards=opt.scale_rewards,
        gradient_accumulation_steps=opt.gradient_accumulation_steps,
        logging_steps=opt.logging_steps,
        report_to=report_to,
        seed=seed,
        **checkpoint_args(opt),
        **hardware_args(hardware),
        **vllm_args(opt),
    )
