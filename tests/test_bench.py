"""The benchmarks' arithmetic: the GPU step bench (the run itself needs a GPU: `make bench-gpu`), the
generation bench, the interleaved GRPO / GRPO-S overhead bench (`make bench`) and the precision bench
(`make bench-precision`)."""

import sys

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import cod_vs_cot  # noqa: E402
import generation as generation_bench  # noqa: E402
import grpo_overhead  # noqa: E402
import grpo_precision  # noqa: E402
from grpo_step import throughput  # noqa: E402


def test_throughput_from_the_trainer_log_skips_the_first_step():
    rows = [
        {"step": 1, "step_time": 9.0, "num_tokens": 1000, "peak_memory_gb": 5.0},  # warm-up, excluded
        {"step": 2, "step_time": 2.0, "num_tokens": 1600, "peak_memory_gb": 6.5},
        {"step": 3, "step_time": 4.0, "num_tokens": 2400, "peak_memory_gb": 6.0},
        {"step": 3, "train_runtime": 15.0, "train_loss": 0.1},  # the summary row
    ]
    stats = throughput(rows)
    assert stats["step_time"] == pytest.approx(3.0)
    assert stats["tokens_per_second"] == pytest.approx((600 / 2 + 800 / 4) / 2)
    assert stats["peak_memory_gb"] == 6.5
    with pytest.raises(ValueError, match="at least 2"):
        throughput(rows[:1])


# ------------------------------------------------------------------ bench/generation.py's arithmetic


def test_generation_bench_flops_and_rates_by_hand():
    assert generation_bench.flops_per_token(135_000_000) == 270_000_000
    assert generation_bench.gemm_flops(16, 576, 1536) == 2 * 16 * 576 * 1536
    row = generation_bench.Row(
        batch_size=16,
        mode="greedy",
        dtype="float32",
        tokens_per_second=80.0,
        decode_tokens_per_second=100.0,
        gemm=50e9,
        gemm_from_memory=40e9,
        parameters=135_000_000,
    )
    assert row.decode_flops_per_second == 100 * 270e6  # 27 GFLOP/s
    cells = [c.strip() for c in generation_bench.format_row(row).strip("|").split("|")]
    assert cells == ["16", "greedy", "float32", "80", "100", "27.0", "50.0", "54%", "40.0", "68%"]


def test_generation_bench_modes_fit_the_batch():
    assert generation_bench.mode_shape("greedy", 16) == (16, 1)
    assert generation_bench.mode_shape("sampled", 1) == (1, 1)
    assert generation_bench.mode_shape("sampled ×8", 64) == (8, 8)
    assert generation_bench.mode_shape("sampled ×8", 4) is None


def test_generation_bench_gemm_timing_is_a_positive_rate():
    import torch

    assert generation_bench.time_gemm(4, [torch.randn(32, 16)], min_seconds=0.01) > 0
    assert generation_bench.time_gemm(4, [torch.randn(32, 16) for _ in range(20)], min_seconds=0.01) > 0


# --------------------------------------------------------------- bench/grpo_overhead.py's arithmetic


def runs(*steps):
    """RunTimes of an A B A B … sequence from (median step, hook) pairs."""
    arms = grpo_overhead.ARMS
    return [
        grpo_overhead.RunTimes(arms[i % 2], [s, s, s], [h] if h is not None else [])
        for i, (s, h) in enumerate(steps)
    ]


def test_grpo_overhead_pair_ratios_medians_and_hook_share_by_hand():
    sequence = runs((10.0, None), (10.5, 0.2), (12.0, None), (11.4, 0.3), (11.0, None), (11.55, 0.1))
    assert grpo_overhead.pair_ratios(sequence) == pytest.approx([1.05, 0.95, 1.05])
    s = grpo_overhead.summarize(sequence)
    assert s["step_a"] == 11.0 and s["step_b"] == 11.4
    assert s["ratio_median"] == pytest.approx(1.05)
    assert (s["ratio_min"], s["ratio_max"]) == pytest.approx((0.95, 1.05))
    assert s["hook_b"] == 0.2
    assert s["hook_share"] == pytest.approx(0.2 / 11.4)
    report = grpo_overhead.format_report(sequence)
    assert "| 2 | 12.000 | 11.400 | 0.950 | 0.3000 | 2.6% |" in report
    assert "1.050 (spread 0.950–1.050)" in report
    assert "GRPO-S − GRPO: +0.4000 s per step (medians), of which the hook 0.2000 s" in report
    assert "without the hook GRPO-S would be 1.018× GRPO" in report  # (11.4 − 0.2) / 11


def test_grpo_overhead_rejects_unpaired_or_swapped_runs():
    with pytest.raises(ValueError, match="pairs"):
        grpo_overhead.pair_ratios(runs((1.0, None)))
    swapped = runs((1.0, None), (1.0, None))[::-1]
    with pytest.raises(ValueError, match="is not"):
        grpo_overhead.pair_ratios(swapped)


def test_method_timer_times_each_call_with_the_given_clock():
    ticks = iter([10.0, 12.5, 20.0, 20.25])

    class Trainer:
        def training_step(self, x):
            return x * 2

    original = Trainer.__dict__["training_step"]
    with grpo_overhead.method_timer(Trainer, "training_step", clock=lambda: next(ticks)) as seconds:
        assert Trainer().training_step(3) == 6
        assert Trainer().training_step(4) == 8
    assert seconds == [2.5, 0.25]
    assert Trainer.__dict__["training_step"] is original
    assert grpo_overhead.RunTimes("none", [2.0, 4.0, 3.5]).step == 3.5


def test_hook_timer_measures_the_time_outside_the_extended_method():
    import time

    class Inner:
        def work(self):
            time.sleep(0.05)
            return "inner"

    class Outer(Inner):
        def work(self):
            result = super().work()
            time.sleep(0.02)
            return result

    originals = Outer.__dict__["work"], Inner.__dict__["work"]
    with grpo_overhead.hook_timer(Outer, Inner, "work") as hooks:
        assert Outer().work() == "inner"
        assert Outer().work() == "inner"
    assert len(hooks) == 2
    assert all(0.019 < h < 0.045 for h in hooks), hooks  # the outer's own 0.02 s, not the inner's 0.05 s
    assert (Outer.__dict__["work"], Inner.__dict__["work"]) == originals  # restored


def test_fixed_length_rollouts_set_min_new_tokens():
    from types import SimpleNamespace

    build = grpo_overhead.fixed_length(lambda out, opt, *a, **k: SimpleNamespace(generation_kwargs=None))
    config = build("out", SimpleNamespace(max_completion_length=24), "hardware", 0, "none")
    assert config.generation_kwargs == {"min_new_tokens": 24}


def test_cod_vs_cot_order_alternates_who_goes_first():
    assert cod_vs_cot.batch_order(3) == [
        (0, "cod"),
        (0, "cot"),
        (1, "cot"),
        (1, "cod"),
        (2, "cod"),
        (2, "cot"),
    ]


def test_cod_vs_cot_rows_and_batch_ratios_by_hand():
    from cod_vs_cot import Output

    def out(template, tokens, seconds, answer, refusal):
        return Output(template, "p", "c", "t", tokens, seconds, answer, refusal)

    cod = [out("cod", 10, 1.0, "no", True), out("cod", 20, 2.0, None, False), out("cod", 30, 3.0, "a", False)]
    cot = [out("cot", 40, 2.0, "no", True), out("cot", 60, 3.0, "no", True), out("cot", 90, 9.0, None, False)]
    row = cod_vs_cot.summarise(cod)
    assert row == {
        "n": 3,
        "tokens_mean": 20.0,
        "tokens_median": 20,
        "seconds_mean": 2.0,
        "format": pytest.approx(2 / 3),
        "valid_refusal": pytest.approx(1 / 3),
    }
    # batches of 2: [10+20 vs 40+60] = 100/30, [30 vs 90] = 3 -> median of (3.333, 3) = 3.1667
    assert cod_vs_cot.batch_ratio(cod + cot, 2, "tokens") == pytest.approx((100 / 30 + 3) / 2)
    assert cod_vs_cot.batch_ratio(cod + cot, 2, "seconds") == pytest.approx((5 / 3 + 3) / 2)
    table = cod_vs_cot.format_table({"cod": row, "cot": cod_vs_cot.summarise(cot)}, 3.1667, 2.3333, "m")
    assert "| cod | 20.0 | 20 | 2.00 | 0.67 | 0.33 |" in table and "tokens 3.17×" in table


# --------------------------------------------------------------- bench/grpo_precision.py's arithmetic


def test_grpo_precision_sums_calls_per_step_and_reports_ratios_by_hand():
    # two calls of a part per step over 3 steps: [1+2, 3+4, 5+6]
    assert grpo_precision.per_step([1, 2, 3, 4, 5, 6], 3) == [3, 7, 11]
    with pytest.raises(ValueError, match="do not divide"):
        grpo_precision.per_step([1, 2, 3], 2)
    parts = {"generate": [1.0], "reward": [0.5], "logp forwards": [1.5]}  # a step of 10 s: 7 s backward
    fp32, per_forward, bf16 = (
        grpo_precision.ArmRun(a, [s], parts) for a, s in zip(grpo_precision.ARMS, (10, 8, 5), strict=True)
    )
    report = grpo_precision.format_report([fp32, per_forward, bf16])
    assert "| step | 10.000 | 8.000 | 5.000 | 1.25× | 2.00× |" in report
    assert "| backward + optimiser | 7.000 | 5.000 | 2.000 | 1.40× | 3.50× |" in report
    assert "step fp32 / bf16, per cycle: 2.00 (median 2.00×)" in report
