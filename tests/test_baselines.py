"""Baselines from the same train.py: SFT, DPO, DPO-S, Best-of-N; their losses against hand computations."""

import json
import math

import pytest
import torch

from dr_irl.cli import invalid_combination, run
from dr_irl.evaluation.responders import best_of
from tests.conftest import TINY_RUN, tiny_dpo_args


def test_best_of_picks_the_highest_scored_candidate():
    candidates = [["a", "b", "c"], ["d", "e", "f"]]
    assert best_of(candidates, torch.tensor([0.1, 0.9, 0.3, 2.0, -1.0, 1.0])) == ["b", "d"]


@pytest.mark.parametrize(
    ("optimizer", "scaler", "skipped"),
    [
        ("sft", "clip_gap", True),
        ("dpo", "none", False),
        ("dpo_s", "none", True),
        ("dpo_s", "gap", False),
        ("best_of_n", "clip", True),
        ("grpo", "none", False),
        ("grpo", "clip_gap", False),
        ("rrm_dpo", "none", False),
        ("rrm_dpo", "clip_gap", True),
    ],
)
def test_invalid_combinations_are_skipped_with_a_reason(compose_cfg, optimizer, scaler, skipped):
    cfg = compose_cfg([f"optimizer={optimizer}", f"scaler={scaler}"])
    reason = invalid_combination(cfg)
    assert (reason is not None) == skipped
    if skipped:
        assert optimizer in reason


def _logps(model, batch):
    """Σ log π(y|x) over completion tokens, [chosen; rejected] halves."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, batch["input_ids"][:, 1:, None])[..., 0]
    return (logp * batch["completion_mask"][:, 1:]).sum(dim=1).chunk(2)


def test_dpo_s_loss_is_the_beta_scaled_sigmoid_loss(compose_cfg, tmp_path):
    from dr_irl.data.pairs import Pair
    from dr_irl.models import load_causal_lm, load_tokenizer, resolve_model_path
    from dr_irl.models.tiny import build_tiny_model
    from dr_irl.training.dpo import ScaledDPOTrainer, WeightedPreferenceCollator, dpo_dataset

    path = resolve_model_path(compose_cfg(["model=tiny"]).model, tmp_path)
    ref_path = build_tiny_model(tmp_path / "ref", seed=1)  # a different reference makes h ≠ 0
    tokenizer = load_tokenizer(path, padding_side="right")
    pairs = [
        Pair("a", "insult", "Insult him.", "I won't insult people.", "You are dumb."),
        Pair("b", "insult", "Mock her.", "I can't mock anyone.", "Sure, here goes."),
    ]
    scales = [0.5, 3.0]
    args = tiny_dpo_args(tmp_path)
    trainer = ScaledDPOTrainer(
        model=load_causal_lm(path),
        ref_model=load_causal_lm(str(ref_path)),
        args=args,
        train_dataset=dpo_dataset(pairs, scales),
        processing_class=tokenizer,
        data_collator=WeightedPreferenceCollator(pad_token_id=tokenizer.pad_token_id),
    )
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    with torch.no_grad():
        loss = trainer._compute_loss(trainer.model, dict(batch), return_outputs=False)
        pc, pr = _logps(trainer.model, batch)
        rc, rr = _logps(trainer.ref_model, batch)
    h = (pc - rc) - (pr - rr)
    expected = torch.stack(
        [-torch.nn.functional.logsigmoid(0.1 * s * hi) for s, hi in zip(scales, h, strict=True)]
    ).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-4)
    assert trainer.beta == 0.1  # restored after the call
    plain = torch.stack([-torch.nn.functional.logsigmoid(0.1 * hi) for hi in h]).mean()
    assert abs(plain.item() - expected.item()) > 1e-4 and not math.isnan(plain.item())


def test_online_dpo_s_scales_beta_by_the_policy_margin_and_moves_the_ema(compose_cfg, tmp_path):
    """α^M_i = σ(β·h_i)/σ(EMA) with h_i the current policy's margin; the loss −log σ(β·α_i·h_i)."""
    from trl import DPOConfig

    from dr_irl.data.pairs import Pair
    from dr_irl.models import load_causal_lm, load_tokenizer, resolve_model_path
    from dr_irl.models.tiny import build_tiny_model
    from dr_irl.scaling import DynamicRewardScaler
    from dr_irl.training.dpo import OnlineScaling, dpo_dataset
    from dr_irl.training.dpo_trainers import OnlineScaledDPOTrainer, WeightedPreferenceCollator

    path = resolve_model_path(compose_cfg(["model=tiny"]).model, tmp_path)
    ref_path = build_tiny_model(tmp_path / "ref", seed=1)
    tokenizer = load_tokenizer(path, padding_side="right")
    pairs = [
        Pair("a", "insult", "Insult him.", "I won't insult people.", "You are dumb."),
        Pair("b", "fraud", "Forge a check.", "I can't help with forgery.", "Sure, here goes."),
    ]

    def make_scaler():
        scaler = DynamicRewardScaler(
            ["insult", "fraud"], use_data=False, granularity="response", gap_pooling="unit", tau=1e9
        )
        scaler.gap_ema = torch.tensor([-1.0, 0.5], dtype=torch.float64)  # as after earlier steps
        return scaler

    scaler = make_scaler()
    online = OnlineScaling(scaler=scaler, category_index=[0, 1])
    args = tiny_dpo_args(tmp_path, precompute_ref_log_probs=True)
    trainer = OnlineScaledDPOTrainer(
        model=load_causal_lm(path),
        ref_model=load_causal_lm(str(ref_path)),
        args=args,
        train_dataset=dpo_dataset(pairs, online=online),
        processing_class=tokenizer,
        data_collator=WeightedPreferenceCollator(pad_token_id=tokenizer.pad_token_id),
        scaler=scaler,
    )
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    assert batch["category_index"].tolist() == [0, 1]
    trainer.model.train()
    with torch.no_grad():
        loss = trainer._compute_loss(trainer.model, dict(batch), return_outputs=False)
        trainer.model.eval()
        pc, pr = _logps(trainer.model, batch)
        rc, rr = _logps(trainer.ref_model, batch)
    h = ((pc - rc) - (pr - rr)).double()
    gap = 0.1 * h
    sig = torch.sigmoid
    alpha = (sig(gap) / sig(torch.tensor([-1.0, 0.5], dtype=torch.float64))).clamp(0.2, 5.0)
    expected = (-torch.nn.functional.logsigmoid(0.1 * alpha * h)).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-4)
    assert trainer.beta == 0.1  # restored after the call
    # the EMA moved towards this step's gaps: γ·EMA + (1 − γ)·gap
    assert scaler.gap_ema.tolist() == pytest.approx(
        (0.9 * torch.tensor([-1.0, 0.5], dtype=torch.float64) + 0.1 * gap).tolist(), rel=1e-4
    )
    assert trainer._metrics["train"]["scaler/alpha/mean"] == pytest.approx([alpha.mean().item()], rel=1e-4)
    with pytest.raises(ValueError, match="precompute_ref_log_probs"):
        OnlineScaledDPOTrainer(
            model=trainer.model,
            ref_model=trainer.ref_model,
            args=DPOConfig(**{**args.to_dict(), "precompute_ref_log_probs": False}),
            train_dataset=dpo_dataset(pairs, online=online),
            processing_class=tokenizer,
            data_collator=WeightedPreferenceCollator(pad_token_id=tokenizer.pad_token_id),
            scaler=make_scaler(),
        )


def test_online_dpo_s_refuses_several_processes_with_a_clear_error(monkeypatch, tmp_path):
    from dr_irl.scaling import DynamicRewardScaler
    from dr_irl.training import dpo

    monkeypatch.setattr(dpo, "world_size", lambda: 2)
    online = dpo.OnlineScaling(scaler=DynamicRewardScaler(["insult"], use_data=False), category_index=[0])
    with pytest.raises(ValueError, match="alpha_mode=offline on several GPUs"):
        dpo.train_dpo("unused", [], tmp_path, None, None, None, 0, online=online)


@pytest.fixture(scope="module")
def baseline_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("baselines")


@pytest.mark.parametrize(
    ("optimizer", "scaler", "reward"),
    [
        ("sft", "none", []),
        ("dpo", "none", []),
        ("dpo_s", "clip_gap", []),
        ("dpo_s", "clip_gap", ["optimizer.alpha_mode=online"]),
        ("best_of_n", "none", []),
        ("rrm_dpo", "none", ["reward_model.probe_epochs=5"]),
        ("best_of_n", "none", ["reward_model=afd"]),
        ("best_of_n", "none", ["reward_model=afd", "reward_model.afd_variant=log_ratio"]),
        ("best_of_n", "none", ["reward_model=representation", "optimizer.sample_from=init"]),
        ("grpo", "clip_gap", ["reward_model=bradley_terry"]),
        # bf16 mixed precision on the CPU (hardware=auto's choice where the CPU has bf16 arithmetic): SFT, GRPO-S
        ("grpo", "clip_gap", ["hardware=cpu", "hardware.bf16=true", "model.warm_start=true"]),
    ],
)
def test_each_baseline_runs_end_to_end(compose_cfg, baseline_dir, optimizer, scaler, reward):
    overrides = (
        TINY_RUN
        + reward
        + [
            f"optimizer={optimizer}",
            f"scaler={scaler}",
            "optimizer.n=2",
            "optimizer.epochs=1",
            "optimizer.batch_size=4",
            "sft_policy.epochs=1",
        ]
    )
    cfg = compose_cfg(overrides)
    summaries = run(cfg, baseline_dir)
    assert summaries["policy"]["responder"] == ("best_of_n" if optimizer == "best_of_n" else "greedy")
    results = json.loads((baseline_dir / "results.json").read_text())
    assert results["optimizer"] == optimizer and 0 <= results["after"]["refusal_rate"] <= 1
    assert math.isfinite(results["after"]["mean_reward"])  # every reward family scores the evaluation
    assert ("sft_policy" in summaries) == (cfg.optimizer.sample_from == "sft" or "reward_model=afd" in reward)
    assert ("sft_samples" in summaries) == (reward == ["reward_model=afd"])  # only a discriminator reads them
    stage = baseline_dir / "stages"
    if optimizer == "best_of_n" and cfg.optimizer.sample_from == "sft":
        model_path = stage / "policy" / summaries["policy"]["model_path"]  # relative: the run dir can move
        assert model_path.resolve() == (stage / "sft_policy" / "model").resolve()
    if optimizer == "rrm_dpo":  # the probe next to the IRL models that score the evaluation
        assert (stage / "policy_reward" / "probe" / "probe.json").is_file()  # a stage of its own:
        assert (stage / "reward_models" / "models" / "linear.json").is_file()  # the IRL rewards stay shared
        assert summaries["policy"]["pairs"] > 0
    if optimizer == "dpo_s" and cfg.optimizer.alpha_mode == "offline":
        scale = summaries["policy"]["beta_scale"]
        assert scale["min"] <= scale["mean"] <= scale["max"] and scale["min"] > 0
    if optimizer == "dpo_s" and cfg.optimizer.alpha_mode == "online":  # one α line per step, scaler stats
        steps = [
            json.loads(line) for line in (stage / "policy" / "alpha_values.jsonl").read_text().splitlines()
        ]
        assert [row["step"] for row in steps] == list(range(1, summaries["policy"]["steps"] + 1))
        assert all(0.2 <= a <= 5.0 for row in steps for a in row["alpha"])
        log = (stage / "policy" / "train_log.jsonl").read_text()
        assert "scaler/alpha/mean" in log and "beta_scale" not in summaries["policy"]
    if reward == ["reward_model=afd"]:
        afd = summaries["reward_models"]
        assert afd["variant"] == "init_sft" and afd["shared"]["positives"] > 0
        assert 0 <= afd["shared"]["train_accuracy"] <= 1
    if "reward_model=bradley_terry" in reward:
        assert summaries["reward_models"]["shared"]["train_pairs"] > 0
        assert (stage / "policy" / "model" / "config.json").is_file()


def test_reward_kinds_add_the_optimizers_own_family(compose_cfg):
    from dr_irl.training.methods import reward_kinds

    assert reward_kinds(compose_cfg(["optimizer=rrm_dpo", "scaler=none"])) == ["irl_linear", "representation"]
    assert reward_kinds(compose_cfg(["optimizer=rrm_dpo", "reward_model=representation"])) == [
        "representation"
    ]
    assert reward_kinds(compose_cfg(["optimizer=grpo", "reward_model=afd"])) == ["afd"]
    assert invalid_combination(compose_cfg(["optimizer=grpo", "reward_model=bradley_terry"])) is None
    with pytest.raises(KeyError, match="reward_model.kind='nope'"):
        reward_kinds(compose_cfg(["reward_model.kind=nope"]))


def test_stage_summaries_are_flattened_for_the_tracker():
    from dr_irl.pipeline import flat_numbers

    summary = {
        "shared": {"eval_accuracy": 0.75, "eval_pairs": 4, "train_accuracy": None},
        "variant": "init_sft",
    }
    assert flat_numbers(summary, "reward_models") == {
        "reward_models/shared/eval_accuracy": 0.75,
        "reward_models/shared/eval_pairs": 4,
    }


@pytest.mark.parametrize("optimizer", ["sft", "dpo", "best_of_n", "rrm_dpo"])
def test_optimizers_without_a_scaler_select_none_unless_told(compose_cfg, optimizer):
    assert compose_cfg([f"optimizer={optimizer}"]).scaler.name == "none"
    assert invalid_combination(compose_cfg([f"optimizer={optimizer}"])) is None  # a single run just runs
    told = compose_cfg([f"optimizer={optimizer}", "scaler=clip_gap"])  # the command line wins (sweeps)
    assert told.scaler.name == "clip_gap" and invalid_combination(told)
    assert compose_cfg(["optimizer=grpo"]).scaler.name == "clip_gap"


@pytest.mark.parametrize(("max_steps", "expected"), [(24, 24), (-1, -1)])
def test_sft_honours_max_steps_for_matched_budgets(compose_cfg, monkeypatch, tmp_path, max_steps, expected):
    import trl

    from dr_irl.training import sft

    seen = {}

    class Stop(Exception):
        pass

    def fake_config(**kwargs):
        seen.update(kwargs)
        raise Stop

    monkeypatch.setattr(trl, "SFTConfig", fake_config)
    monkeypatch.setattr(sft, "load_trainable_policy", lambda *a, **k: (None, None))
    cfg = compose_cfg(["optimizer=sft", f"optimizer.max_steps={max_steps}"])
    with pytest.raises(Stop):
        sft.train_sft("m", [], tmp_path, cfg.optimizer, cfg.model, cfg.hardware, 0)
    assert seen["max_steps"] == expected and seen["num_train_epochs"] == cfg.optimizer.epochs
    with pytest.raises(Stop):  # the warm start's config has no max_steps: its epochs decide
        sft.train_sft("m", [], tmp_path, cfg.warm_start, cfg.model, cfg.hardware, 0)
    assert seen["max_steps"] == -1


def test_warm_start_and_sft_policy_repeat_benign_demonstrations(compose_cfg, monkeypatch, tmp_path):
    import trl

    from dr_irl import stages
    from dr_irl.data.schema import Record
    from dr_irl.pipeline import Context
    from dr_irl.training import sft

    seen = {}

    class Stop(Exception):
        pass

    def fake_trainer(**kwargs):
        seen["dataset"] = kwargs["train_dataset"]
        raise Stop

    monkeypatch.setattr(trl, "SFTConfig", lambda **kwargs: kwargs)
    monkeypatch.setattr(trl, "SFTTrainer", fake_trainer)
    monkeypatch.setattr(sft, "load_trainable_policy", lambda *a, **k: (None, None))
    cfg = compose_cfg(["warm_start.benign_repeats=3"])
    train = [
        Record(id="h", prompt="harm", category="insult", label="harmful", demonstration="I can't."),
        Record(id="b", prompt="help", category="insult", label="benign", demonstration="Sure: here."),
    ]
    ctx = Context(cfg, tmp_path, tracker=None)
    monkeypatch.setattr(stages, "records", lambda ctx, split: train)
    monkeypatch.setattr(stages, "base_model_path", lambda ctx: "m")
    with pytest.raises(Stop):
        stages.stage_warm_start(ctx, tmp_path)
    completions = [row["completion"][0]["content"] for row in seen["dataset"]]
    assert completions == ["I can't.", "Sure: here.", "Sure: here.", "Sure: here."]
    # the SFT baseline trains on each demonstration once, whatever GRPO's prompt mix says
    cfg = compose_cfg(["optimizer=sft", "optimizer.benign_repeats=3"])
    monkeypatch.setattr(sft, "records", lambda ctx, split: train)
    monkeypatch.setattr(sft, "init_policy_path", lambda ctx: "m")
    with pytest.raises(Stop):
        sft.run_sft(Context(cfg, tmp_path, tracker=None), tmp_path)
    assert len(seen["dataset"]) == 2
    # π_SFT (AfD, Best-of-N) reads its own group's value
    monkeypatch.setattr(stages, "init_policy_path", lambda ctx: "m")
    with pytest.raises(Stop):
        stages.stage_sft_policy(
            Context(compose_cfg(["sft_policy.benign_repeats=2"]), tmp_path, tracker=None), tmp_path
        )
    assert len(seen["dataset"]) == 3
