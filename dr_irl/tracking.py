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

    def table(self, name: str, columns: list[str], rows: list[list[Any]]) -> None:
        """Log a table; a ``(value, [low, high])`` cell (an estimate and its interval, as the results rows
        hold) is split into the columns ``<column>``, ``<column>_low`` and ``<column>_high``."""

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

        columns, rows = split_intervals(columns, rows)
        self.run.log({name: wandb.Table(columns=columns, data=rows)})

    def finish(self):
        self.run.finish()


def _interval(cell: Any) -> tuple[Any, Any, Any] | None:
    """``(value, low, high)`` of a ``(value, [low, high])`` cell (``(value, None)``: no interval), None for
    any other cell."""
    if not (isinstance(cell, tuple) and len(cell) == 2):
        return None
    value, interval = cell
    if interval is None:
        return value, None, None
    if isinstance(interval, (tuple, list)) and len(interval) == 2:
        return value, interval[0], interval[1]
    return None


def _scalar(cell: Any) -> Any:
    """What a table column of one type takes: numbers, strings, booleans and None as they are, else text."""
    return cell if cell is None or isinstance(cell, (bool, int, float, str)) else str(cell)


def split_intervals(columns: list[str], rows: list[list[Any]]) -> tuple[list[str], list[list[Any]]]:
    """``(columns, rows)`` with each column holding ``(value, [low, high])`` cells split into three columns,
    ``<column>``, ``<column>_low`` and ``<column>_high`` (None where a row has a bare value or none), so
    that every column has one type; any other non-scalar cell becomes its text."""
    split = [any(_interval(row[i]) is not None for row in rows) for i in range(len(columns))]
    out_columns = [
        c for c, s in zip(columns, split, strict=True) for c in ((c, f"{c}_low", f"{c}_high") if s else (c,))
    ]
    out_rows = []
    for row in rows:
        cells: list[Any] = []
        for cell, is_split in zip(row, split, strict=True):
            if not is_split:
                cells.append(_scalar(cell))
                continue
            parts = _interval(cell)
            cells += [_scalar(p) for p in parts] if parts is not None else [_scalar(cell), None, None]
        out_rows.append(cells)
    return out_columns, out_rows


TRACKERS.register("none")(lambda cfg, run_dir: Tracker())
TRACKERS.register("wandb")(WandbTracker)


def build_tracker(cfg: DictConfig, run_dir: Path) -> Tracker:
    return TRACKERS.get(cfg.logger.name)(cfg, run_dir)
