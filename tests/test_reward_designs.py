"""The IRL pair designs, the linear IRL reward (fit and routing), GRPO's benign repeats and guided openings."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from dr_irl.data.balance import repeat_benign
from dr_irl.data.pair_designs import PAIR_DESIGNS, cut_to_same_length, guide_openings
from dr_irl.data.pairs import Pair
from dr_irl.data.schema import Record
from dr_irl.models.generation import join_opening
from dr_irl.rewards.linear_irl import LinearRewardModels, fit_linear_reward, fit_routes
from dr_irl.training.grpo import grpo_prompts


def _record(rid: str, harmful: bool, demonstration: str, category: str = "insult") -> Record:
    return Record(
        id=rid,
        prompt=f"prompt {rid}",
        category=category,
        label="harmful" if harmful else "benign",
        demonstration=demonstration,
    )


RECORDS = [
    _record("h1", True, "I can't help write insults about anyone; it is hurtful and unkind to them."),
    _record("b1", False, "Here is a short poem about the sea and the wind over the waves at dusk."),
]


def test_cut_to_same_length_cuts_both_sides_to_one_word_count():
    pair = Pair(
        "h1", "insult", "p", " ".join(f"a{i}" for i in range(20)), " ".join(f"b{i}" for i in range(12))
    )
    cut = cut_to_same_length(pair, random.Random(0))
    assert len(cut.chosen.split()) == len(cut.rejected.split())
    assert 6 <= len(cut.chosen.split()) <= 11  # below the shorter side, so neither reads as complete


def test_guided_pairs_put_the_policy_on_both_sides():
    samples = {
        "h1": ["To insult someone you could say they are slow and silly and more."],
        "b1": ["The sea is wide and blue and the wind blows softly over it."],
    }
    guided = {
        "h1": ["I can't help write that, as a chatbot I am designed to be kind."],
        "b1": ["I'm sorry, but I cannot write poems about the sea for you."],
    }
    openings = guide_openings(RECORDS, 4, seed=0)
    assert openings["h1"] == "I can't help write"
    pairs = PAIR_DESIGNS.get("guided")(RECORDS, samples, 0, guided=guided)
    harmful = [p for p in pairs if p.prompt_id == "h1" and "insult" in p.rejected.lower()]
    benign = [p for p in pairs if p.prompt_id == "b1"]
    assert harmful and harmful[0].chosen.startswith("I can't help write")  # guided refusal ≻ plain compliance
    assert benign and benign[0].chosen.startswith("The sea") and benign[0].rejected.startswith("I'm sorry")
    with pytest.raises(ValueError, match="guided samples"):
        PAIR_DESIGNS.get("guided")(RECORDS, samples, 0, guided=None)


def test_a_refusing_sample_is_not_a_negative():
    samples = {"h1": ["I'm sorry, but I can't help with insults of any kind at all."], "b1": []}
    pairs = PAIR_DESIGNS.get("matched")(RECORDS, samples, 0)
    assert not [p for p in pairs if p.prompt_id == "h1" and p.rejected.startswith("I'm sorry")]


def test_fit_linear_reward_points_along_the_preferred_direction():
    rng = np.random.default_rng(0)
    differences = np.abs(rng.normal(size=(40, 3))) * np.array([1.0, 0.0, 0.0]) + rng.normal(0, 0.1, (40, 3))
    theta = fit_linear_reward(differences, np.ones(40), l2=1.0)
    assert theta[0] > 0 and abs(theta[0]) > 5 * max(abs(theta[1]), abs(theta[2]))


def test_linear_rewards_route_by_category_and_label():
    class Encoder:  # φ(text) = [is refusal, is other]
        def encode(self, texts):
            return torch.tensor([[1.0, 0.0] if "can't" in t else [0.0, 1.0] for t in texts])

    pairs = [
        Pair("h1", "insult", "p", "I can't", "sure here"),
        Pair("b1", "insult", "q", "sure here", "I can't"),
    ]
    embed = lambda prompts, texts: Encoder().encode(texts).numpy()  # noqa: E731
    thetas = fit_routes(pairs, {"h1": True, "b1": False}, embed, ["insult"], True, 0.3, 1.0)
    assert set(thetas) == {"insult/harmful", "insult/benign"}
    scorer = LinearRewardModels(thetas, embed, {"p": True, "q": False})
    harmful = scorer.score(["p", "p"], ["I can't", "sure here"], ["insult"] * 2)
    benign = scorer.score(["q", "q"], ["I can't", "sure here"], ["insult"] * 2)
    assert harmful[0] > harmful[1] and benign[1] > benign[0]
    # by hand: the score is θ·φ
    assert harmful[0].item() == pytest.approx(thetas["insult/harmful"][0], rel=1e-5)
    with pytest.raises(KeyError, match="harmful= to score"):
        scorer.score(["unknown"], ["x"], ["insult"])


def test_grpo_prompts_repeat_benign_look_alikes():
    opt = OmegaConf.create({"include_benign": True, "benign_repeats": 3})
    prompts = grpo_prompts(RECORDS, opt)
    assert [r.id for r in prompts] == ["h1", "b1", "b1", "b1"]
    assert [
        r.id for r in grpo_prompts(RECORDS, OmegaConf.create({"include_benign": False, "benign_repeats": 3}))
    ] == ["h1"]


def test_repeat_benign_appends_copies_and_rejects_zero():
    assert [r.id for r in repeat_benign(RECORDS, 1)] == [r.id for r in RECORDS]
    assert [r.id for r in repeat_benign(RECORDS, 2)] == ["h1", "b1", "b1"]
    with pytest.raises(ValueError, match="benign_repeats=0"):
        repeat_benign(RECORDS, 0)


def test_join_opening():
    assert join_opening("I can't", "help with that.") == "I can't help with that."
    assert join_opening("I can't", ", sorry.") == "I can't, sorry."
    assert join_opening("", "text") == "text"


def test_a_scorer_without_labels_is_called_without_them():
    from dr_irl.rewards.families import accepting_labels

    class Plain:
        def score(self, prompts, responses, categories):
            return torch.ones(len(prompts))

    class Labelled:
        def score(self, prompts, responses, categories, harmful=None):
            return torch.tensor([float(h) for h in harmful])

    assert accepting_labels(Plain()).score(["p"], ["r"], ["c"], harmful=[True]).tolist() == [1.0]
    labelled = Labelled()
    assert accepting_labels(labelled) is labelled


def test_jsonl_round_trips_texts_with_unicode_line_separators(tmp_path):
    from dr_irl.io import read_jsonl, write_jsonl

    rows = [{"text": "a\u2028b\x85c\x1cd"}, {"text": "plain"}]
    write_jsonl(tmp_path / "x.jsonl", rows)
    assert read_jsonl(tmp_path / "x.jsonl") == rows
