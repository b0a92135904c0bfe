"""Methods compared on the same prompts and seeds: rates with intervals, paired tests, significance.

A run's per-prompt verdicts are in ``stages/eval_policy/generations.jsonl`` (after training) and
``stages/eval_base/generations.jsonl`` (the initial policy, shared by every method: the ``base`` row).
For each method the outcome of prompt p under seed s is one unit; a method's rate is the mean over its
units with a bootstrap interval that resamples *prompts* (each prompt's seeds stay together). Two methods
are compared on the units they share (same prompt, same seed; a seed-less base, seed −1, is repeated for
every seed): the difference with its cluster-bootstrap interval, an exact p-value — McNemar when each
prompt is one unit, the prompt-clustered sign-flip test when a prompt appears under several seeds
(:func:`~dr_irl.evaluation.statistics.compare_paired`) — and Holm's correction over all the comparisons
of a table (``significant`` uses the corrected p-value). Interval and test resample prompts with the seeds
held fixed, so each comparison also carries the difference within every seed (``per_seed``): with a few
seeds of RL, training randomness can exceed the method's effect, and the prompt-level p-value does not see it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dr_irl.evaluation.statistics import compare_paired, paired_bootstrap, wilson_interval

OUTCOMES = {  # metric → (label of the prompts it is measured on, field of generations.jsonl)
    "refusal": ("harmful", "refused"),
    "over_refusal": ("benign", "refused"),
    "helpful": ("benign", "helpful"),
    "incoherent": ("harmful", "incoherent"),
}


CAPABILITY = "capability:"  # metric prefix of a capability set's per-item accuracy


@dataclass
class MethodOutcomes:
    """Per-unit outcomes of one method: ``values[metric][(prompt id, seed)] = bool`` (the seed an int, or a
    replicate name such as ``s0-p1``)."""

    label: str
    values: dict[str, dict[tuple[str, int | str], bool]] = field(default_factory=dict)

    def add(self, rows: Iterable[dict], seed: int | str, main_set: str = "heldout") -> None:
        for row in rows:
            if row.get("set", main_set) != main_set:
                continue
            for metric, (label, key) in OUTCOMES.items():
                if row.get("label") == label and row.get(key) is not None:
                    self.values.setdefault(metric, {})[(str(row["id"]), seed)] = bool(row[key])

    def add_capability(self, rows: Iterable[dict], seed: int | str) -> None:
        """Capability items (``capability.jsonl`` rows ``{set, index, correct}``) as ``capability:<set>``."""
        for row in rows:
            units = self.values.setdefault(f"{CAPABILITY}{row['set']}", {})
            units[(f"{row['set']}#{row['index']}", seed)] = bool(row["correct"])

    @property
    def capability_sets(self) -> list[str]:
        return sorted(m.removeprefix(CAPABILITY) for m in self.values if m.startswith(CAPABILITY))

    @property
    def seeds(self) -> list[int | str]:
        return sorted({s for units in self.values.values() for _, s in units})


def read_generations(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def rate_with_interval(units: dict[tuple[str, int | str], bool], seed: int = 0) -> dict:
    """Mean outcome with a 95% bootstrap interval that resamples prompts (clusters of their seeds).

    When every unit has the same outcome the bootstrap collapses to a zero-width interval; the Wilson
    interval of the prompts (each prompt one observation) is given instead, e.g. [0, 0.16] for 0 of 20.
    """
    if not units:
        return {"value": None, "low": None, "high": None, "n": 0}
    keys = sorted(units)
    values = [float(units[k]) for k in keys]
    if len(set(values)) == 1:
        prompts = len({k[0] for k in keys})
        r = wilson_interval(prompts if values[0] else 0, prompts)
        return {"value": values[0], "low": r.low, "high": r.high, "n": len(values)}
    boot = paired_bootstrap(values, [0.0] * len(values), clusters=[k[0] for k in keys], seed=seed)
    return {"value": boot["diff"], "low": boot["low"], "high": boot["high"], "n": len(values)}


def compare(a: MethodOutcomes, b: MethodOutcomes, metric: str, seed: int = 0) -> dict | None:
    """``a`` − ``b`` on their shared units of ``metric``; ``b`` may be the seed-less base (seed −1), whose
    outcome then pairs with every seed of ``a``."""
    av, bv = a.values.get(metric, {}), b.values.get(metric, {})
    if not av or not bv:
        return None
    base_like = {s for _, s in bv} == {-1}
    keys = sorted(k for k in av if ((k[0], -1) if base_like else k) in bv)
    if not keys:
        return None
    xs = [av[k] for k in keys]
    ys = [bv[(k[0], -1) if base_like else k] for k in keys]
    return {
        "metric": metric,
        "a": a.label,
        "b": b.label,
        **compare_paired(xs, ys, [k[0] for k in keys], seed),
        "per_seed": per_seed_differences(keys, xs, ys),
    }


def per_seed_differences(
    keys: list[tuple[str, int | str]], xs: list[bool], ys: list[bool]
) -> dict[int | str, float]:
    """``a`` − ``b`` within each seed: the seed-to-seed spread that the prompt-level test holds fixed."""
    diffs: dict[int | str, list[float]] = {}
    for (_, s), x, y in zip(keys, xs, ys, strict=True):
        diffs.setdefault(s, []).append(float(x) - float(y))
    return {s: float(np.mean(d)) for s, d in sorted(diffs.items())}


def holm(comparisons: list[dict], alpha: float = 0.05) -> list[dict]:
    """Holm-adjusted p-values (statsmodels ``multipletests``) as ``p_holm``; ``significant`` uses them."""
    if not comparisons:
        return comparisons
    from statsmodels.stats.multitest import multipletests

    reject, adjusted, _, _ = multipletests([c["p_value"] for c in comparisons], alpha=alpha, method="holm")
    for c, r, p in zip(comparisons, reject, adjusted, strict=True):
        c["p_holm"] = float(p)
        c["significant"] = bool(r)
    return comparisons


def fmt_interval(r: dict) -> str:
    if r.get("value") is None:
        return "—"
    return f"{r['value']:.3f} [{r['low']:.3f}, {r['high']:.3f}]"


def fmt_difference(c: dict | None) -> str:
    if c is None:
        return "—"
    star = " *" if c.get("significant") else ""
    text = f"{c['diff']:+.3f} [{c['low']:+.3f}, {c['high']:+.3f}] p={c.get('p_holm', c['p_value']):.3g}{star}"
    per_seed = list(c.get("per_seed", {}).values())
    # the seeds' own differences: a sign that flips between seeds is not a method effect
    if len(per_seed) > 1:
        text += " (seeds " + ", ".join(f"{d:+.2f}" for d in per_seed) + ")"
    return text


def units_summary(outcomes: MethodOutcomes) -> dict[str, dict]:
    return {metric: rate_with_interval(outcomes.values.get(metric, {})) for metric in OUTCOMES}


def mean_or_none(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None
