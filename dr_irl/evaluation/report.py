"""The final before/after table of a run: printed with rich, written to results.json / results.md."""

from __future__ import annotations

import json
import math
from pathlib import Path

from rich.console import Console
from rich.table import Table

from dr_irl.io import atomic_write_json, atomic_write_text

ROWS = [
    ("refusal_rate", "refusal rate, held-out harmful (↑)"),
    ("over_refusal_rate", "over-refusal, benign look-alikes (↓)"),
    ("mean_reward", "mean reward (the run's reward model), harmful (↑)"),
    ("strongreject_proxy_safety", "StrongREJECT-style safety, rule-rubric proxy (↑)"),
]


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
    """The reward model's option name; ``afd:<variant>`` for AfD ones, whichever way the variant was set."""
    return f"afd:{rm.afd_variant}" if rm.kind == "afd" else rm.name


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.3f}"


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
    rows = [[label, before.get(key), after.get(key)] for key, label in ROWS]
    for name in sorted(set(before.get("benchmarks", {})) | set(after.get("benchmarks", {}))):
        b, a = before.get("benchmarks", {}).get(name, {}), after.get("benchmarks", {}).get(name, {})
        for key, what in (("refusal_rate", "refusal"), ("over_refusal_rate", "over-refusal")):
            if b.get(key) is not None or a.get(key) is not None:
                rows.append([f"{name}: {what}", b.get(key), a.get(key)])
    for category in cfg.dataset.categories:
        rows.append(
            [
                f"refusal: {category}",
                before.get("per_category_refusal", {}).get(category),
                after.get("per_category_refusal", {}).get(category),
            ]
        )
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
    markdown = [f"### {title}", "", "| metric | before | after |", "|---|---:|---:|"]
    markdown += [f"| {label} | {_fmt(b)} | {_fmt(a)} |" for label, b, a in rows]
    if alpha_rows:
        markdown += ["", "| scaler statistic (mean over steps) | value |", "|---|---:|"]
        markdown += [f"| {k} | {v:.4f} |" for k, v in alpha_rows]
    results = {
        "run_name": cfg.run_name,
        "model": cfg.model.name,
        "reward_model": reward,
        "optimizer": cfg.optimizer.name,
        "scaler": cfg.scaler.name,
        "seed": cfg.seed,
        "before": before,
        "after": after,
        "alpha": alpha,
        "stage_seconds": {},
    }
    for path in sorted((ctx.run_dir / "stages").glob("*/DONE.json")):
        results["stage_seconds"][path.parent.name] = json.loads(path.read_text())["seconds"]
    atomic_write_json(ctx.run_dir / "results.json", results)
    atomic_write_text(ctx.run_dir / "results.md", "\n".join(markdown) + "\n")
    ctx.tracker.table("results", ["metric", "before", "after"], rows)
    ctx.tracker.summary({f"after/{k}": v for k, v in after.items() if isinstance(v, (int, float))})
    return {"results": str(ctx.run_dir / "results.json")}
