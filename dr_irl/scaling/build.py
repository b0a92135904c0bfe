"""The scaler of a run, built from its ``scaler`` config group, and what that group needs from the run.

Every constructor argument of :class:`~dr_irl.scaling.scaler.DynamicRewardScaler` is read from the key of
the same name, so a new scaler setting is a field of ``ScalerConfig`` and an argument of the constructor,
nothing else.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from omegaconf import DictConfig, OmegaConf

from dr_irl.scaling.scaler import DynamicRewardScaler


def scaler_options(sc: DictConfig) -> dict[str, Any]:
    """The constructor arguments the ``scaler`` config sets (lists as tuples)."""
    values = OmegaConf.to_container(sc, resolve=True) if OmegaConf.is_config(sc) else dict(sc)
    names = inspect.signature(DynamicRewardScaler).parameters
    return {
        name: tuple(values[name]) if isinstance(values[name], list) else values[name]
        for name in names
        if name != "category_names" and name in values
    }


def build_scaler(sc: DictConfig, categories: Sequence[str], **overrides: Any) -> DynamicRewardScaler:
    """The scaler of config ``sc`` over ``categories``; ``overrides`` replace settings (DPO-S: per response)."""
    return DynamicRewardScaler(categories, **{**scaler_options(sc), **overrides})


def needs_offline_deltas(sc: DictConfig) -> bool:
    """Whether α^D reads δ or δ̄ computed once from the reference samples (stage ``alpha_offline``): offline
    α^D, or δ̄ per category over the data (``delta_bar_scope=dataset``)."""
    return bool(sc.use_data) and (sc.data_mode == "offline" or sc.delta_bar_scope == "dataset")


def offline_delta(sc: DictConfig) -> bool:
    """Whether α^D takes each prompt's δ from the ``alpha_offline`` stage instead of scoring the rollouts."""
    return bool(sc.use_data) and sc.data_mode == "offline"
