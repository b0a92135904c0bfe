"""Multirun from the command line and the named sweep definitions."""

import sys

import pytest

from tests.conftest import ROOT, TINY_RUN, run_train

sys.path.insert(0, str(ROOT / "sweep"))
from run import sweep_command, sweep_commands  # noqa: E402


def test_sweep_definitions_expand_to_a_multirun_command():
    command = sweep_command("scaler_ablation", ["model=tiny"])
    assert command[1].endswith("train.py") and command[2] == "-m"
    assert "scaler=none,clip,gap,clip_gap,clip_gap_sum" in command and "seed=0,1" in command
    assert "logger.group=scaler_ablation" in command and command[-1] == "model=tiny"
    assert "scaler.invert=false,true" in sweep_command("alpha_options", [])
    with pytest.raises(SystemExit, match="known"):
        sweep_command("nope", [])


def test_a_sweep_with_rows_runs_one_multirun_per_row_into_one_folder():
    commands = sweep_commands("ablation", ["model=tiny"])
    assert len(commands) == 6 and all(c[2] == "-m" and c[-1] == "model=tiny" for c in commands)
    rule, dr_irl = commands[0], commands[3]
    assert "reward_model=judge" in rule and "scaler=none" in rule
    assert "reward_model=irl_category" in dr_irl and "scaler=clip_gap" in dr_irl
    assert all("optimizer.seed=0,1,2" in c and "seed=0,1" in c for c in commands)
    assert all("hydra.sweep.dir=multirun/ablation" in c for c in commands)
    subdirs = [next(a for a in c if a.startswith("hydra.sweep.subdir=")) for c in commands]
    assert subdirs[0] == "hydra.sweep.subdir=rule-${hydra.job.num}-${run_name}" and len(set(subdirs)) == 6
    with pytest.raises(SystemExit, match="rows"):
        sweep_command("ablation", [])


def test_baselines_multirun_gives_one_table(tmp_path):
    """The issue's command: every optimizer x {none, clip_gap}; invalid pairs skipped, one comparable table."""
    result = run_train(
        "-m",
        "optimizer=grpo,dpo,rrm_dpo,best_of_n,sft",
        "scaler=none,clip_gap",
        *TINY_RUN,
        "optimizer.max_steps=1",
        "optimizer.n=2",
        "sft_policy.epochs=1",
        "reward_model.probe_epochs=3",
        "stage_cache=true",
        f"paths.stage_cache_dir={tmp_path / 'cache'}",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        timeout=1200,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = " ".join(result.stdout.split())  # rich wraps long lines
    assert out.count("skipped tiny-") == 4 and out.count("does not use a scaler") == 4
    finished = sorted(p.parent.name for p in (tmp_path / "sweep").glob("*/results.json"))
    assert finished == [
        "0-tiny-irl_category-grpo-none-s0",
        "1-tiny-irl_category-grpo-clip_gap-s0",
        "2-tiny-irl_category-dpo-none-s0",
        "4-tiny-irl_category-rrm_dpo-none-s0",
        "6-tiny-irl_category-best_of_n-none-s0",
        "8-tiny-irl_category-sft-none-s0",
    ]
    assert "restored from the stage cache" in out  # later jobs reuse the shared upstream stages
    # `make report` on the sweep's run directories: the comparison table and the plots
    import report

    out = tmp_path / "report"
    report.main([str(tmp_path / "sweep"), "--out", str(out)])
    table = (out / "results.md").read_text()
    for method in ("grpo+none", "grpo+clip_gap", "dpo+none", "rrm_dpo+none", "best_of_n+none", "sft+none"):
        assert f"| {method} | 1 |" in table, method
    rows = {r.split("|")[1].strip(): r for r in table.splitlines() if r.startswith("| ") and "+" in r}
    assert all("—" not in rows[m].split("|")[5] for m in rows)  # a mean reward for every method: same RMs
    for name in ("reward_curves.png", "alpha_curves.png", "refusal_vs_over_refusal.png"):
        assert (out / name).read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT / "sweep").glob("*.yaml")))
def test_every_run_of_every_sweep_composes_and_validates(compose_cfg, name):
    """A typo in a sweep definition fails here, not hours into the sweep."""
    import yaml

    from dr_irl.validation import config_problems

    spec = yaml.safe_load((ROOT / "sweep" / f"{name}.yaml").read_text())
    grid = [f"{key}={values[-1]}" for key, values in spec.get("params", {}).items()]
    for row in spec.get("rows", {"-": []}).values():
        cfg = compose_cfg([*spec.get("overrides", []), *row, *grid])
        assert config_problems(cfg) == [], (name, row)


def test_the_warm_start_ablation_pairs_grpo_with_grpo_s_on_the_warm_start_run():
    commands = sweep_commands("warm_start_ablation", [])
    assert [next(a for a in c if a.startswith("scaler=")) for c in commands] == [
        "scaler=clip_gap",
        "scaler=none",
    ]
    assert all("experiment=warm_start_cpu" in c and "optimizer.seed=0,1,2" in c for c in commands)
