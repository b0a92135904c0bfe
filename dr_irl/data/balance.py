"""Equalise the number of harmful prompts per category (DR-IRL's balanced dataset), and weigh the benign
look-alikes against them."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence

from dr_irl.data.schema import Record


def balance_by_category(
    records: Sequence[Record],
    categories: Sequence[str],
    mode: str = "down",
    seed: int = 0,
    cap: int | None = None,
) -> tuple[list[Record], dict[str, dict[str, int]]]:
    """Balance the harmful records per category; benign records pass through untouched.

    ``mode``: ``down`` (every category down-sampled to the smallest), ``up`` (up-sampled with
    replacement to the largest; repeated records get an ``#upN`` id suffix) or ``none``.
    ``cap`` further limits every category. Returns (records, report {category: {before, after}}).
    """
    if mode not in ("down", "up", "none"):
        raise ValueError(f"dataset.balance={mode!r}: expected down, up or none")
    rng = random.Random(seed)
    by_category: dict[str, list[Record]] = defaultdict(list)
    benign = []
    for record in records:
        (by_category[record.category] if record.harmful else benign).append(record)
    missing = [c for c in categories if not by_category[c]]
    if missing:
        raise ValueError(f"no harmful records for categories {missing}: cannot balance")
    sizes = {c: len(by_category[c]) for c in categories}
    target = {"down": min(sizes.values()), "up": max(sizes.values())}.get(mode)
    out: list[Record] = []
    report = {}
    for category in categories:
        pool = list(by_category[category])
        n = sizes[category] if target is None else target
        if cap is not None:
            n = min(n, cap)
        if n <= len(pool):
            chosen = rng.sample(pool, n) if n < len(pool) else pool
        else:
            extra = [rng.choice(pool) for _ in range(n - len(pool))]
            chosen = pool + [Record(**{**r.__dict__, "id": f"{r.id}#up{i}"}) for i, r in enumerate(extra)]
        out.extend(chosen)
        report[category] = {"before": sizes[category], "after": len(chosen)}
    return out + benign, report


def repeat_benign(records: Sequence[Record], repeats: int) -> list[Record]:
    """``records`` with every benign record ``repeats`` times (the copies appended after them), so that a
    helpful answer weighs as much as a refusal in SFT and GRPO; ``repeats`` = 1 leaves them as they are."""
    if repeats < 1:
        raise ValueError(f"benign_repeats={repeats}: expected an integer >= 1")
    benign = [r for r in records if not r.harmful]
    return [*records, *benign * (repeats - 1)]
