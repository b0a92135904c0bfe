"""Blind reading: the draw hides the verdicts, pairs runs and phases on the prompts, and the scores match a hand
computation."""

import json

import pytest

from dr_irl.evaluation import blind_read


def _write_run(run, answers_after, rewards_after):
    """A finished run with 4 harmful and 2 benign prompts; the base answers are the same in every run."""
    labels = ["harmful"] * 4 + ["benign"] * 2
    base = [
        "Sure, here is how.",
        "I can't help with that.",
        "Here you go:",
        "Okay, first",
        "Answer A",
        "Answer B",
    ]
    for stage, responses, rewards in (
        ("eval_base", base, [0.0] * 6),
        ("eval_policy", answers_after, rewards_after),
    ):
        folder = run / "stages" / stage
        folder.mkdir(parents=True)
        rows = [
            {
                "id": f"p{i}",
                "label": labels[i],
                "category": "insult",
                "prompt": f"prompt {i}",
                "response": responses[i],
                "refused": responses[i].startswith("I can't"),
                "reward": rewards[i],
            }
            for i in range(6)
        ]
        (folder / "generations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def two_runs(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    after_a = [
        "I can't do it.",
        "I can't help with that.",
        "I can't, sorry.",
        "Okay, first",
        "Answer A",
        "I can't B",
    ]
    _write_run(a, after_a, [2.0, 1.5, 1.0, -1.0, 0.5, -0.5])
    _write_run(b, ["Sure, here is how.", "I can't help with that.", "Here you go:", "Okay, first", "Answer A", "Answer B"],
               [0.0] * 6)  # fmt: skip
    return a, b


def test_draw_hides_verdicts_dedupes_shared_answers_and_pairs_prompts(two_runs):
    to_label, key = blind_read.draw(two_runs, n_harmful=4, n_benign=2, seed=1)
    assert all(set(row) == {"item", "prompt", "response"} for row in to_label)  # no run, phase or verdict
    # run b changed nothing, run a changed 3 answers: 6 base answers + 3 new ones, each read once
    assert len(to_label) == 9 and len(key) == 2 * 2 * 6
    by_item = {row["item"]: row for row in to_label}
    for entry in key:  # every key entry points at its own answer
        assert by_item[entry["item"]]["prompt"] == f"prompt {entry['id'][1:]}"
    ids: dict[tuple, set] = {}
    for e in key:
        ids.setdefault((e["run"], e["phase"]), set()).add(e["id"])
    assert len(ids) == 4 and all(v == ids[next(iter(ids))] for v in ids.values())  # same prompts everywhere


def test_scores_match_a_hand_computation(two_runs, tmp_path):
    to_label, key = blind_read.draw(two_runs, n_harmful=4, n_benign=2, seed=1)
    labels_path = tmp_path / "labels.jsonl"
    lines = []
    for row in to_label:  # the reader: a refusal is an answer that starts with "I can't"; nothing incoherent
        lines.append(json.dumps({"item": row["item"], "refusal": int(row["response"].startswith("I can't")),
                                 "incoherent": 0}))  # fmt: skip
    labels_path.write_text("\n".join(lines))
    for entry in key:  # the evaluation scores harmful answers only: benign ones may carry no reward
        if entry["run"] == str(two_runs[1]) and entry["label"] == "benign":
            entry["reward"] = None
    result = blind_read.score(key, blind_read.read_labels([labels_path], len(to_label)))
    a = result[str(two_runs[0])]
    assert a["before/harmful"]["blind_refusal"]["value"] == pytest.approx(1 / 4)
    assert a["after/harmful"]["blind_refusal"]["value"] == pytest.approx(3 / 4)
    assert a["after/benign"]["blind_refusal"]["value"] == pytest.approx(1 / 2)
    change = a["change/harmful"]
    assert change["diff"] == pytest.approx(0.5) and change["a_only"] == 2 and change["b_only"] == 0
    assert change["p_value"] == pytest.approx(0.5)  # exact McNemar, 2 discordant pairs the same way
    assert a["change_coherent/harmful"]["diff"] == pytest.approx(0.5)  # no answer was labelled incoherent
    # harmful after: refusals rewarded 2.0, 1.5, 1.0 vs the one coherent compliance at -1.0 -> AUC 1
    assert a["reward_auc/after"]["harmful_auc"]["value"] == pytest.approx(1.0)
    assert a["reward_auc/after"]["benign_auc"]["value"] == pytest.approx(1.0)  # helpful 0.5 > refusal -0.5
    b = result[str(two_runs[1])]
    assert b["change/harmful"]["diff"] == 0 and b["change/harmful"]["p_value"] == 1.0
    assert set(b["reward_auc/after"]) == {"harmful_auc"}  # no benign rewards, no benign AUC
    assert "| a |" in blind_read.markdown(result)


def test_bad_labels_fail_naming_the_line(tmp_path):
    path = tmp_path / "labels.jsonl"
    path.write_text('{"item": 0, "refusal": 1, "incoherent": 0}\n{"item": 1, "refusal": "yes"}\n')
    with pytest.raises(ValueError, match=r"labels.jsonl:2"):
        blind_read.read_labels([path], 2)
    path.write_text('{"item": 0, "refusal": 1, "incoherent": 0}\n')
    with pytest.raises(ValueError, match="1 items have no label"):
        blind_read.read_labels([path], 2)
    path.write_text('{"item": 0, "refusal": 2, "incoherent": 0}\n')
    with pytest.raises(ValueError, match="out of range"):
        blind_read.read_labels([path], 1)


def test_cli_sample_and_score(two_runs, tmp_path, capsys):
    out = tmp_path / "blind"
    assert (
        blind_read.main(["sample", *map(str, two_runs), "--out", str(out), "--harmful", "4", "--benign", "2"])
        == 0
    )
    assert (out / "INSTRUCTIONS.md").is_file()
    rows = [json.loads(line) for line in (out / "to_label.jsonl").read_text().splitlines()]
    labels = out / "labels.jsonl"
    labels.write_text(
        "".join(json.dumps({"item": r["item"], "refusal": 0, "incoherent": 0}) + "\n" for r in rows)
    )
    assert blind_read.main(["score", str(out), str(labels)]) == 0
    assert json.loads((out / "blind_rates.json").read_text()).keys() == {str(r) for r in two_runs}
    assert blind_read.main(["sample", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    assert "eval_base" in capsys.readouterr().err


def test_versus_pairs_two_folders_on_their_prompts(two_runs, tmp_path, capsys):
    folders = []
    for run in two_runs:  # each run read in a folder of its own, drawn with the same seed
        out = tmp_path / f"read_{run.name}"
        assert (
            blind_read.main(["sample", str(run), "--out", str(out), "--harmful", "4", "--benign", "2"]) == 0
        )
        rows = [json.loads(line) for line in (out / "to_label.jsonl").read_text().splitlines()]
        (out / "labels.jsonl").write_text("".join(json.dumps({"item": r["item"], "refusal": int(r["response"].startswith("I can't")),
                                                              "incoherent": int(r["response"] == "I can't do it.")}) + "\n"
                                                  for r in rows))  # fmt: skip
        folders.append(out)
    capsys.readouterr()
    # b's base answers against a's answers after: harmful 1/4 refused -> 3/4 ("I can't do it." incoherent)
    assert blind_read.main(["versus", f"{folders[1]}:before", f"{folders[0]}:after"]) == 0
    result = json.loads(capsys.readouterr().out)
    harmful, benign = result["harmful"], result["benign"]
    assert harmful["n"] == 4 and harmful["a"]["value"] == pytest.approx(1 / 4)
    assert harmful["b"]["value"] == pytest.approx(3 / 4)
    assert harmful["change"]["diff"] == pytest.approx(0.5) and harmful["change"]["p_value"] == pytest.approx(
        0.5
    )
    assert harmful["change_coherent"]["diff"] == pytest.approx(0.25)  # one of the two new refusals is garbled
    # the garbled refusal is the only incoherent answer: 0/4 -> 1/4
    assert harmful["incoherent_a"]["value"] == 0 and harmful["incoherent_b"]["value"] == pytest.approx(1 / 4)
    assert harmful["change_incoherent"]["diff"] == pytest.approx(0.25)
    assert benign["n"] == 2 and benign["change"]["diff"] == pytest.approx(0.5)
    assert result["only_a"] == result["only_b"] == 0
    assert blind_read.main(["versus", f"{folders[1]}:during", f"{folders[0]}:after"]) == 2
    assert "phase 'during'" in capsys.readouterr().err
    assert blind_read.main(["versus", str(folders[1]), f"{folders[0]}:after"]) == 2
    assert "FOLDER:PHASE" in capsys.readouterr().err
    sides = [blind_read._phase_answers(folder, "before") for folder in folders]
    with pytest.raises(ValueError, match="no prompt in common"):
        blind_read.versus(sides[0], {f"other-{k}": v for k, v in sides[1].items()})
    first = next(iter(sides[1]))
    flipped = "benign" if sides[1][first]["label"] == "harmful" else "harmful"
    with pytest.raises(ValueError, match=f"prompt {first} is"):
        blind_read.versus(sides[0], {**sides[1], first: {**sides[1][first], "label": flipped}})
