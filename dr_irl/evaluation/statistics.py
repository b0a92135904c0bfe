"""Intervals and paired tests for the evaluation's rates (statsmodels / scipy, not hand-rolled).

- :func:`wilson_interval`: 95% Wilson score interval of a proportion.
- :func:`mcnemar_test`: exact McNemar test of two paired binary outcomes on the same prompts.
- :func:`cluster_sign_flip_test`: its generalisation to clustered pairs (the same prompt under several seeds):
  the exact randomisation test of the per-cluster sums of differences; equal to exact McNemar when every
  cluster holds one pair.
- :func:`paired_bootstrap`: the difference of two paired rates with a percentile bootstrap interval; units
  can be clustered (e.g. the same prompt under several seeds resampled together).
- :func:`compare_paired`: the difference, its interval and the matching exact test, the summary a report row
  needs.
- :func:`agreement`: accuracy, precision, recall, F1 and Cohen's κ of a judge against human labels, each
  with a 95% interval (Wilson for the proportions, statsmodels' asymptotic interval for κ, bootstrap for F1).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Rate:
    """A proportion with its 95% Wilson interval."""

    value: float | None
    low: float | None
    high: float | None
    k: int
    n: int

    def as_dict(self) -> dict:
        return asdict(self)


def wilson_interval(k: int, n: int, alpha: float = 0.05) -> Rate:
    """``k`` successes of ``n`` with the Wilson score interval (``None`` everywhere when ``n == 0``)."""
    if n == 0:
        return Rate(None, None, None, 0, 0)
    if not 0 <= k <= n:
        raise ValueError(f"wilson_interval: need 0 <= k <= n, got k={k}, n={n}")
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(k, n, alpha=alpha, method="wilson")
    return Rate(k / n, float(low), float(high), int(k), int(n))


def rate(outcomes: Sequence[bool]) -> Rate:
    """The rate of True in ``outcomes`` with its Wilson interval."""
    return wilson_interval(int(sum(bool(x) for x in outcomes)), len(outcomes))


def mcnemar_test(a: Sequence[bool], b: Sequence[bool]) -> dict:
    """Exact McNemar test (binomial on the discordant pairs) of paired outcomes ``a`` and ``b``.

    Returns the discordant counts (``a_only``: a True, b False; ``b_only``) and the two-sided p-value
    (1.0 when there is no discordant pair).
    """
    if len(a) != len(b):
        raise ValueError(f"mcnemar_test: {len(a)} vs {len(b)} paired outcomes")
    from statsmodels.stats.contingency_tables import mcnemar

    a_arr, b_arr = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    table = [
        [int(np.sum(a_arr & b_arr)), int(np.sum(a_arr & ~b_arr))],
        [int(np.sum(~a_arr & b_arr)), int(np.sum(~a_arr & ~b_arr))],
    ]
    a_only, b_only = table[0][1], table[1][0]
    p = 1.0 if a_only + b_only == 0 else float(mcnemar(table, exact=True).pvalue)
    return {"a_only": a_only, "b_only": b_only, "p_value": p}


def paired_bootstrap(
    a: Sequence[float],
    b: Sequence[float],
    clusters: Sequence[Hashable] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict:
    """Difference mean(a) − mean(b) of paired values with a percentile bootstrap interval.

    ``clusters`` (one key per pair, e.g. the prompt id when each prompt appears once per seed) makes the
    bootstrap resample whole clusters, so repeated measurements of a prompt are not counted as independent.
    The two-sided p-value is the bootstrap's: 2 · min(P(diff* ≤ 0), P(diff* ≥ 0)), capped at 1.
    """
    a_arr, b_arr = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a_arr.shape != b_arr.shape:
        raise ValueError(f"paired_bootstrap: {a_arr.shape} vs {b_arr.shape} paired values")
    if a_arr.size == 0:
        return {"diff": None, "low": None, "high": None, "p_value": None, "n": 0}
    diff = a_arr - b_arr
    keys = list(range(diff.size)) if clusters is None else list(clusters)
    index: dict[Hashable, list[int]] = {}
    for i, key in enumerate(keys):
        index.setdefault(key, []).append(i)
    sums = np.array([diff[rows].sum() for rows in index.values()])
    sizes = np.array([len(rows) for rows in index.values()], dtype=float)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(sums), size=(n_boot, len(sums)))
    boot = sums[draws].sum(axis=1) / sizes[draws].sum(axis=1)
    low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    p = min(1.0, 2 * min(float(np.mean(boot <= 0)), float(np.mean(boot >= 0))))
    return {
        "diff": float(diff.mean()),
        "low": float(low),
        "high": float(high),
        "p_value": p,
        "n": int(diff.size),
    }


def cluster_sign_flip_test(a: Sequence[bool], b: Sequence[bool], clusters: Sequence[Hashable]) -> float:
    """Exact two-sided p-value of paired binary outcomes whose pairs come in clusters (e.g. one prompt under
    several seeds, whose outcomes are not independent).

    The statistic is T = Σ_k d_k with d_k = Σ_{i in cluster k} (a_i − b_i); under the null hypothesis that
    the two methods are exchangeable within each cluster every d_k is as likely as −d_k, and the p-value is
    P(|T*| ≥ |T|) over the 2^K sign flips, computed exactly (a convolution over the integer d_k). With one
    pair per cluster it is the exact McNemar test (binomial on the discordant pairs); 1.0 when every d_k = 0.
    """
    if not len(a) == len(b) == len(clusters):
        raise ValueError(f"cluster_sign_flip_test: {len(a)} vs {len(b)} outcomes, {len(clusters)} clusters")
    sums: dict[Hashable, int] = {}
    for x, y, key in zip(a, b, clusters, strict=True):
        sums[key] = sums.get(key, 0) + int(bool(x)) - int(bool(y))
    d = np.array([abs(v) for v in sums.values() if v], dtype=int)
    if d.size == 0:
        return 1.0
    total = int(d.sum())
    dist = np.zeros(2 * total + 1)  # dist[total + t] = P(T* = t); the support never reaches the ends
    dist[total] = 1.0
    for x in d:
        dist = 0.5 * (np.roll(dist, x) + np.roll(dist, -x))
    observed = abs(sum(sums.values()))
    t = np.arange(-total, total + 1)
    return float(min(1.0, dist[np.abs(t) >= observed].sum()))


def compare_paired(
    a: Sequence[bool],
    b: Sequence[bool],
    clusters: Sequence[Hashable] | None = None,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict:
    """Paired comparison of two binary outcomes: the rate difference with its bootstrap interval and an exact
    p-value, ``significant`` when it is below ``alpha``.

    Without ``clusters`` (or with one pair per cluster) the test is exact McNemar; when a cluster holds several
    pairs (a prompt under several seeds) it is :func:`cluster_sign_flip_test`, since McNemar would count the
    correlated repeats of a prompt as independent evidence. ``test`` names the one used.
    """
    boot = paired_bootstrap([float(x) for x in a], [float(x) for x in b], clusters, seed=seed, alpha=alpha)
    test = mcnemar_test(a, b)
    clustered = clusters is not None and len(set(clusters)) < len(clusters)
    p = cluster_sign_flip_test(a, b, clusters) if clustered else test["p_value"]
    return {
        **boot,
        "p_value": p,
        "test": "cluster_sign_flip" if clustered else "mcnemar_exact",
        "bootstrap_p": boot["p_value"],
        **_discordant(test),
        "significant": p < alpha,
    }


def _discordant(test: dict) -> dict:
    return {"a_only": test["a_only"], "b_only": test["b_only"]}


def agreement(predicted: Sequence[bool], human: Sequence[bool], seed: int = 0) -> dict:
    """Agreement of binary predictions with human labels (True = refusal), with 95% intervals.

    n, accuracy, precision, recall (Wilson intervals), F1 (percentile bootstrap), Cohen's κ (statsmodels'
    ``cohens_kappa``, asymptotic interval clipped to [−1, 1]).
    """
    if len(predicted) != len(human):
        raise ValueError(f"agreement: {len(predicted)} predictions vs {len(human)} labels")
    from statsmodels.stats.inter_rater import cohens_kappa

    p, h = np.asarray(predicted, dtype=bool), np.asarray(human, dtype=bool)
    tp, fp = int(np.sum(p & h)), int(np.sum(p & ~h))
    fn, tn = int(np.sum(~p & h)), int(np.sum(~p & ~h))
    out = {
        "n": int(p.size),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "accuracy": wilson_interval(tp + tn, p.size).as_dict(),
        "precision": wilson_interval(tp, tp + fp).as_dict(),
        "recall": wilson_interval(tp, tp + fn).as_dict(),
        "f1": _f1_with_interval(p, h, seed),
    }
    table = np.array([[tp, fn], [fp, tn]], dtype=float)
    if p.size and (table.sum(axis=0) > 0).all() and (table.sum(axis=1) > 0).all():
        kappa = cohens_kappa(table)
        out["kappa"] = {  # the asymptotic interval can pass ±1, where κ cannot go
            "value": float(kappa.kappa),
            "low": max(-1.0, float(kappa.kappa_low)),
            "high": min(1.0, float(kappa.kappa_upp)),
        }
    else:
        out["kappa"] = {"value": None, "low": None, "high": None}
    return out


def _f1(p: np.ndarray, h: np.ndarray) -> float:
    tp = np.sum(p & h)
    denom = 2 * tp + np.sum(p & ~h) + np.sum(~p & h)
    return float(2 * tp / denom) if denom else 0.0


def _f1_with_interval(p: np.ndarray, h: np.ndarray, seed: int, n_boot: int = 2000) -> dict:
    if p.size == 0:
        return {"value": None, "low": None, "high": None}
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, p.size, size=(n_boot, p.size))
    boot = [_f1(p[d], h[d]) for d in draws]
    low, high = np.quantile(boot, [0.025, 0.975])
    return {"value": _f1(p, h), "low": float(low), "high": float(high)}


def auc_with_interval(positive: Sequence[float], negative: Sequence[float], alpha: float = 0.05) -> dict:
    """P(score of a positive > score of a negative) (ties count ½: the Mann–Whitney AUC) with DeLong's
    variance and a normal (1 − ``alpha``) interval clipped to [0, 1]; ``None`` where a side is empty (and no
    interval with fewer than two items on a side)."""
    from scipy.stats import norm

    pos, neg = np.asarray(positive, dtype=float), np.asarray(negative, dtype=float)
    out = {"value": None, "low": None, "high": None, "n_pos": len(pos), "n_neg": len(neg)}
    if len(pos) == 0 or len(neg) == 0:
        return out
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    auc = float(psi.mean())
    out["value"] = auc
    if len(pos) >= 2 and len(neg) >= 2:
        variance = psi.mean(axis=1).var(ddof=1) / len(pos) + psi.mean(axis=0).var(ddof=1) / len(neg)
        half = float(norm.ppf(1 - alpha / 2) * np.sqrt(variance))
        out["low"], out["high"] = max(0.0, auc - half), min(1.0, auc + half)
    return out
