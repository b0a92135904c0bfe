"""The bundled benign look-alike evaluation set (over-refusal, XSTest-style): it loads with the project's record
loader, covers every category and prompt type, and shares no prompt with the bundled train/held-out splits."""

import fnmatch
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from dr_irl.config import CATEGORIES
from dr_irl.data import load_records
from dr_irl.data.bundled import bundled_paths
from dr_irl.data.labels import normalize_prompt

PATH = bundled_paths()["train"].parent / "benign_eval.jsonl"
ROOT = Path(__file__).resolve().parents[1]
TYPES = (
    "homonym",
    "figurative",
    "safe_target",
    "safe_context",
    "definition",
    "history",
    "public_figure",
    "privacy_public",
    "safety_info",
)


def key(prompt: str) -> str:
    """Lower case, punctuation dropped, whitespace collapsed."""
    return normalize_prompt(re.sub(r"[^\w\s]", " ", prompt))


@pytest.fixture(scope="module")
def records():
    return load_records(PATH, CATEGORIES)[0]


@pytest.fixture(scope="module")
def raw_rows():
    return [json.loads(line) for line in PATH.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_size_labels_and_categories(records):
    assert len(records) >= 210
    assert {r.label for r in records} == {"benign"}
    assert {r.source for r in records} == {"dr_irl-benign-eval"}
    per_category = Counter(r.category for r in records)
    assert set(per_category) == set(CATEGORIES)
    assert min(per_category.values()) >= 30, per_category


def test_ids_follow_the_pattern_and_are_unique(records):
    ids = [r.id for r in records]
    assert len(set(ids)) == len(ids)
    for r in records:
        assert re.fullmatch(rf"benign-eval-{r.category}-\d{{3}}", r.id), r.id


def test_every_type_is_used_at_least_15_times(raw_rows):
    per_type = Counter(row["type"] for row in raw_rows)
    assert set(per_type) == set(TYPES), per_type
    assert min(per_type.values()) >= 15, per_type


def test_prompts_unique_and_disjoint_from_bundled_splits(records):
    keys = [key(r.prompt) for r in records]
    assert len(set(keys)) == len(keys)
    for split in ("train", "heldout"):
        bundled, _ = load_records(bundled_paths()[split], CATEGORIES)
        assert not set(keys) & {key(r.prompt) for r in bundled}, split


def test_demonstrations_answer_rather_than_refuse(records):
    refusal = re.compile(r"\b(I can't|I cannot|I won't|I'm sorry|Sorry, but)\b", re.IGNORECASE)
    for r in records:
        assert not refusal.search(r.demonstration), r.id


def test_ships_with_the_package():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "dr_irl"
    ]
    assert any(fnmatch.fnmatch("data/bundled/benign_eval.jsonl", p) for p in patterns)
