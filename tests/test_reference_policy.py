"""``reward_model.reference_policy``: whose samples and hidden states the IRL reward reads after a warm start."""

from __future__ import annotations

from dr_irl.pipeline import Context, fingerprint
from dr_irl.validation import config_problems


def _ctx(compose_cfg, tmp_path, *overrides: str) -> Context:
    ctx = Context(compose_cfg(["model.warm_start=true", *overrides]), tmp_path, tracker=None)
    ctx.outputs["warm_start"] = tmp_path / "stages" / "warm_start"
    ctx.memos["base_model_path"] = "/models/base"  # what base_model_path resolves, without building a model
    return ctx


def test_the_reward_reads_the_warm_started_policy_unless_told_to_read_the_base(compose_cfg, tmp_path):
    from dr_irl.run_artifacts import init_policy_path, reward_reference_path

    init = _ctx(compose_cfg, tmp_path)
    assert reward_reference_path(init) == init_policy_path(init) == str(tmp_path / "stages/warm_start/model")
    base = _ctx(compose_cfg, tmp_path, "reward_model.reference_policy=base")
    assert reward_reference_path(base) == "/models/base"
    assert init_policy_path(base) == str(tmp_path / "stages/warm_start/model")  # RL still starts warm


def test_an_unknown_reference_policy_is_refused_naming_the_key(compose_cfg):
    problems = config_problems(compose_cfg(["reward_model.reference_policy=sft"]))
    assert any(p.startswith("reward_model.reference_policy='sft'") for p in problems)
    assert not config_problems(compose_cfg(["reward_model.reference_policy=base"]))


def test_base_reference_samples_are_not_the_warm_started_ones_and_hidden_features_skip_the_warm_start(
    compose_cfg,
):
    from dr_irl.rewards.families import family_reads
    from dr_irl.stages import STAGES

    samples = next(stage for stage in STAGES if stage.name == "reference_samples")
    prints = {
        ref: fingerprint(compose_cfg([f"reward_model.reference_policy={ref}"]), samples, {})
        for ref in ("init", "base")
    }
    assert prints["init"] != prints["base"]
    assert "warm_start" in samples.deps(compose_cfg(["model.warm_start=true"]))
    # the base model's samples do not depend on the warm start: a new warm start reuses them
    assert "warm_start" not in samples.deps(
        compose_cfg(["model.warm_start=true", "reward_model.reference_policy=base"])
    )
    hidden = ["reward_model=irl_category_hidden", "model.warm_start=true"]
    assert "warm_start" in family_reads(compose_cfg(hidden), "irl_linear")
    assert "warm_start" not in family_reads(
        compose_cfg([*hidden, "reward_model.reference_policy=base"]), "irl_linear"
    )
