"""Iterative IRL (``optimizer.reward_refresh_every``): the linear IRL reward refitted on the policy's rollouts
inside GRPO, its state in checkpoints, and its validity in the report."""

from __future__ import annotations

import json

import pytest
import torch

from dr_irl.cli import run
from dr_irl.rewards.linear_features import SentenceFeatures
from dr_irl.rewards.linear_irl import REFRESH_STATE, LinearRewardModels, RefreshingLinearReward
from dr_irl.training.reward_refresh import REFRESH_LOG, RewardRefreshCallback
from dr_irl.validation import config_problems
from tests.conftest import TINY_RUN


class _Encoder:
    """φ(y) = [number of words, 1]: enough to see which θ scores a text."""

    def encode(self, texts):
        return torch.tensor([[float(len(t.split())), 1.0] for t in texts])


def _refreshing(fits: list) -> RefreshingLinearReward:
    scorer = LinearRewardModels({"a/harmful": [1.0, 0.0]}, SentenceFeatures(_Encoder()), {})

    def fit(rollouts: dict[str, list[str]]):
        fits.append(rollouts)
        return {"a/harmful": [-2.0, 0.5]}, 0.75

    return RefreshingLinearReward(scorer, fit)


def test_refit_sees_every_committed_rollout_grouped_by_prompt_and_replaces_theta():
    fits: list = []
    reward = _refreshing(fits)
    assert reward.score(["x"], ["one two three"], ["a"], harmful=[True]).tolist() == [3.0]
    reward.observe(["p1", "p2", "p1"], ["a b", "  ", "c d e"])  # an empty rollout is no negative
    assert reward.pending == [("p1", "a b"), ("p1", "c d e")]
    reward.commit(reward.take_pending())
    reward.commit([("p2", "f")])  # another process's rollouts, gathered after ours
    assert reward.pending == []
    summary = reward.refit()
    assert fits == [{"p1": ["a b", "c d e"], "p2": ["f"]}]
    assert summary == {"refits": 1, "rollouts": 3, "pair_accuracy": 0.75}
    # θ = (−2, 0.5): three words score −2·3 + 0.5
    assert reward.score(["x"], ["one two three"], ["a"], harmful=[True]).tolist() == [-5.5]


def test_save_and_load_restore_theta_rollouts_refit_count_and_embeddings(tmp_path):
    import numpy as np

    reward = _refreshing([])
    reward.commit([("p1", "a b")])
    reward.refit()
    reward.embeddings["a b"] = np.array([0.25, -1.0], dtype=np.float32)
    reward.save(tmp_path)
    fresh = _refreshing([])
    fresh.load(tmp_path)
    assert fresh.refits == 1 and fresh.rollouts == [("p1", "a b")]
    assert fresh.score(["x"], ["a b"], ["a"], harmful=[True]).tolist() == [-3.5]
    assert fresh.embeddings.keys() == {"a b"} and fresh.embeddings["a b"].tolist() == [0.25, -1.0]


def test_callback_commits_every_step_and_refits_every_n_steps(tmp_path):
    from types import SimpleNamespace

    fits: list = []
    reward = _refreshing(fits)
    demo_cache = {"p1": 1.0}
    function = SimpleNamespace(demo_cache=demo_cache)
    callback = RewardRefreshCallback(reward, function, every=2, log=tmp_path / REFRESH_LOG)
    for step in (1, 2, 3):
        reward.observe([f"p{step}"], [f"text {step}"])
        state = SimpleNamespace(global_step=step, is_world_process_zero=True)
        callback.on_step_end(None, state, None)
        assert reward.pending == []
    assert len(fits) == 1 and fits[0] == {"p1": ["text 1"], "p2": ["text 2"]}
    assert demo_cache == {}  # R(x, y*) is recomputed with the new θ
    rows = [json.loads(line) for line in (tmp_path / REFRESH_LOG).read_text().splitlines()]
    assert rows == [{"step": 2, "refits": 1, "rollouts": 2, "pair_accuracy": 0.75}]
    assert len(reward.rollouts) == 3  # step 3's rollout waits for the next refit
    with pytest.raises(ValueError, match="reward_refresh_every=0"):
        RewardRefreshCallback(reward, function, every=0, log=tmp_path / "x")


def test_an_evaluations_completions_never_join_the_negatives(tmp_path):
    from types import SimpleNamespace

    fits: list = []
    reward = _refreshing(fits)
    callback = RewardRefreshCallback(
        reward, SimpleNamespace(demo_cache={}), every=1, log=tmp_path / REFRESH_LOG
    )
    reward.observe(["eval-1"], ["an evaluation completion"])
    callback.on_evaluate(None, None, None)
    reward.observe(["p1"], ["a training rollout"])
    callback.on_step_end(None, SimpleNamespace(global_step=1, is_world_process_zero=True), None)
    assert fits == [{"p1": ["a training rollout"]}]


def test_refreshing_grpo_reads_the_reference_samples_it_refits_on(compose_cfg):
    from dr_irl.training.methods import METHODS

    reads = METHODS.get("grpo").reads
    assert "reference_samples" not in reads(compose_cfg([]))
    assert "reference_samples" in reads(compose_cfg(["optimizer.reward_refresh_every=5"]))


def test_refresh_needs_the_linear_irl_reward_and_grpo(compose_cfg):
    assert not config_problems(compose_cfg(["optimizer.reward_refresh_every=5"]))
    problems = config_problems(
        compose_cfg(["reward_model=irl_category_classifier", "optimizer.reward_refresh_every=5"])
    )
    assert any("optimizer.reward_refresh_every=5" in p and "irl_linear" in p for p in problems)
    problems = config_problems(compose_cfg(["optimizer.reward_refresh_every=50", "optimizer.max_steps=40"]))
    assert any("would never be refitted" in p for p in problems)
    problems = config_problems(compose_cfg(["optimizer.reward_refresh_every=-1"]))
    assert any(p.startswith("optimizer.reward_refresh_every=-1") for p in problems)


REFRESH_RUN = [
    *TINY_RUN,
    "model.warm_start=false",
    "optimizer.max_steps=4",
    "optimizer.save_steps=2",
    "optimizer.reward_refresh_every=2",
    "optimizer.log_rollouts=true",
    # the policy's own features: prompt-conditioned φ, so the refit's cache and the resume see them too
    "reward_model=irl_category_hidden",
    "reward_model.feature_layer=1",
]


class _Crash(Exception):
    pass


@pytest.fixture(scope="module")
def refreshed_runs(tmp_path_factory, compose_cfg):
    """A GRPO run with iterative IRL, whole (``whole``)."""
    root = tmp_path_factory.mktemp("refresh")
    run(compose_cfg(REFRESH_RUN), root / "whole")
    return root


@pytest.fixture(scope="module")
def resumed_run(refreshed_runs, compose_cfg):
    """The same run crashed after checkpoint-2, then rerun (``resumed``)."""

    def crash(self, args, state, control, **kwargs):
        if state.global_step == 2:
            raise _Crash
        return control

    with pytest.MonkeyPatch.context() as patch, pytest.raises(_Crash):
        patch.setattr(RewardRefreshCallback, "on_save", crash, raising=False)
        run(compose_cfg(REFRESH_RUN), refreshed_runs / "resumed")
    checkpoint = refreshed_runs / "resumed" / "stages" / ".policy.tmp" / "trainer" / "checkpoint-2"
    assert (checkpoint / REFRESH_STATE).is_file()
    run(compose_cfg(REFRESH_RUN), refreshed_runs / "resumed")
    return refreshed_runs


def test_a_run_refits_its_reward_and_reports_the_refreshed_validity(refreshed_runs):
    policy = refreshed_runs / "whole" / "stages" / "policy"
    state = json.loads((policy / REFRESH_STATE).read_text())
    # every non-empty rollout of the 4 steps × 2 prompts × 2 rollouts is kept
    assert state["refits"] == 2 and 0 < len(state["rollouts"]) <= 16
    initial = json.loads(
        (refreshed_runs / "whole" / "stages" / "reward_models" / "models" / "linear.json").read_text()
    )
    assert state["theta"].keys() == initial["theta"].keys() and state["theta"] != initial["theta"]
    assert {len(theta) for theta in state["theta"].values()} == {64}  # the tiny policy's hidden size
    log = [json.loads(line) for line in (policy / REFRESH_LOG).read_text().splitlines()]
    assert [(r["step"], r["refits"]) for r in log] == [(2, 1), (4, 2)]
    assert log[0]["rollouts"] <= 8 and log[1]["rollouts"] == len(state["rollouts"])
    results = json.loads((refreshed_runs / "whole" / "results.json").read_text())
    assert results["reward_validity_refreshed"].keys() == results["reward_validity"].keys()
    assert "after iterative IRL's last refit" in (refreshed_runs / "whole" / "results.md").read_text()
    # the rollout log: each step's 2 prompts × 2 rollouts with the rewards TRL logged and the advantages used
    rollouts = [json.loads(line) for line in (policy / "rollouts.jsonl").read_text().splitlines()]
    logged = [json.loads(line) for line in (policy / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rollouts] == [1, 2, 3, 4]
    for row, metrics in zip(rollouts, (m for m in logged if "reward" in m), strict=True):
        assert (
            len(row["rollouts"]) == 4
            and {"id", "prompt", "completion", "advantage"} <= row["rollouts"][0].keys()
        )
        rewards = [r["reward"] for r in row["rollouts"]]
        assert sum(rewards) / 4 == pytest.approx(metrics["reward"], rel=1e-4, abs=1e-5)


@pytest.mark.slow
def test_a_resumed_run_refits_as_the_uninterrupted_one(resumed_run):
    def stage(name):
        policy = resumed_run / name / "stages" / "policy"
        return json.loads((policy / REFRESH_STATE).read_text()), (policy / REFRESH_LOG).read_text()

    (whole, whole_log), (resumed, resumed_log) = stage("whole"), stage("resumed")
    assert resumed["rollouts"] == whole["rollouts"]
    assert resumed["theta"] == whole["theta"] and resumed["refits"] == whole["refits"] == 2
    assert resumed_log == whole_log
    rollouts = [resumed_run / n / "stages" / "policy" / "rollouts.jsonl" for n in ("whole", "resumed")]
    assert rollouts[1].read_text() == rollouts[0].read_text()  # steps past the checkpoint logged once
