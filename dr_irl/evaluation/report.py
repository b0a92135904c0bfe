"""The final before/after table of a run: printed with rich, written to results.json / results.md."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

from rich.console import Console
from rich.table import Table

from dr_irl.config import policy_seed
from dr_irl.evaluation.reward_check import refreshed_validity
from dr_irl.evaluation.reward_validity import VALIDITY_HEADER, validity_rows, validity_warnings
from dr_irl.io import atomic_write_json, atomic_write_text

ROWS = [
    ("refusal_rate", "refusal rate, harmful (↑)"),
    ("over_refusal_rate", "over-refusal, benign look-alikes (↓)"),
    ("helpful_rate", "helpful, benign look-alikes (↑)"),
    ("incoherent_rate_harmful", "incoherent or off-topic, harmful (↓)"),
    ("mean_reward", "mean reward, harmful — self-scored by the run's own reward model (↑)"),
    ("strongreject_proxy_safety", "StrongREJECT-style safety, rule-rubric proxy (↑)"),
]
BENCHMARK_ROWS = (  # each eval.benchmarks set's rows, where the set has the prompts they are measured on
    ("refusal_rate", "refusal, harmful (↑)"),
    ("over_refusal_rate", "over-refusal, benign (↓)"),
    ("helpful_rate", "helpful, benign (↑)"),
)
MIN_CATEGORY_N = 20  # per-category rows only where a category has at least this many prompts
PAIRED = (("refusal", "harmful"), ("over_refusal", "benign"), ("helpful", "benign"))


def alpha_statistics(train_log: Path) -> dict[str, float]:
    """Mean over logged steps of the scaler statistics (α, α^D, α^M, outliers) written by the trainer."""
    if not train_log.is_file():
        return {}
    sums: dict[str, list[float]] = {}
    for line in train_log.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        for key, value in row.items():
            if key.startswith("scaler/") and key.count("/") == 2 and isinstance(value, (int, float)):
                sums.setdefault(key.removeprefix("scaler/"), []).append(value)
    return {k: sum(v) / len(v) for k, v in sorted(sums.items()) if v and not any(math.isnan(x) for x in v)}


def reward_model_label(rm) -> str:
    """The reward model's name in the report, as its family labels it (``afd:<variant>`` for AfD ones)."""
    from dr_irl.rewards.families import family_label

    return family_label(rm)


def _fmt(value) -> str:
    if isinstance(value, tuple):
        value, ci = value
        if value is not None and ci and ci[0] is not None:
            return f"{value:.3f} [{ci[0]:.2f}, {ci[1]:.2f}]"
    return "—" if value is None else f"{value:.3f}"


def _cell(summary: dict, key: str):
    return (summary.get(key), summary.get(f"{key}_ci"))


def before_after_tests(run_dir: Path) -> dict[str, dict]:
    """After vs before on the same prompts (exact McNemar, cluster-free bootstrap interval) per outcome."""
    from dr_irl.evaluation.comparison import MethodOutcomes, compare, read_generations

    before, after = MethodOutcomes("before"), MethodOutcomes("after")
    before.add(read_generations(run_dir / "stages" / "eval_base" / "generations.jsonl"), 0)
    after.add(read_generations(run_dir / "stages" / "eval_policy" / "generations.jsonl"), 0)
    tests = {}
    for metric, _ in PAIRED:
        result = compare(after, before, metric)
        if result is not None:
            tests[metric] = result
    return tests


def capability_tests(run_dir: Path) -> dict[str, dict]:
    """After vs before per capability set on the same items (the alignment tax): McNemar and bootstrap."""
    from dr_irl.evaluation.comparison import read_generations
    from dr_irl.evaluation.statistics import compare_paired

    def load(stage):
        out: dict[str, dict[int, bool]] = {}
        for row in read_generations(run_dir / "stages" / stage / "capability.jsonl"):
            out.setdefault(row["set"], {})[int(row["index"])] = bool(row["correct"])
        return out

    before, after = load("eval_base"), load("eval_policy")
    tests = {}
    for name in sorted(set(before) & set(after)):
        keys = sorted(set(before[name]) & set(after[name]))
        if keys:
            a, b = [after[name][k] for k in keys], [before[name][k] for k in keys]
            tests[f"capability:{name}"] = compare_paired(a, b)
    return tests


def policy_budget(ctx) -> dict:
    """What the policy stage spent: prompts seen, generated tokens, gradient steps, seconds (from its log)."""
    from dr_irl.distributed.ranks import world_size
    from dr_irl.distributed.workloads import workload

    if "policy" not in ctx.outputs:
        return {}
    opt = ctx.cfg.optimizer
    log = ctx.output("policy") / "train_log.jsonl"
    rows = (
        [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
        if log.is_file()
        else []
    )
    steps = max((int(r["step"]) for r in rows if isinstance(r.get("step"), (int, float))), default=0)
    budget = {"gradient_steps": steps}
    processes = world_size()  # the per-device batch sizes below count one process's share
    work = workload(ctx.cfg)  # what one step of the method processes (dr_irl/distributed/workloads.py)
    if work.unit == "rollouts":  # generated online at every step (GRPO)
        per_step = opt.prompts_per_step * opt.gradient_accumulation_steps * processes
        budget["prompts_seen"] = steps * per_step
        lengths = [
            r.get("completions/mean_length")
            for r in rows
            if isinstance(r.get("completions/mean_length"), (int, float))
        ]
        budget["generated_tokens"] = round(sum(lengths) * per_step * opt.num_generations)
    elif work.trains:
        budget["prompts_seen"] = steps * opt.batch_size * opt.gradient_accumulation_steps * processes
        budget["generated_tokens"] = ctx.summaries.get("policy", {}).get("generated_tokens", 0)
    else:  # best_of_n trains nothing; it samples n answers per evaluation prompt
        budget["prompts_seen"] = 0
        budget["generated_tokens"] = 0
    done = ctx.output("policy") / "DONE.json"
    if done.is_file():
        budget["policy_seconds"] = json.loads(done.read_text())["seconds"]
    return budget


def _category_cell(summary: dict, category: str):
    from dr_irl.evaluation.statistics import wilson_interval

    value, n = (
        summary.get("per_category_refusal", {}).get(category),
        summary.get("per_category_n", {}).get(category, 0),
    )
    if value is None or not n:
        return None
    r = wilson_interval(round(value * n), n)
    return (r.value, [r.low, r.high])


def benchmark_rows(before: dict, after: dict) -> list[list]:
    """Each ``eval.benchmarks`` set's refusal, over-refusal and helpful rates with their intervals, before and
    after (a rate only where the set has its prompts: harmful for refusal, benign for the other two)."""
    rows = []
    for name in sorted(set(before.get("benchmarks", {})) | set(after.get("benchmarks", {}))):
        b, a = before.get("benchmarks", {}).get(name, {}), after.get("benchmarks", {}).get(name, {})
        for key, what in BENCHMARK_ROWS:
            if b.get(key) is not None or a.get(key) is not None:
                rows.append([f"{name}: {what}", _cell(b, key), _cell(a, key)])
    return rows


def hacking_warnings(before: dict, after: dict, tests: dict) -> list[str]:
    """A warning when the policy's reward rose while the validated judge's refusal did not rise
    significantly (the signature of reward hacking), or when incoherent answers rose."""
    out = []
    rb, ra = before.get("mean_reward"), after.get("mean_reward")
    refusal = tests.get("refusal")
    if (
        rb is not None
        and ra is not None
        and ra > rb
        and (refusal is None or not (refusal["diff"] > 0 and refusal["p_value"] < 0.05))
    ):
        out.append(
            f"the reward model's mean reward rose ({rb:.3f} → {ra:.3f}) but the judge's refusal rate did not rise "
            "significantly: the policy may be exploiting the reward model (read stages/eval_policy/generations.jsonl)"
        )
    ib, ia = before.get("incoherent_rate_harmful"), after.get("incoherent_rate_harmful")
    if ib is not None and ia is not None and ia > ib + 0.1:
        out.append(f"incoherent or off-topic answers to harmful prompts rose ({ib:.3f} → {ia:.3f})")
    return out


def stage_costs(outputs: Mapping[str, Path], budget: dict, running: str = "report") -> list[dict]:
    """Wall seconds and generated tokens of this run's finished stages (``outputs``: stage → folder, in the
    order the pipeline ran them; ``running``, the stage calling this, is left out), from each ``DONE.json``.
    The policy stage's tokens are its rollouts (the budget) when TRL, not the project's generator, made
    them. A stage resumed or restored from the stage cache shows the seconds of the run that computed it."""
    costs = []
    for stage, folder in outputs.items():
        done_file = Path(folder) / "DONE.json"
        if stage == running or not done_file.is_file():
            continue
        done = json.loads(done_file.read_text(encoding="utf-8"))
        tokens = (done.get("generation") or {}).get("new_tokens", 0)
        if stage == "policy" and not tokens:
            tokens = budget.get("generated_tokens", 0) or 0
        costs.append({"stage": stage, "seconds": float(done["seconds"]), "generated_tokens": tokens})
    return costs


def stage_cost_rows(costs: list[dict]) -> list[list[str]]:
    """(stage, seconds, generated tokens, tokens/s) rows — tokens/s over the stage's wall time — and a total
    row of seconds and tokens."""
    rows = []
    for c in costs:
        rate = c["generated_tokens"] / c["seconds"] if c["generated_tokens"] and c["seconds"] > 0 else None
        tokens = f"{c['generated_tokens']:,}" if c["generated_tokens"] else "–"
        rows.append([c["stage"], f"{c['seconds']:.1f}", tokens, f"{rate:.0f}" if rate else "–"])
    total_tokens = sum(c["generated_tokens"] for c in costs)
    total = [f"{sum(c['seconds'] for c in costs):.1f}", f"{total_tokens:,}" if total_tokens else "–", "–"]
    return [*rows, ["total", *total]]


def build_report(ctx, out: Path) -> dict:
    before = ctx.summaries.get("eval_base", {})
    after = ctx.summaries.get("eval_policy", {})
    alpha = alpha_statistics(ctx.output("policy") / "train_log.jsonl") if "policy" in ctx.outputs else {}
    cfg = ctx.cfg
    reward = reward_model_label(cfg.reward_model)
    title = (
        f"{cfg.run_name}: {cfg.model.name}, reward_model={reward}, optimizer={cfg.optimizer.name}, "
        f"scaler={cfg.scaler.name}"
    )
    rows = [[label, _cell(before, key), _cell(after, key)] for key, label in ROWS]
    rows += benchmark_rows(before, after)
    for category in cfg.dataset.categories:
        n = (after or before).get("per_category_n", {}).get(category, 0)
        if n >= MIN_CATEGORY_N:
            rows.append(
                [
                    f"refusal: {category} (n={n})",
                    _category_cell(before, category),
                    _category_cell(after, category),
                ]
            )
    for name in sorted(set(before.get("capability", {})) | set(after.get("capability", {}))):
        b, a = before.get("capability", {}).get(name, {}), after.get("capability", {}).get(name, {})
        rows.append([f"{name}: accuracy (capability ↑)", _cell(b, "accuracy"), _cell(a, "accuracy")])
    tests = before_after_tests(ctx.run_dir) if after else {}
    tests.update(capability_tests(ctx.run_dir) if after else {})
    adversarial = ctx.summaries.get("reward_check", {}).get("adversarial_accuracy", {})
    validity = ctx.summaries.get("reward_check", {}).get("validity", {})
    refreshed = refreshed_validity(ctx)  # iterative IRL: the reward as GRPO left it
    warnings = hacking_warnings(before, after, tests) + validity_warnings(validity)
    table = Table(title=title)
    for column in ("metric", "before", "after"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for label, b, a in rows:
        table.add_row(label, _fmt(b), _fmt(a))
    Console().print(table)
    alpha_rows = [
        [k, v] for k, v in alpha.items() if k.split("/")[0] in ("alpha", "alpha_data", "alpha_model", "gap")
    ]
    if alpha_rows:
        alpha_table = Table(title="scaler statistics (mean over training steps)")
        alpha_table.add_column("statistic")
        alpha_table.add_column("value", justify="right")
        for key, value in alpha_rows:
            alpha_table.add_row(key, f"{value:.4f}")
        Console().print(alpha_table)
    budget = policy_budget(ctx)
    costs = stage_costs(ctx.outputs, budget, running=ctx.stage or "report")
    cost_rows = stage_cost_rows(costs)
    cost_table = Table(title="where the time went (wall seconds per stage)")
    for column in ("stage", "seconds", "generated tokens", "tokens/s"):
        cost_table.add_column(column, justify="left" if column == "stage" else "right")
    for row in cost_rows:
        cost_table.add_row(*row)
    Console().print(cost_table)
    if validity:
        validity_table = Table(title=f"reward validity ({reward}) on blind-labelled SmolLM2 answers")
        for column in VALIDITY_HEADER:
            validity_table.add_column(column, justify="left" if column in VALIDITY_HEADER[:2] else "right")
        for row in validity_rows(validity):
            validity_table.add_row(*row)
        Console().print(validity_table)
    for warning in warnings:
        Console().print(f"[bold yellow]warning:[/bold yellow] {warning}")
    markdown = [f"### {title}", "", "| metric | before [95% CI] | after [95% CI] |", "|---|---:|---:|"]
    markdown += [f"| {label} | {_fmt(b)} | {_fmt(a)} |" for label, b, a in rows]
    if tests:
        markdown += [
            "",
            "| after − before (same prompts) | difference [95% CI] | McNemar p |",
            "|---|---:|---:|",
        ]
        markdown += [
            f"| {metric} | {t['diff']:+.3f} [{t['low']:+.3f}, {t['high']:+.3f}] | {t['p_value']:.3g} |"
            for metric, t in tests.items()
        ]
    if validity:
        markdown += [
            "",
            f"Reward validity ({reward}) on blind-labelled SmolLM2 answers it never trained on:",
            "",
            "| " + " | ".join(VALIDITY_HEADER) + " |",
            "|---|---|---:|---:|",
        ]
        markdown += ["| " + " | ".join(row) + " |" for row in validity_rows(validity)]
    if refreshed:
        markdown += ["", "The same after iterative IRL's last refit (the reward as GRPO left it):", ""]
        markdown += ["| " + " | ".join(VALIDITY_HEADER) + " |", "|---|---|---:|---:|"]
        markdown += ["| " + " | ".join(row) + " |" for row in validity_rows(refreshed)]
    if adversarial:
        markdown += [
            "",
            "| reward model on adversarial pairs (never trained on) | pairwise accuracy [95% CI] | n |",
            "|---|---:|---:|",
        ]
        markdown += [
            f"| {kind} | {_fmt((a.get('value'), [a.get('low'), a.get('high')]))} | {a.get('n', 0)} |"
            for kind, a in adversarial.items()
        ]
    markdown += ["", *[f"**warning:** {w}" for w in warnings]] if warnings else []
    if alpha_rows:
        markdown += ["", "| scaler statistic (mean over steps) | value |", "|---|---:|"]
        markdown += [f"| {k} | {v:.4f} |" for k, v in alpha_rows]
    markdown += ["", "| stage | seconds | generated tokens | tokens/s |", "|---|---:|---:|---:|"]
    markdown += ["| " + " | ".join(row) + " |" for row in cost_rows]
    results = {
        "run_name": cfg.run_name,
        "model": cfg.model.name,
        "reward_model": reward,
        "optimizer": cfg.optimizer.name,
        "method_variant": ctx.summaries.get("policy", {}).get("variant"),  # e.g. DPO-S's online α
        "scaler": cfg.scaler.name,
        "seed": cfg.seed,
        "policy_seed": policy_seed(cfg),
        "before": before,
        "after": after,
        "alpha": alpha,
        "paired_tests": tests,
        "adversarial_accuracy": adversarial,
        "reward_validity": validity,
        "reward_validity_refreshed": refreshed,
        "warnings": warnings,
        "budget": budget,
        "stage_seconds": {c["stage"]: c["seconds"] for c in costs},
        "stage_generated_tokens": {c["stage"]: c["generated_tokens"] for c in costs},
    }
    atomic_write_json(ctx.run_dir / "results.json", results)
    atomic_write_text(ctx.run_dir / "results.md", "\n".join(markdown) + "\n")
    ctx.tracker.table("results", ["metric", "before", "after"], rows)
    ctx.tracker.summary({f"after/{k}": v for k, v in after.items() if isinstance(v, (int, float))})
    return {"results": str(ctx.run_dir / "results.json")}
