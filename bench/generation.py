"""Generation tokens/s per batch size and dtype next to the GEMM rate of the same machine, row count and dtype.

For each batch size B the bench times, in turn and ``--repeats`` times over (so a busy machine slows both
alike): ``torch.matmul`` of a [B, hidden] activation with a weight in the model's MLP up-projection shape
([intermediate, hidden], transposed as ``nn.Linear`` reads it, in the model's dtype), once with one weight that
stays in the CPU cache ("GEMM") and once cycling through as many distinct weights as the model has parameters, so every
product streams its weight from memory as a decoding step does ("GEMM, weights from memory"); then
``generate_responses`` on B held-out prompts for each decoding mode — greedy, sampled (temperature 1)
and, for B ≥ 8, B/8 prompts × 8 samples from one shared prefill — every sequence exactly
``--new-tokens`` long (``min_new_tokens`` = ``max_new_tokens``).

A decoding step costs ≈ 2 × parameters FLOPs per sequence (the tied embedding counted once, as the output
layer), so decoding at d tokens/s runs at d × 2 × parameters FLOP/s; the table prints that next to both
GEMM rates and the ratios (medians). "tokens/s" is end to end: generated tokens over the call's wall time,
tokenisation and the prompts' prefill included; "decode tokens/s" leaves the prefill out (from each
batch's first generated token to its last).

On a machine busy with other work, wall time measures the neighbours as much as the model: ``--threads 1
--clock cpu`` times the process's own CPU time instead (one thread, so CPU time is the work's own time).

    python bench/generation.py [--model smollm2-135m] [--batch-sizes 1 8 16 32 64 128] [--new-tokens 32]
    python bench/generation.py --dtypes float32 bfloat16   # default: both where the CPU has bf16 arithmetic
    python bench/generation.py --threads 1 --clock cpu      # on a shared machine
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODES = ("greedy", "sampled", "sampled ×8")
SAMPLES_PER_PROMPT = 8


def flops_per_token(parameters: int) -> float:
    """FLOPs of one decoding step of one sequence: a multiply and an add per weight."""
    return 2.0 * parameters


def gemm_flops(rows: int, hidden: int, intermediate: int) -> float:
    """FLOPs of a [rows, hidden] × [hidden, intermediate] matrix product."""
    return 2.0 * rows * hidden * intermediate


def mode_shape(mode: str, batch_size: int) -> tuple[int, int] | None:
    """(prompts, samples per prompt) of a decoding mode at ``batch_size`` sequences; None if it does not fit."""
    if mode == "sampled ×8":
        if batch_size < SAMPLES_PER_PROMPT:
            return None
        return batch_size // SAMPLES_PER_PROMPT, SAMPLES_PER_PROMPT
    return batch_size, 1


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def time_gemm(rows: int, weights: list, min_seconds: float = 0.3, clock=time.perf_counter) -> float:
    """FLOP/s of ``torch.matmul`` of a [rows, hidden] activation with each [intermediate, hidden] weight of
    ``weights`` in turn, transposed as ``nn.Linear`` reads it (one weight: it stays in the CPU cache)."""
    import torch

    intermediate, hidden = weights[0].shape
    x = torch.randn(rows, hidden, dtype=weights[0].dtype)
    for weight in weights[:3]:
        torch.matmul(x, weight.t())
    calls, started = 0, clock()
    while (elapsed := clock() - started) < min_seconds:
        for _ in range(max(1, 10 // len(weights))):
            for weight in weights:
                torch.matmul(x, weight.t())
                calls += 1
    return calls * gemm_flops(rows, hidden, intermediate) / elapsed


def machine() -> str:
    """CPU model name and core count (``lscpu``'s "Model name", else the platform's processor)."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} cores"


def load_average() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


@dataclass
class Row:
    """Medians of one (batch size, decoding mode) cell."""

    batch_size: int
    mode: str
    dtype: str
    tokens_per_second: float
    decode_tokens_per_second: float
    gemm: float
    gemm_from_memory: float
    parameters: int

    @property
    def decode_flops_per_second(self) -> float:
        return self.decode_tokens_per_second * flops_per_token(self.parameters)


HEADER = (
    "| batch (sequences) | decoding | dtype | tokens/s | decode tokens/s | decode GFLOP/s | GEMM GFLOP/s | "
    "decode / GEMM | GEMM, weights from memory | decode / that |\n"
    "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|"
)


def format_row(r: Row) -> str:
    return (
        f"| {r.batch_size} | {r.mode} | {r.dtype} | {r.tokens_per_second:.0f} | {r.decode_tokens_per_second:.0f} | "
        f"{r.decode_flops_per_second / 1e9:.1f} | {r.gemm / 1e9:.1f} | "
        f"{100 * r.decode_flops_per_second / r.gemm:.0f}% | {r.gemm_from_memory / 1e9:.1f} | "
        f"{100 * r.decode_flops_per_second / r.gemm_from_memory:.0f}% |"
    )


def format_table(rows: list[Row]) -> str:
    return "\n".join([HEADER, *map(format_row, rows)])


def held_out_prompts(count: int) -> list[str]:
    """``count`` prompts of the bundled held-out split (cycled when it has fewer)."""
    from dr_irl.data.bundled import bundled_paths

    path = bundled_paths()["heldout"]
    prompts = [json.loads(line)["prompt"] for line in Path(path).read_text().splitlines() if line.strip()]
    return [prompts[i % len(prompts)] for i in range(count)]


def load_model(name: str):
    """(model, tokenizer) of ``model=<name>`` as the pipeline loads them (converted/built once, offline)."""
    from hydra import compose, initialize_config_dir

    from dr_irl.config import register_configs
    from dr_irl.models import load_causal_lm, load_tokenizer, resolve_model_path

    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"model={name}"])
    path = resolve_model_path(cfg.model, cfg.paths.cache_dir)
    return load_causal_lm(path, cfg.model.dtype), load_tokenizer(path)


def run_mode(model, tokenizer, mode: str, batch_size: int, new_tokens: int, seed: int) -> tuple[float, float]:
    """(tokens/s, decode tokens/s) of one fixed-length call of ``mode`` at ``batch_size`` sequences."""
    import torch

    from dr_irl.models.generation import count_generation, generate_responses

    prompts, samples = mode_shape(mode, batch_size)
    torch.manual_seed(seed)
    with count_generation() as stats:
        generate_responses(
            model,
            tokenizer,
            held_out_prompts(prompts),
            new_tokens,
            batch_size=prompts,
            do_sample=mode != "greedy",
            num_return_sequences=samples,
            min_new_tokens=new_tokens,
            desc=f"{mode} ×{batch_size}",
        )
    expected = batch_size * new_tokens
    if stats.new_tokens != expected:
        raise RuntimeError(f"{mode} at batch {batch_size}: {stats.new_tokens} tokens, expected {expected}")
    return stats.tokens_per_second, stats.decode_tokens_per_second


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 16, 32, 64, 128])
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="timings per cell (medians are printed)")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--dtypes",
        nargs="+",
        default=None,
        choices=["float32", "bfloat16", "float16"],
        help="generation and GEMM dtypes (default: float32, and bfloat16 on a CPU with bf16 arithmetic)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="wall: elapsed time; cpu: this process's CPU time, for a machine busy with other work "
        "(needs --threads 1, where CPU time is the work's own time)",
    )
    args = parser.parse_args(argv)
    if args.clock == "cpu" and args.threads != 1:
        parser.error("--clock cpu needs --threads 1 (with more threads, CPU time adds up their waits)")

    import torch

    from dr_irl.models import generation

    if args.threads:
        torch.set_num_threads(args.threads)
    clock = generation.CLOCK = CLOCKS[args.clock]
    from dr_irl.models.precision import cpu_has_native_bf16

    dtypes = args.dtypes or ["float32", *(["bfloat16"] if cpu_has_native_bf16() else [])]
    fp32_model, tokenizer = load_model(args.model)
    parameters = sum(p.numel() for p in fp32_model.parameters())
    hidden, intermediate = fp32_model.config.hidden_size, fp32_model.config.intermediate_size
    load_before = load_average()
    print(HEADER, flush=True)
    rows = []
    for dtype_name in dtypes:
        dtype = getattr(torch, dtype_name)
        model = copy.deepcopy(fp32_model).to(dtype)  # from the fp32 weights each time
        hot = [torch.randn(intermediate, hidden, dtype=dtype)]
        cold = [
            torch.randn(intermediate, hidden, dtype=dtype)
            for _ in range(-(-parameters // (hidden * intermediate)))
        ]
        run_mode(model, tokenizer, "greedy", 2, 4, args.seed)  # warm-up: first-call allocations
        for batch_size in args.batch_sizes:
            for mode in args.modes:
                if mode_shape(mode, batch_size) is None:
                    continue
                timings = []
                for _ in range(args.repeats):
                    gemm, gemm_cold = (
                        time_gemm(batch_size, hot, clock=clock),
                        time_gemm(batch_size, cold, clock=clock),
                    )
                    timings.append(
                        (
                            *run_mode(model, tokenizer, mode, batch_size, args.new_tokens, args.seed),
                            gemm,
                            gemm_cold,
                        )
                    )
                row = Row(
                    batch_size,
                    mode,
                    dtype_name,
                    *(statistics.median(column) for column in zip(*timings, strict=True)),
                    parameters,
                )
                rows.append(row)
                print(format_row(row), flush=True)
        del hot, cold
    print(
        f"\nGeneration of {args.model} ({parameters / 1e6:.1f} M parameters, {', '.join(dtypes)}), {args.new_tokens} new "
        f"tokens per sequence, medians of {args.repeats}; GEMM: torch.matmul [B, {hidden}] × "
        f"[{hidden}, {intermediate}]; {args.clock} clock\n{machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; load average (1/5/15 min) before {load_before}, after "
        f"{load_average()}\n"
    )
    print(format_table(rows))
    return rows


if __name__ == "__main__":
    main()
