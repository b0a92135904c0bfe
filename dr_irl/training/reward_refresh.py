"""Iterative IRL inside GRPO (``optimizer.reward_refresh_every``): the reward is refitted on the policy's own
rollouts every N steps, and its state travels with the trainer's checkpoints.

After every optimizer step the rollouts the reward scored on each process are gathered (in rank order, so
every process holds the same list); every N steps the linear IRL reward is refitted on the reference samples
and all rollouts so far (:class:`dr_irl.rewards.linear_irl.RefreshingLinearReward`), and the cached rewards of
the demonstrations (α^M's reference point) are dropped. The rollouts, θ and the embeddings the fits computed
go into every mid-stage checkpoint before HF writes it, so a resumed run refits as the uninterrupted one would; each refit is logged
to ``reward_refresh.jsonl`` next to the trainer's folder.
"""

from __future__ import annotations

import json
from pathlib import Path

from transformers import TrainerCallback

from dr_irl.rewards.linear_irl import REFRESH_STATE, RefreshingLinearReward
from dr_irl.rewards.router import CategoryRewardFunction

REFRESH_LOG = "reward_refresh.jsonl"


class RewardRefreshCallback(TrainerCallback):
    """Gathers each step's rollouts and refits the reward every ``every`` steps."""

    def __init__(
        self, reward: RefreshingLinearReward, reward_function: CategoryRewardFunction, every: int, log: Path
    ) -> None:
        if every < 1:
            raise ValueError(f"optimizer.reward_refresh_every={every}: must be >= 1 to refresh")
        self.reward, self.reward_function, self.every, self.log = reward, reward_function, every, log

    def on_step_end(self, args, state, control, **kwargs):
        from accelerate.utils import gather_object

        self.reward.commit(gather_object(self.reward.take_pending()))
        if state.global_step % self.every == 0:
            row = {"step": state.global_step, **self.reward.refit()}
            self.reward_function.demo_cache.clear()  # R(x, y*) changed with θ
            if state.is_world_process_zero:
                with self.log.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(row) + "\n")
        return control

    def on_evaluate(self, args, state, control, **kwargs):
        """An evaluation's completions are not the training policy's rollouts: they never join the negatives."""
        self.reward.take_pending()
        return control


class RewardRefreshMixin:
    """For a transformers ``Trainer`` subclass with a ``reward_refresh`` attribute (None: no refresh)."""

    reward_refresh: RefreshingLinearReward | None = None

    def _save_checkpoint(self, model, trial):
        from dr_irl.hf_trainer import checkpoint_folder

        if self.reward_refresh is not None and self.args.should_save:
            self.reward_refresh.save(checkpoint_folder(self, trial))
        super()._save_checkpoint(model, trial)

    def train(self, resume_from_checkpoint=None, **kwargs):
        """Training, with the refreshed reward restored first when resuming (and its log cut back)."""
        from dr_irl.errors import ConfigError
        from dr_irl.hf_trainer import drop_rows_after, resumed_step

        if self.reward_refresh is not None:
            if isinstance(resume_from_checkpoint, str):
                saved = Path(resume_from_checkpoint) / REFRESH_STATE
                if not saved.is_file():
                    raise ConfigError(
                        f"{resume_from_checkpoint} holds no {REFRESH_STATE}: it was written by a run without "
                        "optimizer.reward_refresh_every; delete the checkpoint or keep the setting it ran with"
                    )
                self.reward_refresh.load(Path(resume_from_checkpoint))
            if self.accelerator.is_main_process:
                drop_rows_after(
                    Path(self.args.output_dir).parent / REFRESH_LOG, resumed_step(resume_from_checkpoint)
                )
        return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)
