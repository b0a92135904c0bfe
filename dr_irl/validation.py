"""Start-up checks of the config values a user can get wrong: ranges, choices and registry names.

The structured schema (:mod:`dr_irl.config`) already rejects unknown keys and wrong types, except keys
added with ``+key=value``, which Hydra merges into any node: :func:`validate` rejects those too, and adds what
a type cannot say (``optimizer.num_generations >= 2``, ``0 < scaler.ema_gamma < 1``, a fraction in [0, 1), a
known ``reward_model.kind``). It runs before the plan is printed and before any stage, so a bad value fails
in a second with every offending key named instead of minutes later inside a library. Keys a config does
not have are skipped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from dr_irl.errors import ConfigError
from dr_irl.models.precision import GENERATION_DTYPES
from dr_irl.schema_keys import unknown_key_message, unknown_keys

_MISSING = object()


@dataclass(frozen=True)
class Bound:
    """``low (<|<=) value (<|<=) high``; ``optional``: None is allowed too (the key's "no limit")."""

    key: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # True: value > low, else value >= low
    high_open: bool = False  # True: value < high, else value <= high
    optional: bool = False
    why: str = ""

    def problem(self, value: Any) -> str | None:
        if value is None:
            return None if self.optional else "must be set"
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            return "must be a number"
        too_low = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        too_high = self.high is not None and (value >= self.high if self.high_open else value > self.high)
        if not (too_low or too_high):
            return None
        return f"must be {self.describe()}" + (f" ({self.why})" if self.why else "")

    def describe(self) -> str:
        low = None if self.low is None else f"{_num(self.low)} {'<' if self.low_open else '<='} "
        high = None if self.high is None else f" {'<' if self.high_open else '<='} {_num(self.high)}"
        if low and high:
            return f"{low}{self.key.rsplit('.', 1)[-1]}{high}"
        if low:
            return f"{'>' if self.low_open else '>='} {_num(self.low)}"
        return f"{'<' if self.high_open else '<='} {_num(self.high)}"


@dataclass(frozen=True)
class Choice:
    """The value is one of ``choices`` (a tuple, or a callable returning them: a registry's names)."""

    key: str
    choices: Sequence[Any] | Callable[[], Sequence[Any]]

    def problem(self, value: Any) -> str | None:
        allowed = list(self.choices() if callable(self.choices) else self.choices)
        return None if value in allowed else f"expected one of {allowed}"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def at_least(key: str, n: int, why: str = "", optional: bool = False) -> Bound:
    return Bound(key, low=n, optional=optional, why=why)


def positive(key: str, why: str = "") -> Bound:
    return Bound(key, low=0, low_open=True, why=why)


def _registry(module: str, name: str) -> Callable[[], list[str]]:
    def names() -> list[str]:
        import importlib

        return getattr(importlib.import_module(module), name).names()

    return names


def _scaler_choices(name: str) -> Callable[[], tuple[str, ...]]:
    def choices() -> tuple[str, ...]:
        from dr_irl.scaling import scaler

        return getattr(scaler, name)

    return choices


_TRAINING = [  # groups with the SFT/DPO/reward-model training knobs
    ("warm_start", ("epochs", "learning_rate", "batch_size", "max_length")),
    ("sft_policy", ("epochs", "learning_rate", "batch_size", "max_length")),
    ("reward_model", ("epochs", "learning_rate", "batch_size", "max_length")),
    ("optimizer", ("epochs", "learning_rate", "batch_size", "max_length")),
]

RULES: list[Bound | Choice] = [
    at_least("seed", 0),
    # data
    Bound("dataset.heldout_fraction", 0, 1, high_open=True),
    at_least("dataset.max_per_category", 1, optional=True),
    at_least("dataset.max_prompt_tokens", 1, optional=True),
    Choice("dataset.balance", ("down", "up", "none")),
    Choice("dataset.source", _registry("dr_irl.data.sources", "DATASET_SOURCES")),
    # model
    Choice("model.source", _registry("dr_irl.models.weights", "MODEL_SOURCES")),
    Choice("model.dtype", ("float32", "bfloat16", "float16")),
    at_least("model.lora.r", 1),
    Bound("model.lora.dropout", 0, 1, high_open=True),
    # demonstrations
    at_least("demonstrations.max_new_tokens", 1),
    at_least("demonstrations.batch_size", 1),
    at_least("demonstrations.max_attempts", 1),
    positive("demonstrations.temperature"),
    Choice("demonstrations.template", ("cod", "cot")),
    Choice("demonstrations.engine", _registry("dr_irl.data.demonstrations", "DEMONSTRATION_ENGINES")),
    # training groups
    *[
        rule
        for group, _ in _TRAINING
        for rule in (
            Bound(f"{group}.epochs", 0, low_open=True),
            positive(f"{group}.learning_rate"),
            at_least(f"{group}.batch_size", 1),
            at_least(f"{group}.max_length", 1),
            at_least(f"{group}.save_steps", 0, "0: no mid-stage checkpoints"),
            at_least(f"{group}.save_total_limit", 1, "how many checkpoints to keep"),
        )
    ],
    # reward models
    Choice("reward_model.kind", _registry("dr_irl.rewards.families", "REWARD_FAMILIES")),
    Choice("reward_model.backbone.source", _registry("dr_irl.rewards.backbones", "BACKBONE_SOURCES")),
    Choice("reward_model.pooling", ("end", "mean")),
    Choice("reward_model.pairs", _registry("dr_irl.data.pair_designs", "PAIR_DESIGNS")),
    Bound("reward_model.eval_fraction", 0, 1, high_open=True),
    at_least("reward_model.samples_per_prompt", 1),
    at_least("optimizer.benign_repeats", 1),
    at_least("warm_start.benign_repeats", 1),
    at_least("sft_policy.benign_repeats", 1),
    at_least("reward_model.guided_words", 0),
    positive("reward_model.linear_l2"),
    Bound("reward_model.pool_weight", 0, 1),
    Choice("reward_model.features", _registry("dr_irl.rewards.linear_features", "LINEAR_FEATURES")),
    at_least("reward_model.feature_layer", 1),
    at_least("reward_model.sample_max_new_tokens", 1),
    positive("reward_model.sample_temperature"),
    Choice("reward_model.reference_policy", ("init", "base")),
    at_least("reward_model.probe_epochs", 1),
    positive("reward_model.probe_learning_rate"),
    # policy optimizer
    Choice("optimizer.name", _registry("dr_irl.training.methods", "METHODS")),
    Choice("optimizer.sample_from", _registry("dr_irl.training.best_of_n", "SAMPLERS")),
    at_least("optimizer.num_generations", 2, "GRPO normalises each prompt's rewards within its group"),
    at_least("optimizer.prompts_per_step", 1),
    at_least("optimizer.max_completion_length", 1),
    at_least("optimizer.gradient_accumulation_steps", 1),
    at_least("optimizer.logging_steps", 1),
    at_least("optimizer.n", 1),
    at_least("optimizer.probe_updates", 0),
    at_least("optimizer.probe_update_epochs", 1),
    at_least("optimizer.reward_refresh_every", 0, "0: no refresh"),
    positive("optimizer.temperature"),
    at_least("optimizer.beta", 0),
    positive("optimizer.epsilon"),
    positive("optimizer.confidence_a"),
    Bound("optimizer.vllm_gpu_memory_utilization", 0, 1, low_open=True),
    Choice("optimizer.vllm_mode", ("colocate", "server")),
    Choice("optimizer.alpha_mode", ("offline", "online")),
    # scaler
    positive("scaler.tau", "the outlier threshold on the reward gap, in standard deviations"),
    Bound("scaler.ema_gamma", 0, 1, low_open=True, high_open=True, why="the EMA's decay"),
    Choice("scaler.combine", _scaler_choices("COMBINES")),
    Choice("scaler.granularity", _scaler_choices("GRANULARITIES")),
    Choice("scaler.gap_pooling", _scaler_choices("GAP_POOLINGS")),
    Choice("scaler.delta_bar_scope", _scaler_choices("DELTA_BAR_SCOPES")),
    Choice("scaler.data_mode", ("online", "offline")),
    at_least("scaler.encoder.batch_size", 1),
    at_least("scaler.encoder.max_subsentences", 1),
    # evaluation
    at_least("eval.max_new_tokens", 1),
    at_least("eval.batch_size", 1),
    Choice("eval.generation_dtype", GENERATION_DTYPES),
    at_least("eval.max_harmful", 0, optional=True),
    at_least("eval.max_benign", 0, optional=True),
    at_least("eval.judge_batch_size", 1),
    Bound("eval.judge_threshold", 0, 1),
    # hardware
    at_least("hardware.num_gpus", 1),
    at_least("hardware.num_nodes", 1),
    Bound("hardware.master_port", 1, 65535),
]


def _pair_problems(cfg: DictConfig) -> list[str]:
    """Checks of two-element lists and of keys that depend on each other."""
    problems = []
    clamp = OmegaConf.select(cfg, "scaler.clamp", default=_MISSING)
    if clamp is not _MISSING and (len(clamp) != 2 or not 0 < clamp[0] <= clamp[1]):
        problems.append(f"scaler.clamp={list(clamp)}: must be [min, max] with 0 < min <= max")
    weights = OmegaConf.select(cfg, "scaler.weights", default=_MISSING)
    if weights is not _MISSING and (len(weights) != 2 or min(weights) < 0 or sum(weights) <= 0):
        problems.append(f"scaler.weights={list(weights)}: must be [w_D, w_M], both >= 0, not both 0")
    categories = OmegaConf.select(cfg, "dataset.categories", default=_MISSING)
    if categories is not _MISSING and (not categories or len(set(categories)) != len(categories)):
        problems.append(f"dataset.categories={list(categories)}: must be a non-empty list without repeats")
    max_steps = OmegaConf.select(cfg, "optimizer.max_steps", default=_MISSING)
    if max_steps is not _MISSING and (max_steps == 0 or max_steps < -1):
        problems.append(f"optimizer.max_steps={max_steps}: must be >= 1 (or -1: train for optimizer.epochs)")
    refresh = OmegaConf.select(cfg, "optimizer.reward_refresh_every", default=0)
    kind = OmegaConf.select(cfg, "reward_model.kind", default=None)
    method = OmegaConf.select(cfg, "optimizer.name", default=None)
    if refresh and refresh > 0 and (kind != "irl_linear" or method != "grpo"):
        problems.append(
            f"optimizer.reward_refresh_every={refresh}: iterative IRL refits the linear IRL reward inside GRPO; "
            f"it needs reward_model.kind=irl_linear and optimizer.name=grpo (here {kind} and {method})"
        )
    elif refresh and max_steps is not _MISSING and 0 < max_steps < refresh:
        problems.append(
            f"optimizer.reward_refresh_every={refresh}: more than optimizer.max_steps={max_steps}, so the reward "
            "would never be refitted (0 turns iterative IRL off)"
        )
    layer = OmegaConf.select(cfg, "reward_model.feature_layer", default=None)
    if OmegaConf.select(cfg, "reward_model.features", default=None) == "policy_hidden" and layer:
        blocks = _policy_blocks(cfg)
        if blocks and layer > blocks:
            problems.append(f"reward_model.feature_layer={layer}: the policy has blocks 1..{blocks}")
    tiny = OmegaConf.select(cfg, "model.tiny", default=_MISSING)
    if tiny is not _MISSING and cfg.model.get("source") == "tiny" and tiny.hidden_size % tiny.num_heads:
        problems.append(
            f"model.tiny.hidden_size={tiny.hidden_size}: must be a multiple of model.tiny.num_heads={tiny.num_heads}"
        )
    return problems


def _policy_blocks(cfg: DictConfig) -> int | None:
    """The number of transformer blocks of the run's policy, where its config is at hand without loading it."""
    if OmegaConf.select(cfg, "model.source", default=None) == "tiny":
        return int(cfg.model.tiny.num_layers)
    from dr_irl.models.shapes import model_shape

    try:
        shape = model_shape(cfg.model, cfg.paths.cache_dir)
    except (OSError, ValueError, KeyError, TypeError):  # an unreadable config is reported where it is loaded
        return None
    return None if shape is None else shape.num_layers


def config_problems(cfg: DictConfig) -> list[str]:
    """``key=value: what is wrong`` for every rule the config breaks (empty when it is valid)."""
    problems = []
    for rule in RULES:
        value = OmegaConf.select(cfg, rule.key, default=_MISSING)
        if value is _MISSING:
            continue
        problem = rule.problem(value)
        if problem:
            problems.append(f"{rule.key}={value!r}: {problem}")
    return problems + _pair_problems(cfg)


def validate(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` for a key the schema does not declare (``+scaler.tauu=2``: one line naming
    it and the settings there), else naming every key whose value is out of range or not a known choice."""
    unknown = unknown_keys(cfg)
    if unknown:
        raise ConfigError("; ".join(unknown_key_message(key) for key in unknown))
    problems = config_problems(cfg)
    if problems:
        raise ConfigError(
            "invalid config value" + ("s" if len(problems) > 1 else "") + ":\n  " + "\n  ".join(problems)
        )
