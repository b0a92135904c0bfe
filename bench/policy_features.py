"""φ of ``reward_model.features=policy_hidden``: the full causal LM against its decoder cut after the block read.

Scores the same blind-labelled SmolLM2 answers with both, alternately (full, cut, full, cut, … over
``--rounds`` rounds, one process), and prints the median time of each, the cut/full ratio of each round and
the largest difference of φ between the two (the cut must change the time, not the features).

    python bench/policy_features.py [--model ~/.cache/dr_irl/models/smollm2-135m-instruct] [--layer 16]
    python bench/policy_features.py --threads 1 --clock cpu      # on a shared machine
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
ANSWERS = ROOT / "dr_irl" / "evaluation" / "judge_data" / "smollm2_labelled.jsonl"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="~/.cache/dr_irl/models/smollm2-135m-instruct")
    parser.add_argument("--layer", type=int, default=16)
    parser.add_argument("--answers", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    args = parser.parse_args()

    import numpy as np
    import torch

    from dr_irl.models import load_causal_lm, load_tokenizer
    from dr_irl.rewards.linear_features import PolicyHiddenFeatures, decoder_through

    folder = Path(args.model).expanduser()
    if not (folder / "config.json").is_file():
        print(
            f"error: {folder} holds no model (run `python train.py` once, or pass --model)", file=sys.stderr
        )
        return 1
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [json.loads(line) for line in ANSWERS.read_text(encoding="utf-8").splitlines()[: args.answers]]
    prompts, responses = [r["prompt"] for r in rows], [r["response"] for r in rows]
    tokenizer = load_tokenizer(str(folder))
    full = load_causal_lm(str(folder))
    cut = decoder_through(load_causal_lm(str(folder)), args.layer)
    arms = {
        "full model": PolicyHiddenFeatures(full, tokenizer, args.layer, args.batch_size),
        f"cut after block {args.layer}": PolicyHiddenFeatures(cut, tokenizer, args.layer, args.batch_size),
    }
    clock = CLOCKS[args.clock]
    times: dict[str, list[float]] = {name: [] for name in arms}
    features = {}
    for _ in range(args.rounds):
        for name, featurize in arms.items():
            start = clock()
            features[name] = featurize(prompts, responses)
            times[name].append(clock() - start)
    (full_name, cut_name) = arms
    ratios = [c / f for f, c in zip(times[full_name], times[cut_name], strict=True)]
    gap = float(np.abs(features[full_name] - features[cut_name]).max())
    print(
        f"{len(prompts)} answers, block {args.layer} of {full.config.num_hidden_layers}, {args.clock} clock"
    )
    print(f"{'arm':<22}{'median s':>10}{'ms / answer':>13}{'blocks':>8}")
    for name, featurize in arms.items():
        model = featurize.model
        blocks = len(model.layers) if hasattr(model, "layers") else model.config.num_hidden_layers
        median = statistics.median(times[name])
        print(f"{name:<22}{median:>10.2f}{1000 * median / len(prompts):>13.1f}{blocks:>8}")
    print(
        f"cut / full per round: {', '.join(f'{r:.2f}' for r in ratios)} (median {statistics.median(ratios):.2f})"
    )
    print(f"largest |Δφ|: {gap:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
