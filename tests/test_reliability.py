"""The reliability audit, one test per case (a–n), on the tiny model with the fast settings of conftest.

Runs that must be killed mid-stage run as ``python train.py`` subprocesses killed with SIGKILL once a file
they write appears (no test hook in the code); everything else runs in-process through ``dr_irl.cli.run``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from dr_irl.cli import run
from dr_irl.data.bundled import bundled_paths
from dr_irl.data.schema import DataError
from dr_irl.errors import ConfigError
from dr_irl.models.weights import ModelUnavailableError, resolve_model_path
from dr_irl.run_lock import RunLock, RunLockedError
from dr_irl.validation import config_problems
from tests.conftest import CONF, ROOT, TINY_RUN, run_train, two_category_data

TWO = ["insult", "unfairness_discrimination"]


def fast(data: list[str], *extra: str) -> list[str]:
    """TINY_RUN without the warm start, on two categories, with the fine-tuned classifier reward models; GRPO
    of 4 steps with a checkpoint every 2."""
    return [
        *TINY_RUN,
        "model.warm_start=false",
        "reward_model=irl_category_classifier",  # the checkpointed, resumable RewardTrainer models
        *data,
        "optimizer.max_steps=4",
        "optimizer.save_steps=2",
        *extra,
    ]


def start_train(log: Path, *args: str) -> subprocess.Popen:
    """``python train.py ARGS`` in the background (output to ``log``: a pipe could fill up and block it)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"}
    env.pop("LOCAL_RANK", None)
    handle = log.open("w")
    return subprocess.Popen(
        [sys.executable, "train.py", *args],
        cwd=ROOT,
        stdout=handle,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )


def kill_when(
    proc: subprocess.Popen, marker: Path, log: Path, delay: float = 0.0, timeout: float = 900
) -> None:
    """SIGKILL ``proc`` once ``marker`` exists (after ``delay`` seconds); fail if it ends first."""
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{marker} never appeared (rc {proc.returncode}):\n{log.read_text()[-3000:]}")
        time.sleep(0.05)
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def done(run_dir: Path, stage: str) -> dict:
    return json.loads((run_dir / "stages" / stage / "DONE.json").read_text())


def steps_of(output: str, word: str) -> set[str]:
    return {line.split(":")[0].split()[-1] for line in output.splitlines() if word in line}


# ------------------------------------------------------------ (a), (g), (h): runs killed or locked mid-run


def test_a_second_run_on_a_busy_run_directory_fails_at_once_naming_the_holder(compose_cfg, tmp_path):
    args = fast(two_category_data(tmp_path / "data"), "stop_after=reward_models")
    run_dir, log = tmp_path / "run", tmp_path / "first.log"
    first = start_train(log, *args, f"hydra.run.dir={run_dir}")
    owner = run_dir / ".dr_irl.owner.json"  # written once the first run holds the lock, before any stage
    deadline = time.monotonic() + 900
    while not owner.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        with pytest.raises(RunLockedError) as refused:
            run(compose_cfg(args), run_dir)
        assert first.poll() is None, "the first run ended before the second one started"
    finally:
        first.kill()
        first.wait()
    message = str(refused.value)
    assert str(run_dir) in message and f"pid {first.pid} on host" in message
    RunLock(run_dir).acquire().release()  # the lock died with the killed process: no stale lock


@pytest.fixture(scope="module")
def killed_in_reward_models(tmp_path_factory):
    """A run killed while training its second reward model."""
    root = tmp_path_factory.mktemp("killed")
    args = fast(two_category_data(root / "data"), "stop_after=reward_models")
    run_dir = root / "run"
    log = root / "first.log"
    proc = start_train(log, *args, f"hydra.run.dir={run_dir}")
    tmp = run_dir / "stages" / ".reward_models.tmp"
    # killed once the first model is saved (its summary is written last): mid-way through the second one
    kill_when(proc, tmp / "models" / TWO[0] / "reward_summary.json", log)
    assert tmp.is_dir() and not (run_dir / "stages" / "reward_models").exists(), "not killed mid-stage"
    return SimpleNamespace(
        args=args,
        root=root,
        run_dir=run_dir,
        first_weights_mtime=(tmp / "models" / TWO[0] / "model.safetensors").stat().st_mtime_ns,
    )


@pytest.fixture(scope="module")
def resumed_after_kill(killed_in_reward_models, compose_cfg):
    """The killed run rerun with the same command, and an uninterrupted run of it in another directory."""
    k = killed_in_reward_models
    rerun = run_train(*k.args, f"hydra.run.dir={k.run_dir}")
    reference = k.root / "reference"
    run(compose_cfg(k.args), reference)
    return SimpleNamespace(**vars(k), rerun=rerun, reference=reference)


@pytest.mark.slow
def test_g_killed_reward_models_resume_to_byte_identical_models(resumed_after_kill):
    k = resumed_after_kill
    assert k.rerun.returncode == 0, k.rerun.stderr[-3000:]
    assert "continuing the interrupted run of this stage" in k.rerun.stdout
    models = k.run_dir / "stages" / "reward_models" / "models"
    # the model the killed run finished is kept as it was, the other one trained by the rerun
    assert (models / TWO[0] / "model.safetensors").stat().st_mtime_ns == k.first_weights_mtime
    for category in TWO:
        ours = (models / category / "model.safetensors").read_bytes()
        theirs = (
            k.reference / "stages" / "reward_models" / "models" / category / "model.safetensors"
        ).read_bytes()
        assert ours == theirs, f"{category}: resumed weights differ from the uninterrupted run's"
    resumed, reference = done(k.run_dir, "reward_models"), done(k.reference, "reward_models")
    assert resumed["summary"] == reference["summary"]

    def hashes(entry: dict) -> dict:  # training_args.bin pickles the output folder's path: run-specific
        return {r: e["sha256"] for r, e in entry["artifacts"].items() if not r.endswith("training_args.bin")}

    assert hashes(resumed) == hashes(reference)


@pytest.mark.slow
def test_h_killed_grpo_continues_from_its_last_checkpoint(resumed_after_kill, tmp_path):
    k = resumed_after_kill
    args = [*k.args[:-1], "stop_after=policy"]
    log = tmp_path / "grpo.log"
    proc = start_train(log, *args, f"hydra.run.dir={k.run_dir}")
    checkpoint = k.run_dir / "stages" / ".policy.tmp" / "trainer" / "checkpoint-2"
    kill_when(proc, checkpoint / "trainer_state.json", log)
    assert (checkpoint / "scaler_state.json").is_file()  # the scaler's EMA is saved with the checkpoint
    assert not (k.run_dir / "stages" / "policy").exists(), "GRPO finished before it could be killed"
    rerun = run_train(*args, f"hydra.run.dir={k.run_dir}")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "resuming training from" in rerun.stdout and "checkpoint-2" in rerun.stdout
    summary = done(k.run_dir, "policy")["summary"]
    assert summary["resumed_from_step"] == 2 and summary["steps"] == 4
    policy = k.run_dir / "stages" / "policy"
    rows = [json.loads(line) for line in (policy / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "scaler/alpha/mean" in r] == [1, 2, 3, 4]  # each step logged once
    assert not list((policy / "trainer").glob("checkpoint-*"))  # checkpoints go once the stage is done


# ------------------------------------------------------------------------------------------ (b)


def test_b_two_identical_runs_started_together_one_refused_cleanly(tmp_path):
    args = fast(
        two_category_data(tmp_path / "data"), "reward_model.per_category=false", "stop_after=reward_models"
    )
    run_dir = tmp_path / "run"
    logs = [tmp_path / "one.log", tmp_path / "two.log"]
    procs = [start_train(log, *args, f"hydra.run.dir={run_dir}") for log in logs]
    deadline = time.monotonic() + 900
    while all(p.poll() is None for p in procs) and time.monotonic() < deadline:
        time.sleep(0.1)
    loser = next(i for i, p in enumerate(procs) if p.poll() is not None)
    winner = procs[1 - loser]
    winner.kill()
    winner.wait()
    output = logs[loser].read_text()
    assert procs[loser].returncode == 1, output[-3000:]
    assert f"error: run directory {run_dir} is in use by another run (pid {winner.pid}" in output
    assert "dataset file not found" not in output and "Traceback" not in output
    RunLock(run_dir).acquire().release()  # the killed winner's lock is gone with it


# ------------------------------------------------------------------------------------------ (c)


def test_c_a_stage_whose_old_folder_cannot_be_deleted_is_still_replaced(
    compose_cfg, tmp_path, monkeypatch, capsys
):
    base = [*TINY_RUN, "model.warm_start=false", "stop_after=data"]
    run(compose_cfg(base), tmp_path)
    final = tmp_path / "stages" / "data"
    (final / "immutable.bin").write_bytes(b"x")
    real_unlink = os.unlink

    def unlink(path, *args, **kwargs):  # the file is immutable (chattr +i): nobody may delete it
        if os.path.basename(path) == "immutable.bin":
            raise PermissionError(1, "Operation not permitted", str(path))
        return real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", unlink)
    changed = [*base, "dataset.max_per_category=5"]
    with pytest.warns(UserWarning, match="could not delete .*immutable.bin"):
        summaries = run(compose_cfg(changed), tmp_path)
    monkeypatch.undo()
    # the new stage is published whole; the old one sits aside, nothing half-deleted in the way
    assert summaries["data"]["train"] == done(tmp_path, "data")["summary"]["train"]
    assert not (final / "immutable.bin").exists() and not (tmp_path / "stages" / ".data.tmp").exists()
    assert list((tmp_path / "stages").glob(".data.old-*/data/immutable.bin"))
    train_rows = len((final / "train.jsonl").read_text().splitlines())
    assert train_rows == summaries["data"]["train"]
    capsys.readouterr()
    run(compose_cfg(changed), tmp_path)  # and it is a complete stage: the next run resumes it
    assert "data: complete in" in capsys.readouterr().out


def test_c_a_finished_stage_left_unpublished_by_a_crash_is_published_not_lost(compose_cfg, tmp_path, capsys):
    """Killed between writing DONE.json and the rename: the next run publishes the finished folder."""
    overrides = [*TINY_RUN, "model.warm_start=false", "stop_after=data"]
    run(compose_cfg(overrides), tmp_path)
    stages = tmp_path / "stages"
    before = done(tmp_path, "data")
    (stages / "data").rename(stages / ".data.tmp")
    capsys.readouterr()
    run(compose_cfg(overrides), tmp_path)
    assert "data: finished before the previous run stopped; published" in capsys.readouterr().out
    assert done(tmp_path, "data") == before and not (stages / ".data.tmp").exists()


def test_c_replace_dir_puts_the_old_folder_back_when_the_new_one_cannot_go_in(tmp_path, monkeypatch):
    from dr_irl import io

    old, new = tmp_path / "stage", tmp_path / ".stage.tmp"
    old.mkdir()
    (old / "DONE.json").write_text("old")
    new.mkdir()
    (new / "DONE.json").write_text("new")
    real_replace = os.replace

    def replace(src, dst):
        if Path(src) == new:
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(io.os, "replace", replace)
    with pytest.raises(OSError, match="No space"):
        io.replace_dir(new, old)
    assert (old / "DONE.json").read_text() == "old" and (new / "DONE.json").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".stage.tmp", "stage"]


# ------------------------------------------------------------------------------------------ (d)


def test_d_an_edited_input_file_reruns_the_stage_naming_it(compose_cfg, tmp_path, capsys):
    overrides = [*TINY_RUN, "model.warm_start=false", "stop_after=data", *two_category_data(tmp_path / "in")]
    run(compose_cfg(overrides), tmp_path / "run")
    before = done(tmp_path / "run", "data")
    assert before["inputs"]["dataset.train_path"]["path"] == str(tmp_path / "in" / "train.jsonl")
    capsys.readouterr()
    train = tmp_path / "in" / "train.jsonl"
    lines = train.read_text().splitlines()
    train.write_text("\n".join(lines[:-4]) + "\n")  # four records fewer
    run(compose_cfg(overrides), tmp_path / "run")
    out = capsys.readouterr().out
    assert f"dataset.train_path ({train}) changed since the stage ran" in out and "(resume)" not in out
    after = done(tmp_path / "run", "data")
    assert after["fingerprint"] != before["fingerprint"]
    assert after["summary"]["source"]["train"] == before["summary"]["source"]["train"] - 4


# ------------------------------------------------------------------------------ (e), (f): small run


@pytest.fixture(scope="module")
def small_run(tmp_path_factory, compose_cfg):
    root = tmp_path_factory.mktemp("small")
    overrides = fast(
        two_category_data(root / "data"),
        "reward_model.per_category=false",
        "reward_model.backbone.source=policy",  # the tiny model as the reward model's backbone: quick
        "stop_after=reward_models",
    )
    run(compose_cfg(overrides), root / "run")
    return SimpleNamespace(overrides=overrides, run_dir=root / "run")


def test_e_a_truncated_artifact_reruns_its_stage_naming_the_file(small_run, compose_cfg, capsys):
    run_dir, cfg = small_run.run_dir, compose_cfg(small_run.overrides)
    weights = run_dir / "stages" / "reward_models" / "models" / "shared" / "model.safetensors"
    recorded = done(run_dir, "reward_models")["artifacts"]["models/shared/model.safetensors"]
    with weights.open("r+b") as handle:
        handle.truncate(recorded["size"] // 2)
    capsys.readouterr()
    run(cfg, run_dir)
    out = capsys.readouterr().out
    assert f"{weights} has {recorded['size'] // 2} bytes, {recorded['size']} when the stage finished" in out
    assert steps_of(out, "(resume)") == {"data", "reference_samples"}
    assert weights.stat().st_size == recorded["size"]  # retrained: whole again (and the same weights)
    assert (
        done(run_dir, "reward_models")["artifacts"]["models/shared/model.safetensors"]["sha256"]
        == recorded["sha256"]
    )
    # a truncated data file: the data stage reruns; its output is the same, so its readers stay resumed
    train = run_dir / "stages" / "data" / "train.jsonl"
    train.write_text(train.read_text()[:100])
    run(cfg, run_dir)
    out = capsys.readouterr().out
    assert f"data: {train} has 100 bytes" in out
    assert "data done" in out and steps_of(out, "(resume)") == {"reference_samples", "reward_models"}


def test_f_a_corrupt_done_marker_means_not_done_with_a_warning(small_run, compose_cfg, capsys):
    run_dir = small_run.run_dir
    marker = run_dir / "stages" / "data" / "DONE.json"
    marker.write_text(marker.read_text()[:40])
    capsys.readouterr()
    run(compose_cfg([*small_run.overrides, "stop_after=data"]), run_dir)
    out = capsys.readouterr().out
    assert "DONE.json is unreadable" in out and "treated as not done" in out and "data done" in out
    assert done(run_dir, "data")["fingerprint"]  # whole again


# ------------------------------------------------------------------------------- (i), (j): bad input


def _bundled_copy(folder: Path, change) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = bundled_paths()
    train = folder / "train.jsonl"
    train.write_bytes(change(Path(paths["train"]).read_bytes()))
    return [f"dataset.train_path={train}", f"dataset.heldout_path={paths['heldout']}"]


def test_i_a_non_utf8_byte_fails_naming_file_and_line_or_is_skipped(compose_cfg, tmp_path):
    def bad_byte(data: bytes) -> bytes:
        lines = data.split(b"\n")
        lines[4] = lines[4].replace(b"prompt", b"pro\xffmpt", 1)  # line 5
        return b"\n".join(lines)

    data = _bundled_copy(tmp_path / "in", bad_byte)
    base = [*TINY_RUN, "model.warm_start=false", "stop_after=data", *data]
    where = re.escape(f"{tmp_path / 'in' / 'train.jsonl'}:5: not valid UTF-8 (byte 0xff")
    with pytest.raises(DataError, match=where):
        run(compose_cfg(base), tmp_path / "run")
    summaries = run(compose_cfg([*base, "dataset.skip_invalid=true"]), tmp_path / "run")
    assert summaries["data"]["source"]["skipped_invalid"] == 1


def test_j_a_prompt_longer_than_the_context_is_rejected_naming_the_record(compose_cfg, tmp_path):
    long = {
        "id": "huge-1",
        "prompt": "insult them " * 9000,  # ~100 KB
        "category": "insult",
        "label": "harmful",
        "demonstration": "I won't insult anyone.",
    }
    data = _bundled_copy(tmp_path / "in", lambda b: b + (json.dumps(long) + "\n").encode())
    base = [*TINY_RUN, "model.warm_start=false", "stop_after=data", *data]
    with pytest.raises(
        DataError,
        match=r"record 'huge-1' \(train split\): its prompt is \d+ tokens, over the model's context of 512",
    ):
        run(compose_cfg(base), tmp_path / "a")
    summaries = run(compose_cfg([*base, "dataset.skip_invalid=true"]), tmp_path / "b")
    assert summaries["data"]["source"]["too_long"] == 1
    assert "huge-1" not in (tmp_path / "b" / "stages" / "data" / "train.jsonl").read_text()
    with pytest.raises(DataError, match=r"over dataset.max_prompt_tokens=8;"):  # an explicit limit
        run(compose_cfg([*TINY_RUN, "stop_after=data", "dataset.max_prompt_tokens=8"]), tmp_path / "c")


# --------------------------------------------------------------------------- (k), (l): config values


def test_k_num_generations_below_two_fails_at_start_naming_the_key(compose_cfg, tmp_path):
    with pytest.raises(ConfigError, match=r"optimizer.num_generations=0: must be >= 2"):
        run(compose_cfg([*TINY_RUN, "optimizer.num_generations=0"]), tmp_path)
    assert not (tmp_path / "stages").exists()  # before any stage


def test_l_scaler_tau_and_ema_gamma_out_of_range_fail_naming_both(compose_cfg, tmp_path):
    with pytest.raises(ConfigError) as err:
        run(compose_cfg([*TINY_RUN, "scaler.tau=-1", "scaler.ema_gamma=1.5"]), tmp_path)
    assert "scaler.tau=-1.0: must be > 0" in str(err.value)
    assert "scaler.ema_gamma=1.5: must be 0 < ema_gamma < 1" in str(err.value)
    assert not (tmp_path / "stages").exists()


def test_sft_benign_repeats_below_one_fail_naming_both(compose_cfg):
    problems = config_problems(compose_cfg(["warm_start.benign_repeats=0", "sft_policy.benign_repeats=-1"]))
    assert "warm_start.benign_repeats=0: must be >= 1" in problems
    assert "sft_policy.benign_repeats=-1: must be >= 1" in problems


def test_unknown_dpo_s_alpha_mode_fails_naming_the_choices(compose_cfg):
    problems = config_problems(compose_cfg(["optimizer=dpo_s", "optimizer.alpha_mode=bogus"]))
    assert problems == ["optimizer.alpha_mode='bogus': expected one of ['offline', 'online']"]
    assert config_problems(compose_cfg(["optimizer=dpo_s", "optimizer.alpha_mode=online"])) == []


def test_every_shipped_config_option_passes_validation(compose_cfg):
    groups = ["dataset", "reward_model", "scaler", "optimizer", "model", "hardware", "eval", "logger"]
    for group in groups:
        for option in sorted((CONF / group).glob("*.yaml")):
            assert config_problems(compose_cfg([f"{group}={option.stem}"])) == [], f"{group}={option.stem}"


# ------------------------------------------------------------------------------------ (m) model.path


def test_m_model_path_is_honoured_or_rejected_never_ignored(compose_cfg, tmp_path, model_cache):
    with pytest.raises(
        ModelUnavailableError, match=r"model.path=/nonexistent is not used by model.source=tiny"
    ):
        run(compose_cfg([*TINY_RUN, "model.path=/nonexistent"]), tmp_path / "tiny")
    assert not (tmp_path / "tiny" / "stages").exists()
    with pytest.raises(ModelUnavailableError, match=r"model.path=/nonexistent: no such folder"):
        run(compose_cfg(["model.path=/nonexistent"]), tmp_path / "default")  # model=smollm2-135m
    tiny_folder = resolve_model_path(compose_cfg(TINY_RUN).model, model_cache)
    default = compose_cfg([f"model.path={tiny_folder}"]).model  # a local copy replaces the GGUF package
    assert resolve_model_path(default, model_cache) == tiny_folder


# --------------------------------------------------------------------------------- (n) error output


def test_n_user_errors_print_one_message_without_traceback(tmp_path):
    args = ["model=tiny", "optimizer.num_generations=0", f"hydra.run.dir={tmp_path}/run"]
    result = run_train(*args, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: invalid config value:"], result.stderr[-2000:]
    assert "  optimizer.num_generations=0: must be >= 2" in result.stderr
    assert "Traceback" not in output and "HYDRA_FULL_ERROR" not in output
    debug = run_train(*args, "debug=true", timeout=300)  # developers keep the traceback
    assert debug.returncode != 0 and "Traceback" in debug.stdout + debug.stderr
    assert "optimizer.num_generations=0" in debug.stdout + debug.stderr


# ------------------------------------------------------------------ a resumed training's recorded loss


class _Crash(Exception):
    pass


def test_a_training_resumed_from_a_checkpoint_records_the_loss_of_the_whole_training(
    compose_cfg, model_cache, tmp_path
):
    """The trainers' summaries (``train_loss`` in reward_summary.json, the policy's DONE.json) are the mean
    over every step: a run that crashed after checkpoint-2 and resumed records the uninterrupted run's."""
    from transformers import TrainerCallback

    from dr_irl.data.schema import load_records
    from dr_irl.training.sft import train_sft

    cfg = compose_cfg(
        [*TINY_RUN, "warm_start.save_steps=1", "warm_start.batch_size=4", "warm_start.epochs=1"]
    )
    policy = resolve_model_path(cfg.model, model_cache)
    train = load_records(bundled_paths()["train"], cfg.dataset.categories)[0][:24]  # 6 steps

    class CrashAfterCheckpoint(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.global_step == 2:
                raise _Crash

    def sft(folder: Path, callbacks=()) -> dict:
        return train_sft(
            policy, train, folder, cfg.warm_start, cfg.model, cfg.hardware, cfg.seed, callbacks=callbacks
        )

    whole = sft(tmp_path / "whole")
    with pytest.raises(_Crash):
        sft(tmp_path / "resumed", [CrashAfterCheckpoint()])
    assert (tmp_path / "resumed" / "trainer" / "checkpoint-2" / "trainer_state.json").is_file()
    resumed = sft(tmp_path / "resumed")
    assert resumed == whole  # the same float, not the mean of the 4 steps after the checkpoint


@pytest.mark.slow
def test_d_reward_model_killed_mid_training_records_the_uninterrupted_summary(compose_cfg, tmp_path):
    """``reward_model.save_steps=1``, ``kill -9`` inside the reward model's training, the same command again:
    reward_summary.json and the stage's DONE.json equal the uninterrupted run's."""
    args = [
        *fast(two_category_data(tmp_path / "data"), "stop_after=reward_models"),
        "reward_model.per_category=false",
        "reward_model.backbone.source=policy",
        "reward_model.epochs=2",
        "reward_model.save_steps=1",
    ]
    run_dir, log = tmp_path / "run", tmp_path / "killed.log"
    proc = start_train(log, *args, f"hydra.run.dir={run_dir}")
    trainer = run_dir / "stages" / ".reward_models.tmp" / "models" / "shared" / "trainer"
    kill_when(proc, trainer / "checkpoint-3" / "trainer_state.json", log)
    rerun = run_train(*args, f"hydra.run.dir={run_dir}")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "resuming training from" in rerun.stdout
    run(compose_cfg(args), tmp_path / "reference")
    assert (
        done(run_dir, "reward_models")["summary"] == done(tmp_path / "reference", "reward_models")["summary"]
    )
