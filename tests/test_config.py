"""Config composition: every group option composes and validates; typos fail at start-up with the key."""

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from omegaconf.errors import ConfigAttributeError, ValidationError

from tests.conftest import CONF, run_train

GROUPS = ["dataset", "reward_model", "scaler", "optimizer", "model", "hardware", "eval", "logger"]
OPTIONS = [(g, p.stem) for g in GROUPS for p in sorted((CONF / g).glob("*.yaml"))]


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_group_option_composes(compose_cfg, group, option):
    cfg = compose_cfg([f"{group}={option}"])
    OmegaConf.resolve(cfg)
    assert cfg[group].name == option
    assert cfg.run_name.startswith(cfg.model.name)


def test_default_is_dr_irl_on_smollm2(compose_cfg):
    cfg = compose_cfg()
    assert (cfg.model.name, cfg.scaler.name, cfg.optimizer.name, cfg.reward_model.name) == (
        "smollm2-135m",
        "clip_gap",
        "grpo",
        "irl_category",
    )
    assert cfg.model.trust_remote_code is False


def test_typo_in_a_key_fails_with_its_name(compose_cfg):
    with pytest.raises(ConfigCompositionException) as err:
        compose_cfg(["scaler.tauu=2"])
    assert "tauu" in str(err.value.__cause__ or err.value)


def test_wrong_type_fails(compose_cfg):
    with pytest.raises((ConfigCompositionException, ValidationError)) as err:
        compose_cfg(["optimizer.max_steps=many"])
    assert "max_steps" in str(err.value.__cause__ or err.value)


def test_unknown_group_option_fails(compose_cfg):
    with pytest.raises(ConfigCompositionException, match="clip_gapp"):
        compose_cfg(["scaler=clip_gapp"])


def test_new_keys_cannot_be_added_silently(compose_cfg):
    cfg = compose_cfg()
    with pytest.raises(ConfigAttributeError, match="unknown"):
        cfg.scaler.unknown = 1


def test_cfg_job_prints_resolved_llama_config():
    result = run_train("model=llama3-8b", "--cfg", "job", timeout=120)
    assert result.returncode == 0, result.stderr
    assert "meta-llama/Meta-Llama-3-8B-Instruct" in result.stdout


def test_llama3_without_weights_fails_fast_naming_model_and_key(tmp_path):
    result = run_train("scaler=clip_gap", "model=llama3-8b", f"hydra.run.dir={tmp_path}/run", timeout=120)
    assert result.returncode != 0
    message = result.stderr + result.stdout
    assert "meta-llama/Meta-Llama-3-8B-Instruct" in message and "model.path" in message


@pytest.mark.parametrize("method", ["grpo", "sft", "dpo", "best_of_n"])
def test_policy_seed_is_optimizer_seed_for_every_method_else_the_runs(compose_cfg, method):
    from dr_irl.config import policy_seed

    assert policy_seed(compose_cfg([f"optimizer={method}", "seed=3"])) == 3
    assert policy_seed(compose_cfg([f"optimizer={method}", "seed=3", "optimizer.seed=7"])) == 7


def test_run_names_of_policy_seed_replicates_differ(compose_cfg):
    """``optimizer.seed=0,1,2`` must not write three runs into one directory (or one W&B name)."""
    names = [
        compose_cfg(["seed=1", *extra]).run_name for extra in ([], ["optimizer.seed=1"], ["optimizer.seed=2"])
    ]
    assert names[0] == names[1] == "smollm2-135m-irl_category-grpo-clip_gap-s1"
    assert names[2] == "smollm2-135m-irl_category-grpo-clip_gap-s1-p2"


def test_optimizer_seed_equal_to_the_runs_seed_fingerprints_as_unset(compose_cfg):
    """``optimizer.seed=0`` with ``seed=0`` trains the policy ``optimizer.seed`` unset does: one stage, one cache entry."""
    from dr_irl.pipeline import fingerprint
    from dr_irl.stages import STAGES

    def prints(overrides: list[str]) -> dict[str, str]:
        cfg = compose_cfg(overrides)
        return {stage.name: fingerprint(cfg, stage, {}) for stage in STAGES if stage.cached}

    unset = prints(["seed=2"])
    assert prints(["seed=2", "optimizer.seed=2"]) == unset
    other = prints(["seed=2", "optimizer.seed=1"])
    assert other["policy"] != unset["policy"]
    assert other["reward_models"] == unset["reward_models"]  # the policy's seed is the policy's alone


@pytest.mark.parametrize(
    ("module", "runner", "trainer"), [("sft", "run_sft", "train_sft"), ("dpo", "run_dpo", "train_dpo")]
)
def test_sft_and_dpo_train_with_the_policy_seed(compose_cfg, monkeypatch, tmp_path, module, runner, trainer):
    import importlib

    mod = importlib.import_module(f"dr_irl.training.{module}")
    seen = {}

    def fake_train(*args, **kwargs):
        seen["seed"] = args[6]
        return {}

    monkeypatch.setattr(mod, trainer, fake_train)
    for name in ("init_policy_path", "records", "reference_samples", "preference_pairs"):
        if hasattr(mod, name):
            monkeypatch.setattr(mod, name, lambda *a, **k: [])

    class Ctx:
        cfg = compose_cfg([f"optimizer={module}", "seed=0", "optimizer.seed=5"])
        tracker = None
        stage = "policy"

    getattr(mod, runner)(Ctx(), tmp_path)
    assert seen["seed"] == 5


def test_method_is_an_alias_of_the_optimizer_group():
    from dr_irl.startup import apply_group_aliases

    argv = ["train.py", "-m", "method=grpo,dpo", "method.beta=0.2", "+method.x=1", "~method.seed", "seed=1"]
    assert apply_group_aliases(argv) == [
        "train.py",
        "-m",
        "optimizer=grpo,dpo",
        "optimizer.beta=0.2",
        "+optimizer.x=1",
        "~optimizer.seed",
        "seed=1",
    ]
    untouched = ["train.py", "eval.method=x", "methods=1", "hydra.job.name=method", "--cfg", "job"]
    assert apply_group_aliases(untouched) == untouched


def test_method_alias_selects_the_optimizer_group_from_the_command_line():
    result = run_train("method=dpo", "method.beta=0.3", "--cfg", "job", timeout=120)
    assert result.returncode == 0, result.stderr
    job = OmegaConf.create(result.stdout)
    assert (job.optimizer.name, job.optimizer.beta) == ("dpo", 0.3)


def test_best_of_n_summary_names_its_sampling_seed(compose_cfg, tmp_path, monkeypatch):
    """The evaluation stage depends on the policy stage's summary: each policy seed must get its own answers."""
    from dr_irl.training import best_of_n

    sampler = best_of_n.Sampler(lambda ctx: str(tmp_path / "init"))
    monkeypatch.setattr(best_of_n.SAMPLERS, "get", lambda name: sampler)

    class Ctx:
        cfg = compose_cfg(["optimizer=best_of_n", "optimizer.sample_from=init", "optimizer.seed=2"])
        run_dir = tmp_path

    summaries = [best_of_n.run_best_of_n(Ctx(), tmp_path / "policy")]
    Ctx.cfg = compose_cfg(["optimizer=best_of_n", "optimizer.sample_from=init", "optimizer.seed=1"])
    summaries.append(best_of_n.run_best_of_n(Ctx(), tmp_path / "policy"))
    assert [s["seed"] for s in summaries] == [2, 1]


def test_each_model_sizes_its_warm_start_and_the_command_line_wins(compose_cfg):
    def warm(*overrides: str) -> tuple[float, float]:
        cfg = compose_cfg(list(overrides))
        return cfg.warm_start.epochs, cfg.warm_start.learning_rate

    assert warm("model=tiny") == (3.0, 1e-3)  # a random-weight model needs a long, hard SFT to speak
    assert warm("model=random-0.5b") == (3.0, 1e-3)
    assert warm("model=smollm2-135m") == (1.0, 1e-5)  # a chat model: a short, gentle one
    assert warm("model=llama3-8b") == (1.0, 1e-5)
    assert warm("model=tiny", "warm_start=pretrained") == (1.0, 1e-5)
    assert warm("model=smollm2-135m", "warm_start.learning_rate=3e-5") == (1.0, 3e-5)
