"""The whole experiment end to end on the tiny model, and resuming after a stage."""

import json
from dataclasses import replace

import pytest

from dr_irl.cli import run
from tests.conftest import TINY_RUN


@pytest.fixture(scope="module")
def tiny_run(compose_cfg, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("tiny_run")
    cfg = compose_cfg(TINY_RUN)
    summaries = run(cfg, run_dir)
    return cfg, run_dir, summaries


def test_end_to_end_writes_every_stage_and_the_table(tiny_run):
    cfg, run_dir, summaries = tiny_run
    for stage in (
        "data",
        "warm_start",
        "reference_samples",
        "reward_models",
        "eval_base",
        "policy",
        "eval_policy",
    ):
        assert (run_dir / "stages" / stage / "DONE.json").is_file(), stage
    assert not list((run_dir / "stages").glob(".*.tmp"))
    linear = json.loads((run_dir / "stages" / "reward_models" / "models" / "linear.json").read_text())
    routes = {f"{c}/{label}" for c in cfg.dataset.categories for label in ("harmful", "benign")}
    assert set(linear["theta"]) == routes  # the default reward: θ per category and prompt label
    validity = json.loads((run_dir / "stages" / "reward_check" / "validity.json").read_text())
    assert {"dev", "test", "methods", "fresh", "lr_screen"} <= set(validity)
    assert "Reward validity" in (run_dir / "results.md").read_text()
    results = json.loads((run_dir / "results.json").read_text())
    for phase in ("before", "after"):
        assert 0.0 <= results[phase]["refusal_rate"] <= 1.0
        assert 0.0 <= results[phase]["over_refusal_rate"] <= 1.0
        assert results[phase]["n_harmful"] == 7 and results[phase]["n_benign"] == 7
    # the scaler ran inside TRL's loop and logged its statistics every step
    log = [
        json.loads(line)
        for line in (run_dir / "stages" / "policy" / "train_log.jsonl").read_text().splitlines()
    ]
    steps = [row for row in log if "scaler/alpha/mean" in row]
    assert len(steps) == cfg.optimizer.max_steps
    assert all(
        cfg.scaler.clamp[0] <= row["scaler/alpha/min"] <= row["scaler/alpha/max"] <= cfg.scaler.clamp[1]
        for row in steps
    )
    assert "alpha/mean" in results["alpha"]
    assert "| refusal rate" in (run_dir / "results.md").read_text()
    assert summaries["reward_models"]["pairs"] > 0 and summaries["reward_models"]["routes"] == 14
    # where the time went: every stage's seconds and generated tokens, in results.json and the table
    tokens = results["stage_generated_tokens"]
    assert tokens["eval_base"] > 0 and tokens["reference_samples"] > 0 and tokens["reward_models"] == 0
    assert results["after"]["generation_dtype"] == "float32"  # eval=smoke: fp32 on every machine
    assert "| stage | seconds | generated tokens | tokens/s |" in (run_dir / "results.md").read_text()


def test_rerun_resumes_after_the_last_complete_stage(tiny_run, compose_cfg, capsys):
    _, run_dir, _ = tiny_run
    before = {p.parent.name: p.stat().st_mtime_ns for p in (run_dir / "stages").glob("*/DONE.json")}
    run(compose_cfg(TINY_RUN), run_dir)
    out = capsys.readouterr().out
    assert out.count("(resume)") == len(before) - 1  # report always reruns
    # a changed optimizer key reruns the policy and what follows it, nothing upstream
    run(compose_cfg(TINY_RUN + ["optimizer.learning_rate=3e-5"]), run_dir)
    after = {p.parent.name: p.stat().st_mtime_ns for p in (run_dir / "stages").glob("*/DONE.json")}
    rerun = {name for name in before if after[name] != before[name]}
    assert rerun == {"policy", "eval_policy", "report"}


def test_interrupted_stage_leaves_no_artifact_and_is_redone(tiny_run, compose_cfg, monkeypatch):
    _, run_dir, _ = tiny_run
    import dr_irl.stages as stages

    final = run_dir / "stages" / "eval_policy"
    old_marker = (final / "DONE.json").read_text()

    def boom(ctx, out):
        (out / "partial.txt").write_text("half")
        raise RuntimeError("killed")

    patched = [s if s.name != "eval_policy" else replace(s, run=boom) for s in stages.STAGES]
    monkeypatch.setattr(stages, "STAGES", patched)
    overrides = TINY_RUN + ["eval.max_new_tokens=9"]
    with pytest.raises(RuntimeError, match="killed"):
        run(compose_cfg(overrides), run_dir)
    # the published stage is still the previous complete one; the half-written output never replaced it
    assert (final / "DONE.json").read_text() == old_marker and not (final / "partial.txt").exists()
    monkeypatch.undo()
    run(compose_cfg(overrides), run_dir)
    assert (final / "DONE.json").read_text() != old_marker
    assert not (final / "partial.txt").exists() and not (run_dir / "stages" / ".eval_policy.tmp").exists()


def test_shared_backbone_reward_models_are_adapters_routed_by_category(compose_cfg, tmp_path):
    """reward_model.shared_backbone: 7 LoRA adapters on one backbone held once, switched per category."""
    import torch

    from dr_irl.rewards import CategoryRewardModels

    cfg = compose_cfg(
        TINY_RUN
        + [
            "reward_model=irl_category_classifier",
            "reward_model.shared_backbone=true",
            "stop_after=reward_models",
        ]
    )
    run(cfg, tmp_path)
    models = tmp_path / "stages" / "reward_models" / "models"
    for category in cfg.dataset.categories:
        assert (models / category / "adapter_config.json").is_file()
        assert not (models / category / "model.safetensors").exists()  # adapters only, no full copies
    router = CategoryRewardModels(models, cfg.dataset.categories)
    backbones = {id(s.model) for s in router.route.values()}
    assert len(backbones) == 1  # one backbone in memory
    prompt, response = "Insult my coworker.", "I can't help with insults."
    scores = router.score([prompt] * 7, [response] * 7, list(cfg.dataset.categories))
    assert torch.isfinite(scores).all() and len(set(scores.tolist())) > 1  # different adapters, different R_j


def test_offline_alpha_data_and_stop_after_a_disabled_stage(compose_cfg, tmp_path):
    """scaler.data_mode=offline computes δ once from the reference samples (benign look-alikes included);
    stop_after naming a stage disabled by the config still stops there."""
    cfg = compose_cfg(TINY_RUN + ["scaler.data_mode=offline", "stop_after=policy"])
    summaries = run(cfg, tmp_path)
    assert "policy" in summaries and "eval_policy" not in summaries
    delta = json.loads((tmp_path / "stages" / "alpha_offline" / "delta.json").read_text())
    assert delta["delta"] and all(0.0 <= v <= 2.0 for v in delta["delta"].values())
    assert set(delta["delta_bar"]) == set(cfg.dataset.categories)
    summaries = run(
        compose_cfg(TINY_RUN + ["stop_after=demonstrations"]), tmp_path / "other"
    )  # disabled stage
    assert list(summaries) == ["data"]


def test_stage_cache_restores_the_stages_another_run_finished(compose_cfg, tmp_path, capsys):
    cache = tmp_path / "cache"
    overrides = [
        *TINY_RUN,
        "reward_model=irl_category_classifier",  # weights files, hard-linked from the cache
        "stage_cache=true",
        f"paths.stage_cache_dir={cache}",
        "optimizer.max_steps=1",
    ]
    run(compose_cfg(overrides), tmp_path / "a")
    assert "restored" not in capsys.readouterr().out
    assert (cache / "reward_models").is_dir() and not (cache / "report").exists()  # report is never cached
    # a second run that differs only in the optimizer restores everything upstream of the policy
    run(compose_cfg([*overrides, "optimizer.learning_rate=3e-5"]), tmp_path / "b")
    out = capsys.readouterr().out
    restored = {
        line.split(":")[0].split()[-1] for line in out.splitlines() if "restored from the stage cache" in line
    }
    upstream = {"data", "warm_start", "reference_samples", "reward_models", "alpha_offline", "eval_base"}
    assert restored == upstream | {"reward_check"}
    weights = next((tmp_path / "b" / "stages" / "reward_models" / "models" / "insult").glob("*.safetensors"))
    entry = next((cache / "reward_models").iterdir())
    assert weights.stat().st_ino == (entry / "models" / "insult" / weights.name).stat().st_ino  # hard link
    a = json.loads((tmp_path / "a" / "stages" / "reward_models" / "DONE.json").read_text())
    b = json.loads((tmp_path / "b" / "stages" / "reward_models" / "DONE.json").read_text())
    assert a == b
    run(compose_cfg([*overrides, "resume=false", "optimizer.learning_rate=3e-5"]), tmp_path / "c")
    assert "restored" not in capsys.readouterr().out  # resume=false recomputes everything
