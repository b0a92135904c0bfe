"""What ``train.py`` does with a composed config: validate, lock the run dir, seed, tracker, the stages."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from dr_irl.errors import UserError
from dr_irl.pipeline import Context, console, run_stages
from dr_irl.terminal import interactive


def quiet_libraries(hardware: DictConfig | None = None) -> None:
    """Keep the console for progress bars and tables: silence the chattiest library loggers; with the output
    going to a file (not a terminal), no third-party progress bars either (``dr_irl.terminal``)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if hardware is not None and hardware.use_cpu:
        # the run chose the CPU: DeepSpeed need not probe for an accelerator and warn that it found none
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    for name in ("transformers", "datasets", "DeepSpeed", "accelerate", "httpx", "sentence_transformers"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # TRL reads transformers' deprecated `is_gradient_checkpointing` itself: nothing a user can change
    warnings.filterwarnings(
        "ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning
    )
    import transformers

    transformers.logging.set_verbosity_error()
    if not interactive():
        import datasets
        import huggingface_hub

        transformers.logging.disable_progress_bar()
        datasets.disable_progress_bars()
        huggingface_hub.utils.disable_progress_bars()


def keeps_run_log() -> bool:
    """Whether this process writes the run's log file: the one ``python train.py`` started (not a rank it
    launched), or rank 0 of a run started by torchrun / accelerate launch."""
    return "LOCAL_RANK" not in os.environ or os.environ.get("RANK", "0") == "0"


def invalid_combination(cfg: DictConfig) -> str | None:
    """Why this optimizer/scaler combination is not a distinct experiment (sweeps skip it), or None: the
    method declares whether it uses or requires a scaler (:mod:`dr_irl.training.methods`)."""
    from dr_irl.training.methods import METHODS

    name, scaler = cfg.optimizer.name, cfg.scaler.name
    if name not in METHODS:
        return None  # validate() names the unknown method
    method = METHODS.get(name)
    if not method.uses_scaler and scaler != "none":
        return f"optimizer={name} does not use a scaler: run it with scaler=none (skipping scaler={scaler})"
    if method.requires_scaler and scaler == "none":
        return (
            f"optimizer={name} needs a scaler (scaler=clip_gap, ...): with scaler=none it is its base method"
        )
    return None


def warn_inert_scaling(cfg: DictConfig) -> list[str]:
    """Print (and return) a warning for each scaler setting that makes α^D, α^M or α identically 1."""
    from dr_irl.scaling.checks import inert_factor_warnings
    from dr_irl.training.methods import METHODS

    if cfg.optimizer.name not in METHODS or not METHODS.get(cfg.optimizer.name).uses_scaler:
        return []
    warnings = inert_factor_warnings(cfg.scaler, cfg.optimizer.prompts_per_step, len(cfg.dataset.categories))
    for warning in warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    return warnings


def run(cfg: DictConfig, run_dir: str | Path | None = None) -> dict:
    """Run the experiment of ``cfg`` in ``run_dir`` (default: Hydra's output dir); returns stage summaries.

    The config's values are checked first (:func:`dr_irl.validation.validate`); rank 0 then holds the run
    directory's lock (:class:`dr_irl.run_lock.RunLock`) until the run ends, so a second run on the same
    directory fails at once instead of mixing its stages with this one's.
    """
    from transformers import set_seed

    from dr_irl.distributed.ranks import barrier, init_process_group, is_main_process
    from dr_irl.models.precision import generation_dtype
    from dr_irl.run_artifacts import base_model_path
    from dr_irl.run_lock import RunLock
    from dr_irl.stages import STAGES
    from dr_irl.tracking import Tracker, build_tracker
    from dr_irl.validation import validate

    if run_dir is None:
        from hydra.core.hydra_config import HydraConfig

        run_dir = HydraConfig.get().runtime.output_dir
    run_dir = Path(run_dir)
    reason = invalid_combination(cfg)
    if reason:
        console.print(f"[yellow]skipped[/yellow] {cfg.run_name}: {reason}")
        return {}
    warn_inert_scaling(cfg)
    validate(cfg)
    OmegaConf.resolve(cfg)
    cfg.eval.generation_dtype = generation_dtype(cfg)  # `auto` → this machine's: fingerprints name the dtype
    quiet_libraries(cfg.hardware)
    init_process_group(cfg.hardware.use_cpu)
    lock = RunLock(run_dir).acquire() if is_main_process() else None
    try:
        set_seed(cfg.seed)
        tracker = build_tracker(cfg, run_dir) if is_main_process() else Tracker()
        ctx = Context(cfg=cfg, run_dir=run_dir, tracker=tracker)
        try:
            if is_main_process():  # fail fast on missing weights; rank 0 builds/converts local models once
                base_model_path(ctx)
            barrier()
            base_model_path(ctx)
            return run_stages(STAGES, ctx)
        finally:
            tracker.finish()
    finally:
        if lock is not None:
            lock.release()


def show_traceback(cfg: DictConfig) -> bool:
    """Whether user errors keep their traceback: ``debug=true`` or ``HYDRA_FULL_ERROR=1``."""
    return bool(cfg.get("debug")) or os.environ.get("HYDRA_FULL_ERROR") == "1"


@contextmanager
def user_errors_reported(cfg: DictConfig) -> Iterator[None]:
    """A :class:`~dr_irl.errors.UserError` becomes one ``error: ...`` line on stderr and exit status 1
    (no traceback: it is the user's to fix, not a bug); other exceptions propagate with their traceback."""
    try:
        yield
    except UserError as err:
        if show_traceback(cfg):
            raise
        sys.stdout.flush()
        print(f"error: {err}", file=sys.stderr, flush=True)
        sys.exit(1)
