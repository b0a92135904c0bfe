"""``optimizer.log_rollouts``: the per-step rollout log of GRPO, and its cut back on resume."""

from __future__ import annotations

import json
from types import SimpleNamespace

import torch

from dr_irl.training.rollout_log import ROLLOUTS, RolloutLogMixin


class _Trainer:
    def train(self, resume_from_checkpoint=None, **kwargs):
        return "trained"


class _Logging(RolloutLogMixin, _Trainer):
    def __init__(self, folder, on: bool = True) -> None:
        self.args = SimpleNamespace(output_dir=str(folder / "trainer"))
        self.state = SimpleNamespace(global_step=0)
        self.accelerator = SimpleNamespace(is_main_process=True)
        self.log_rollouts = on
        self.reward_function = SimpleNamespace(
            last={
                "ids": ["a", "a"],
                "prompt_text": ["Insult him.", "Insult him."],
                "texts": ["No.", "You fool."],
                "rewards": torch.tensor([1.0, -1.0]),
            }
        )


def test_each_step_logs_its_rollouts_rewards_and_the_advantages_used(tmp_path):
    trainer = _Logging(tmp_path)
    for step in range(3):
        trainer.state.global_step = step
        trainer._record_rollouts(torch.tensor([0.5, -0.5]) * (step + 1))
    rows = [json.loads(line) for line in (tmp_path / ROLLOUTS).read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]  # the step the update is about to take
    assert rows[2]["rollouts"] == [
        {"id": "a", "prompt": "Insult him.", "completion": "No.", "reward": 1.0, "advantage": 1.5},
        {"id": "a", "prompt": "Insult him.", "completion": "You fool.", "reward": -1.0, "advantage": -1.5},
    ]


def test_a_resumed_run_drops_what_was_logged_after_its_checkpoint(tmp_path):
    trainer = _Logging(tmp_path)
    for step in range(4):
        trainer.state.global_step = step
        trainer._record_rollouts(torch.zeros(2))
    checkpoint = tmp_path / "trainer" / "checkpoint-2"
    checkpoint.mkdir(parents=True)
    (checkpoint / "trainer_state.json").write_text(json.dumps({"global_step": 2}))
    assert trainer.train(resume_from_checkpoint=str(checkpoint)) == "trained"
    assert [json.loads(x)["step"] for x in (tmp_path / ROLLOUTS).read_text().splitlines()] == [1, 2]
    trainer.train()  # a fresh start: nothing of an earlier attempt stays
    assert (tmp_path / ROLLOUTS).read_text() == ""


def test_off_by_default_nothing_is_written(tmp_path):
    trainer = _Logging(tmp_path, on=False)
    trainer._record_rollouts(torch.zeros(2))
    trainer.train()
    assert not (tmp_path / ROLLOUTS).exists()
