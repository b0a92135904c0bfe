"""Components declare what they need, and the pipeline asks their registries: a method and a reward family
added through the registries alone (no edit of dr_irl/stages.py) run end to end on the tiny model."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from conftest import TINY_RUN, train_entry, two_category_data

from dr_irl.data.refusals import RuleRefusalJudge
from dr_irl.distributed.memory import REWARD_FOOTPRINTS, Component
from dr_irl.pipeline import stage_deps
from dr_irl.registry import Registry
from dr_irl.rewards.families import REWARD_FAMILIES, register_family, reward_models
from dr_irl.run_artifacts import init_policy_path, records
from dr_irl.scaling.build import build_scaler, needs_offline_deltas, offline_delta
from dr_irl.stages import STAGES
from dr_irl.training.methods import METHODS, register_method, reward_kinds
from dr_irl.training.sft import train_sft


def stage(name: str):
    return next(s for s in STAGES if s.name == name)


def deps(cfg, name: str) -> tuple[str, ...]:
    return stage_deps(stage(name), cfg)


def test_registry_loads_its_builtin_modules_at_the_first_lookup(tmp_path, monkeypatch):
    (tmp_path / "toy_builtin.py").write_text(
        "from test_components import LAZY\nLAZY.register('toy')(42)\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert LAZY._items == {}  # nothing imported before a lookup
    assert LAZY.get("toy") == 42 and LAZY.names() == ["toy"] and "toy" in LAZY
    with pytest.raises(KeyError, match=r"toy\.key='nope' is unknown; known: \['toy'\]"):
        LAZY.get("nope")


LAZY: Registry[int] = Registry("toy.key", builtins=("toy_builtin",))


def test_methods_declare_scaler_reward_kind_and_the_stages_they_read(compose_cfg):
    grpo, dpo, dpo_s = METHODS.get("grpo"), METHODS.get("dpo"), METHODS.get("dpo_s")
    assert grpo.uses_scaler and not grpo.requires_scaler
    assert dpo_s.uses_scaler and dpo_s.requires_scaler and not dpo.uses_scaler
    assert METHODS.get("rrm_dpo").reward_kind == "representation" and grpo.reward_kind == "any"
    cfg = compose_cfg(["optimizer=dpo"])
    assert "reference_samples" in deps(cfg, "policy")  # DPO's negatives: its fingerprint covers them
    assert "reward_models" not in deps(cfg, "policy")  # a new reward model leaves the DPO policy cached
    best_of_sft = compose_cfg(["optimizer=best_of_n"])
    assert best_of_sft.optimizer.sample_from == "sft" and "sft_policy" in deps(best_of_sft, "policy")
    assert stage("sft_policy").enabled(best_of_sft)
    assert not stage("sft_policy").enabled(compose_cfg(["optimizer=grpo", "optimizer.sample_from=sft"]))
    rrm = compose_cfg(["optimizer=rrm_dpo"])
    assert reward_kinds(rrm) == ["irl_linear", "representation"] and stage("policy_reward").enabled(rrm)
    assert {"reference_samples", "policy_reward"} <= set(deps(rrm, "policy"))


def test_reference_samples_run_only_when_something_reads_them(compose_cfg):
    judge_grpo = compose_cfg(["reward_model=judge", "scaler=none"])
    assert deps(judge_grpo, "reward_models") == ("data", "demonstrations")  # a rule learns from nothing
    assert not stage("reference_samples").enabled(judge_grpo)
    assert stage("reference_samples").enabled(compose_cfg(["reward_model=judge"]))  # α^D's offline δ
    assert stage("reference_samples").enabled(compose_cfg(["reward_model=judge", "optimizer=dpo"]))
    assert stage("reference_samples").enabled(compose_cfg([]))  # the IRL models' negatives


@pytest.mark.parametrize(
    ("variant", "reads"),
    [("init_sft", ("sft_policy", "sft_samples")), ("sft_demo", ("sft_policy", "sft_samples")),
     ("log_ratio", ("sft_policy",)), ("init_demo", ())],
)  # fmt: skip
def test_reward_families_own_what_they_read_and_their_label(compose_cfg, variant, reads):
    cfg = compose_cfg(["reward_model=afd", f"reward_model.afd_variant={variant}"])
    assert REWARD_FAMILIES.get("afd").reads(cfg) == reads
    assert deps(cfg, "reward_models") == ("data", "demonstrations", "reference_samples", *reads)
    assert stage("sft_policy").enabled(cfg) == bool(reads)
    assert stage("sft_samples").enabled(cfg) == ("sft_samples" in reads)
    # the evaluation scores with these models: what they read at scoring time is its input too
    assert set(reads) <= set(deps(cfg, "eval_base")) and set(reads) <= set(deps(cfg, "policy"))
    assert REWARD_FAMILIES.get("afd").label(cfg.reward_model) == f"afd:{variant}"
    assert REWARD_FAMILIES.get("irl_linear").label(compose_cfg([]).reward_model) == "irl_category"


def test_the_scaler_is_built_from_every_setting_of_its_config(compose_cfg):
    cfg = compose_cfg(["scaler=clip_gap", "scaler.tau=2.5", "scaler.clamp=[0.5,2.0]", "scaler.invert=true"])
    scaler = build_scaler(cfg.scaler, ["a", "b"], granularity="response")
    assert scaler.tau == 2.5 and scaler.clamp == (0.5, 2.0) and scaler.invert
    assert scaler.granularity == "response" and scaler.delta_bar_scope == cfg.scaler.delta_bar_scope
    assert needs_offline_deltas(cfg.scaler) and not offline_delta(cfg.scaler)  # δ̄ over the data, δ online
    offline = compose_cfg(["scaler.data_mode=offline", "scaler.delta_bar_scope=batch"]).scaler
    assert needs_offline_deltas(offline) and offline_delta(offline)
    assert not needs_offline_deltas(compose_cfg(["scaler=none"]).scaler)


# ------------------------------------------------------------------ a toy method and family, registered here


class RefusalCueScorer:
    """+1 for an answer with a refusal cue, −1 otherwise (a toy: any keyword reward can be gamed)."""

    def __init__(self) -> None:
        self.judge = RuleRefusalJudge()

    def score(self, prompts, responses, categories) -> torch.Tensor:
        return torch.tensor([1.0 if refused else -1.0 for refused in self.judge(prompts, responses)])


def train_refusal_cue(ctx, out: Path) -> dict:
    (out / "rule.json").write_text(json.dumps({"patterns": len(RuleRefusalJudge().patterns)}))
    return {"trained": 0}


def run_filtered_sft(ctx, out: Path) -> dict:
    """SFT on the training demonstrations the run's reward model scores above zero."""
    cfg = ctx.cfg
    train = records(ctx, "train")
    scores = reward_models(ctx).score(
        [r.prompt for r in train], [r.demonstration for r in train], [r.category for r in train]
    )
    kept = [r for r, s in zip(train, scores.tolist(), strict=True) if s > 0]
    summary = train_sft(init_policy_path(ctx), kept, out, cfg.optimizer, cfg.model, cfg.hardware, cfg.seed)
    return {**summary, "kept": len(kept), "model_path": "model", "responder": "greedy"}


@pytest.fixture
def toy_components():
    register_family("toy_refusal_cue", scorer=lambda ctx, folder: RefusalCueScorer())(train_refusal_cue)
    register_method("toy_filtered_sft", reads=("reward_models",))(run_filtered_sft)
    yield
    REWARD_FAMILIES.unregister("toy_refusal_cue")
    METHODS.unregister("toy_filtered_sft")


def test_a_toy_method_and_reward_family_run_end_to_end_through_the_registries(
    toy_components, tmp_path, capsys
):
    """Through train.py's own start-up: the config checks, hardware=auto and the plan, then the stages."""
    args = [
        *TINY_RUN,
        *two_category_data(tmp_path / "data"),
        "model.warm_start=false",
        "optimizer=sft",  # the schema's optimizer.* settings (epochs, batch_size, ...) of an SFT method
        "optimizer.name=toy_filtered_sft",
        "optimizer.epochs=1",
        "scaler=none",
        "reward_model.kind=toy_refusal_cue",
        "reward_model.per_category=false",
    ]
    run_dir = tmp_path / "run"
    assert train_entry(*args, f"hydra.run.dir={run_dir}") == 0, capsys.readouterr().err[-3000:]
    assert "plan\n" in capsys.readouterr().out
    summaries = {
        p.parent.name: json.loads(p.read_text())["summary"] for p in (run_dir / "stages").glob("*/DONE.json")
    }
    assert summaries["reward_models"] == {"trained": 0}
    assert (run_dir / "stages" / "reward_models" / "rule.json").is_file()
    train = [json.loads(line) for line in (run_dir / "stages" / "data" / "train.jsonl").open()]
    judge = RuleRefusalJudge()
    expected = sum(judge.is_refusal(r["demonstration"]) for r in train)
    assert 0 < summaries["policy"]["kept"] == expected < len(train)  # the refusals, not the benign answers
    assert (run_dir / "stages" / "policy" / "model" / "config.json").is_file()
    rows = [json.loads(line) for line in (run_dir / "stages" / "eval_policy" / "generations.jsonl").open()]
    assert {row["reward"] for row in rows if row["label"] == "harmful"} <= {1.0, -1.0}  # the toy scored them
    assert not {"sft_policy", "sft_samples", "policy_reward", "alpha_offline"} & set(summaries)
    results = json.loads((run_dir / "results.json").read_text())
    assert results["optimizer"] == "toy_filtered_sft" and 0 <= results["after"]["refusal_rate"] <= 1


def test_a_family_declares_its_memory_footprint_where_it_registers(toy_components, capsys):
    # none declared (the toy family): the plan of a method that keeps the reward models loaded (GRPO) estimates
    # them as classifiers on the backbone, one per category
    assert train_entry("model=tiny", "reward_model.kind=toy_refusal_cue", "plan_only=true") == 0
    assert re.search(
        r"^    reward models +[\d.]+ +7 × [\d.]+M \(fp32\)$", capsys.readouterr().out, re.MULTILINE
    )

    def footprint(cfg, shapes, policy_bytes):
        return Component("reward models", 3 * policy_bytes, "three policy-sized toy models")

    register_family("toy_sized", scorer=lambda ctx, folder: RefusalCueScorer(), footprint=footprint)(
        train_refusal_cue
    )
    try:
        assert train_entry("model=tiny", "reward_model.kind=toy_sized", "plan_only=true") == 0
    finally:
        REWARD_FAMILIES.unregister("toy_sized")
        REWARD_FOOTPRINTS.unregister("toy_sized")
    assert re.search(
        r"^    reward models +[\d.]+ +three policy-sized toy models$", capsys.readouterr().out, re.MULTILINE
    )
