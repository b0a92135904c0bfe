"""The one entry point: ``python train.py [group=option ...] [key=value ...]`` (``-m`` for sweeps).

``method=…`` is an alias of the ``optimizer`` group (the alignment method): ``method=dpo method.beta=0.2``.

With ``hardware.num_gpus > 1`` (or ``num_nodes > 1``) it relaunches itself under torchrun, every rank
writing to the same run directory; under ``torchrun``/``accelerate launch`` it runs as one of the ranks.
``hardware=auto`` and ``recipe=auto`` (the defaults) are resolved first and the plan is printed before any
stage (``plan_only=true``: the plan alone); see dr_irl/startup.py.
A user error (misspelt key or option, bad config value, bad data, missing model, run directory in use)
prints one ``error:`` line and exits with status 1, before the plan when the config is at fault;
``debug=true`` or ``HYDRA_FULL_ERROR=1`` shows its traceback. What the run prints is also kept in
``<run dir>/train.log``.
"""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path

import hydra
from omegaconf import DictConfig

from dr_irl.config import register_configs

register_configs()


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    from dr_irl.cli import invalid_combination, keeps_run_log, run, user_errors_reported
    from dr_irl.distributed.launch import launch, needs_launch
    from dr_irl.pipeline import console
    from dr_irl.startup import check_config, prepare_job, show_plan
    from dr_irl.terminal import run_log

    hydra_cfg = HydraConfig.get()
    cfg, overrides = prepare_job(cfg, list(hydra_cfg.overrides.task))  # multirun jobs: hardware/recipe=auto
    run_dir = Path(hydra_cfg.runtime.output_dir)
    skipped = invalid_combination(cfg)
    if skipped:  # a sweep's combination that is not a distinct experiment: no plan, no run
        console.print(f"[yellow]skipped[/yellow] {cfg.run_name}: {skipped}")
        return
    with user_errors_reported(cfg):  # a config error: one message, no traceback (debug=true keeps it)
        check_config(cfg)  # before the plan (single runs were checked before Hydra started)
    log = run_dir / f"{hydra_cfg.job.name}.log" if keeps_run_log() and not cfg.plan_only else None
    with run_log(log) if log is not None else nullcontext():  # the run's log in its run directory
        show_plan(cfg, run_dir)
        if cfg.plan_only:
            return
        if needs_launch(cfg.hardware):
            status = launch(cfg.hardware, __file__, overrides, hydra_cfg.runtime.output_dir)
            if status:
                sys.exit(status)
            return
        with user_errors_reported(cfg):
            run(cfg)


def cli(argv: list[str]) -> None:
    """``python train.py ARGS`` with ``argv`` as its command line: the start-up (aliases, ``hardware=auto``,
    the config checks, the plan) and the run."""
    from dr_irl.startup import apply_group_aliases, preflight

    argv = apply_group_aliases(argv)  # method=… is optimizer=…
    sys.argv = preflight(argv, Path(__file__).resolve().parent / "conf")  # single runs: resolve auto now
    main()


if __name__ == "__main__":
    cli(sys.argv)
