"""Per-step time of GRPO-S (``scaler=clip_gap``) against plain GRPO (``scaler=none``) at equal work.

Runs the pipeline once up to the policy stage (data, warm start, reference samples, reward models), then
the policy stage alternately with each scaler — A B A B … over ``--pairs`` pairs, in one process and one
run directory (only the policy stage reruns). Every rollout is exactly ``--completion`` tokens long
(``min_new_tokens`` = ``max_completion_length`` in the trainer's generation kwargs), so both arms generate
and train on the same number of tokens. A step's time is that of TRL's ``training_step`` (generation,
rewards, the hook and the update), measured by wrapping it, the first step of each run left out; the
hook's time is measured by wrapping it too: the time in GRPO-S's ``_generate_and_score_completions``
minus the time in TRL's, which it calls.

On a machine busy with other work, ``--threads 1 --clock cpu`` times the process's own CPU time instead of
wall time (one thread, so CPU time is the work's own time).

    python bench/grpo_overhead.py [--model tiny] [--pairs 3] [--steps 6] [--completion 24]
    python bench/grpo_overhead.py --threads 1 --clock cpu      # on a shared machine
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ARMS = ("none", "clip_gap")  # A = GRPO, B = GRPO-S
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
T = TypeVar("T")


@dataclass
class RunTimes:
    """One policy-stage run: its per-step times and per-step hook times (first step excluded)."""

    scaler: str
    steps: list[float]
    hooks: list[float] = field(default_factory=list)

    @property
    def step(self) -> float:
        return statistics.median(self.steps)

    @property
    def hook(self) -> float:
        return statistics.median(self.hooks) if self.hooks else 0.0


def pair_ratios(runs: Sequence[RunTimes]) -> list[float]:
    """B/A median step time of each consecutive (A, B) pair of an A B A B … sequence."""
    if len(runs) % 2:
        raise ValueError(f"runs must come in A, B pairs, got {len(runs)}")
    ratios = []
    for a, b in zip(runs[::2], runs[1::2], strict=True):
        if (a.scaler, b.scaler) != ARMS:
            raise ValueError(f"pair ({a.scaler}, {b.scaler}) is not {ARMS}")
        ratios.append(b.step / a.step)
    return ratios


def summarize(runs: Sequence[RunTimes]) -> dict[str, float | list[float]]:
    """Median step time per arm, the pair ratios with their median and spread, the hook's share of B's step."""
    ratios = pair_ratios(runs)
    a = statistics.median(r.step for r in runs if r.scaler == ARMS[0])
    b = statistics.median(r.step for r in runs if r.scaler == ARMS[1])
    hook = statistics.median(r.hook for r in runs if r.scaler == ARMS[1])
    return {
        "step_a": a,
        "step_b": b,
        "ratios": ratios,
        "ratio_median": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "hook_b": hook,
        "hook_share": hook / b,
    }


def format_report(runs: Sequence[RunTimes]) -> str:
    s = summarize(runs)
    lines = [
        "| pair | GRPO step (s) | GRPO-S step (s) | GRPO-S / GRPO | hook (s) | hook / GRPO-S step |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for i, (a, b, ratio) in enumerate(zip(runs[::2], runs[1::2], s["ratios"], strict=True), start=1):
        lines.append(
            f"| {i} | {a.step:.3f} | {b.step:.3f} | {ratio:.3f} | {b.hook:.4f} | {100 * b.hook / b.step:.1f}% |"
        )
    lines.append(
        f"| median | {s['step_a']:.3f} | {s['step_b']:.3f} | {s['ratio_median']:.3f} "
        f"(spread {s['ratio_min']:.3f}–{s['ratio_max']:.3f}) | {s['hook_b']:.4f} | "
        f"{100 * s['hook_share']:.1f}% |"
    )
    lines.append(
        f"\nGRPO-S − GRPO: {s['step_b'] - s['step_a']:+.4f} s per step (medians), of which the hook "
        f"{s['hook_b']:.4f} s; without the hook GRPO-S would be "
        f"{(s['step_b'] - s['hook_b']) / s['step_a']:.3f}× GRPO"
    )
    return "\n".join(lines)


@contextmanager
def patched(owner, name: str, wrap: Callable) -> Iterator[None]:
    """``owner.name`` replaced by ``wrap(owner.name)`` within the block."""
    original = owner.__dict__[name]
    setattr(owner, name, wrap(original))
    try:
        yield
    finally:
        setattr(owner, name, original)


def fixed_length(grpo_config: Callable) -> Callable:
    """``grpo_config`` whose trainer generates exactly ``max_completion_length`` tokens per rollout."""

    def build(out_dir, opt, *args, **kwargs):
        config = grpo_config(out_dir, opt, *args, **kwargs)
        config.generation_kwargs = {
            **(config.generation_kwargs or {}),
            "min_new_tokens": opt.max_completion_length,
        }
        return config

    return build


def _timed(method: Callable, sink: list[float], clock: Callable[[], float]) -> Callable:
    def call(self, *args, **kwargs):
        started = clock()
        try:
            return method(self, *args, **kwargs)
        finally:
            sink.append(clock() - started)

    return call


@contextmanager
def method_timer(
    owner: type, name: str, clock: Callable[[], float] = time.perf_counter
) -> Iterator[list[float]]:
    """Seconds of each call of ``owner.name`` within the block."""
    seconds: list[float] = []
    with patched(owner, name, lambda m: _timed(m, seconds, clock)):
        yield seconds


@contextmanager
def hook_timer(
    outer: type, inner: type, name: str, clock: Callable[[], float] = time.perf_counter
) -> Iterator[list[float]]:
    """Seconds ``outer.name`` spends outside ``inner.name`` (the method it extends through ``super()``),
    one entry per call, filled in when the block ends."""
    hooks: list[float] = []
    with method_timer(inner, name, clock) as inner_times, method_timer(outer, name, clock) as outer_times:
        yield hooks
    hooks.extend(o - i for o, i in zip(outer_times, inner_times, strict=True))


@contextmanager
def timed_fixed_length_steps(clock: Callable[[], float]) -> Iterator[tuple[list[float], list[float]]]:
    """Within the block every GRPO rollout is ``max_completion_length`` tokens long; yields (seconds of
    each training step, seconds of each call of the GRPO-S hook: GRPO-S's ``_generate_and_score_completions``
    minus TRL's), filled in as the steps run."""
    from trl import GRPOTrainer

    import dr_irl.training.grpo_s as grpo_s

    with (
        patched(grpo_s, "grpo_config", fixed_length),
        method_timer(GRPOTrainer, "training_step", clock) as steps,
        hook_timer(grpo_s.GRPOSTrainer, GRPOTrainer, "_generate_and_score_completions", clock) as hooks,
    ):
        yield steps, hooks


def interleaved(
    arms: Sequence[str], rounds: int, run_one: Callable[[str], T], label: str, step: Callable[[T], float]
) -> tuple[list[T], list[float]]:
    """Each arm run in turn, ``rounds`` times over (A B A B …, so a busy machine slows every arm alike): the
    runs, and the 1-min load average before the first and after each."""
    loads = [os.getloadavg()[0]]
    runs = []
    for r in range(rounds):
        for arm in arms:
            runs.append(run_one(arm))
            loads.append(os.getloadavg()[0])
            print(f"{label} {r + 1} {arm}: median step {step(runs[-1]):.3f} s", flush=True)
    return runs, loads


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def compose_cfg(overrides: list[str]):
    from hydra import compose, initialize_config_dir

    from dr_irl.config import register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def run_arm(base: list[str], scaler: str, run_dir: Path, clock: Callable[[], float]) -> RunTimes:
    """One policy-stage run with ``scaler``; its step and hook times, the first (warm-up) step left out."""
    from dr_irl.cli import run

    with timed_fixed_length_steps(clock) as (steps, hooks):
        run(compose_cfg([*base, f"scaler={scaler}"]), run_dir)
    if len(steps) < 2:
        raise RuntimeError(f"scaler={scaler}: {len(steps)} training step(s) ran; need ≥ 2 (raise --steps)")
    return RunTimes(scaler, steps[1:], hooks[1:])


def main(argv: list[str] | None = None) -> list[RunTimes]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=6, help="GRPO steps per run (the first is left out)")
    parser.add_argument("--completion", type=int, default=24, help="tokens of every rollout")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="wall: elapsed time; cpu: this process's CPU time, for a machine busy with other work "
        "(needs --threads 1, where CPU time is the work's own time)",
    )
    parser.add_argument("extra", nargs="*", help="more train.py overrides, for both arms")
    args = parser.parse_args(argv)
    if args.pairs < 1 or args.steps < 2:
        parser.error("--pairs must be ≥ 1 and --steps ≥ 2 (the first step is left out)")
    if args.clock == "cpu" and args.threads != 1:
        parser.error("--clock cpu needs --threads 1 (with more threads, CPU time adds up their waits)")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    clock = CLOCKS[args.clock]

    os.environ.setdefault("WANDB_MODE", "disabled")
    run_dir = Path(args.out) / f"grpo_overhead-{args.model}"
    base = [
        f"model={args.model}",
        "logger=none",
        "stop_after=policy",
        "optimizer=grpo",
        "optimizer.save_model=false",
        "optimizer.logging_steps=1",
        f"optimizer.max_steps={args.steps}",
        f"optimizer.max_completion_length={args.completion}",
        # the stages before the policy only need to exist: their cost and quality do not change a step's work
        "warm_start.epochs=1",
        "reward_model.epochs=1",
        "reward_model.sample_max_new_tokens=16",
        "eval.suite=heldout",
        "eval.judge=rule",
        "eval.max_harmful=7",
        "eval.max_benign=7",
        *args.extra,
    ]
    # the stages before the policy, and one warm-up policy run (imports, allocator, thread pools)
    run_arm([*base, "optimizer.max_steps=2"], ARMS[0], run_dir, clock)
    runs, loads = interleaved(
        ARMS, args.pairs, lambda scaler: run_arm(base, scaler, run_dir, clock), "pair", lambda r: r.step
    )
    print(
        f"\nGRPO (A, scaler=none) vs GRPO-S (B, scaler=clip_gap), model={args.model}, {args.steps} steps per "
        f"run (first left out), rollouts of exactly {args.completion} tokens, A B A B × {args.pairs}; "
        f"{args.clock} clock, {torch_threads()} torch threads; 1-min load average during the runs "
        f"{min(loads):.1f}–{max(loads):.1f} on {os.cpu_count()} cores\n"
    )
    print(format_report(runs))
    return runs


if __name__ == "__main__":
    main()
