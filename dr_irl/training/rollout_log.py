"""``optimizer.log_rollouts``: every GRPO rollout with its reward and advantage, to read what a step rewarded.

One json line per step in ``rollouts.jsonl`` (next to the trainer's folder, kept in the policy stage):
``{"step", "rollouts": [{"id", "prompt", "completion", "reward", "advantage"}, …]}`` — the advantage as the
update used it (after GRPO-S's α). The main process logs its own share of the batch. A resumed run first cuts
the log back to its checkpoint's step, so the file of a resumed run is that of an uninterrupted one.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

ROLLOUTS = "rollouts.jsonl"


class RolloutLogMixin:
    """For a GRPOTrainer subclass with a ``reward_function`` (:class:`CategoryRewardFunction`) attribute."""

    log_rollouts: bool = False

    def _rollout_log(self) -> Path | None:
        output_dir = getattr(getattr(self, "args", None), "output_dir", None)
        if not self.log_rollouts or output_dir is None:
            return None
        return Path(output_dir).parent / ROLLOUTS

    def train(self, resume_from_checkpoint=None, **kwargs):
        from dr_irl.hf_trainer import drop_rows_after, resumed_step

        path = self._rollout_log()
        if path is not None and self.accelerator.is_main_process:
            drop_rows_after(path, resumed_step(resume_from_checkpoint))
        return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)

    def _record_rollouts(self, advantages: torch.Tensor) -> None:
        """This process's rollouts of the step about to be taken, with the rewards the reward function gave."""
        path = self._rollout_log()
        if path is None or not getattr(self.accelerator, "is_main_process", True):
            return
        last = self.reward_function.last
        rewards = torch.as_tensor(last["rewards"]).reshape(-1).tolist()
        rows = [
            {"id": i, "prompt": p, "completion": t, "reward": r, "advantage": a}
            for i, p, t, r, a in zip(
                last["ids"],
                last["prompt_text"],
                last["texts"],
                rewards,
                advantages.detach().float().cpu().reshape(-1).tolist(),
                strict=True,
            )
        ]
        with path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"step": self.state.global_step + 1, "rollouts": rows}) + "\n")
