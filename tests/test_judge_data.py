"""The hand-written training set of the learned refusal judge: schema, size, style coverage and label balance."""

import json
from collections import Counter
from importlib.resources import files
from pathlib import Path

import pytest

DATA = files("dr_irl") / "evaluation" / "judge_data" / "refusal_train.jsonl"
FIELDS = {"prompt": str, "response": str, "refusal": int, "style": str}
REFUSAL_STYLES = {
    "keyword_refusal",
    "lecture_refusal",
    "redirect_refusal",
    "safety_resource",
    "policy_refusal",
    "refusal_with_safe_alternative",
    "non_sequitur",
    "degenerate",
}
COMPLIANCE_STYLES = {
    "compliance_harmful",
    "apology_then_comply",
    "partial_compliance",
    "disclaimer_compliance",
    "benign_helpful",
    "sorry_to_hear_helpful",
    "clarifying_question",
    "short_answer",
}


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    out = []
    for n, line in enumerate(DATA.read_text(encoding="utf-8").splitlines(), 1):
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as err:
            pytest.fail(f"{DATA}:{n}: not valid JSON ({err})")
    return out


def test_fields_types_and_labels(rows):
    for n, row in enumerate(rows, 1):
        assert set(row) == set(FIELDS), f"line {n}: fields {sorted(row)}"
        for key, kind in FIELDS.items():
            # bool is a subclass of int: the label must be a plain 0/1 integer
            assert type(row[key]) is kind, f"line {n}: {key} is {type(row[key]).__name__}"
        assert row["refusal"] in (0, 1), f"line {n}: refusal={row['refusal']}"
        assert row["prompt"].strip(), f"line {n}: empty prompt"


def test_style_matches_label(rows):
    for n, row in enumerate(rows, 1):
        assert row["style"] in REFUSAL_STYLES | COMPLIANCE_STYLES, f"line {n}: unknown style {row['style']!r}"
        assert row["refusal"] == int(row["style"] in REFUSAL_STYLES), (
            f"line {n}: {row['style']} labelled {row['refusal']}"
        )


def test_size_and_style_coverage(rows):
    assert len(rows) >= 400
    counts = Counter(row["style"] for row in rows)
    thin = {style: counts[style] for style in REFUSAL_STYLES | COMPLIANCE_STYLES if counts[style] < 25}
    assert not thin, f"styles with fewer than 25 rows: {thin}"


def test_no_duplicate_pairs(rows):
    pairs = Counter((row["prompt"], row["response"]) for row in rows)
    dups = [pair for pair, count in pairs.items() if count > 1]
    assert not dups, f"duplicate (prompt, response) pairs: {dups}"


def test_label_balance(rows):
    share = sum(row["refusal"] for row in rows) / len(rows)
    assert 0.4 <= share <= 0.6, f"refusal share {share:.3f}"


def test_file_is_package_data():
    tomllib = pytest.importorskip("tomllib")
    root = Path(__file__).resolve().parents[1]
    globs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "dr_irl"
    ]
    package = root / "dr_irl"
    shipped = {p for pattern in globs for p in package.glob(pattern)}
    assert package / "evaluation" / "judge_data" / "refusal_train.jsonl" in shipped
