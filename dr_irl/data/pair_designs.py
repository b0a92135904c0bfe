"""Which (chosen ≻ rejected) pairs the pairwise reward models learn from (``reward_model.pairs``).

The IRL objective is the paper's in every design: demonstration ≻ what the policy does, −log σ(R(x, y*) −
R(x, ỹ)). The designs differ in which texts stand on each side, because a reward model learns whatever
separates the two sides most easily:

- ``paper``: every reference sample ỹ ~ π_ref of a harmful *and* a benign prompt is rejected against the
  prompt's demonstration, plus the hard negatives of :mod:`dr_irl.data.hard_negatives`. On SmolLM2 the
  demonstrations are short, complete, hand-written sentences and the samples are cut-off SmolLM2 text, so the
  models learn authorship and length: they rank SmolLM2's own refusals below its compliance.
- ``matched``: the same objective with the cues that are not safety taken away. Both texts of a pair are cut
  to the same number of words (a length drawn below the shorter one, so neither side reads as complete); a
  sample that already refuses a harmful prompt is not used as a negative (it *is* the demonstrated
  behaviour); the samples of benign prompts are not negatives either (they are mostly helpful answers, and
  rejecting them teaches "hand-written ≻ SmolLM2"); a benign prompt's negative is a refusal of it, so every
  category's model learns that refusing a benign look-alike is wrong; and the apology-then-comply negatives
  are left out (their apologetic openers are how SmolLM2 words its real refusals).
- ``matched_apology``: ``matched`` with the apology-then-comply and degenerate negatives kept.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from dr_irl.data.hard_negatives import TRAIN_REFUSALS, degenerate, hard_negative_pairs
from dr_irl.data.pairs import Pair, demonstration_pairs
from dr_irl.data.refusals import RULE_V2_PATTERNS, RuleRefusalJudge
from dr_irl.data.schema import Record
from dr_irl.registry import Registry

# (records, reference samples by record id, seed, guided samples by record id) -> pairs
PairDesign = Callable[..., list[Pair]]
PAIR_DESIGNS: Registry[PairDesign] = Registry("reward_model.pairs")

MIN_WORDS = 6  # a matched pair keeps at least this many words a side (fewer when a text is shorter)


def cut_to_same_length(pair: Pair, rng: random.Random, min_words: int = MIN_WORDS) -> Pair:
    """Both texts cut to the same number of words, drawn from [min_words, shorter − 1] (the shorter text's
    length when it has fewer words): length and a complete last sentence no longer tell the sides apart."""
    chosen, rejected = pair.chosen.split(), pair.rejected.split()
    shorter = min(len(chosen), len(rejected))
    keep = shorter if shorter <= min_words else rng.randint(min_words, shorter - 1)
    return Pair(
        pair.prompt_id,
        pair.category,
        pair.prompt,
        " ".join(chosen[:keep]),
        " ".join(rejected[:keep]),
    )


def loop_negatives(records: Sequence[Record], rng: random.Random) -> list[Pair]:
    """Each harmful prompt's demonstration ≻ a loop of its own first words (degenerate answers are negatives)."""
    return [
        Pair(r.id, r.category, r.prompt, r.demonstration, degenerate(r.demonstration, rng))
        for r in records
        if r.harmful
    ]


@PAIR_DESIGNS.register("paper")
def paper_pairs(
    records: Sequence[Record], samples: dict[str, list[str]], seed: int, guided: dict | None = None
) -> list[Pair]:
    """Demonstration ≻ every reference sample (harmful and benign prompts), and the hard negatives."""
    judge = RuleRefusalJudge()
    pairs = demonstration_pairs(records, samples, include_benign=True)
    return pairs + hard_negative_pairs(records, samples, judge.is_refusal, seed, include_benign=True)


def _matched(
    records: Sequence[Record], samples: dict[str, list[str]], seed: int, apology: bool
) -> list[Pair]:
    rng = random.Random(f"matched-pairs:{seed}")
    is_refusal = RuleRefusalJudge(RULE_V2_PATTERNS).is_refusal
    pairs = []
    for r in records:
        if r.harmful:
            compliant = [s for s in samples.get(r.id, []) if s.strip() and not is_refusal(s)]
            pairs += [Pair(r.id, r.category, r.prompt, r.demonstration, s) for s in compliant]
            if apology:
                pairs += hard_negative_pairs([r], {r.id: compliant}, is_refusal, seed)
        else:
            refusal = rng.choice(TRAIN_REFUSALS)
            pairs.append(Pair(r.id, r.category, r.prompt, r.demonstration, refusal))
    if not apology:  # loops stay negatives either way
        pairs += loop_negatives(records, rng)
    return [cut_to_same_length(p, rng) for p in pairs]


@PAIR_DESIGNS.register("matched")
def matched_pairs(
    records: Sequence[Record], samples: dict[str, list[str]], seed: int, guided: dict | None = None
) -> list[Pair]:
    return _matched(records, samples, seed, apology=False)


@PAIR_DESIGNS.register("matched_apology")
def matched_apology_pairs(
    records: Sequence[Record], samples: dict[str, list[str]], seed: int, guided: dict | None = None
) -> list[Pair]:
    return _matched(records, samples, seed, apology=True)


def guide_openings(records: Sequence[Record], words: int, seed: int) -> dict[str, str]:
    """The opening each training prompt's guided sample continues: the first ``words`` words of its
    demonstration for a harmful prompt (the demonstrated behaviour, to be continued in the policy's own
    words), and the first words of a refusal for a benign one (the behaviour the demonstrations reject)."""
    rng = random.Random(f"guide-openings:{seed}")
    openings = {}
    for r in records:
        text = r.demonstration if r.harmful else rng.choice(TRAIN_REFUSALS)
        openings[r.id] = " ".join(text.split()[:words])
    return openings


def _guided(
    records: Sequence[Record],
    samples: dict[str, list[str]],
    seed: int,
    guided: dict | None,
    with_demonstrations: bool,
) -> list[Pair]:
    if not guided:
        raise ValueError("reward_model.pairs=guided needs guided samples (reward_model.guided_samples=true)")
    rng = random.Random(f"guided-pairs:{seed}")
    is_refusal = RuleRefusalJudge(RULE_V2_PATTERNS).is_refusal
    pairs = []
    for r in records:
        plain = [s for s in samples.get(r.id, []) if s.strip()]
        steered = [s for s in guided.get(r.id, []) if s.strip()]
        if r.harmful:
            negatives = [s for s in plain if not is_refusal(s)]
            positives = steered + ([r.demonstration] if with_demonstrations else [])
        else:
            negatives, positives = steered, [s for s in plain if not is_refusal(s)]
        pairs += [Pair(r.id, r.category, r.prompt, y, n) for y in positives for n in negatives]
    pairs += loop_negatives(records, rng)
    return [cut_to_same_length(p, rng) for p in pairs]


@PAIR_DESIGNS.register("guided")
def guided_pairs(
    records: Sequence[Record], samples: dict[str, list[str]], seed: int, guided: dict | None = None
) -> list[Pair]:
    return _guided(records, samples, seed, guided, with_demonstrations=False)


@PAIR_DESIGNS.register("guided_demo")
def guided_demo_pairs(
    records: Sequence[Record], samples: dict[str, list[str]], seed: int, guided: dict | None = None
) -> list[Pair]:
    return _guided(records, samples, seed, guided, with_demonstrations=True)
