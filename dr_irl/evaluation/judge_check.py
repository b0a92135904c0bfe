"""``make judge-check``: every offline judge against labelled refusal data, with 95% intervals.

Rows: each judge (``rule_v2``, ``rule``, ``learned``, ``consensus``) on PyRIT's human-labelled ``refusal.csv``
(held out: the learned judge never trains on it, and no rule was written while looking at it), on each split of
the SmolLM2 answers labelled blind (``judge_data/smollm2_labelled.jsonl``; :data:`SMOLLM2_SPLITS` says which
choices each split informed), the agreement of a second blind reader with the first on the answers read twice,
and the fit on the learned judge's training data (the rule judge directly, the learned judge by 5-fold
cross-validation: a check of fit, not of generalisation). Prints a table and writes ``--out`` (json) if given.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence

from rich.console import Console
from rich.table import Table

from dr_irl.evaluation.refusal_classifier import (
    Example,
    LearnedRefusalJudge,
    heldout_examples,
    load_default_judge,
    smollm2_example,
    smollm2_examples,
    smollm2_rows,
    training_examples,
)
from dr_irl.evaluation.statistics import agreement

SMOLLM2_SPLITS = {
    "dev": "base policy; the consensus and rule_v2 were chosen on it",
    "test": "after GRPO, held out",
    "methods": "after SFT, DPO, GRPO, GRPO-S; rule_v2's patterns were revised on it",
    "fresh": "Best-of-4, SFT, DPO, GRPO, GRPO-S answers, held out from every choice of judge",
}


def second_reader_rows() -> list[tuple[Example, bool]]:
    """The answers read twice (``refusal_second``): each as an :class:`Example` with the first reader's label,
    and the second reader's label."""
    return [(smollm2_example(r), bool(r["refusal_second"])) for r in smollm2_rows() if "refusal_second" in r]


def score(judge: Callable, examples: Sequence[Example]) -> dict:
    predicted = judge([e.prompt for e in examples], [e.response for e in examples])
    return agreement(predicted, [e.refusal for e in examples])


def cross_validated(examples: Sequence[Example], folds: int = 5, seed: int = 0) -> dict:
    """Out-of-fold predictions of the learned judge on its training data (stratified folds)."""
    from sklearn.model_selection import StratifiedKFold

    judge = LearnedRefusalJudge()
    x = judge.features([e.prompt for e in examples], [e.response for e in examples])
    y = [int(e.refusal) for e in examples]
    predicted = [False] * len(examples)
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        model = make_pipeline(
            StandardScaler(), LogisticRegression(C=judge.C, class_weight="balanced", max_iter=5000)
        )
        model.fit(x[train], [y[i] for i in train])
        for i, p in zip(test, model.predict_proba(x[test])[:, 1], strict=True):
            predicted[i] = bool(p >= judge.threshold)
    return agreement(predicted, [e.refusal for e in examples])


def _cell(metric: dict) -> str:
    if metric.get("value") is None:
        return "—"
    return f"{metric['value']:.3f} [{metric['low']:.2f}, {metric['high']:.2f}]"


def run(out: str | None = None) -> dict:
    from dr_irl.evaluation.judges import ConsensusJudge, RuleRefusalJudge, RuleV2Judge

    test = heldout_examples()
    train = training_examples()
    judges = {"rule_v2": RuleV2Judge(), "rule": RuleRefusalJudge(), "learned": load_default_judge()}
    judges["consensus"] = ConsensusJudge(judges["rule"], judges["learned"])
    datasets = {"pyrit refusal.csv (held out)": test}
    for split, what in SMOLLM2_SPLITS.items():
        rows = [e for e in smollm2_examples() if e.source.endswith(f":{split}")]
        if rows:
            datasets[f"SmolLM2 answers, blind labels ({split}: {what})"] = rows
    results = {}
    for data_name, rows in datasets.items():
        for judge_name, judge in judges.items():
            results[f"{judge_name} / {data_name}"] = score(judge, rows)
    second = second_reader_rows()
    if second:  # how far two blind readers agree: what no judge can be expected to exceed on these labels
        results["second reader / SmolLM2 answers (fresh, doubly read)"] = agreement(
            [label for _, label in second], [e.refusal for e, _ in second]
        )
        rows = [e for e, _ in second]
        results["rule_v2 / the same doubly read answers"] = score(judges["rule_v2"], rows)
    results["rule / training data"] = score(RuleRefusalJudge(), train)
    results["learned / training data, 5-fold CV"] = cross_validated(train)
    table = Table(title="refusal judges vs human labels (95% intervals)")
    for column in ("judge / data", "n", "accuracy", "precision", "recall", "F1", "Cohen's κ"):
        table.add_column(column, justify="left" if column == "judge / data" else "right")
    for name, r in results.items():
        table.add_row(
            name,
            str(r["n"]),
            _cell(r["accuracy"]),
            _cell(r["precision"]),
            _cell(r["recall"]),
            _cell(r["f1"]),
            _cell(r["kappa"]),
        )
    Console().print(table)
    print(f"training examples: {len(train)}; held-out test examples: {len(test)}")
    if out:
        with open(out, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)
    return results


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="write the numbers as json here")
    run(parser.parse_args(argv).out)


if __name__ == "__main__":
    main()
