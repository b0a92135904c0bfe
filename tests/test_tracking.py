"""W&B tracking offline: no account needed, the key from the environment never lands in the run dir."""

import pytest

from dr_irl.tracking import Tracker, build_tracker

SECRET = "0123456789abcdef0123456789abcdef01234567"


def test_logger_none_is_a_no_op(compose_cfg, tmp_path):
    tracker = build_tracker(compose_cfg(["logger=none"]), tmp_path)
    assert type(tracker) is Tracker
    tracker.define_step("policy")
    tracker.log({"a": 1})
    tracker.finish()


def test_wandb_offline_run_and_no_secret_in_run_dir(compose_cfg, tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_API_KEY", SECRET)
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = compose_cfg(["logger=wandb", "logger.group=unit", "model=tiny"])
    tracker = build_tracker(cfg, tmp_path)
    tracker.define_step("reward_models/insult")  # each trainer's curves on its own step axis
    tracker.log({"reward_models/insult/loss": 0.7, "reward_models/insult/step": 5})
    tracker.log({"eval_after/refusal_rate": 0.5})
    tracker.table("results", ["metric", "before", "after"], [["refusal", 0.1, 0.5]])
    tracker.summary({"after/refusal_rate": 0.5})
    tracker.finish()
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


class RecordingTracker(Tracker):
    def __init__(self) -> None:
        self.rows, self.steps = [], []

    def log(self, metrics, step=None):
        self.rows.append(metrics)

    def define_step(self, prefix):
        self.steps.append(prefix)


def test_each_trainer_logs_under_its_stage_with_its_own_step():
    from types import SimpleNamespace

    from dr_irl.hf_trainer import TrackerCallback

    tracker = RecordingTracker()
    main = SimpleNamespace(is_world_process_zero=True, global_step=3)
    warm, reward = (
        TrackerCallback(tracker, "warm_start"),
        TrackerCallback(tracker, "reward_models/insult", 10),
    )
    for callback in (warm, reward):
        callback.on_train_begin(None, main, None)
        callback.on_log(None, main, None, logs={"loss": 0.5, "epoch": 1.0, "done": True, "note": "x"})
    callback.on_log(
        None, SimpleNamespace(is_world_process_zero=False, global_step=4), None, logs={"loss": 1.0}
    )
    assert tracker.steps == ["warm_start", "reward_models/insult"]
    assert tracker.rows == [
        {"warm_start/loss": 0.5, "warm_start/epoch": 1.0, "warm_start/step": 3},
        {
            "reward_models/insult/loss": 0.5,
            "reward_models/insult/epoch": 1.0,
            "reward_models/insult/step": 13,
        },
    ]  # numbers only, never a shared train/loss; other ranks log nothing
