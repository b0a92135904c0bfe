"""Compare finished runs offline: ``python sweep/report.py PATH [PATH ...] [--out DIR]``.

Every folder under the PATHs holding a ``results.json`` is a run. Runs are grouped into methods by
``(model, reward model, optimizer, scaler)``; seeds are replicates. Labels name the model and the reward
model only when the runs differ in them. Writes into ``--out`` (default ``reports/``):
``results.csv`` and ``results.md`` (mean ± std over seeds), and the plots ``reward_curves.png``,
``alpha_curves.png`` (only when a log has α), ``refusal_vs_over_refusal.png`` and
``per_category_refusal.png``. The spread is the sample standard deviation (ddof=1) over the seeds that
have the value, and 0.0 for a single seed; missing (null or NaN) values are left out.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from dr_irl.config import seed_tag  # noqa: E402
from dr_irl.evaluation.comparison import (  # noqa: E402
    CAPABILITY,
    MethodOutcomes,
    compare,
    fmt_difference,
    fmt_interval,
    holm,
    rate_with_interval,
    read_generations,
    units_summary,
)
from dr_irl.io import atomic_path, atomic_write_text  # noqa: E402

AFTER_METRICS = ("refusal_rate", "over_refusal_rate", "mean_reward")
BEFORE_METRICS = ("refusal_rate", "over_refusal_rate")
MISSING = "—"
ALPHA_KEY = "scaler/alpha/mean"
MOVED_KEY = "scaler/alpha/moved_mass"
_NO_LOG = "no stages/policy/train_log.jsonl has '%s'"


@dataclass
class Run:
    """One finished run: its folder and its parsed ``results.json``."""

    run_dir: Path
    results: dict

    @property
    def key(self) -> tuple[str, str, str, str]:
        """(model, reward model, method, scaler); the method with its variant, e.g. ``dpo_s[online α]``."""
        model, reward, optimizer, scaler = (
            str(self.results.get(k) or "?") for k in ("model", "reward_model", "optimizer", "scaler")
        )
        variant = self.results.get("method_variant")
        return model, reward, f"{optimizer}[{variant}]" if variant else optimizer, scaler


class Stat(NamedTuple):
    """Mean and spread of one value over the seeds of a method; ``n`` seeds had the value."""

    mean: float | None
    std: float | None
    n: int


NO_STAT = Stat(None, None, 0)


@dataclass
class MethodSummary:
    """The seeds of one ``(model, reward model, optimizer, scaler)`` aggregated."""

    label: str
    model: str
    reward_model: str
    optimizer: str
    scaler: str
    runs: list[Run]
    after: dict[str, Stat] = field(default_factory=dict)
    before: dict[str, Stat] = field(default_factory=dict)
    alpha_mean: Stat = NO_STAT
    per_category: dict[str, Stat] = field(default_factory=dict)

    @property
    def n_seeds(self) -> int:
        return len(self.runs)


def find_runs(paths: list[str | Path]) -> list[Run]:
    """Every run folder (one holding ``results.json``) under ``paths``, searched recursively.

    Raises ValueError naming the file when a ``results.json`` is not a JSON object.
    """
    files: dict[Path, Path] = {}
    for root in map(Path, paths):
        found = [root] if root.name == "results.json" and root.is_file() else root.rglob("results.json")
        for path in found:
            files.setdefault(path.resolve(), path)
    runs = []
    for path in sorted(files.values()):
        try:
            results = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"malformed results file {path}: {err}") from err
        if not isinstance(results, dict):
            raise ValueError(f"malformed results file {path}: expected a JSON object")
        runs.append(Run(path.parent, results))
    return runs


def _number(value) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def mean_std(values) -> tuple[float | None, float | None]:
    """Mean and sample std (ddof=1; 0.0 for one value) of the numbers in ``values``; None when none."""
    xs = [x for x in map(_number, values) if x is not None]
    if not xs:
        return None, None
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def _stat(values) -> Stat:
    values = list(values)
    return Stat(*mean_std(values), sum(_number(v) is not None for v in values))


def _section(run: Run, name: str) -> dict:
    section = run.results.get(name)
    return section if isinstance(section, dict) else {}


def aggregate(runs: list[Run]) -> list[MethodSummary]:
    """Group runs by ``(model, reward model, optimizer, scaler)`` and aggregate over seeds; sorted by label."""
    groups: dict[tuple[str, str, str, str], list[Run]] = {}
    for run in runs:
        groups.setdefault(run.key, []).append(run)
    several_models = len({key[0] for key in groups}) > 1
    several_rewards = len({key[1] for key in groups}) > 1
    summaries = []
    for (model, reward, optimizer, scaler), group in groups.items():
        label = f"{optimizer}+{scaler}"
        label = f"{reward}/{label}" if several_rewards else label
        label = f"{model}/{label}" if several_models else label
        summary = MethodSummary(label, model, reward, optimizer, scaler, group)
        summary.after = {m: _stat(_section(r, "after").get(m) for r in group) for m in AFTER_METRICS}
        summary.before = {m: _stat(_section(r, "before").get(m) for r in group) for m in BEFORE_METRICS}
        summary.alpha_mean = _stat(_section(r, "alpha").get("alpha/mean") for r in group)
        per_run = [_section(r, "after").get("per_category_refusal") or {} for r in group]
        categories = sorted({c for cats in per_run for c in cats})
        summary.per_category = {c: _stat(cats.get(c) for cats in per_run) for c in categories}
        summaries.append(summary)
    return sorted(summaries, key=lambda s: s.label)


def replicate(run: Run) -> str:
    """A run's replicate, named as its run name names it: ``s<seed>``, with ``-p<policy seed>`` where the policy
    trained with another seed — a sweep over ``seed`` × ``optimizer.seed`` keeps every pair apart."""
    seed = int(run.results.get("seed", 0))
    policy_seed = run.results.get("policy_seed")
    return seed_tag(seed, None if policy_seed is None else int(policy_seed))


def duplicate_seeds(summaries: list[MethodSummary]) -> list[str]:
    """A warning per method with two runs of the same seed (e.g. ``outputs`` and ``multirun`` both scanned,
    or two sweeps of different settings): they would count as two seeds, and one would hide the other's
    per-prompt outcomes in the paired comparisons."""
    out = []
    for s in summaries:
        by_seed: dict[str, list[str]] = {}
        for run in s.runs:
            by_seed.setdefault(replicate(run), []).append(str(run.run_dir))
        for seed, dirs in sorted(by_seed.items()):
            if len(dirs) > 1:
                out.append(
                    f"{s.label}: {len(dirs)} runs of replicate {seed} ({', '.join(dirs)}); pass one of them"
                )
    return out


def fmt(stat: Stat) -> str:
    """``0.743 ± 0.021``; ``0.743`` when one seed has the value; ``—`` when none does."""
    if stat.mean is None:
        return MISSING
    return f"{stat.mean:.3f}" if stat.n < 2 else f"{stat.mean:.3f} ± {stat.std:.3f}"


def markdown_table(summaries: list[MethodSummary]) -> str:
    """The method table and, under it, the per-category refusal table (after training)."""
    lines = [
        "| method | seeds | refusal ↑ | over-refusal ↓ | mean reward (self-scored) | α mean |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for s in summaries:
        cells = [fmt(s.after[m]) for m in AFTER_METRICS] + [fmt(s.alpha_mean)]
        lines.append(f"| {s.label} | {s.n_seeds} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Mean reward: the harmful prompts' answers scored by the run's own reward model — the one GRPO trains "
        "on and Best-of-N selects with — so it is self-scored: a method that optimises it scores high without "
        "being safer. Judge refusal and the blind reading are the evidence; a reward model trained on other "
        "data would be a held-out check.",
    ]
    categories = sorted({c for s in summaries for c in s.per_category})
    if categories:
        lines += ["", "Refusal rate per category (after training):", ""]
        lines += ["| category | " + " | ".join(s.label for s in summaries) + " |"]
        lines += ["|---|" + "---:|" * len(summaries)]
        for c in categories:
            cells = [fmt(s.per_category.get(c, NO_STAT)) for s in summaries]
            lines.append(f"| {c} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def csv_table(summaries: list[MethodSummary]) -> str:
    """One row per method; empty cells for missing values."""
    header = ["method", "model", "reward_model", "optimizer", "scaler", "n_seeds"]
    header += [f"{m}_{x}" for m in AFTER_METRICS for x in ("mean", "std")]
    header += [f"before_{m}_{x}" for m in BEFORE_METRICS for x in ("mean", "std")] + ["alpha_mean_mean"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for s in summaries:
        stats = [s.after[m] for m in AFTER_METRICS] + [s.before[m] for m in BEFORE_METRICS]
        values = [v for st in stats for v in (st.mean, st.std)] + [s.alpha_mean.mean]
        writer.writerow(
            [s.label, s.model, s.reward_model, s.optimizer, s.scaler, s.n_seeds]
            + ["" if v is None else v for v in values]
        )
    return buffer.getvalue()


def write_table(summaries: list[MethodSummary], out: Path) -> str:
    """Write ``results.csv`` and ``results.md`` into ``out`` atomically; return the markdown."""
    markdown = markdown_table(summaries)
    atomic_write_text(out / "results.csv", csv_table(summaries))
    atomic_write_text(out / "results.md", markdown)
    return markdown


def read_log(run_dir: Path) -> list[dict]:
    """The rows of ``stages/policy/train_log.jsonl`` (empty when missing); unreadable lines are skipped."""
    path = run_dir / "stages" / "policy" / "train_log.jsonl"
    rows = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict):
                rows.append(row)
    return rows


def curve(runs: list[Run], key: str) -> tuple[list[float], list[float], list[float]]:
    """Steps, mean and std over seeds of ``key`` in the runs' training logs (rows without it ignored)."""
    by_step: dict[float, list[float]] = {}
    for run in runs:
        for row in read_log(run.run_dir):
            step, value = _number(row.get("step")), _number(row.get(key))
            if step is not None and value is not None:
                by_step.setdefault(step, []).append(value)
    steps = sorted(by_step)
    stats = [mean_std(by_step[s]) for s in steps]
    return steps, [m for m, _ in stats], [sd for _, sd in stats]


def color(i: int) -> str:
    """The colour of the i-th method, the same in every plot."""
    return f"C{i % 10}"


def save_figure(fig: Figure, path: Path) -> None:
    """Save ``fig`` as PNG, atomically (:func:`dr_irl.io.atomic_path`)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")


def plot_curves(summaries: list[MethodSummary], key: str, ylabel: str, path: Path) -> bool:
    """Mean (± std band) of ``key`` vs step, one line per method; False (nothing written) without data."""
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    drawn = False
    for i, s in enumerate(summaries):
        steps, means, stds = curve(s.runs, key)
        if steps:
            (line,) = ax.plot(steps, means, marker=".", label=s.label, color=color(i))
            lo = [m - d for m, d in zip(means, stds, strict=True)]
            hi = [m + d for m, d in zip(means, stds, strict=True)]
            ax.fill_between(steps, lo, hi, color=line.get_color(), alpha=0.2)
            drawn = True
    if drawn:
        ax.set(xlabel="step", ylabel=ylabel, title=f"{ylabel} (mean ± std over seeds)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
        save_figure(fig, path)
    return drawn


def plot_refusal_scatter(summaries: list[MethodSummary], path: Path) -> bool:
    """Refusal vs over-refusal per method after training (± std); its before point hollow, in grey."""
    fig = Figure(figsize=(6.5, 5))
    ax = fig.add_subplot()
    drawn_before = drawn = False
    for i, s in enumerate(summaries):
        points = {}
        for stage, stats in (("before", s.before), ("after", s.after)):
            x, y = stats["over_refusal_rate"], stats["refusal_rate"]
            if x.mean is None or y.mean is None:
                continue
            style = dict(marker="o", label=s.label, color=color(i))
            if stage == "before":
                style = dict(color="grey", marker="o", mfc="none", label=None if drawn_before else "before")
                drawn_before = True
            ax.errorbar(x.mean, y.mean, xerr=x.std, yerr=y.std, capsize=3, linestyle="none", **style)
            points[stage] = (x.mean, y.mean)
        if "after" in points:
            ax.annotate(s.label, points["after"], xytext=(4, 4), textcoords="offset points", fontsize=8)
        if len(points) == 2:
            (bx, by), (ax_, ay) = points["before"], points["after"]
            ax.plot([bx, ax_], [by, ay], color="grey", linewidth=0.6, linestyle=":")
        drawn = drawn or bool(points)
    if drawn:
        ax.set(
            xlabel="over-refusal rate (benign) ↓", ylabel="refusal rate (harmful) ↑", title="before → after"
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
        save_figure(fig, path)
    return drawn


def plot_per_category(summaries: list[MethodSummary], path: Path) -> bool:
    """Grouped bars of the after-training refusal per category, one bar per method (± std)."""
    categories = sorted({c for s in summaries for c in s.per_category})
    if not categories:
        return False
    fig = Figure(figsize=(max(7.0, 1.0 + len(categories) * (0.3 + 0.15 * len(summaries))), 4.5))
    ax = fig.add_subplot()
    width = 0.8 / len(summaries)
    for i, s in enumerate(summaries):
        stats = [s.per_category.get(c, NO_STAT) for c in categories]
        heights = [math.nan if st.mean is None else st.mean for st in stats]
        errors = [st.std if st.n > 1 else math.nan for st in stats]  # no error bar for one seed
        xs = [j - 0.4 + width * (i + 0.5) for j in range(len(categories))]
        ax.bar(xs, heights, width, yerr=errors, capsize=2, label=s.label, color=color(i))
    ax.set_xticks(range(len(categories)), categories, rotation=45, ha="right")
    ax.set(ylabel="refusal rate (after)", ylim=(0, 1.05), title="refusal per category")
    ax.legend(fontsize="small")
    save_figure(fig, path)
    return True


BUDGET_KEYS = ("prompts_seen", "generated_tokens", "gradient_steps", "policy_seconds")


def method_outcomes(
    summaries: list[MethodSummary],
) -> tuple[dict[str, MethodOutcomes], list[MethodOutcomes]]:
    """The base policy's outcomes per model and each method's, per seed.

    A run's ``eval_base`` belongs to its seed: the held-out split (of a named dataset), the evaluation set
    built against the seed's training prompts and a warm-started initial policy can all depend on it, so the
    base of seed s is read from a run of seed s (the first one found) and paired with the methods' units of
    that seed only.
    """
    several_models = len({s.model for s in summaries}) > 1
    bases: dict[str, MethodOutcomes] = {}
    methods = []
    for s in summaries:
        outcomes = MethodOutcomes(s.label)
        base = bases.setdefault(s.model, MethodOutcomes(f"{s.model}/base" if several_models else "base"))
        for run in s.runs:
            seed = replicate(run)
            stages = run.run_dir / "stages"
            outcomes.add(read_generations(stages / "eval_policy" / "generations.jsonl"), seed)
            outcomes.add_capability(read_generations(stages / "eval_policy" / "capability.jsonl"), seed)
            if seed not in base.seeds:
                base.add(read_generations(stages / "eval_base" / "generations.jsonl"), seed)
                base.add_capability(read_generations(stages / "eval_base" / "capability.jsonl"), seed)
        methods.append(outcomes)
    return {model: base for model, base in bases.items() if base.values}, methods


def budget(s: MethodSummary) -> dict[str, Stat]:
    """Mean over seeds of what the policy stage spent (``results.json``'s ``budget``)."""
    return {k: _stat(_section(r, "budget").get(k) for r in s.runs) for k in BUDGET_KEYS}


def comparison_markdown(
    summaries: list[MethodSummary], reference: str | None = None
) -> tuple[str, list[dict]]:
    """Rates with 95% intervals (prompts resampled, seeds pooled), budgets, and paired comparisons: every
    method vs the base policy and every pair of methods (Holm-corrected over the table; * = significant)."""
    bases, methods = method_outcomes(summaries)
    rows = list(bases.values()) + methods
    lines = [
        "| method | seeds | refusal ↑ | over-refusal ↓ | helpful (benign) ↑ | incoherent (harmful) ↓ |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for m in rows:
        rates = units_summary(m)
        seeds = str(len(m.seeds))
        cells = [fmt_interval(rates[k]) for k in ("refusal", "over_refusal", "helpful", "incoherent")]
        lines.append(f"| {m.label} | {seeds} | " + " | ".join(cells) + " |")
    budget_lines = [
        "",
        "| method | prompts seen | generated tokens | gradient steps | policy stage seconds |",
        "|---|---:|---:|---:|---:|",
    ]
    for s in summaries:
        b = budget(s)
        budget_lines.append(f"| {s.label} | " + " | ".join(_budget_cell(b[k]) for k in BUDGET_KEYS) + " |")
    comparisons: list[dict] = []
    pairs = [(m, bases[s.model]) for s, m in zip(summaries, methods, strict=True) if s.model in bases]
    pairs += [(a, b) for i, a in enumerate(methods) for b in methods[i + 1 :]]
    for a, b in pairs:
        for metric in ("refusal", "over_refusal", "helpful"):
            c = compare(a, b, metric)
            if c is not None:
                comparisons.append(c)
    holm(comparisons)
    pair_lines = [
        "",
        "Paired differences (a − b on the same prompts and seeds; 95% interval of a bootstrap over prompts; "
        "exact p-value — McNemar, or with several seeds the sign-flip test of per-prompt sums, which does not "
        "count a prompt's seeds as independent — Holm-corrected over this table; * = significant at 0.05; "
        "in brackets after it, the difference within each seed: interval and test hold the seeds fixed, so a "
        "sign that flips between seeds says training randomness, not the method):",
        "",
        "| a | b | Δ refusal | Δ over-refusal | Δ helpful |",
        "|---|---|---:|---:|---:|",
    ]
    by_pair: dict[tuple[str, str], dict[str, dict]] = {}
    for c in comparisons:
        by_pair.setdefault((c["a"], c["b"]), {})[c["metric"]] = c
    for (a, b), cs in by_pair.items():
        cells = [fmt_difference(cs.get(k)) for k in ("refusal", "over_refusal", "helpful")]
        pair_lines.append(f"| {a} | {b} | " + " | ".join(cells) + " |")
    capability_lines, capability_comparisons = capability_markdown(rows, pairs)
    return "\n".join(lines + budget_lines + pair_lines + capability_lines) + "\n", comparisons + (
        capability_comparisons
    )


def capability_markdown(
    rows: list[MethodOutcomes], pairs: list[tuple[MethodOutcomes, MethodOutcomes]]
) -> tuple[list[str], list[dict]]:
    """Accuracy of each capability set per method (95% interval, items resampled, seeds pooled) and each
    method's change against the base policy on the same items — the alignment tax — with its paired test
    (Holm-corrected over the capability comparisons)."""
    sets = sorted({name for m in rows for name in m.capability_sets})
    if not sets:
        return [], []
    comparisons = []
    for a, b in pairs:
        if not b.label.endswith("base"):
            continue
        for name in sets:
            c = compare(a, b, f"{CAPABILITY}{name}")
            if c is not None:
                comparisons.append(c)
    holm(comparisons)
    tax = {(c["a"], c["metric"]): c for c in comparisons}
    lines = [
        "",
        "Capability (accuracy ↑, 95% interval of a bootstrap over items) and the alignment tax (after − base "
        "on the same items; exact p-value, Holm-corrected over these sets and methods; * = significant):",
        "",
        "| method | " + " | ".join(f"{n} accuracy | Δ {n} vs base" for n in sets) + " |",
        "|---|" + "---:|---:|" * len(sets),
    ]
    for m in rows:
        cells = []
        for name in sets:
            metric = f"{CAPABILITY}{name}"
            cells.append(fmt_interval(rate_with_interval(m.values.get(metric, {}))))
            key = (m.label, metric)
            cells.append(fmt_difference(tax[key]) if key in tax else MISSING)
        lines.append(f"| {m.label} | " + " | ".join(cells) + " |")
    return lines, comparisons


def _budget_cell(stat: Stat) -> str:
    if stat.mean is None:
        return MISSING
    return f"{stat.mean:,.0f}"


def read_alpha_values(run_dir: Path) -> list[float]:
    """Every α of a run's GRPO-S steps (``stages/policy/alpha_values.jsonl``), flattened."""
    path = run_dir / "stages" / "policy" / "alpha_values.jsonl"
    values: list[float] = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                values += [float(a) for a in json.loads(line).get("alpha", [])]
            except (json.JSONDecodeError, TypeError, ValueError, AttributeError):
                continue
    return values


def plot_alpha_histogram(summaries: list[MethodSummary], path: Path) -> bool:
    """Distribution of α over every step and seed, one histogram per scaled method (log-count axis)."""
    series = [(s.label, [a for r in s.runs for a in read_alpha_values(r.run_dir)]) for s in summaries]
    series = [(label, values) for label, values in series if values]
    if not series:
        return False
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    low = min(min(v) for _, v in series)
    high = max(max(v) for _, v in series)
    bins = [low + (high - low) * i / 40 for i in range(41)] if high > low else 10
    for i, (label, values) in enumerate(series):
        ax.hist(
            values,
            bins=bins,
            histtype="step",
            linewidth=1.5,
            label=f"{label} (n={len(values)})",
            color=color(i),
        )
    ax.axvline(1.0, color="grey", linestyle=":", linewidth=1)
    ax.set(xlabel="α", ylabel="completions", yscale="log", title="α over all steps and seeds")
    ax.legend(fontsize="small")
    save_figure(fig, path)
    return True


def stage_seconds_markdown(summaries: list[MethodSummary]) -> str:
    """Median wall time of each stage per method (``results.json``'s ``stage_seconds``), seconds, and for
    stages that generated text the median tokens per second of their wall time (``stage_generated_tokens``)."""
    stages: list[str] = []
    for s in summaries:
        for r in s.runs:
            for name in _section(r, "stage_seconds"):
                if name not in stages:
                    stages.append(name)
    if not stages:
        return ""
    lines = ["| method | " + " | ".join(stages) + " |", "|---|" + "---:|" * len(stages)]
    for s in summaries:
        cells = []
        for name in stages:
            seconds, rates = [], []
            for r in s.runs:
                value = _number(_section(r, "stage_seconds").get(name))
                tokens = _number(_section(r, "stage_generated_tokens").get(name))
                if value is not None:
                    seconds.append(value)
                    if tokens and value > 0:
                        rates.append(tokens / value)
            cell = f"{statistics.median(seconds):.0f}" if seconds else MISSING
            cells.append(f"{cell} ({statistics.median(rates):.0f} tok/s)" if rates else cell)
        lines.append(f"| {s.label} | " + " | ".join(cells) + " |")
    return (
        "Median seconds per stage, and tokens/s where the stage generated (stages restored from the stage "
        "cache count their original time):\n\n" + "\n".join(lines) + "\n"
    )


def validity_markdown(summaries: list[MethodSummary]) -> str:
    """Each method's reward validity (``results.json``'s ``reward_validity``): the median over its runs of the
    harmful and benign AUCs on the blind-labelled SmolLM2 answers, per split."""
    splits: list[str] = []
    for s in summaries:
        for r in s.runs:
            splits += [k for k in _section(r, "reward_validity") if not k.startswith("_") and k not in splits]
    if not splits:
        return ""
    lines = [
        "| method | " + " | ".join(f"{split}: harmful / benign" for split in splits) + " |",
        "|---|" + "---:|" * len(splits),
    ]
    for s in summaries:
        cells = []
        for split in splits:
            pair = []
            for side in ("harmful", "benign"):
                values = [
                    v
                    for r in s.runs
                    if (
                        v := _number(_section(r, "reward_validity").get(split, {}).get(side, {}).get("value"))
                    )
                    is not None
                ]
                pair.append(f"{statistics.median(values):.2f}" if values else MISSING)
            cells.append(" / ".join(pair))
        lines.append(f"| {s.label} | " + " | ".join(cells) + " |")
    return (
        "Reward validity: AUC(refusal > compliance) on harmful prompts / AUC(helpful > refusal) on benign ones, "
        "the run's reward on blind-labelled SmolLM2 answers (median over runs; 0.5 is chance; `dev` informed "
        "the choice of the default reward):\n\n" + "\n".join(lines) + "\n"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="folders searched recursively for results.json")
    parser.add_argument("--out", default="reports", type=Path, help="output folder (default: reports/)")
    args = parser.parse_args(argv)
    try:
        runs = find_runs(args.paths)
    except ValueError as err:
        raise SystemExit(f"error: {err}") from err
    if not runs:
        raise SystemExit(f"error: no run directory (with results.json) found under: {', '.join(args.paths)}")
    summaries = aggregate(runs)
    for warning in duplicate_seeds(summaries):
        print(f"warning: {warning}", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    print(write_table(summaries, args.out))
    evidence, comparisons = comparison_markdown(summaries)
    evidence += "\n" + stage_seconds_markdown(summaries)
    validity = validity_markdown(summaries)
    evidence += "\n" + validity if validity else ""
    atomic_write_text(args.out / "comparison.md", evidence)
    atomic_write_text(args.out / "comparison.json", json.dumps(comparisons, indent=2) + "\n")
    print(evidence)
    written = ["results.csv", "results.md", "comparison.md", "comparison.json"]
    plots = [
        ("reward_curves.png", lambda p: plot_curves(summaries, "reward", "reward", p), _NO_LOG % "reward"),
        ("alpha_curves.png", lambda p: plot_curves(summaries, ALPHA_KEY, "α mean", p), _NO_LOG % ALPHA_KEY),
        (
            "alpha_moved_mass.png",
            lambda p: plot_curves(summaries, MOVED_KEY, "share of |Â| moved by α", p),
            _NO_LOG % MOVED_KEY,
        ),
        (
            "alpha_histogram.png",
            lambda p: plot_alpha_histogram(summaries, p),
            "no stages/policy/alpha_values.jsonl",
        ),
        ("refusal_vs_over_refusal.png", lambda p: plot_refusal_scatter(summaries, p), "no refusal rates"),
        ("per_category_refusal.png", lambda p: plot_per_category(summaries, p), "no per-category refusal"),
    ]
    for name, plot, why in plots:
        if plot(args.out / name):
            written.append(name)
        else:
            print(f"skipped {name}: {why}")
    print(f"{len(runs)} runs, {len(summaries)} methods → {args.out}/: {', '.join(written)}")


if __name__ == "__main__":
    main()
