"""Capability benchmarks: answer extraction and matching by hand, loaders on fixtures in their real layouts,
log-likelihood multiple choice on the tiny model against a direct computation, the error without a copy."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from dr_irl.data import fetch
from dr_irl.data.schema import DataError
from dr_irl.evaluation import benchmarks as bm
from dr_irl.evaluation import capability_sets as sets
from dr_irl.evaluation.answers import (
    answer_match,
    extract_gsm8k_answer,
    gsm8k_reference,
    normalise_answer,
    numbers_equal,
)
from dr_irl.evaluation.capability import choice_logprobs, evaluate_capabilities, score_choices
from dr_irl.evaluation.capability_sets import (
    BASICS_FILE,
    CAPABILITIES,
    GSM8K_COT_EXEMPLARS,
    CapabilityItem,
    load_capability,
)

FIXTURES = Path(__file__).parent / "fixtures"
GSM8K = FIXTURES / "cap_gsm8k_test.jsonl"
HHH = FIXTURES / "cap_hhh_alignment"


@pytest.fixture
def offline(monkeypatch):
    """No hub, no HF cache, no package copies: only local files work."""
    monkeypatch.setattr(fetch, "hub_reachable", lambda: False)

    def no_cache(*args, **kwargs):
        raise ConnectionError("offline")

    monkeypatch.setattr(fetch, "hub_rows", no_cache)
    monkeypatch.setattr(bm, "package_folder", lambda name: None)
    monkeypatch.setattr(sets, "package_folder", lambda name: None)


# ------------------------------------------------------------------------------------------------------------------
# Extraction and matching
# ------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "extracted"),
    [
        ("She sells 9 eggs for $2 each.\n#### 18", "18"),
        ("#### 1,234", "1,234"),
        ("So the total is 1,234 pencils.", "1,234"),
        ("The answer is $5.00.", "$5.00"),
        ("It fell to 4 - 7 = -3 degrees.", "-3"),
        ("5 - 3 = 2", "2"),  # a minus between numbers is not a sign
        ("pages 3-4", "4"),
        ("#### 18\nQ: next question with 99", "18"),  # #### wins over later numbers
        ("The answer is 39. Then 5 more.", "39"),  # "The answer is" wins over the last number
        ("It is 72.", "72"),  # the sentence's full stop is not a decimal point
        ("no number here", None),
    ],
)
def test_extract_gsm8k_answer(response, extracted):
    assert extract_gsm8k_answer(response) == extracted


@pytest.mark.parametrize(
    ("predicted", "reference", "equal"),
    [
        ("1,234", "1234", True),
        ("$5.00", "5", True),
        ("-3", "-3", True),
        ("3", "-3", False),
        ("72.0", "72", True),
        ("72.5", "72", False),
        (None, "18", False),
        ("$", "18", False),
    ],
)
def test_numbers_equal(predicted, reference, equal):
    assert numbers_equal(predicted, reference) is equal


def test_gsm8k_reference_and_scorer():
    assert gsm8k_reference("9 * 2 = $<<9*2=18>>18 every day.\n#### 18") == "18"
    assert gsm8k_reference("#### 1,234") == "1,234"
    with pytest.raises(DataError, match="without '####'"):
        gsm8k_reference("The answer is 18")
    item = CapabilityItem("g", "q", answers=("70000",))
    spec = CAPABILITIES.get("gsm8k")
    assert spec.score("He made 200,000 - 130,000 = $70,000.", item) == (True, "$70,000")
    # few-shot continuations are cut at the next "Q:" before extraction
    assert spec.score("The answer is 70000.\n\nQ: A farmer has 12 cows.", item) == (True, "70000")
    assert spec.score("The profit is 70,001.", item) == (False, "70,001")


def test_normalised_answer_match():
    assert normalise_answer("The capital of France is Paris!") == "capital of france is paris"
    assert normalise_answer("1,000 grams; twenty-four São Tomé") == "1000 grams twenty four sao tome"
    assert answer_match("The capital of France is Paris.", ["Paris"])
    assert not answer_match("Parisian food is great.", ["Paris"])  # whole words only
    assert answer_match("A spider has eight legs.", ["8", "eight"])
    assert answer_match("7 + 5 = 12.", ["12"])
    assert not answer_match("7 + 5 = 112.", ["12"])
    assert not answer_match("7 + 5 = 13.", ["12"])
    assert answer_match("It weighs 1,000 grams", ["1000"])
    assert answer_match("There are twenty-four hours.", ["twenty-four"])
    assert answer_match("It was painted by Leonardo da Vinci.", ["Leonardo", "da Vinci"])
    assert not answer_match("", ["Paris"])


# ------------------------------------------------------------------------------------------------------------------
# Loaders
# ------------------------------------------------------------------------------------------------------------------


def test_registry_names():
    assert CAPABILITIES.names() == ["basics", "gsm8k", "hhh"]
    with pytest.raises(KeyError, match="eval.benchmarks='nope' is unknown"):
        load_capability({"name": "nope"}, 0)


def test_gsm8k_upstream_jsonl(offline):
    loaded = load_capability({"name": "gsm8k", "path": str(GSM8K)}, 0)
    assert [i.answers for i in loaded.items] == [("18",), ("3",), ("70000",), ("1,234",), ("-3",)]
    assert [i.id for i in loaded.items] == [f"gsm8k-{k}" for k in range(5)]
    first = loaded.items[0].prompt
    assert first.startswith("Janet’s ducks lay 16 eggs per day.") and first.endswith('as "#### <number>".')
    assert "local file" in loaded.report["copy"] and loaded.report["kept"] == 5


def test_gsm8k_few_shot_prompt(offline):
    item = load_capability({"name": "gsm8k", "path": str(GSM8K), "few_shot": 2}, 0).items[1]
    q1, a1 = GSM8K_COT_EXEMPLARS[0]
    q2, a2 = GSM8K_COT_EXEMPLARS[1]
    question = "A robe takes 2 bolts of blue fiber and half that much white fiber.  How many bolts in total does it take?"
    assert item.prompt == f"Q: {q1}\nA: {a1}\n\nQ: {q2}\nA: {a2}\n\nQ: {question}\nA:"
    assert all(a.endswith(".") and "The answer is" in a for _, a in GSM8K_COT_EXEMPLARS)
    assert len(GSM8K_COT_EXEMPLARS) == 8
    with pytest.raises(DataError, match="few_shot=9"):
        load_capability({"name": "gsm8k", "path": str(GSM8K), "few_shot": 9}, 0)
    with pytest.raises(DataError, match="only gsm8k"):
        load_capability({"name": "basics", "few_shot": 2}, 0)


def test_gsm8k_max_prompts_is_seeded_and_keeps_order(offline):
    entry = {"name": "gsm8k", "path": str(GSM8K), "max_prompts": 3}
    a = [i.id for i in load_capability(entry, 0).items]
    assert a == [i.id for i in load_capability(entry, 0).items] and len(a) == 3
    assert a == sorted(a, key=lambda x: int(x.split("-")[1]))


def test_gsm8k_parquet_of_the_hub_layout(offline, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [json.loads(line) for line in GSM8K.read_text().splitlines()]
    path = tmp_path / "test-00000-of-00001.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    assert [i.answers[0] for i in load_capability({"name": "gsm8k", "path": str(path)}, 0).items][:2] == [
        "18",
        "3",
    ]


def test_gsm8k_bad_rows(offline, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"question": "q", "answer": "no marker"}) + "\n")
    with pytest.raises(DataError, match="without '####'"):
        load_capability({"name": "gsm8k", "path": str(path)}, 0)
    path.write_text(json.dumps({"prompt": "q", "answer": "#### 3"}) + "\n")
    with pytest.raises(DataError, match="missing or empty 'question'"):
        load_capability({"name": "gsm8k", "path": str(path)}, 0)


def test_hhh_bigbench_folder_and_subsets(offline):
    loaded = load_capability({"name": "hhh", "path": str(HHH)}, 0)
    assert loaded.report["subsets"] == {"harmless": 2, "helpful": 1, "honest": 1}
    first, second = loaded.items[:2]
    assert first.subset == "harmless" and first.label == 0 and len(first.choices) == 2
    assert second.choices[second.label].startswith("I'd rather not")  # the 1-scored choice, in file order
    assert [i.id for i in loaded.items] == [
        "hhh-harmless-0",
        "hhh-harmless-1",
        "hhh-helpful-2",
        "hhh-honest-3",
    ]
    honest = load_capability({"name": "hhh", "path": str(HHH), "hub_config": "honest"}, 0).items
    assert [i.subset for i in honest] == ["honest"] and "\n\nHuman:  Just curious." in honest[0].prompt
    one_file = load_capability({"name": "hhh", "path": str(HHH / "helpful" / "task.json")}, 0).items
    assert [(i.subset, i.choices[i.label]) for i in one_file] == [("helpful", "4")]
    with pytest.raises(DataError, match="hub_config='bogus'"):
        load_capability({"name": "hhh", "path": str(HHH), "hub_config": "bogus"}, 0)


def test_hhh_hub_layout_file(offline, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    jsonl = load_capability({"name": "hhh", "path": str(FIXTURES / "cap_hhh_hub.jsonl")}, 0).items
    rows = [json.loads(line) for line in (FIXTURES / "cap_hhh_hub.jsonl").read_text().splitlines()]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "test-00000-of-00001.parquet")
    parquet = load_capability({"name": "hhh", "path": str(tmp_path / "test-00000-of-00001.parquet")}, 0).items
    assert [i.label for i in jsonl] == [i.label for i in parquet] == [0, 1]
    assert jsonl == parquet


def test_hhh_hub_reads_every_subset(offline, monkeypatch):
    calls = []

    def rows(hub_id, config, split):
        calls.append((hub_id, config, split))
        return [{"input": f"a {config} question", "targets": {"choices": ["good", "bad"], "labels": [1, 0]}}]

    monkeypatch.setattr(fetch, "hub_reachable", lambda: True)
    monkeypatch.setattr(fetch, "hub_rows", rows)
    items = load_capability({"name": "hhh"}, 0).items
    assert calls == [("HuggingFaceH4/hhh_alignment", s, "test") for s in sets.HHH_SUBSETS]
    assert [i.subset for i in items] == list(sets.HHH_SUBSETS)
    calls.clear()
    assert [i.subset for i in load_capability({"name": "hhh", "hub_config": "helpful"}, 0).items] == [
        "helpful"
    ]
    assert calls == [("HuggingFaceH4/hhh_alignment", "helpful", "test")]


def test_hhh_bigbench_package_copy(offline, monkeypatch, tmp_path):
    root = tmp_path / "bigbench"
    shutil.copytree(HHH, root / "benchmark_tasks" / "hhh_alignment")
    monkeypatch.setattr(sets, "package_folder", lambda name: root if name == "bigbench" else None)
    loaded = load_capability({"name": "hhh"}, 0)
    assert loaded.report["copy"].startswith("bigbench package copy") and len(loaded.items) == 4


def test_no_copy_fails_clearly(offline):
    with pytest.raises(DataError) as err:
        load_capability({"name": "gsm8k"}, 0)
    message = str(err.value)
    assert "openai/gsm8k" in message and "eval.benchmarks[gsm8k].path=" in message and "test.jsonl" in message
    with pytest.raises(DataError, match=r"pip install --no-deps bigbench.*eval.benchmarks\[hhh\]\.path="):
        load_capability({"name": "hhh"}, 0)


def test_bundled_basics_set():
    loaded = load_capability({"name": "basics"}, 0)
    items = loaded.items
    assert len(items) >= 200 and loaded.report["subsets"] == {"arithmetic": 120, "facts": 132}
    assert loaded.report["copy"] == f"bundled file {BASICS_FILE.name}"
    assert len({i.id for i in items}) == len(items) and len({i.prompt for i in items}) == len(items)
    for item in items:
        assert item.answers
        # echoing the question never scores: no accepted answer occurs in its own prompt
        assert not answer_match(item.prompt, item.answers), item
    arithmetic = [i for i in items if i.subset == "arithmetic"]
    assert len(arithmetic) == 120
    for item in arithmetic:  # the accepted answer is the operation's result
        a, op, b = re.fullmatch(r"What is (\d+) (\+|-|times|divided by) (\d+)\? .*", item.prompt).groups()
        result = {
            "+": int(a) + int(b),
            "-": int(a) - int(b),
            "times": int(a) * int(b),
            "divided by": int(a) / int(b),
        }
        assert item.answers == (str(int(result[op])),) and result[op] == int(result[op]), item
    facts = load_capability({"name": "basics", "hub_config": "facts", "max_prompts": 10}, 3).items
    assert len(facts) == 10 and {i.subset for i in facts} == {"facts"}


def test_basics_local_path(offline):
    items = load_capability({"name": "basics", "path": str(FIXTURES / "cap_basics.jsonl")}, 0).items
    assert [i.id for i in items] == ["basics-a1", "basics-a2", "basics-f1", "basics-f2"]
    assert items[3].answers == ("8", "eight")


def test_load_benchmarks_skips_capability_sets_and_names_both_lists(offline):
    path = FIXTURES / "bench_strongreject.csv"
    entries = [{"name": "strongreject", "path": str(path)}, {"name": "gsm8k"}, {"name": "hhh"}]
    assert list(bm.load_benchmarks(entries, 0)) == ["strongreject"]
    with pytest.raises(
        KeyError, match=r"safety sets \['advbench'.*capability sets \['basics', 'gsm8k', 'hhh'\]"
    ):
        bm.load_benchmarks([{"name": "gsm8kk"}], 0)


def test_config_accepts_capability_entries(compose_cfg):
    cfg = compose_cfg(["eval.benchmarks=[{name: gsm8k, max_prompts: 200, few_shot: 8}, {name: hhh}]"])
    gsm8k, hhh = cfg.eval.benchmarks
    assert (gsm8k.name, gsm8k.max_prompts, gsm8k.few_shot, gsm8k.max_new_tokens) == ("gsm8k", 200, 8, None)
    assert (hhh.name, hhh.few_shot) == ("hhh", 0)


# ------------------------------------------------------------------------------------------------------------------
# Scoring on the tiny model
# ------------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from dr_irl.models import load_causal_lm, load_tokenizer
    from dr_irl.models.tiny import build_tiny_model

    folder = build_tiny_model(tmp_path_factory.mktemp("capability") / "policy", seed=0)
    return load_causal_lm(str(folder)), load_tokenizer(str(folder))


def _hand_logprob(model, tokenizer, prompt: str, choice: str) -> float:
    """Σ log π(token) over the assistant turn: one unpadded sequence, the chat template applied by hand."""
    user = [{"role": "user", "content": prompt}]
    full = tokenizer.apply_chat_template([*user, {"role": "assistant", "content": choice}], tokenize=False)
    head = tokenizer.apply_chat_template(user, add_generation_prompt=True, tokenize=False)
    ids = tokenizer(full, add_special_tokens=False)["input_ids"]
    start = len(tokenizer(head, add_special_tokens=False)["input_ids"])
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0].float()
    logp = torch.log_softmax(logits, dim=-1)
    return sum(logp[t - 1, ids[t]].item() for t in range(start, len(ids)))


def test_choice_log_likelihood_matches_a_hand_computation(tiny, offline):
    model, tokenizer = tiny
    items = load_capability({"name": "hhh", "path": str(HHH)}, 0).items
    scores = choice_logprobs(model, tokenizer, items, batch_size=3)  # batches cut across items
    hand = [[_hand_logprob(model, tokenizer, i.prompt, c) for c in i.choices] for i in items]
    assert torch.allclose(torch.tensor(scores), torch.tensor(hand), atol=1e-4)
    rows = score_choices(items, scores)
    for row, h, item in zip(rows, hand, items, strict=True):
        assert row["pick"] == max(range(len(h)), key=h.__getitem__)
        assert row["correct"] == (row["pick"] == item.label)


def test_score_choices_ties_are_wrong():
    item = CapabilityItem("t", "p", choices=("a", "b"), label=0)
    assert score_choices([item], [[-1.0, -1.0]])[0]["correct"] is False
    assert score_choices([item], [[-1.0, -2.0]])[0]["correct"] is True
    assert score_choices([item], [[-3.0, -2.0]])[0] | {"prompt": None} == {
        "id": "t",
        "subset": "",
        "prompt": None,
        "choices": ["a", "b"],
        "label": 0,
        "logprobs": [-3.0, -2.0],
        "pick": 1,
        "correct": False,
    }


def test_evaluate_capabilities_scores_each_set(tiny, offline, monkeypatch):
    """Generation replaced by known answers: accuracies are the hand-computed ones; safety entries skipped."""
    model, tokenizer = tiny
    canned = {
        "Janet": "She makes 9 * 2 = $18.\n#### 18",  # right
        "A robe": "It takes 2 + 1 = 3 bolts.",  # right (last number)
        "Josh": "The answer is $70,000.00.",  # right
        "A shop": "1,200 + 34 = 1,243",  # wrong
        "The temperature": "It is 3 degrees.",  # wrong (the reference is -3)
        "What is 3 + 4": "3 + 4 = 7",  # right
        "What is 6 times 7": "6 times 7 is 48",  # wrong
        "What is the capital": "The capital of France is Paris.",  # right
        "How many legs": "Spiders have eight legs.",  # right
    }
    seen_tokens = {}

    def fake_generate(model, tokenizer, prompts, max_new_tokens, batch_size=16, desc="", **kw):
        seen_tokens[desc] = max_new_tokens
        return [[next(v for k, v in canned.items() if p.startswith(k))] for p in prompts]

    monkeypatch.setattr("dr_irl.models.generation.generate_responses", fake_generate)
    entries = [
        {"name": "strongreject"},
        {"name": "gsm8k", "path": str(GSM8K)},
        {"name": "basics", "path": str(FIXTURES / "cap_basics.jsonl"), "max_new_tokens": 12},
        {"name": "hhh", "path": str(HHH)},
    ]
    results = evaluate_capabilities(model, tokenizer, entries, seed=0, batch_size=4, max_new_tokens=32)
    assert list(results) == ["gsm8k", "basics", "hhh"]
    assert results["gsm8k"]["correct"] == [True, True, True, False, False]
    assert results["gsm8k"]["accuracy"] == pytest.approx(3 / 5) and results["gsm8k"]["n"] == 5
    assert [r["extracted"] for r in results["gsm8k"]["rows"]] == ["18", "3", "$70,000.00", "1,243", "3"]
    assert results["basics"]["correct"] == [True, False, True, True]
    assert results["basics"]["subsets"] == {
        "arithmetic": {"accuracy": 0.5, "n": 2},
        "facts": {"accuracy": 1.0, "n": 2},
    }
    assert seen_tokens == {"gsm8k": 256, "basics": 12}  # the set's default, the entry's own
    hhh = results["hhh"]
    assert hhh["n"] == 4 and hhh["accuracy"] == pytest.approx(sum(hhh["correct"]) / 4)
    assert [r["correct"] for r in hhh["rows"]] == hhh["correct"]
    with pytest.raises(DataError, match="appears twice"):
        evaluate_capabilities(model, tokenizer, entries[2:3] * 2, 0, 4, 32)


def test_evaluate_capabilities_generates_with_the_model(tiny):
    """The real generation path on the tiny model (random answers: only the bookkeeping is checked)."""
    model, tokenizer = tiny
    entry = {"name": "basics", "path": str(FIXTURES / "cap_basics.jsonl"), "max_new_tokens": 4}
    result = evaluate_capabilities(model, tokenizer, [entry], seed=0, batch_size=2, max_new_tokens=32)[
        "basics"
    ]
    assert result["n"] == 4 and len(result["correct"]) == 4
    assert all(isinstance(r["response"], str) for r in result["rows"])
    assert result["accuracy"] == sum(result["correct"]) / 4
