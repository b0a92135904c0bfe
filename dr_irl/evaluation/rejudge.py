"""Judge a finished run's answers again: ``python -m dr_irl.evaluation.rejudge RUN_DIR [...] [--judge NAME]``.

Rewrites ``refused`` (and ``helpful``) in ``stages/eval_base`` / ``stages/eval_policy`` ``generations.jsonl``
with the named judge (default: the configured default, ``rule_v2``), keeping the previous verdict as
``refused_<previous judge>``, and records the judge in each row's ``judge`` field. The run's ``results.json``
follows: its before/after refusal, over-refusal and helpful rates (with intervals), per-category refusal and
before/after paired tests are recomputed from the new verdicts and ``judge`` names the judge, so ``make report``
and the run's own numbers agree.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path

from omegaconf import OmegaConf

from dr_irl.config import EvalConfig
from dr_irl.evaluation.judges import JUDGES
from dr_irl.evaluation.metrics import is_degenerate
from dr_irl.io import atomic_write_text

STAGES = ("eval_base", "eval_policy")


def rejudge_file(path: Path, judge, name: str, relevance_threshold: float) -> int:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not rows:
        return 0
    verdicts = judge([r["prompt"] for r in rows], [r["response"] for r in rows], [r["label"] for r in rows])
    for row, refused in zip(rows, verdicts, strict=True):
        previous = row.get("judge", "previous")
        if previous != name:
            row[f"refused_{previous}"] = row.get("refused")
        row["refused"] = bool(refused)
        row["judge"] = name
        if row["label"] == "benign":
            incoherent = row.get("incoherent")
            if incoherent is None:  # a missing relevance counts as on-topic; a relevance of 0.0 does not
                relevance = row.get("relevance")
                incoherent = is_degenerate(row["response"]) or (
                    relevance is not None and relevance < relevance_threshold
                )
            row["helpful"] = not refused and not incoherent
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return len(rows)


def refresh_results(run_dir: Path, name: str) -> bool:
    """Recompute ``run_dir/results.json``'s judge-dependent numbers from its re-judged answers; False when the
    run has no ``results.json`` or no evaluation stage."""
    from dr_irl.evaluation.comparison import read_generations
    from dr_irl.evaluation.metrics import refusal_metrics
    from dr_irl.evaluation.report import before_after_tests
    from dr_irl.evaluation.statistics import rate
    from dr_irl.io import atomic_write_json

    path = run_dir / "results.json"
    if not path.is_file():
        return False
    results = json.loads(path.read_text(encoding="utf-8"))
    for key, stage in (("before", "eval_base"), ("after", "eval_policy")):
        file = run_dir / "stages" / stage / "generations.jsonl"
        if not file.is_file() or not isinstance(results.get(key), dict):
            continue
        # benchmark sets keep their own rows
        rows = [r for r in read_generations(file) if r.get("set", "heldout") == "heldout"]
        fresh = refusal_metrics(
            [r["label"] for r in rows],
            [r.get("category", "") for r in rows],
            [bool(r.get("refused")) for r in rows],
        )
        helpful = rate([bool(r.get("helpful")) for r in rows if r["label"] == "benign"])
        fresh |= {"helpful_rate": helpful.value, "helpful_rate_ci": [helpful.low, helpful.high]}
        summary = results[key]
        for metric, n in (
            ("refusal_rate", fresh["n_harmful"]),
            ("over_refusal_rate", fresh["n_benign"]),
            ("helpful_rate", fresh["n_benign"]),
        ):
            if n and metric in summary:
                summary[metric], summary[f"{metric}_ci"] = fresh[metric], fresh[f"{metric}_ci"]
        if "per_category_refusal" in summary:
            summary["per_category_refusal"] = fresh["per_category_refusal"]
        summary["judge"] = name
    if isinstance(results.get("paired_tests"), dict):
        results["paired_tests"].update(before_after_tests(run_dir))
    results["judge"] = name
    atomic_write_json(path, results)
    return True


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "runs", nargs="+", type=Path, help="run folders (searched for stages/eval_*/generations.jsonl)"
    )
    parser.add_argument("--judge", default=EvalConfig.judge, help=f"judge name ({', '.join(JUDGES.names())})")
    args = parser.parse_args(argv)
    cache = os.environ.get("DR_IRL_CACHE", str(Path.home() / ".cache" / "dr_irl"))
    cfg = OmegaConf.structured(EvalConfig(judge=args.judge, judge_cache_dir=cache))
    judge = JUDGES.get(args.judge)(cfg)
    files = sorted(
        {p for root in args.runs for stage in STAGES for p in root.rglob(f"stages/{stage}/generations.jsonl")}
    )
    if not files:
        raise SystemExit(f"error: no stages/eval_*/generations.jsonl under {', '.join(map(str, args.runs))}")
    total = sum(rejudge_file(path, judge, args.judge, cfg.relevance_threshold) for path in files)
    run_dirs = sorted({path.parents[2] for path in files})
    refreshed = sum(refresh_results(run_dir, args.judge) for run_dir in run_dirs)
    print(
        f"re-judged {total} answers in {len(files)} files with judge={args.judge}; "
        f"results.json recomputed in {refreshed} of {len(run_dirs)} runs"
    )


if __name__ == "__main__":
    main()
