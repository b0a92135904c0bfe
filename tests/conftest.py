"""Shared fixtures: an isolated model cache, Hydra composition, tiny-model configs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from dr_irl.config import register_configs

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Small settings that keep an end-to-end run of the tiny model at tens of seconds.
TINY_RUN = [
    "model=tiny",
    "hardware.bf16=false",  # fp32 on every machine (hardware=auto takes bf16 where the CPU has it)
    "logger=none",
    "dataset.max_per_category=6",
    "warm_start.epochs=1",
    "reward_model.epochs=1",
    "reward_model.sample_max_new_tokens=16",
    "reward_model.max_length=96",
    "optimizer.max_steps=2",
    "optimizer.prompts_per_step=2",
    "optimizer.num_generations=2",
    "optimizer.max_completion_length=8",
    "eval=smoke",
    "eval.max_new_tokens=8",
    "eval.max_harmful=7",
    "eval.max_benign=7",
]


def tiny_dpo_args(tmp_path, **extra):
    """TRL's DPOConfig for the hand-computed DPO-family loss tests: β = 0.1, two pairs per batch, CPU."""
    from trl import DPOConfig

    return DPOConfig(
        output_dir=str(tmp_path / "t"),
        beta=0.1,
        per_device_train_batch_size=2,
        use_cpu=True,
        bf16=False,
        report_to="none",
        loss_type=["sigmoid"],
        max_length=64,
        **extra,
    )


def run_train(*args: str, timeout: float = 900, **env: str) -> subprocess.CompletedProcess:
    """``python train.py ARGS`` from the repo root, offline, as a new top-level process (no inherited rank)."""
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled", **env}
    environment.pop("LOCAL_RANK", None)
    return subprocess.run(
        [sys.executable, "train.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
    )


def train_entry(*args: str) -> int:
    """``python train.py ARGS`` inside this process: the same start-up (aliases, ``hardware=auto``, the config
    checks, the plan) and Hydra entry, seeing the components a test registered; returns the exit status."""
    import importlib.util

    from hydra.core.global_hydra import GlobalHydra

    spec = importlib.util.spec_from_file_location("train_entry", ROOT / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main.__wrapped__.__module__ = "__main__"  # Hydra finds conf/ next to the script, as when it is run
    argv = sys.argv
    try:
        module.cli(["train.py", *args])
        return 0
    except SystemExit as exit:
        return exit.code if isinstance(exit.code, int) else 1
    finally:
        sys.argv = argv
        GlobalHydra.instance().clear()


def two_category_data(folder: Path) -> list[str]:
    """The bundled splits cut to two categories (two reward models instead of seven): the overrides."""
    import json

    from dr_irl.data.bundled import bundled_paths

    categories = ["insult", "unfairness_discrimination"]
    folder.mkdir(parents=True, exist_ok=True)
    overrides = [f"dataset.categories=[{','.join(categories)}]"]
    for split, path in bundled_paths().items():
        rows = [
            line for line in Path(path).read_text().splitlines() if json.loads(line)["category"] in categories
        ]
        (folder / f"{split}.jsonl").write_text("\n".join(rows) + "\n")
        overrides.append(
            f"dataset.{'train' if split == 'train' else 'heldout'}_path={folder / f'{split}.jsonl'}"
        )
    return overrides


# The quickest whole pipeline: two categories, no warm start, one shared reward model on the tiny policy's
# own backbone, no scaler (no α^D encoder), two GRPO steps, four prompts per evaluation set.
QUICK_RUN = [
    *[a for a in TINY_RUN if not a.startswith(("eval.max_", "reward_model.sample_max_new_tokens"))],
    "model.warm_start=false",
    "reward_model=irl_category_classifier",  # a trained reward model, one, on the tiny policy's backbone
    "reward_model.per_category=false",
    "reward_model.backbone.source=policy",
    "reward_model.sample_max_new_tokens=8",
    "scaler=none",
    "eval.max_harmful=4",
    "eval.max_benign=4",
]


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory) -> Path:
    """Models built by tests (tiny) go to a per-session cache, never to the user's."""
    cache = Path(os.environ.get("DR_IRL_TEST_CACHE", tmp_path_factory.mktemp("dr_irl_cache")))
    os.environ["DR_IRL_CACHE"] = str(cache)
    return cache


@pytest.fixture(scope="session")
def compose_cfg():
    """compose_cfg(overrides) -> the config ``python train.py <overrides>`` would run with."""
    register_configs()

    def _compose(overrides=()):
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            return compose(config_name="config", overrides=list(overrides))

    return _compose


@pytest.fixture
def offline(monkeypatch):
    """No hub, no Hugging Face cache, no package copies: only local (and bundled) files work."""
    from dr_irl.data import fetch
    from dr_irl.evaluation import benchmarks

    def no_cache(*args, **kwargs):
        raise ConnectionError("offline")

    monkeypatch.setattr(fetch, "hub_reachable", lambda: False)
    monkeypatch.setattr(fetch, "hub_rows", no_cache)
    monkeypatch.setattr(fetch, "hub_file_rows", no_cache)
    monkeypatch.setattr(benchmarks, "package_folder", lambda name: None)
