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


def test_base_reference_samples_are_not_the_warm_started_ones_and_outlive_a_new_warm_start(compose_cfg):
    from dr_irl.rewards.families import family_reads
    from dr_irl.stages import STAGES

    samples = next(stage for stage in STAGES if stage.name == "reference_samples")

    def sample_print(*overrides: str) -> str:
        cfg = compose_cfg(list(overrides))
        return fingerprint(cfg, samples, {}), samples.deps(cfg)

    warm = ["model.warm_start=true"]
    init, init_deps = sample_print(*warm)
    base, base_deps = sample_print(*warm, "reward_model.reference_policy=base")
    assert init != base and "warm_start" in init_deps and "warm_start" not in base_deps
    # the base model's samples do not depend on the warm start's settings; the warm-started policy's do
    assert (
        sample_print(*warm, "reward_model.reference_policy=base", "warm_start.learning_rate=3e-5")[0] == base
    )
    assert sample_print(*warm, "warm_start.learning_rate=3e-5")[0] != init
    # without a warm start the two are the same model, and the same samples
    assert sample_print()[0] == sample_print("reward_model.reference_policy=base")[0]
    hidden = ["reward_model=irl_category_hidden", *warm]
    assert "warm_start" in family_reads(compose_cfg(hidden), "irl_linear")
    assert "warm_start" not in family_reads(
        compose_cfg([*hidden, "reward_model.reference_policy=base"]), "irl_linear"
    )
    # the RRM probe reads the initial policy whichever π_ref
    assert "warm_start" in family_reads(compose_cfg(warm), "representation")


def test_without_a_warm_start_both_settings_read_the_base_model(compose_cfg, tmp_path):
    from dr_irl.run_artifacts import reward_reference_path

    ctx = Context(compose_cfg(["reward_model.reference_policy=base"]), tmp_path, tracker=None)
    ctx.memos["base_model_path"] = "/models/base"
    assert reward_reference_path(ctx) == "/models/base"
