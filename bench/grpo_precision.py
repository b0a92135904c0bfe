"""Per-step time of GRPO in fp32 against bf16 mixed precision (``hardware.bf16``), and where a step goes.

Runs the pipeline once up to the policy stage, then the policy stage in turn in fp32, with the GRPO trainer's
``bf16`` on (as ``hardware.bf16=true`` sets it) but TRL's own generation (accelerate's autocast around each
forward, which casts the weights again at every decoding step), and with ``bf16`` as GRPO-S runs it (one
autocast region around each generation) — A B C A B C … over ``--cycles`` cycles, in one process and one run
directory. Only the trainer's precision differs between the arms, so the stages before the policy
(and the warm start) are shared; the policy stage is removed before each run, and the stage cache is off for
it, so that it reruns. Every rollout is exactly ``--completion`` tokens long, so both arms generate
and train on the same number of tokens. Per step (the first of each run left out) it times TRL's
``training_step`` and, inside it, generation (``_generate_single_turn``), the reward
(``_calculate_rewards``) and the log-probability forwards (``_get_per_token_logps_and_entropies``: the
reference model's, and the policy's inside the loss); the rest is the backward pass and the optimiser.

With bf16 the Trainer's autocast (accelerate) covers the forwards and the backward, and GRPO-S generates its
rollouts under autocast as well (:mod:`dr_irl.training.grpo_s`): fp32 master weights, bf16 products. It pays on
a CPU with native bf16 arithmetic (AVX512-BF16 or AMX), where ``hardware=auto`` turns it on; elsewhere bf16 is
emulated and slower.

    python bench/grpo_precision.py [--model smollm2-135m] [--cycles 2] [--steps 5] [--completion 24]
    python bench/grpo_precision.py experiment=warm_start_cpu stage_cache=true   # the warm-start run's reward
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.grpo_overhead import (  # noqa: E402
    CLOCKS,
    compose_cfg,
    fixed_length,
    interleaved,
    method_timer,
    patched,
    torch_threads,
)

ARMS = {  # name: (the GRPO trainer's bf16, generation in one autocast region)
    "fp32": (False, True),
    "bf16, autocast per forward": (True, False),
    "bf16": (True, True),
}
PARTS = {
    "generate": "_generate_single_turn",
    "reward": "_calculate_rewards",
    "logp forwards": "_get_per_token_logps_and_entropies",
}


@dataclass
class ArmRun:
    """One policy-stage run: seconds per step and per part of each step (first step left out)."""

    arm: str
    steps: list[float]
    parts: dict[str, list[float]] = field(default_factory=dict)

    def median(self, part: str | None = None) -> float:
        return statistics.median(self.steps if part is None else self.parts[part])


def per_step(calls: Sequence[float], steps: int) -> list[float]:
    """Seconds per step of a method called the same number of times in each of ``steps`` steps."""
    if steps == 0 or len(calls) % steps:
        raise ValueError(f"{len(calls)} calls do not divide into {steps} steps")
    k = len(calls) // steps
    return [sum(calls[i * k : (i + 1) * k]) for i in range(steps)]


def with_bf16(bf16: bool) -> Callable[[Callable], Callable]:
    """A wrapper of ``hardware_args`` whose ``bf16`` is ``bf16``."""

    def wrap(hardware_args: Callable) -> Callable:
        return lambda hardware: {**hardware_args(hardware), "bf16": bf16}

    return wrap


@contextmanager
def timed_steps(
    clock: Callable[[], float], bf16: bool, one_region: bool
) -> Iterator[tuple[list[float], dict[str, list[float]]]]:
    """Within the block every rollout is ``max_completion_length`` tokens long, the GRPO trainer's bf16 is
    ``bf16`` and, unless ``one_region``, GRPO-S generates as TRL does; yields (seconds of each training step,
    seconds of each call of each part), filled in as the steps run."""
    from trl import GRPOTrainer

    import dr_irl.training.grpo_s as grpo_s

    with ExitStack() as stack:
        stack.enter_context(patched(grpo_s, "grpo_config", fixed_length))
        stack.enter_context(patched(grpo_s, "hardware_args", with_bf16(bf16)))
        if not one_region:  # TRL's own method, looked up at each call (so that it is timed)

            def trl_generation(_):
                return lambda self, *args, **kwargs: GRPOTrainer._generate_single_turn(self, *args, **kwargs)

            stack.enter_context(patched(grpo_s.GRPOSTrainer, "_generate_single_turn", trl_generation))
        steps = stack.enter_context(method_timer(GRPOTrainer, "training_step", clock))
        parts = {name: stack.enter_context(method_timer(GRPOTrainer, m, clock)) for name, m in PARTS.items()}
        yield steps, parts


def run_arm(base: list[str], arm: str, run_dir: Path, clock: Callable[[], float]) -> ArmRun | None:
    """One policy-stage run of ``arm``; its step and part times, the first (warm-up) step left out (None
    when the policy came from the stage cache: the warm-up run may)."""
    from dr_irl.cli import run

    shutil.rmtree(run_dir / "stages" / "policy", ignore_errors=True)
    with timed_steps(clock, *ARMS[arm]) as (steps, parts):
        run(compose_cfg(base), run_dir)
    if not steps and "stage_cache=false" not in base:
        return None
    if len(steps) < 2:
        raise RuntimeError(f"{arm}: {len(steps)} training step(s) ran; need ≥ 2 (raise --steps)")
    n = len(steps)
    return ArmRun(arm, steps[1:], {name: per_step(calls, n)[1:] for name, calls in parts.items()})


def format_report(runs: Sequence[ArmRun]) -> str:
    """Medians per arm and part, and each arm's step against fp32's within each cycle."""
    names = ["step", *PARTS, "backward + optimiser"]

    def value(run: ArmRun, name: str) -> float:
        if name == "step":
            return run.median()
        if name in PARTS:
            return run.median(name)
        return statistics.median(s - sum(run.parts[p][i] for p in PARTS) for i, s in enumerate(run.steps))

    arms = list(ARMS)
    lines = [
        "| part | "
        + " | ".join(f"{arm} (s)" for arm in arms)
        + " | "
        + " | ".join(f"fp32 / {a}" for a in arms[1:])
        + " |",
        "|---|" + "---:|" * (2 * len(arms) - 1),
    ]
    for name in names:
        med = [statistics.median(value(r, name) for r in runs if r.arm == arm) for arm in arms]
        cells = [f"{m:.3f}" for m in med] + [f"{med[0] / m:.2f}×" if m > 0 else "–" for m in med[1:]]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    k = len(arms)
    for i, arm in enumerate(arms[1:], start=1):
        ratios = [runs[c].median() / runs[c + i].median() for c in range(0, len(runs), k)]
        spread = ", ".join(f"{r:.2f}" for r in ratios)
        lines.append(f"\nstep fp32 / {arm}, per cycle: {spread} (median {statistics.median(ratios):.2f}×)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[ArmRun]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--cycles", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5, help="GRPO steps per run (the first is left out)")
    parser.add_argument("--completion", type=int, default=24, help="tokens of every rollout")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    parser.add_argument("extra", nargs="*", help="more train.py overrides, for both arms")
    args = parser.parse_args(argv)
    if args.cycles < 1 or args.steps < 2:
        parser.error("--cycles must be ≥ 1 and --steps ≥ 2 (the first step is left out)")
    clock = CLOCKS[args.clock]
    os.environ.setdefault("WANDB_MODE", "disabled")
    run_dir = Path(args.out) / f"grpo_precision-{args.model}"
    base = [
        f"model={args.model}",
        "logger=none",
        "stop_after=policy",
        "optimizer.save_model=false",
        "optimizer.logging_steps=1",
        f"optimizer.max_steps={args.steps}",
        f"optimizer.max_completion_length={args.completion}",
        *args.extra,
    ]
    run_arm([*base, "optimizer.max_steps=2"], "fp32", run_dir, clock)  # the stages before; warm-up
    base.append("stage_cache=false")  # a cached policy would skip the steps to time
    runs, loads = interleaved(
        list(ARMS), args.cycles, lambda arm: run_arm(base, arm, run_dir, clock), "cycle", ArmRun.median
    )
    print(
        f"\nGRPO step in fp32 and bf16 mixed precision, model={args.model}, {args.steps} steps per run (first "
        f"left out), rollouts of exactly {args.completion} tokens, {' / '.join(ARMS)} × {args.cycles}; {args.clock} "
        f"clock, {torch_threads()} torch threads; 1-min load average {min(loads):.1f}–{max(loads):.1f} on "
        f"{os.cpu_count()} cores; overrides: {' '.join(args.extra) or 'none'}\n"
    )
    print(format_report(runs))
    return runs


if __name__ == "__main__":
    main()
