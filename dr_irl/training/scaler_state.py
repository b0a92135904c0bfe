"""The scaler's running state inside a trainer's checkpoints, and the per-step α log.

GRPO-S and online DPO-S keep a stateful :class:`~dr_irl.scaling.DynamicRewardScaler` (the EMA of the reward
gap, the running δ̄). The mixin saves that state into every mid-stage checkpoint and restores it on resume,
so a resumed run scales as the uninterrupted one would, and it appends each step's α values to
``alpha_values.jsonl`` (next to the trainer's folder) for the report's α histogram.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from dr_irl.scaling import DynamicRewardScaler

SCALER_STATE = "scaler_state.json"
ALPHA_VALUES = "alpha_values.jsonl"


class ScalerStateMixin:
    """For a transformers ``Trainer`` subclass with a ``scaler`` attribute."""

    scaler: DynamicRewardScaler

    def _save_checkpoint(self, model, trial):
        """The scaler's state goes into the checkpoint folder before HF writes it (its
        ``trainer_state.json``, written last, marks the checkpoint complete)."""
        from dr_irl.hf_trainer import checkpoint_folder
        from dr_irl.io import atomic_write_json

        if self.args.should_save:
            folder = checkpoint_folder(self, trial)
            state = {"gap_ema": self.scaler.gap_ema.tolist(), "delta_ema": self.scaler.delta_ema.tolist()}
            atomic_write_json(folder / SCALER_STATE, state)
        super()._save_checkpoint(model, trial)

    def train(self, resume_from_checkpoint=None, **kwargs):
        """Training, with the scaler's state restored first when resuming from a checkpoint (and the per-step
        α log cut back to that step)."""
        from dr_irl.hf_trainer import drop_rows_after, resumed_step
        from dr_irl.io import read_json

        step = resumed_step(resume_from_checkpoint)
        if isinstance(resume_from_checkpoint, str):
            saved = Path(resume_from_checkpoint) / SCALER_STATE
            if saved.is_file():
                state = read_json(saved)
                self.scaler.gap_ema = torch.tensor(state["gap_ema"], dtype=torch.float64)
                self.scaler.delta_ema = torch.tensor(state["delta_ema"], dtype=torch.float64)
        if self.accelerator.is_main_process:
            drop_rows_after(Path(self.args.output_dir).parent / ALPHA_VALUES, step)
        return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)

    def _record_alpha(self, alpha: torch.Tensor) -> None:
        """Every step's α values, one json line per step, for the α histogram of the report."""
        output_dir = getattr(getattr(self, "args", None), "output_dir", None)
        if output_dir is None:  # a trainer without an output folder (unit tests) keeps no α file
            return
        path = Path(output_dir).parent / ALPHA_VALUES
        with path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"step": self.state.global_step + 1, "alpha": alpha.tolist()}) + "\n")
