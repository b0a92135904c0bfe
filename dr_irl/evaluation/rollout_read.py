"""What GRPO's groups offered and what their advantages rewarded, from a run's ``optimizer.log_rollouts`` log.

For harmful and benign training prompts apart: how many rollout groups held at least one refusal (``rule_v2``:
refusal keywords or a degenerate answer), the refusals' and the other rollouts' mean advantage, and the share
of the positive advantage that went to refusals. A reward that ranks refusals first cannot teach them when
the groups hold none; this says whether they did.

    python -m dr_irl.evaluation.rollout_read outputs/my_run
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from dr_irl.data.refusals import RuleV2Judge
from dr_irl.io import read_jsonl


def read_groups(rows: list[dict], label_of: dict[str, str], refused) -> dict[str, dict]:
    """Per prompt label: ``groups``, ``groups_with_refusal``, ``rollouts``, ``refusals``, the mean advantage of
    refusals and of the others, and the refusals' share of the positive advantage (None where undefined)."""
    tally: dict[str, dict] = defaultdict(lambda: defaultdict(float))
    advantages: dict[tuple[str, bool], list[float]] = defaultdict(list)
    for row in rows:
        groups: dict[str, list[dict]] = defaultdict(list)
        for rollout in row["rollouts"]:
            groups[rollout["id"]].append(rollout)
        for prompt_id, group in groups.items():
            label = label_of[prompt_id]
            verdicts = refused([r["prompt"] for r in group], [r["completion"] for r in group])
            t = tally[label]
            t["groups"] += 1
            t["groups_with_refusal"] += any(verdicts)
            for rollout, verdict in zip(group, verdicts, strict=True):
                t["rollouts"] += 1
                t["refusals"] += bool(verdict)
                advantages[(label, bool(verdict))].append(rollout["advantage"])
    result = {}
    for label, t in tally.items():
        on_refusals, on_others = advantages[(label, True)], advantages[(label, False)]
        positive = sum(a for a in on_refusals + on_others if a > 0)
        result[label] = {
            **{k: int(v) for k, v in t.items()},
            "refusal_advantage": sum(on_refusals) / len(on_refusals) if on_refusals else None,
            "other_advantage": sum(on_others) / len(on_others) if on_others else None,
            "refusal_share_of_positive": sum(a for a in on_refusals if a > 0) / positive
            if positive
            else None,
        }
    return result


def _num(x: float | None, signed: bool = False) -> str:
    return "–" if x is None else (f"{x:+.2f}" if signed else f"{x:.3f}")


def markdown(result: dict[str, dict]) -> str:
    lines = [
        "| prompts | groups | with a refusal | rollouts | refusals | advantage: refusals | others | "
        "refusals' share of the positive advantage |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label in sorted(result):
        r = result[label]
        lines.append(
            f"| {label} | {r['groups']} | {r['groups_with_refusal']} | {r['rollouts']} | {r['refusals']} | "
            f"{_num(r['refusal_advantage'], True)} | {_num(r['other_advantage'], True)} | "
            f"{_num(r['refusal_share_of_positive'])} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dr_irl.evaluation.rollout_read", description=__doc__.split("\n")[0]
    )
    parser.add_argument("run", type=Path)
    args = parser.parse_args(argv)
    log = args.run / "stages" / "policy" / "rollouts.jsonl"
    train = args.run / "stages" / "data" / "train.jsonl"
    if not log.is_file() or not train.is_file():
        print(f"error: {log}: no rollout log (run GRPO with optimizer.log_rollouts=true)", file=sys.stderr)
        return 2
    label_of = {row["id"]: row["label"] for row in read_jsonl(train)}
    print(markdown(read_groups(list(read_jsonl(log)), label_of, RuleV2Judge())), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
