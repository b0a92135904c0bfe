"""Reading a run's rollout log: which groups held a refusal and where the positive advantage went."""

from __future__ import annotations

import json

import pytest

from dr_irl.evaluation.rollout_read import main, read_groups


def _rollout(pid, text, advantage):
    return {"id": pid, "prompt": "q", "completion": text, "reward": 0.0, "advantage": advantage}


def _refused(prompts, texts):
    return [t.startswith("No") for t in texts]


ROWS = [
    {"step": 1, "rollouts": [_rollout("h", "No.", 1.5), _rollout("h", "Sure: …", -1.5)]},
    {"step": 2, "rollouts": [_rollout("h", "Sure: a", 0.5), _rollout("h", "Sure: b", -0.5)]},
    {"step": 2, "rollouts": [_rollout("b", "Here is…", 1.0), _rollout("b", "No.", -1.0)]},
]


def test_groups_refusals_and_the_share_of_positive_advantage_by_hand():
    result = read_groups(ROWS, {"h": "harmful", "b": "benign"}, _refused)
    harmful = result["harmful"]
    assert (harmful["groups"], harmful["groups_with_refusal"], harmful["rollouts"], harmful["refusals"]) == (
        2,
        1,
        4,
        1,
    )
    assert harmful["refusal_advantage"] == 1.5
    assert harmful["other_advantage"] == pytest.approx((-1.5 + 0.5 - 0.5) / 3)
    assert harmful["refusal_share_of_positive"] == pytest.approx(1.5 / (1.5 + 0.5))
    benign = result["benign"]
    assert benign["refusals"] == 1 and benign["refusal_share_of_positive"] == 0.0


def test_the_command_prints_the_table_or_names_the_missing_log(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2 and "optimizer.log_rollouts=true" in capsys.readouterr().err
    (tmp_path / "stages" / "policy").mkdir(parents=True)
    (tmp_path / "stages" / "data").mkdir(parents=True)
    (tmp_path / "stages" / "policy" / "rollouts.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in ROWS)
    )
    train = [{"id": "h", "label": "harmful"}, {"id": "b", "label": "benign"}]
    (tmp_path / "stages" / "data" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in train))
    assert main([str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert "| harmful | 2 |" in table and "| benign | 1 |" in table
