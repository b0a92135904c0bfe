"""sweep/report.py: aggregation over seeds, the tables and the plots, on synthetic run folders."""

import csv
import json
import math
import sys

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "sweep"))
import report  # noqa: E402

PNGS = ("reward_curves.png", "alpha_curves.png", "refusal_vs_over_refusal.png", "per_category_refusal.png")


def make_run(
    root, name, scaler, seed, after, before=None, alpha=None, log=None, model="tiny", reward="irl_category"
):
    """A finished run folder: results.json and, when ``log`` is given, stages/policy/train_log.jsonl."""
    run_dir = root / name
    run_dir.mkdir(parents=True)
    results = {
        "run_name": name,
        "model": model,
        "reward_model": reward,
        "optimizer": "grpo",
        "scaler": scaler,
        "seed": seed,
        "before": before or {"refusal_rate": 0.1, "over_refusal_rate": 0.05, "mean_reward": None},
        "after": after,
        "alpha": alpha or {},
        "stage_seconds": {"policy": 1.0},
    }
    (run_dir / "results.json").write_text(json.dumps(results))
    if log is not None:
        (run_dir / "stages" / "policy").mkdir(parents=True)
        (run_dir / "stages" / "policy" / "train_log.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in log)
        )
    return run_dir


def log_rows(rewards, alphas=None):
    rows = [{"step": i + 1, "loss": 0.1, "reward": r} for i, r in enumerate(rewards)]
    for row, a in zip(rows, alphas or [], strict=False):
        row["scaler/alpha/mean"] = a
    return rows + [{"step": len(rewards), "train_runtime": 1.0, "train_loss": 0.05}]  # summary line


@pytest.fixture
def runs_root(tmp_path):
    """Method A = grpo+none (seeds 0, 1; no α), method B = grpo+clip_gap (seeds 0, 1, 2), in two trees."""
    root = tmp_path / "runs"
    a = [(0.5, 0.1, 0.2, {"insult": 0.4, "crimes": 0.0}), (0.7, 0.3, None, {"insult": 0.6, "crimes": 1.0})]
    for seed, (ref, over, reward, cats) in enumerate(a):
        after = {
            "refusal_rate": ref,
            "over_refusal_rate": over,
            "mean_reward": reward,
            "per_category_refusal": cats,
        }
        make_run(
            root / "outputs", f"tiny-grpo-none-s{seed}", "none", seed, after, log=log_rows([0.1, 0.2 + seed])
        )
    for seed in range(3):
        after = {
            "refusal_rate": 0.8 + 0.1 * seed,
            "over_refusal_rate": 0.0,
            "mean_reward": None,
            "per_category_refusal": {"insult": 1.0, "weapons": 0.5 * seed},
        }
        make_run(
            root / "multirun" / "2024-01-01",
            f"{seed}-tiny-grpo-clip_gap-s{seed}",
            "clip_gap",
            seed,
            after,
            alpha={"alpha/mean": 0.9 + 0.02 * seed},
            log=log_rows([0.3, 0.4], alphas=[0.95, 0.97]) if seed < 2 else None,  # seed 2: no log
        )
    return root


def test_mean_std_sample_std_and_missing_values():
    assert report.mean_std([0.5, 0.7]) == pytest.approx((0.6, math.sqrt(0.02)))
    assert report.mean_std([0.3]) == (0.3, 0.0)
    assert report.mean_std([None, 0.4, float("nan")]) == (0.4, 0.0)
    assert report.mean_std([]) == (None, None) and report.mean_std([None]) == (None, None)


def test_aggregate_groups_seeds_into_methods(runs_root):
    runs = report.find_runs([runs_root / "outputs", runs_root / "multirun", runs_root / "outputs"])
    assert len(runs) == 5  # a path given twice is searched once
    b, a = report.aggregate(runs)  # sorted by label: B (clip_gap) first
    assert (a.label, a.n_seeds, b.label, b.n_seeds) == ("grpo+none", 2, "grpo+clip_gap", 3)
    assert a.after["refusal_rate"].mean == pytest.approx(0.6)
    assert a.after["refusal_rate"].std == pytest.approx(0.1414213, abs=1e-6)
    assert a.after["over_refusal_rate"][:2] == pytest.approx((0.2, 0.1414213))
    assert a.after["mean_reward"] == (0.2, 0.0, 1)  # one seed has a reward
    assert a.before["refusal_rate"] == (0.1, 0.0, 2)
    assert a.alpha_mean == (None, None, 0)
    assert b.after["refusal_rate"][:2] == pytest.approx((0.9, 0.1))
    assert b.after["mean_reward"].mean is None
    assert b.alpha_mean[:2] == pytest.approx((0.92, 0.02))
    assert a.per_category["insult"][:2] == pytest.approx((0.5, 0.1414213))
    assert a.per_category["crimes"][:2] == pytest.approx((0.5, 0.7071068))
    assert b.per_category["weapons"][:2] == pytest.approx((0.5, 0.5))
    assert "weapons" not in a.per_category


def test_labels_name_the_model_only_when_runs_span_several(tmp_path):
    after = {"refusal_rate": 0.5, "over_refusal_rate": 0.0}
    make_run(tmp_path, "r1", "none", 0, after, model="tiny")
    assert [s.label for s in report.aggregate(report.find_runs([tmp_path]))] == ["grpo+none"]
    make_run(tmp_path, "r2", "none", 0, after, model="smollm2")
    assert [s.label for s in report.aggregate(report.find_runs([tmp_path]))] == [
        "smollm2/grpo+none",
        "tiny/grpo+none",
    ]


def test_runs_with_different_reward_models_are_different_methods(tmp_path):
    after = {"refusal_rate": 0.5, "over_refusal_rate": 0.0}
    make_run(tmp_path, "r1", "none", 0, after, reward="irl_category")
    make_run(tmp_path, "r2", "none", 0, after, reward="afd:init_sft")
    make_run(tmp_path, "r3", "none", 1, after, reward="afd:init_sft")
    summaries = report.aggregate(report.find_runs([tmp_path]))
    assert [(s.label, s.n_seeds) for s in summaries] == [
        ("afd:init_sft/grpo+none", 2),
        ("irl_category/grpo+none", 1),
    ]


def test_method_variants_are_different_methods(tmp_path):
    """DPO-S with an online α is kept apart from DPO-S with an offline one (``method_variant``)."""
    after = {"refusal_rate": 0.5, "over_refusal_rate": 0.0}
    make_run(tmp_path, "r1", "clip_gap", 0, after)
    online = make_run(tmp_path, "r2", "clip_gap", 0, after)
    results = json.loads((online / "results.json").read_text())
    (online / "results.json").write_text(json.dumps({**results, "method_variant": "online α"}))
    labels = [s.label for s in report.aggregate(report.find_runs([tmp_path]))]
    assert labels == ["grpo+clip_gap", "grpo[online α]+clip_gap"]


def test_main_writes_tables_and_plots(runs_root, tmp_path, capsys):
    out = tmp_path / "reports"
    report.main([str(runs_root), "--out", str(out)])
    md = (out / "results.md").read_text()
    assert md in capsys.readouterr().out
    lines = md.splitlines()
    assert lines[0] == "| method | seeds | refusal ↑ | over-refusal ↓ | mean reward (self-scored) | α mean |"
    assert lines[2] == "| grpo+clip_gap | 3 | 0.900 ± 0.100 | 0.000 ± 0.000 | — | 0.920 ± 0.020 |"
    assert lines[3] == "| grpo+none | 2 | 0.600 ± 0.141 | 0.200 ± 0.141 | 0.200 | — |"
    assert "| category | grpo+clip_gap | grpo+none |" in lines
    assert "| crimes | — | 0.500 ± 0.707 |" in lines
    assert "| insult | 1.000 ± 0.000 | 0.500 ± 0.141 |" in lines
    assert "| weapons | 0.500 ± 0.500 | — |" in lines

    rows = list(csv.DictReader((out / "results.csv").read_text().splitlines()))
    assert list(rows[0])[:6] == ["method", "model", "reward_model", "optimizer", "scaler", "n_seeds"]
    assert {"before_refusal_rate_std", "before_over_refusal_rate_mean", "alpha_mean_mean"} <= set(rows[0])
    assert len(rows[0]) == 6 + 2 * 3 + 2 * 2 + 1
    none = rows[1]
    assert (none["method"], none["scaler"], none["n_seeds"]) == ("grpo+none", "none", "2")
    assert float(none["refusal_rate_mean"]) == pytest.approx(0.6)
    assert float(none["refusal_rate_std"]) == pytest.approx(0.1414213, abs=1e-6)
    assert float(none["mean_reward_std"]) == 0.0 and none["alpha_mean_mean"] == ""
    assert rows[0]["mean_reward_mean"] == "" and float(rows[0]["alpha_mean_mean"]) == pytest.approx(0.92)

    for name in PNGS:
        data = (out / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 1000, name
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_alpha_curves_skipped_without_alpha_in_logs(tmp_path, capsys):
    after = {"refusal_rate": 0.5, "over_refusal_rate": 0.1, "per_category_refusal": {"insult": 0.5}}
    make_run(tmp_path / "runs", "r0", "none", 0, after, log=log_rows([0.1, 0.2]))
    out = tmp_path / "reports"
    report.main([str(tmp_path / "runs"), "--out", str(out)])
    assert "skipped alpha_curves.png" in capsys.readouterr().out
    assert not (out / "alpha_curves.png").exists()
    assert (out / "reward_curves.png").read_bytes().startswith(b"\x89PNG")
    assert "| grpo+none | 1 | 0.500 | 0.100 | — | — |" in (out / "results.md").read_text()


def test_no_runs_or_malformed_results_exit_nonzero(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SystemExit) as exc:
        report.main([str(empty), "--out", str(tmp_path / "reports")])
    assert exc.value.code not in (0, None) and str(empty) in str(exc.value.code)
    bad = tmp_path / "bad" / "run"
    bad.mkdir(parents=True)
    (bad / "results.json").write_text("{not json")
    with pytest.raises(SystemExit) as exc:
        report.main([str(tmp_path / "bad"), "--out", str(tmp_path / "reports")])
    assert exc.value.code not in (0, None) and str(bad / "results.json") in str(exc.value.code)
    assert not (tmp_path / "reports").exists()


def _generations(run_dir, refused_harmful, refused_benign, stage="eval_policy"):
    folder = run_dir / "stages" / stage
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        {"set": "heldout", "id": f"h{i}", "label": "harmful", "refused": r, "incoherent": False}
        for i, r in enumerate(refused_harmful)
    ]
    rows += [
        {"set": "heldout", "id": f"b{i}", "label": "benign", "refused": r, "helpful": not r}
        for i, r in enumerate(refused_benign)
    ]
    (folder / "generations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_comparison_table_pairs_methods_on_the_same_prompts(tmp_path):
    root = tmp_path / "runs"
    for seed in (0, 1):
        grpo = make_run(root, f"grpo{seed}", "none", seed, {"refusal_rate": 0.2})
        _generations(grpo, [True] * 2 + [False] * 8, [False] * 10)
        _generations(grpo, [False] * 10, [False] * 10, stage="eval_base")
        grpo_s = make_run(root, f"grpos{seed}", "clip_gap", seed, {"refusal_rate": 0.9})
        _generations(grpo_s, [True] * 9 + [False], [False] * 9 + [True])
    summaries = report.aggregate(report.find_runs([root]))
    markdown, comparisons = report.comparison_markdown(summaries)
    assert "| base | 2 | 0.000" in markdown
    assert "| grpo+none | 2 | 0.200" in markdown and "| grpo+clip_gap | 2 | 0.900" in markdown
    pair = next(
        c
        for c in comparisons
        if c["a"] == "grpo+clip_gap" and c["b"] == "grpo+none" and c["metric"] == "refusal"
    )
    # 20 (prompt, seed) units: 14 where only GRPO-S refuses, 0 the other way, on 7 prompts (both seeds
    # agree): the prompt-clustered exact test gives 2 · 0.5^7, not McNemar's 2 · 0.5^14 for 14 independent pairs
    assert (pair["a_only"], pair["b_only"], pair["n"]) == (14, 0, 20)
    assert pair["diff"] == pytest.approx(0.7) and pair["p_value"] == pytest.approx(2 * 0.5**7)
    assert pair["test"] == "cluster_sign_flip"
    # Holm over the 9 comparisons: GRPO-S vs base (9 prompts, p = 2 · 0.5^9) ranks first, this one second
    assert pair["p_holm"] == pytest.approx(8 * 2 * 0.5**7) and not pair["significant"]
    vs_base = next(
        c for c in comparisons if c["a"] == "grpo+clip_gap" and c["b"] == "base" and c["metric"] == "refusal"
    )
    assert vs_base["p_holm"] == pytest.approx(9 * 2 * 0.5**9) and vs_base["significant"]


def test_base_is_paired_with_the_eval_base_of_the_same_seed(tmp_path):
    """Seeds can evaluate different prompts (a seeded held-out split) and start from different base policies:
    each seed's units pair with that seed's own eval_base, and every seed's base is in the base row."""
    root = tmp_path / "runs"
    for seed in (0, 1):
        run = make_run(root, f"grpo{seed}", "none", seed, {"refusal_rate": 1.0})
        _generations(run, [True] * 4, [])
        _generations(run, [seed == 1] * 4, [], stage="eval_base")  # seed 1's base already refuses
    markdown, comparisons = report.comparison_markdown(report.aggregate(report.find_runs([root])))
    assert "| base | 2 | 0.500" in markdown
    vs_base = next(c for c in comparisons if c["b"] == "base" and c["metric"] == "refusal")
    assert vs_base["n"] == 8 and vs_base["diff"] == pytest.approx(0.5)
    assert (vs_base["a_only"], vs_base["b_only"]) == (4, 0)


def test_duplicate_seeds_of_a_method_are_reported(tmp_path):
    make_run(tmp_path / "outputs", "r0", "none", 0, {"refusal_rate": 0.5})
    make_run(tmp_path / "multirun", "r0", "none", 0, {"refusal_rate": 0.7})
    warnings = report.duplicate_seeds(report.aggregate(report.find_runs([tmp_path])))
    assert len(warnings) == 1 and "2 runs of replicate s0" in warnings[0]


def test_capability_table_and_alignment_tax_by_hand():
    from dr_irl.evaluation.comparison import MethodOutcomes

    base, method = MethodOutcomes("base"), MethodOutcomes("sft+none")
    base.add_capability([{"set": "basics", "index": i, "correct": c} for i, c in enumerate([1, 1, 1, 0])], 0)
    method.add_capability(
        [{"set": "basics", "index": i, "correct": c} for i, c in enumerate([0, 0, 1, 0])], 0
    )
    assert method.capability_sets == ["basics"]
    lines, comparisons = report.capability_markdown([base, method], [(method, base)])
    (tax,) = comparisons
    assert tax["metric"] == "capability:basics" and tax["diff"] == pytest.approx(0.25 - 0.75)
    assert tax["p_value"] == pytest.approx(0.5)  # exact McNemar: 2 discordant pairs, both one way
    row = next(line for line in lines if line.startswith("| sft+none"))
    assert row.startswith("| sft+none | 0.250 [") and "-0.500 [" in row and "p=0.5" in row
    assert next(line for line in lines if line.startswith("| base")).endswith("| — |")
    assert report.capability_markdown([MethodOutcomes("no capability set")], []) == ([], [])


# ------------------------------------------------------------------ a run's own time table


def test_stage_costs_and_time_table_by_hand(tmp_path):
    from dr_irl.evaluation.report import stage_cost_rows, stage_costs

    done = {
        "eval_base": {"seconds": 20.0, "generation": {"new_tokens": 5000, "seconds": 18.0}},
        "reward_models": {"seconds": 100.0, "generation": {}},
        "policy": {"seconds": 120.0},  # TRL generated the rollouts: tokens from the budget
        "report": {"seconds": 0.1},  # an earlier run's report: not a cost of this one
        "demonstrations": {"seconds": 50.0},  # left by an earlier config, not among this run's stages
    }
    for stage, body in done.items():
        (tmp_path / stage).mkdir()
        (tmp_path / stage / "DONE.json").write_text(json.dumps(body))
    outputs = {name: tmp_path / name for name in ("reward_models", "eval_base", "policy", "report")}
    outputs["eval_policy"] = tmp_path / "eval_policy"  # not finished: no DONE.json
    costs = stage_costs(outputs, {"generated_tokens": 2400}, running="report")
    assert costs == [  # the pipeline's order, not the folders'
        {"stage": "reward_models", "seconds": 100.0, "generated_tokens": 0},
        {"stage": "eval_base", "seconds": 20.0, "generated_tokens": 5000},
        {"stage": "policy", "seconds": 120.0, "generated_tokens": 2400},
    ]
    assert stage_cost_rows(costs) == [
        ["reward_models", "100.0", "–", "–"],
        ["eval_base", "20.0", "5,000", "250"],
        ["policy", "120.0", "2,400", "20"],
        ["total", "240.0", "7,400", "–"],
    ]


def test_sweep_report_stage_table_gives_seconds_and_tokens_per_second(tmp_path):
    for seed, (seconds, tokens) in enumerate([(20.0, 4000), (30.0, 9000), (40.0, 8000)]):
        run_dir = make_run(tmp_path, f"r{seed}", "clip_gap", seed, after={"refusal_rate": 0.5})
        results = json.loads((run_dir / "results.json").read_text())
        results["stage_seconds"] = {"eval_base": seconds, "reward_models": 100.0 + seed}
        results["stage_generated_tokens"] = {"eval_base": tokens, "reward_models": 0}
        (run_dir / "results.json").write_text(json.dumps(results))
    summaries = report.aggregate(report.find_runs([tmp_path]))
    table = report.stage_seconds_markdown(summaries)
    # medians: 30 s; tokens/s 200, 300, 200 -> 200; reward models generated nothing
    assert "| eval_base | reward_models |" in table
    assert "| 30 (200 tok/s) | 101 |" in table


def test_the_report_shows_each_methods_reward_validity(tmp_path):
    """The sweep report's validity table: the median over a method's runs of each split's two AUCs."""
    for seed, harmful in ((0, 0.7), (1, 0.9)):
        run_dir = make_run(
            tmp_path, f"r{seed}", "none", seed, {"refusal_rate": 0.3, "over_refusal_rate": 0.1}
        )
        results = json.loads((run_dir / "results.json").read_text())
        results["reward_validity"] = {
            "dev": {"harmful": {"value": harmful}, "benign": {"value": 1.0}, "tuned_on": True},
            "_skipped_unknown_category": 0,
        }
        (run_dir / "results.json").write_text(json.dumps(results))
    table = report.validity_markdown(report.aggregate(report.find_runs([tmp_path])))
    assert "| dev: harmful / benign |" in table
    assert "0.80 / 1.00" in table  # the median of 0.7 and 0.9
    assert "_skipped" not in table
    assert report.validity_markdown(report.aggregate(report.find_runs([tmp_path / "r0"]))).count("0.70") == 1


def test_a_sweep_over_seed_and_policy_seed_keeps_every_pair_apart(tmp_path):
    """``seed`` × ``optimizer.seed`` (sweep/ablation.yaml): runs (0, p2) and (1, p2) are two replicates, each
    paired with the base of its own data seed, not one overwriting the other."""
    root = tmp_path / "runs"
    for seed in (0, 1):
        run = make_run(root, f"grpo{seed}", "none", seed, {"refusal_rate": 1.0})
        results = json.loads((run / "results.json").read_text())
        (run / "results.json").write_text(json.dumps({**results, "policy_seed": 2}))
        _generations(run, [seed == 0] * 4, [])
        _generations(run, [False] * 4, [], stage="eval_base")
    summaries = report.aggregate(report.find_runs([root]))
    assert report.duplicate_seeds(summaries) == []
    assert sorted(report.replicate(r) for r in summaries[0].runs) == ["s0-p2", "s1-p2"]
    _, comparisons = report.comparison_markdown(summaries)
    vs_base = next(c for c in comparisons if c["b"] == "base" and c["metric"] == "refusal")
    assert vs_base["n"] == 8 and vs_base["per_seed"] == {"s0-p2": 1.0, "s1-p2": 0.0}
