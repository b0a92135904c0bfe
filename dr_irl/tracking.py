"""Experiment trackers chosen by ``logger.name``: ``none`` or ``wandb`` (offline works without an account).

API keys come from the environment (WANDB_API_KEY) and are never written to configs, logs or run dirs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from dr_irl.registry import Registry

TRACKERS: Registry[Callable[[DictConfig, Path], Tracker]] = Registry("logger.name")


class Tracker:
    """No-op tracker (``logger=none``); the base of the others.

    Trainers report through :class:`dr_irl.hf_trainer.TrackerCallback`, which logs each stage's metrics under
    the stage's name (``warm_start/loss``, ``reward_models/insult/loss``, ``policy/reward``) with that stage's
    own step (``<stage>/step``); transformers' own W&B callback is never used (``report_to="none"``).
    """

    def log(self, metrics: dict[str, Any], step: int | None = None) -> None: ...

    def define_step(self, prefix: str) -> None:
        """Declare ``<prefix>/step`` as the x-axis of the ``<prefix>/…`` metrics."""

    def summary(self, values: dict[str, Any]) -> None: ...

    def table(self, name: str, columns: list[str], rows: list[list[Any]]) -> None: ...

    def finish(self) -> None: ...


class WandbTracker(Tracker):
    def __init__(self, cfg: DictConfig, run_dir: Path) -> None:
        import wandb

        os.environ.setdefault("WANDB_MODE", str(cfg.logger.mode))
        config = OmegaConf.to_container(cfg, resolve=True)
        self.run = wandb.init(
            project=cfg.logger.project,
            entity=cfg.logger.entity,
            group=cfg.logger.group,
            name=cfg.run_name,
            tags=list(cfg.logger.tags),
            config=config,
            dir=str(run_dir),
            reinit="finish_previous",
        )

    def log(self, metrics, step=None):
        self.run.log(metrics)

    def define_step(self, prefix):
        self.run.define_metric(f"{prefix}/step", hidden=True)
        self.run.define_metric(f"{prefix}/*", step_metric=f"{prefix}/step")

    def summary(self, values):
        self.run.summary.update(values)

    def table(self, name, columns, rows):
        import wandb

        self.run.log({name: wandb.Table(columns=columns, data=rows)})

    def finish(self):
        self.run.finish()


TRACKERS.register("none")(lambda cfg, run_dir: Tracker())
TRACKERS.register("wandb")(WandbTracker)


def build_tracker(cfg: DictConfig, run_dir: Path) -> Tracker:
    return TRACKERS.get(cfg.logger.name)(cfg, run_dir)
