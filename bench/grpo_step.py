"""Tokens/s and peak memory of a GRPO-S step (scaler=clip_gap) on a given model and hardware option.

Runs ``train.py`` up to the policy stage (data, reference samples, reward models, evaluation before, then
``--steps`` GRPO-S steps, nothing saved) and prints a table from the trainer's own per-step log: TRL's
``step_time`` and ``num_tokens`` (prompt + completion tokens of every rank, cumulative) and the project's
``peak_memory_gb`` (CUDA peak allocation on a GPU, the resident set size on the CPU). The first step is
excluded (warm-up).

    python bench/grpo_step.py --model random-0.5b --hardware zero2            # one GPU, ZeRO-2
    python bench/grpo_step.py --model random-1.5b --hardware zero2 --gpus 8
    python bench/grpo_step.py --model tiny --hardware cpu --steps 3 --prompts 2 --generations 2 --completion 8
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def throughput(rows: list[dict]) -> dict[str, float]:
    """Mean step time, tokens/s (Δ num_tokens / step_time per step) and peak memory; first step excluded."""
    steps = [r for r in rows if "step_time" in r and "num_tokens" in r]
    if len(steps) < 2:
        raise ValueError(f"need at least 2 logged steps (logging_steps=1), got {len(steps)}")
    rates, times = [], []
    for previous, row in itertools.pairwise(steps):
        times.append(row["step_time"])
        rates.append((row["num_tokens"] - previous["num_tokens"]) / row["step_time"])
    return {
        "step_time": statistics.mean(times),
        "tokens_per_second": statistics.mean(rates),
        "peak_memory_gb": max(r.get("peak_memory_gb", 0.0) for r in rows),
    }


def parameter_count(model_dir: Path) -> int:
    """Parameters of the model in ``model_dir`` (built on the meta device: no memory used)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model_dir))
    return sum(p.numel() for p in model.parameters())


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="random-0.5b")
    parser.add_argument("--hardware", default="zero2")
    parser.add_argument("--gpus", type=int, default=1)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--prompts", type=int, default=8, help="prompts per step")
    parser.add_argument("--generations", type=int, default=8, help="G, rollouts per prompt")
    parser.add_argument("--completion", type=int, default=256, help="max completion tokens")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    parser.add_argument("extra", nargs="*", help="more train.py overrides")
    args = parser.parse_args(argv)

    run_dir = Path(args.out) / f"grpo_step-{args.model}-{args.hardware}-{args.gpus}gpu"
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        f"model={args.model}",
        f"hardware={args.hardware}",
        f"hardware.num_gpus={args.gpus}",
        "scaler=clip_gap",
        "logger=none",
        "stop_after=policy",
        "optimizer.save_model=false",
        "optimizer.logging_steps=1",
        f"optimizer.max_steps={args.steps}",
        f"optimizer.prompts_per_step={args.prompts}",
        f"optimizer.num_generations={args.generations}",
        f"optimizer.max_completion_length={args.completion}",
        "eval.max_harmful=7",
        "eval.max_benign=7",
        f"hydra.run.dir={run_dir}",
        *args.extra,
    ]
    print(" ".join(command))
    subprocess.run(command, cwd=ROOT, check=True, env={**os.environ, "WANDB_MODE": "disabled"})
    log = run_dir / "stages" / "policy" / "train_log.jsonl"
    stats = throughput([json.loads(line) for line in log.read_text().splitlines()])
    from hydra import compose, initialize_config_dir

    from dr_irl.config import register_configs
    from dr_irl.models import resolve_model_path

    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"model={args.model}"])
    params = parameter_count(Path(resolve_model_path(cfg.model, cfg.paths.cache_dir)))
    device = "CPU"
    try:
        import torch

        if torch.cuda.is_available():
            device = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    size = f"{params / 1e9:.2f}B" if params >= 1e8 else f"{params / 1e6:.2f}M"
    batch = f"{args.prompts}×{args.generations}, ≤{args.completion} tok"
    print(f"\nGRPO-S step, {args.steps} steps (first excluded), {device}\n")
    print(
        "| model | parameters | hardware | GPUs | batch (prompts × G) | step (s) | tokens/s | peak memory (GB) |"
    )
    print("|---|---:|---|---:|---|---:|---:|---:|")
    print(
        f"| {args.model} | {size} | {args.hardware} | {args.gpus} | {batch} | "
        f"{stats['step_time']:.2f} | {stats['tokens_per_second']:.0f} | {stats['peak_memory_gb']:.1f} |"
    )
    return {**stats, "parameters": params}


if __name__ == "__main__":
    main()
