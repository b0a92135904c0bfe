"""What a user sees, through the command line they run (``python train.py``, in a subprocess or through its
entry in this process): one ``error:`` line for a mistake, the run's log in its run directory, output that
reads in a file, and a W&B run (offline) that gets the results table and every stage's numbers."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import QUICK_RUN, TINY_RUN, run_train, train_entry, two_category_data


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("error:")]


# --------------------------------------------------------------- config mistakes: one line, before the plan


def test_a_a_misspelt_key_is_one_line_naming_it_and_the_settings_there_without_a_traceback(tmp_path):
    result = run_train("model=tiny", "scaler.tauu=2", f"hydra.run.dir={tmp_path}", timeout=300)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: scaler.tauu is not a setting of scaler; its settings: clamp, combine, data_mode, "
        "delta_bar_scope, ema_gamma, encoder, gap_pooling, granularity, invert, name, tau, temperature_data, "
        "temperature_model, use_data, use_model, weights"
    ]
    assert "Traceback" not in result.stdout + result.stderr and "plan" not in result.stdout
    debug = run_train("model=tiny", "scaler.tauu=2", "debug=true", f"hydra.run.dir={tmp_path}", timeout=300)
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "scaler.tauu" in debug.stderr


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optimizer.max_steps=many", "error: optimizer.max_steps=many: Value 'many' of type 'str' could not be "
         "converted to Integer"),
        ("scaler=clip_gapp", "error: scaler=clip_gapp is not an option of scaler; its options: clip, clip_gap, "
         "clip_gap_sharp, clip_gap_sum, gap, none"),
        ("scalr.tau=2", "error: scalr is not a setting or config group; the top-level keys: dataset, debug, "
         "demonstrations, eval, hardware, logger, model, optimizer, paths, plan_machine, plan_only, recipe, "
         "resume, reward_model, run_name, scaler, seed, sft_policy, stage_cache, stop_after, warm_start"),
        ("eval.benchmarks=[{name:xstest,bogus:1}]", "error: eval.benchmarks.bogus is not a setting of "
         "eval.benchmarks; its settings: default_category, few_shot, hub_config, hub_id, hub_split, "
         "max_new_tokens, max_prompts, name, path"),
    ],
)  # fmt: skip
def test_a_a_wrong_type_option_or_group_is_one_line(override, message, tmp_path, capsys):
    assert train_entry("model=tiny", override, f"hydra.run.dir={tmp_path}") == 1
    out, err = capsys.readouterr()
    assert error_lines(err) == [message] and len(err.strip().splitlines()) == 1
    assert "plan" not in out and not (tmp_path / "stages").exists()


def test_b_a_key_added_with_plus_is_rejected_against_the_schema(tmp_path, capsys):
    assert train_entry("model=tiny", "+scaler.tauu=2", f"hydra.run.dir={tmp_path}") == 1
    _, err = capsys.readouterr()
    assert error_lines(err) == [
        "error: scaler.tauu is not a setting of scaler; its settings: clamp, combine, data_mode, "
        "delta_bar_scope, ema_gamma, encoder, gap_pooling, granularity, invert, name, tau, temperature_data, "
        "temperature_model, use_data, use_model, weights"
    ]
    assert not tmp_path.exists() or not any(tmp_path.iterdir())  # nothing ran
    # the entries of a dict setting stay free
    assert train_entry("model=tiny", "+dataset.category_map.hate=insult", "plan_only=true") == 0


def test_b_unknown_keys_are_found_in_groups_and_list_elements(compose_cfg):
    from dr_irl.schema_keys import unknown_keys

    cfg = compose_cfg(["+scaler.tauu=2", "+foo=1", "+dataset.category_map.x=insult", "+model.tiny.hidden=3"])
    assert sorted(unknown_keys(cfg)) == ["foo", "model.tiny.hidden", "scaler.tauu"]
    assert unknown_keys(compose_cfg(["eval.benchmarks=[{name:xstest}]", "+eval.benchmarks.0.zz=1"])) == [
        "eval.benchmarks[0].zz"
    ]
    for experiment in sorted(
        p.stem for p in (Path(__file__).parents[1] / "conf" / "experiment").glob("*.yaml")
    ):
        assert unknown_keys(compose_cfg([f"experiment={experiment}"])) == [], experiment


def test_h_values_are_checked_before_the_plan_is_printed(tmp_path, capsys):
    for extra in ([], ["plan_only=true"]):
        assert train_entry("model=tiny", "optimizer.num_generations=0", *extra) == 1
        out, err = capsys.readouterr()
        assert "plan" not in out and "rollouts" not in out
        assert error_lines(err) == ["error: invalid config value:"]
        assert "  optimizer.num_generations=0: must be >= 2" in err


def test_c_a_folder_that_is_not_a_model_is_one_line(tmp_path, capsys):
    folder = tmp_path / "not_a_model"
    folder.mkdir()
    (folder / "notes.txt").write_text("weights later")
    assert (
        train_entry(
            "model=tiny", "model.source=hub", f"model.path={folder}", f"hydra.run.dir={tmp_path / 'r'}"
        )
        == 1
    )
    _, err = capsys.readouterr()
    assert error_lines(err) == [
        f"error: model.path={folder} holds no model (no config.json): a model folder has config.json, the "
        "weights (*.safetensors or pytorch_model.bin) and the tokenizer's files, as save_pretrained or "
        "`huggingface-cli download <id> --local-dir <folder>` write them"
    ]
    assert "Traceback" not in err and not (tmp_path / "r" / "stages").exists()


def test_i_an_over_long_prompt_is_reported_as_too_long(tmp_path, capsys):
    from dr_irl.data.bundled import bundled_paths

    paths = bundled_paths()
    train = tmp_path / "train.jsonl"
    long = {"id": "huge-1", "prompt": "insult them " * 9000, "category": "insult", "label": "harmful",
            "demonstration": "I won't insult anyone."}  # fmt: skip
    train.write_text(Path(paths["train"]).read_text() + json.dumps(long) + "\n")
    data = [f"dataset.train_path={train}", f"dataset.heldout_path={paths['heldout']}"]
    args = [*TINY_RUN, "model.warm_start=false", "stop_after=data", *data, "dataset.skip_invalid=true"]
    assert train_entry(*args, f"hydra.run.dir={tmp_path / 'run'}") == 0
    out, _ = capsys.readouterr()
    assert "dataset.skip_invalid: skipped 1 too long record" in out and "malformed" not in out


# ------------------------------------------------- the whole pipeline with logger=wandb, output to a file


def wandb_records(path: Path):
    """The protobuf records of an offline run's ``.wandb`` file (W&B's log format: 32 KiB blocks of records,
    each with a 7-byte header — CRC, length, type — a record split over blocks as first/middle/last)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data, block = path.read_bytes(), 32768
    assert data[:4] == b":W&B"
    pos, pending = 7, b""
    while pos + 7 <= len(data):
        left = block - pos % block
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if left < 7 or (kind == 0 and length == 0):  # block padding
            pos += left
            continue
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):  # full, last
            record = pb.Record()
            record.ParseFromString(pending)
            yield record


@pytest.fixture(scope="module")
def wandb_run(tmp_path_factory):
    """``WANDB_MODE=offline python train.py … logger=wandb > file``: the quick pipeline, stdout a file."""
    root = tmp_path_factory.mktemp("wandb_run")
    run_dir = root / "run"
    result = run_train(
        *QUICK_RUN,
        *two_category_data(root / "data"),
        "logger=wandb",
        "logger.group=issue-check",
        f"hydra.run.dir={run_dir}",
        WANDB_MODE="offline",
        WANDB_SILENT="false",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (offline,) = (run_dir / "wandb").glob("offline-run-*")
    history, summary, group = [], {}, None
    for record in wandb_records(next(offline.glob("*.wandb"))):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            group = record.run.run_group
        elif kind in ("history", "summary"):
            items = record.history.item if kind == "history" else record.summary.update
            row = {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in items}
            history.append(row) if kind == "history" else summary.update(row)
    return SimpleNamespace(
        result=result, run_dir=run_dir, offline=offline, history=history, summary=summary, group=group
    )


def test_j_wandb_gets_the_results_table_with_intervals_and_every_stage(wandb_run):
    run = wandb_run
    results = json.loads((run.run_dir / "results.json").read_text())
    (table_file,) = (run.offline / "files" / "media" / "table").glob("results_*.table.json")
    table = json.loads(table_file.read_text())
    assert table["columns"] == [
        "metric",
        "before",
        "before_low",
        "before_high",
        "after",
        "after_low",
        "after_high",
    ]
    rows = {row[0]: row for row in table["data"]}
    refusal = rows["refusal rate, harmful (↑)"]
    after = results["after"]
    assert refusal[4:] == [after["refusal_rate"], *after["refusal_rate_ci"]]
    assert run.group == "issue-check"
    done = {p.parent.name for p in (run.run_dir / "stages").glob("*/DONE.json")}
    assert {"data", "reward_models", "policy", "eval_policy", "report"} <= done
    for stage in done:
        assert f"stage_seconds/{stage}" in run.summary, stage
    assert (
        run.summary["stages/data/train"]
        == json.loads((run.run_dir / "stages/data/DONE.json").read_text())["summary"]["train"]
    )
    assert run.summary["after/refusal_rate"] == after["refusal_rate"]
    steps = [row["policy/step"] for row in run.history if "policy/loss" in row]
    assert steps == [1, 2]  # the policy's curve on its own step axis
    assert any(key.startswith("reward_models/shared/") for row in run.history for key in row)


def test_e_the_run_log_holds_the_plan_stages_and_tables(wandb_run):
    log = (wandb_run.run_dir / "train.log").read_text()
    assert log.startswith("plan\n")
    for stage in ("data", "reward_models", "policy", "eval_policy", "report"):
        assert re.search(rf"─ {stage} ─", log) and f"✓ {stage} done in" in log, stage
    assert "refusal rate, harmful" in log and "where the time went" in log  # the final tables
    assert "\r" not in log and "\x1b[" not in log


def test_f_output_to_a_file_has_no_bar_walls_nor_known_warnings(wandb_run):
    output = wandb_run.result.stdout + wandb_run.result.stderr
    assert "\r" not in output  # no progress bars redrawn in place
    assert re.search(r"^reward model shared: \d+/\d+ steps in [\d.]+s", output, re.MULTILINE)  # one line each
    assert re.search(r"^GRPO[^:\n]*: 2/2 steps in [\d.]+s", output, re.MULTILINE)
    for known in ("gradient_checkpointing", "Setting accelerator to CPU", "FutureWarning"):
        assert known not in output, known
