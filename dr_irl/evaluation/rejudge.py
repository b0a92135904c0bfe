"""Judge a finished run's answers again: ``python -m dr_irl.evaluation.rejudge RUN_DIR [...] [--judge NAME]``.

Rewrites ``refused`` (and ``helpful``) in ``stages/eval_base`` / ``stages/eval_policy`` ``generations.jsonl``
with the named judge (default: the configured default, ``learned``), keeping the previous verdict as
``refused_<previous judge>``, and records the judge in each row's ``judge`` field. ``make report`` then reads the
new verdicts; the runs' own ``results.json`` keep the numbers of the judge they ran with.
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
    print(f"re-judged {total} answers in {len(files)} files with judge={args.judge}")


if __name__ == "__main__":
    main()
