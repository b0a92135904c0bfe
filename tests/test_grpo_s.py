"""The GRPO-S hook inside TRL's GRPOTrainer: α multiplies TRL's advantages, over the gathered batch."""

import math
from collections import defaultdict
from contextlib import nullcontext
from types import SimpleNamespace

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from trl import GRPOTrainer

from dr_irl.scaling import DynamicRewardScaler
from dr_irl.training.grpo_s import GRPOSTrainer


def sig(x):
    return 1 / (1 + math.exp(-x))


class FakeRewardFunction:
    def __init__(self, categories, rewards, demo_reward=2.0):
        self.last = {
            "ids": [f"p{i // 2}" for i in range(len(rewards))],
            "texts": ["t"] * len(rewards),
            "rewards": torch.tensor(rewards),
            "category": categories,
            "prompt_text": ["q"] * len(rewards),
            "demonstration": ["d"] * len(rewards),
        }
        self.demo_reward = demo_reward

    def demonstration_rewards(self, ids, prompts, demonstrations, categories):
        return torch.full((len(ids),), self.demo_reward)


class FakeAccelerator:
    """gather() prepends the other rank's tensors (this process is rank ``process_index``)."""

    def __init__(self, process_index=0, other=None):
        self.device = torch.device("cpu")
        self.process_index = process_index
        self.other = list(other or [])

    def gather(self, tensor):
        if not self.other:
            return tensor
        return torch.cat([self.other.pop(0), tensor])


def make_trainer(monkeypatch, scaler, reward_function, advantages, accelerator=None):
    monkeypatch.setattr(
        GRPOTrainer,
        "_generate_and_score_completions",
        lambda self, inputs: {"advantages": advantages.clone()},
    )
    trainer = object.__new__(GRPOSTrainer)
    trainer.scaler, trainer.reward_function = scaler, reward_function
    trainer.hardness = trainer.offline_delta = trainer.offline_delta_bar = None
    trainer.category_index = {c: i for i, c in enumerate(scaler.category_names)}
    trainer.accelerator = accelerator or FakeAccelerator()
    trainer.model = SimpleNamespace(training=True)
    trainer.num_generations = 2
    trainer._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}
    return trainer


def test_scaler_none_returns_trls_advantages_exactly(monkeypatch, tmp_path):
    import json

    adv = torch.tensor([0.7, -0.7, 1.0, -1.0])
    trainer = make_trainer(
        monkeypatch,
        DynamicRewardScaler(["a"], use_data=False, use_model=False),
        FakeRewardFunction(["a"] * 4, [0, 1, 0, 1]),
        adv,
    )
    out = _logging(trainer, tmp_path)._generate_and_score_completions([])
    assert torch.equal(out["advantages"], adv)
    assert not trainer._metrics["train"]
    # and the rollout log holds TRL's advantages exactly, with the step's rewards
    row = json.loads((tmp_path / "rollouts.jsonl").read_text())
    assert [r["advantage"] for r in row["rollouts"]] == adv.tolist()
    assert [r["reward"] for r in row["rollouts"]] == [0.0, 1.0, 0.0, 1.0] and row["step"] == 1


def test_gap_scaler_multiplies_advantages_by_hand(monkeypatch):
    adv = torch.tensor([0.7, -0.7, 1.0, -1.0])
    scaler = DynamicRewardScaler(["a", "b"], use_data=False, tau=100.0, clamp=(0.01, 100.0))
    trainer = make_trainer(
        monkeypatch, scaler, FakeRewardFunction(["a", "a", "b", "b"], [1.0, 1.0, 0.0, 0.0]), adv
    )
    out = trainer._generate_and_score_completions([])  # gaps a: 1, b: 2 → EMA starts there, α = 1
    assert torch.allclose(out["advantages"], adv)
    trainer.reward_function = FakeRewardFunction(["a", "a", "b", "b"], [0.0, 0.0, 1.0, 1.0])
    out = trainer._generate_and_score_completions([])  # gaps a: 2 (EMA 1), b: 1 (EMA 2)
    alpha = torch.tensor([sig(2) / sig(1)] * 2 + [sig(1) / sig(2)] * 2)
    assert torch.allclose(out["advantages"], adv * alpha, atol=1e-6)
    assert trainer._metrics["train"]["scaler/alpha/max"][-1] == pytest.approx(sig(2) / sig(1), rel=1e-6)
    assert "scaler/alpha/b/mean" in trainer._metrics["train"]


def test_two_ranks_compute_alpha_on_the_gathered_batch(monkeypatch):
    """Rank 1's α equals the single-process α of the same completions: statistics are global, not local."""
    cats, rewards = ["a", "a", "a", "a"], [0.0, 0.0, 3.0, 3.0]
    full_adv = torch.tensor([0.5, -0.5, 0.9, -0.9])

    def two_steps(trainer, second_rewards):
        trainer._generate_and_score_completions([])
        trainer.reward_function = FakeRewardFunction(*second_rewards)
        return trainer._generate_and_score_completions([])["advantages"]

    single = make_trainer(
        monkeypatch,
        DynamicRewardScaler(["a"], use_data=False, tau=100.0, clamp=(0.01, 100.0)),
        FakeRewardFunction(cats, rewards),
        full_adv,
    )
    expected = two_steps(single, (cats, [1.0, 1.0, 0.0, 0.0]))

    # rank 1 holds the second prompt (completions 2, 3); the gather brings rank 0's category and gap first
    other = [
        torch.tensor([0.0, 0.0]),
        torch.tensor([2.0, 2.0]),  # step 1: category, gap of rank 0
        torch.tensor([0.0, 0.0]),
        torch.tensor([1.0, 1.0]),
    ]  # step 2
    rank1 = make_trainer(
        monkeypatch,
        DynamicRewardScaler(["a"], use_data=False, tau=100.0, clamp=(0.01, 100.0)),
        FakeRewardFunction(cats[2:], rewards[2:]),
        full_adv[2:],
        FakeAccelerator(1, other),
    )
    rank1.reward_function.last["ids"] = ["p1", "p1"]
    got = two_steps(rank1, (cats[2:], [0.0, 0.0]))
    assert torch.allclose(got, expected[2:], atol=1e-6)
    assert not torch.allclose(expected, full_adv)  # α ≠ 1 at step 2, so the check is not vacuous


def _logging(trainer, folder):
    trainer.log_rollouts = True
    trainer.args = SimpleNamespace(output_dir=str(folder / "trainer"))
    trainer.state = SimpleNamespace(global_step=0)
    trainer.accelerator.is_main_process = True
    return trainer


def test_an_evaluation_batch_is_neither_scaled_nor_logged(monkeypatch, tmp_path):
    adv = torch.tensor([0.7, -0.7, 1.0, -1.0])
    scaler = DynamicRewardScaler(["a", "b"], use_data=False, tau=100.0, clamp=(0.01, 100.0))
    trainer = make_trainer(
        monkeypatch, scaler, FakeRewardFunction(["a", "a", "b", "b"], [1.0, 1.0, 0.0, 0.0]), adv
    )
    trainer._generate_and_score_completions([])  # a training step starts the EMA
    ema, metrics = scaler.gap_ema.clone(), {k: list(v) for k, v in trainer._metrics["train"].items()}
    _logging(trainer, tmp_path).model.training = False
    trainer.reward_function = FakeRewardFunction(["a", "a", "b", "b"], [0.0, 0.0, 1.0, 1.0])
    out = trainer._generate_and_score_completions([])
    assert torch.equal(out["advantages"], adv) and torch.equal(scaler.gap_ema, ema)
    assert {k: list(v) for k, v in trainer._metrics["train"].items()} == metrics
    assert not trainer._metrics["eval"] and not (tmp_path / "rollouts.jsonl").exists()


class CastCounter(TorchDispatchMode):
    """Counts dtype casts (``aten._to_copy``) under it."""

    def __init__(self):
        super().__init__()
        self.casts = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.casts += func is torch.ops.aten._to_copy.default
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("mixed_precision", [True, False])
def test_rollouts_cast_the_weights_once_per_generation_under_mixed_precision(monkeypatch, mixed_precision):
    """accelerate wraps each forward in autocast, and leaving the outermost region drops the cache of bf16
    weights; GRPO-S generates inside one region, so a 4-step "generation" of a Linear casts its weight and
    bias once (+ the input per step: 2 + 4 casts) instead of at every step (3 × 4). In fp32 nothing changes."""
    layer = torch.nn.Linear(4, 4)  # trainable: autocast may cache its bf16 copies
    region = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if mixed_precision else nullcontext
    forward = region()(layer.forward) if mixed_precision else layer.forward  # as accelerate's prepare() does
    x = torch.randn(2, 4)

    def generate(self, *args, **kwargs):
        with torch.no_grad():
            return [forward(x).dtype for _ in range(4)]

    monkeypatch.setattr(GRPOTrainer, "_generate_single_turn", generate)
    trainer = object.__new__(GRPOSTrainer)
    trainer.accelerator = SimpleNamespace(autocast=region)
    trainer.use_vllm = False
    with CastCounter() as outside:
        generate(trainer)
    with CastCounter() as inside:
        dtypes = trainer._generate_single_turn()
    assert dtypes == [torch.bfloat16 if mixed_precision else torch.float32] * 4
    assert (outside.casts, inside.casts) == ((12, 6) if mixed_precision else (0, 0))
