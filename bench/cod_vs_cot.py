"""Chain-of-Draft vs chain-of-thought demonstrations: tokens, seconds and the share that is a valid refusal.

The dataset step of DR-IRL writes each harmful prompt's safe demonstration with a Chain-of-Draft system prompt
(Xu et al., 2025 report about 8× fewer tokens than CoT at similar accuracy). This bench runs the project's
demonstration generator (:func:`dr_irl.data.demonstrations.generate_demonstrations`) with both templates on
the same prompts — ``--per-category`` harmful training prompts of each category of the bundled dataset —
greedy, one attempt each (no retries, so the shares measure the generator, not the retry loop), batch by
batch in the order CoD, CoT, CoT, CoD, … so a busy machine slows both alike. Per template it prints:

- tokens per demonstration (mean and median) and seconds per demonstration (wall time, batch time shared
  evenly over its prompts; the CoT/CoD ratio is the median of the per-batch ratios);
- ``format``: the share of outputs with the ``####`` separator (the CoD/CoT answer format);
- ``valid refusal``: the share whose answer after ``####`` the evaluation's judge (``--judge``, default the
  consensus of the keyword and learned judges) calls a refusal — what the stage keeps without a retry.

``--out FILE.json`` keeps every output for reading.

    python bench/cod_vs_cot.py [--model smollm2-135m] [--per-category 4] [--max-new-tokens 256]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from generation import load_model  # noqa: E402

TEMPLATES = ("cod", "cot")


@dataclass
class Output:
    template: str
    prompt: str
    category: str
    text: str
    tokens: int
    seconds: float
    answer: str | None  # after the separator; None: no separator (or nothing after it)
    refusal: bool = False


def harmful_prompts(per_category: int) -> list[tuple[str, str]]:
    """(category, prompt): the first ``per_category`` harmful training prompts of each bundled category."""
    from dr_irl.data.bundled import bundled_paths

    rows = [
        json.loads(line) for line in Path(bundled_paths()["train"]).read_text().splitlines() if line.strip()
    ]
    taken: dict[str, list[str]] = {}
    for row in rows:
        if row.get("label") == "harmful" and len(taken.setdefault(row["category"], [])) < per_category:
            taken[row["category"]].append(row["prompt"])
    return [(category, prompt) for category in sorted(taken) for prompt in taken[category]]


def batch_order(n_batches: int) -> list[tuple[int, str]]:
    """(batch, template) in the order CoD, CoT, CoT, CoD, CoD, CoT, …: each template goes first in half the
    batches, so a drift in the machine's speed slows both alike."""
    order = []
    for b in range(n_batches):
        pair = TEMPLATES if b % 2 == 0 else TEMPLATES[::-1]
        order += [(b, t) for t in pair]
    return order


def summarise(outputs: list[Output]) -> dict:
    """Per-template row: n, tokens (mean, median), seconds per demonstration, format and valid-refusal shares."""
    n = len(outputs)
    tokens = [o.tokens for o in outputs]
    return {
        "n": n,
        "tokens_mean": statistics.fmean(tokens),
        "tokens_median": statistics.median(tokens),
        "seconds_mean": statistics.fmean(o.seconds for o in outputs),
        "format": sum(o.answer is not None for o in outputs) / n,
        "valid_refusal": sum(o.refusal for o in outputs) / n,
    }


def batch_ratio(outputs: list[Output], batch_size: int, key: str) -> float:
    """Median over batches of CoT's total ``key`` (tokens or seconds) over CoD's, batch by batch."""
    by = {t: [o for o in outputs if o.template == t] for t in TEMPLATES}
    ratios = []
    for start in range(0, len(by["cod"]), batch_size):
        cod = sum(getattr(o, key) for o in by["cod"][start : start + batch_size])
        cot = sum(getattr(o, key) for o in by["cot"][start : start + batch_size])
        if cod > 0:
            ratios.append(cot / cod)
    return statistics.median(ratios)


def format_table(rows: dict[str, dict], token_ratio: float, second_ratio: float, model: str) -> str:
    lines = [
        f"CoD vs CoT demonstrations, {model}, {rows['cod']['n']} harmful prompts, greedy, one attempt",
        "",
        "| template | tokens / demo (mean) | median | seconds / demo | format (####) | valid refusal |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for template in TEMPLATES:
        r = rows[template]
        lines.append(
            f"| {template} | {r['tokens_mean']:.1f} | {r['tokens_median']:.0f} | {r['seconds_mean']:.2f} | "
            f"{r['format']:.2f} | {r['valid_refusal']:.2f} |"
        )
    lines.append(f"\nCoT / CoD, median over batches: tokens {token_ratio:.2f}×, seconds {second_ratio:.2f}×")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m", help="a conf/model option")
    parser.add_argument("--per-category", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--judge", default="consensus", help="an eval.judge option")
    parser.add_argument("--out", type=Path, default=None, help="write every output and the table as JSON")
    args = parser.parse_args(argv)

    import torch
    from hydra import compose, initialize_config_dir

    from dr_irl.config import register_configs
    from dr_irl.data.demonstrations import generate_demonstrations
    from dr_irl.evaluation.judges import JUDGES

    torch.manual_seed(0)
    prompts = harmful_prompts(args.per_category)
    model, tokenizer = load_model(args.model)
    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"eval.judge={args.judge}"])
    outputs: dict[str, list[Output]] = {t: [] for t in TEMPLATES}
    batches = [prompts[i : i + args.batch_size] for i in range(0, len(prompts), args.batch_size)]
    for b, template in batch_order(len(batches)):
        answers, stats = generate_demonstrations(
            model,
            tokenizer,
            [p for _, p in batches[b]],
            template,
            is_refusal=lambda answer: True,  # every answer kept: the judge scores them below
            max_new_tokens=args.max_new_tokens,
            batch_size=args.batch_size,
            max_attempts=1,
        )
        outputs[template] += [
            Output(template, p, c, text, n, s, a)
            for (c, p), text, n, s, a in zip(
                batches[b], stats.outputs, stats.tokens, stats.seconds, answers, strict=True
            )
        ]
    judge = JUDGES.get(args.judge)(cfg.eval)
    for template in TEMPLATES:
        with_answer = [o for o in outputs[template] if o.answer is not None]
        verdicts = judge([o.prompt for o in with_answer], [o.answer for o in with_answer])
        for o, refused in zip(with_answer, verdicts, strict=True):
            o.refusal = bool(refused)
    rows = {t: summarise(outputs[t]) for t in TEMPLATES}
    flat = outputs["cod"] + outputs["cot"]
    token_ratio = batch_ratio(flat, args.batch_size, "tokens")
    second_ratio = batch_ratio(flat, args.batch_size, "seconds")
    table = format_table(rows, token_ratio, second_ratio, args.model)
    print(table)
    result = {
        "model": args.model,
        "judge": args.judge,
        "max_new_tokens": args.max_new_tokens,
        "rows": rows,
        "cot_over_cod_tokens": token_ratio,
        "cot_over_cod_seconds": second_ratio,
        "table": table,
        "outputs": [o.__dict__ for o in flat],
    }
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
