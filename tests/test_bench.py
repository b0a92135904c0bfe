"""The GPU benchmark's arithmetic (the run itself needs a GPU: `make bench-gpu`)."""

import sys

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
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
