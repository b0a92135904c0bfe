"""What every HF/TRL trainer of the project shares: arguments from the hardware group, LoRA configs,
seeded model construction, mid-stage checkpoints and resuming from them, saving from any rank, the
metrics file and the compact progress bar."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

from omegaconf import DictConfig
from tqdm.auto import tqdm
from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback, ProgressCallback

from dr_irl.terminal import interactive


def hardware_args(hardware: DictConfig) -> dict:
    """TrainingArguments that the ``hardware`` group decides (the DeepSpeed config included)."""
    from dr_irl.distributed import deepspeed_config

    args = {
        "use_cpu": hardware.use_cpu,
        "bf16": hardware.bf16,
        # transformers' current name: its deprecated alias `gradient_checkpointing` warns on every trainer
        "activation_checkpointing": hardware.gradient_checkpointing,
    }
    ds = deepspeed_config(hardware)
    if ds is not None:
        args["deepspeed"] = ds
    return args


def checkpoint_args(group: DictConfig) -> dict:
    """TrainingArguments of mid-stage checkpoints from a config group's ``save_steps`` (0: none) and
    ``save_total_limit`` (how many of the last ones are kept)."""
    steps = int(group.get("save_steps") or 0)
    if steps <= 0:
        return {"save_strategy": "no"}
    return {
        "save_strategy": "steps",
        "save_steps": steps,
        "save_total_limit": max(1, int(group.get("save_total_limit") or 1)),
    }


_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def last_checkpoint(output_dir: str | Path) -> str | None:
    """The newest complete ``checkpoint-N`` folder in ``output_dir`` (its ``trainer_state.json`` is written
    last), or None. Incomplete ones, left by a crash while saving, are deleted (by the main process)."""
    from dr_irl.distributed import is_main_process

    folder = Path(output_dir)
    if not folder.is_dir():
        return None
    found = sorted(
        (int(m.group(1)), p) for p in folder.iterdir() if p.is_dir() and (m := _CHECKPOINT.match(p.name))
    )
    complete = [p for _, p in found if (p / "trainer_state.json").is_file()]
    if is_main_process():
        for _, path in found:
            if path not in complete:
                shutil.rmtree(path, ignore_errors=True)
    return str(complete[-1]) if complete else None


def checkpoint_folder(trainer, trial) -> Path:
    """The folder HF's ``_save_checkpoint`` is about to write (``<output_dir>/checkpoint-<step>``): a trainer
    mixin puts its own state there first, so the ``trainer_state.json`` HF writes last marks it complete."""
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    return Path(trainer._get_output_dir(trial=trial)) / f"{PREFIX_CHECKPOINT_DIR}-{trainer.state.global_step}"


def train_resumable(trainer):
    """``trainer.train()``, resumed from the newest complete checkpoint in its ``output_dir`` when an
    interrupted run left one (optimizer, scheduler, RNG states and data position included); the checkpoints
    (and the model card TRL writes next to them, which differs from run to run) are deleted once training
    finished. Returns the trainer's result, its ``training_loss`` the mean over every step of the training,
    those before the checkpoint included (:class:`LossTotalCallback`)."""
    from dr_irl.distributed import barrier, is_main_process

    checkpoint = last_checkpoint(trainer.args.output_dir)
    if checkpoint is not None and is_main_process():
        print(f"resuming training from {checkpoint}", flush=True)
    losses = LossTotalCallback(trainer)
    handler = trainer.callback_handler
    handler.callbacks.insert(
        1, losses
    )  # after DefaultFlowCallback (it decides the saves), before the loggers
    try:
        result = trainer.train(resume_from_checkpoint=checkpoint)
    finally:
        handler.callbacks.remove(losses)
    result = losses.whole_run(result)
    barrier()
    if is_main_process():  # the stage keeps the model, not its checkpoints or their model card
        output = Path(trainer.args.output_dir)
        for path in output.glob("checkpoint-*"):
            shutil.rmtree(path, ignore_errors=True)
        (output / "README.md").unlink(missing_ok=True)
    return result


class LossTotalCallback(TrainerCallback):
    """Makes a resumed training report the loss of the whole training, as an uninterrupted one does.

    The trainer sums the step losses of its own ``train()`` call only; a call resumed from ``checkpoint-N``
    would report the mean of the steps after N. This callback logs at every checkpoint (so the sum holds
    every step up to it), writes the running sum into each log row of ``log_history`` (``total_loss``,
    saved in the checkpoint's ``trainer_state.json``), and a resumed call starts from the sum its
    checkpoint recorded: the same floating-point additions in the same order as the uninterrupted run.
    """

    KEY = "total_loss"

    def __init__(self, trainer) -> None:
        self.trainer = trainer
        self.lost = 0  # steps whose losses the running sum misses (a checkpoint of an older version)

    def on_train_begin(self, args, state, control, **kwargs):
        self.lost = 0
        if state.global_step <= 0:
            return
        rows = [r for r in state.log_history if r.get("step", 0) <= state.global_step]
        recorded = [r for r in rows if self.KEY in r]
        if recorded and recorded[-1]["step"] == state.global_step:
            self.trainer._total_loss_scalar = float(recorded[-1][self.KEY])
            return
        # a checkpoint without the running sum (written by an older version): rebuild it from the logged
        # means, the steps after the last log are lost
        total, last = 0.0, 0
        for row in rows:
            if "loss" in row:
                total += float(row["loss"]) * (row["step"] - last)
                last = row["step"]
        self.trainer._total_loss_scalar = total
        self.lost = state.global_step - last

    def on_step_end(self, args, state, control, **kwargs):
        if control.should_save:
            control.should_log = True

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.log_history and "loss" in state.log_history[-1]:
            state.log_history[-1][self.KEY] = self.trainer._total_loss_scalar
        if logs and "train_loss" in logs:
            logs["train_loss"] = self.mean(state)
            if state.log_history and "train_loss" in state.log_history[-1]:
                state.log_history[-1]["train_loss"] = logs["train_loss"]

    def mean(self, state) -> float:
        return self.trainer._total_loss_scalar / max(state.global_step - self.lost, 0.001)

    def whole_run(self, result):
        """``trainer.train()``'s result with the whole training's mean loss."""
        loss = self.mean(self.trainer.state)
        return result._replace(training_loss=loss, metrics={**result.metrics, "train_loss": loss})


def seed_model_construction(seed: int) -> None:
    """Seed every RNG before a model is built: a new head or LoRA weights are then initialised the same way
    whatever ran before in this process (a resumed run skips stages an uninterrupted one ran)."""
    from transformers import set_seed

    set_seed(seed)


def lora_config(lora: DictConfig, task_type: str = "CAUSAL_LM"):
    """peft LoraConfig from a ``lora`` config node (None when disabled); CAUSAL_LM policies, SEQ_CLS rewards."""
    if not lora.enabled:
        return None
    from peft import LoraConfig

    return LoraConfig(
        task_type=task_type,
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
    )


def load_trainable_policy(model_path: str, model_cfg: DictConfig):
    """(model, tokenizer) of a causal LM about to be trained: right padding, the model's dtype."""
    from dr_irl.models.loading import load_causal_lm, load_tokenizer

    tokenizer = load_tokenizer(model_path, model_cfg.trust_remote_code, padding_side="right")
    return load_causal_lm(model_path, model_cfg.dtype, model_cfg.trust_remote_code), tokenizer


def save_trained(
    trainer, tokenizer, folder: Path, peft_auto_class: str = "AutoPeftModelForCausalLM", merge: bool = True
) -> None:
    """Save a trained model as a folder that from_pretrained reloads, from any number of ranks.

    ``trainer.save_model`` gathers ZeRO-3 shards and writes from the main process only; LoRA adapters are
    then merged into the base weights on the main process, unless ``merge=False`` (adapters kept as such).
    """
    from dr_irl.distributed import barrier, is_main_process

    trainer.save_model(str(folder))
    barrier()
    if not is_main_process():
        return
    if merge and (Path(folder) / "adapter_config.json").is_file():
        import peft

        from dr_irl.distributed.deepspeed import zero3_init_disabled

        with zero3_init_disabled():  # rank 0 alone: the base model loads whole
            merged = getattr(peft, peft_auto_class).from_pretrained(str(folder)).merge_and_unload()
        for name in ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin"):
            (Path(folder) / name).unlink(missing_ok=True)
        merged.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def peak_memory_gb() -> float:
    """Peak memory of this process so far: CUDA allocations on a GPU, the resident set size on the CPU."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**30
    import resource
    import sys

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return rss / (2**30 if sys.platform == "darwin" else 2**20)


class JsonlMetricsCallback(TrainerCallback):
    """Appends every logged metrics dict (with its step) to a jsonl file; an optional tracker sees them too."""

    def __init__(
        self, path: Path, tracker=None, prefix: str = "", step_offset: int = 0, extra: dict | None = None
    ) -> None:
        """``step_offset`` and ``extra`` (e.g. ``{"round": k}``): for several trainer runs in one log."""
        self.path, self.tracker, self.prefix = Path(path), tracker, prefix
        self.step_offset, self.extra = step_offset, dict(extra or {})
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def on_train_begin(self, args, state, control, **kwargs):
        """Drop the rows an interrupted run logged after the step this one starts (or resumes) from."""
        if state.is_world_process_zero:
            drop_rows_after(self.path, state.global_step + self.step_offset)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or not state.is_world_process_zero:
            return
        row = {"step": state.global_step + self.step_offset, **self.extra}
        row.update({k: v for k, v in logs.items() if isinstance(v, (int, float))})
        row["peak_memory_gb"] = peak_memory_gb()
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")


class TrackerCallback(TrainerCallback):
    """Sends a trainer's logged metrics to the run's tracker under ``prefix`` (the stage's name, and the model's
    for the reward models: ``reward_models/insult``), with the trainer's step as ``<prefix>/step``, so the
    curves of the warm start, each reward model and the policy never share a key."""

    def __init__(self, tracker, prefix: str, step_offset: int = 0) -> None:
        self.tracker, self.prefix, self.step_offset = tracker, prefix, step_offset

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.tracker.define_step(self.prefix)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or not state.is_world_process_zero:
            return
        metrics = {
            f"{self.prefix}/{k}": v
            for k, v in logs.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        self.tracker.log({**metrics, f"{self.prefix}/step": state.global_step + self.step_offset})


def resumed_step(resume_from_checkpoint) -> int:
    """The step of the checkpoint ``train(resume_from_checkpoint=...)`` resumes from (0: a fresh start)."""
    if not isinstance(resume_from_checkpoint, str):
        return 0
    from dr_irl.io import read_json

    return int(read_json(Path(resume_from_checkpoint) / "trainer_state.json")["global_step"])


def drop_rows_after(path: Path, step: int) -> None:
    """Remove from a per-step jsonl log (rows with a ``step``) the rows after ``step``: what an interrupted
    run logged past the checkpoint the new run resumes from (``step`` 0: a fresh start, all of them)."""
    path = Path(path)
    if not path.is_file():
        return
    lines = path.read_text(encoding="utf-8").splitlines()
    kept = [line for line in lines if line.strip() and _row_step(line) <= step]
    if len(kept) != len(lines):
        from dr_irl.io import atomic_write_text

        atomic_write_text(path, "".join(line + "\n" for line in kept))


def _row_step(line: str) -> float:
    try:
        return float(json.loads(line).get("step", 0))
    except (ValueError, AttributeError):
        return float("inf")  # a torn last line of a killed run: dropped


class CompactProgressCallback(TrainerCallback):
    """One progress bar per training run with the key metrics as its postfix, instead of a dict per log; when
    stderr is not a terminal (output to a file), no bar: one line when the training ends."""

    KEYS = {"loss": "loss", "reward": "reward", "scaler/alpha/mean": "alpha", "accuracy": "acc"}

    def __init__(self, desc: str) -> None:
        self.desc = desc
        self.bar = None
        self.shown: dict[str, str] = {}
        self.start = 0.0
        self.main = False

    def on_train_begin(self, args, state, control, **kwargs):
        self.main, self.start, self.shown = state.is_world_process_zero, time.perf_counter(), {}
        if self.main and interactive():
            self.bar = tqdm(total=state.max_steps, desc=self.desc, unit="step", leave=False)

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs:
            self.shown.update(
                {
                    name: f"{logs[key]:.3g}"
                    for key, name in self.KEYS.items()
                    if isinstance(logs.get(key), float)
                }
            )
            if self.bar is not None:
                self.bar.set_postfix(self.shown, refresh=False)

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        elif self.main:
            metrics = "".join(f", {name} {value}" for name, value in self.shown.items())
            seconds = time.perf_counter() - self.start
            print(
                f"{self.desc}: {state.global_step}/{state.max_steps} steps in {seconds:.1f}s{metrics}",
                flush=True,
            )


def use_compact_progress(trainer, desc: str) -> None:
    """Replace the trainer's printing callbacks by a :class:`CompactProgressCallback`."""
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(CompactProgressCallback(desc))
