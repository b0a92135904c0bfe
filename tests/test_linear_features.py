"""The features of the linear IRL reward (``reward_model.features``) and its standardised fit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dr_irl.rewards.linear_features import PolicyHiddenFeatures, SentenceFeatures
from dr_irl.rewards.linear_irl import LinearRewardModels, fit_linear_reward
from dr_irl.validation import config_problems


def test_a_standardised_fit_is_the_same_reward_whatever_the_units_of_each_dimension():
    rng = np.random.default_rng(0)
    differences = rng.normal(0.3, 1.0, size=(60, 3))
    units = np.array([1.0, 1000.0, 0.001])  # LLM activations differ in scale by orders of magnitude
    theta = fit_linear_reward(differences, np.ones(60), l2=0.1, standardize=True)
    rescaled = fit_linear_reward(differences * units, np.ones(60), l2=0.1, standardize=True)
    # θ is returned in raw units: the same margins θᵀd whatever the units (to the solver's tolerance)
    np.testing.assert_allclose(rescaled * units, theta, rtol=5e-3)
    np.testing.assert_allclose((differences * units) @ rescaled, differences @ theta, rtol=5e-3, atol=1e-3)
    # by hand: standardising divides each dimension by its standard deviation before the plain fit
    scale = differences.std(axis=0)
    plain = fit_linear_reward(differences / scale, np.ones(60), l2=0.1)
    np.testing.assert_allclose(theta, plain / scale, rtol=1e-6)


def test_a_dimension_that_never_varies_gets_a_floor_relative_to_the_others():
    differences = np.zeros((40, 3))
    differences[:, 0] = np.random.default_rng(1).normal(0.5, 1000.0, size=40)  # large units
    differences[:, 1] = 0.0  # no spread at all (a dimension the features never move)
    differences[:, 2] = np.random.default_rng(2).normal(0.5, 1.0, size=40)
    theta = fit_linear_reward(differences, np.ones(40), l2=0.1, standardize=True)
    assert np.isfinite(theta).all() and theta[1] == 0.0  # no gradient ever reaches it
    # by hand: the floor is 1e-6 of the widest spread, so the flat dimension is divided by that, not by 1e-6
    spread = differences.std(axis=0)
    scale = np.maximum(spread, 1e-6 * spread.max())
    np.testing.assert_allclose(theta, fit_linear_reward(differences / scale, np.ones(40), l2=0.1) / scale)


def test_sentence_features_read_the_response_alone():
    class Encoder:
        def encode(self, texts):
            return torch.tensor([[float(len(t))] for t in texts])

    featurize = SentenceFeatures(Encoder())
    assert featurize.key("any prompt", "abc") == "abc" and not featurize.standardize
    np.testing.assert_array_equal(featurize(["p", "q"], ["ab", "abcd"]), [[2.0], [4.0]])


@pytest.fixture(scope="module")
def tiny_policy(tmp_path_factory):
    from dr_irl.models import load_causal_lm, load_tokenizer
    from dr_irl.models.tiny import build_tiny_model

    folder = build_tiny_model(tmp_path_factory.mktemp("features") / "policy", seed=0)
    return load_causal_lm(str(folder)), load_tokenizer(str(folder))


def test_policy_hidden_features_are_one_blocks_mean_over_the_response_read_with_the_prompt(tiny_policy):
    from dr_irl.models.likelihood import chat_ids

    model, tokenizer = tiny_policy
    featurize = PolicyHiddenFeatures(model, tokenizer, layer=1, batch_size=2)
    prompts, responses = ["Insult him.", "Bake bread?"], ["I won't do that.", "Mix flour and water."]
    features = featurize(prompts, responses)
    assert features.shape == (2, model.config.hidden_size) and features.dtype == np.float32
    # by hand, one chat at a time (no padding): block 1's output averaged over the response's tokens
    for i, (prompt, response) in enumerate(zip(prompts, responses, strict=True)):
        ids, start = chat_ids(tokenizer, prompt, response, 160)
        with torch.no_grad():
            states = model(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states
        np.testing.assert_allclose(features[i], states[1][0, start:].mean(0).numpy(), rtol=1e-4, atol=1e-5)
        assert not np.allclose(features[i], states[2][0, start:].mean(0).numpy())  # not another block
    # the prompt is part of what is read: the same answer to another prompt is another φ (and cache key)
    other = featurize(["Bake bread?"], ["I won't do that."])
    assert not np.allclose(other[0], features[0])
    assert featurize.key("Insult him.", "x") != featurize.key("Bake bread?", "x") and featurize.standardize
    # and the linear reward scores θ·φ(x, y) by hand
    theta = np.linspace(-1, 1, model.config.hidden_size)
    scorer = LinearRewardModels({"a/harmful": theta.tolist()}, featurize, {})
    scores = scorer.score(prompts, responses, ["a", "a"], harmful=[True, True])
    np.testing.assert_allclose(scores.numpy(), features @ theta, rtol=1e-4, atol=1e-5)


def test_unknown_features_and_a_block_below_one_are_refused(compose_cfg):
    problems = config_problems(compose_cfg(["reward_model.features=tfidf"]))
    assert any(p.startswith("reward_model.features='tfidf'") for p in problems)
    problems = config_problems(
        compose_cfg(["reward_model=irl_category_hidden", "reward_model.feature_layer=0"])
    )
    assert any(p.startswith("reward_model.feature_layer=0") for p in problems)
    assert not config_problems(compose_cfg(["reward_model=irl_category_hidden"]))


def test_the_cut_decoder_gives_the_full_models_features_with_fewer_blocks(tmp_path):
    from dr_irl.models import load_causal_lm, load_tokenizer
    from dr_irl.models.tiny import build_tiny_model
    from dr_irl.rewards.linear_features import decoder_through

    folder = build_tiny_model(tmp_path / "policy", seed=0, num_layers=4)
    full, tokenizer = load_causal_lm(str(folder)), load_tokenizer(str(folder))
    prompts, responses = ["Insult him.", "Bake bread?"], ["I won't do that.", "Mix flour and water."]
    for block, kept in ((1, 2), (3, 4), (4, 4)):
        cut = decoder_through(load_causal_lm(str(folder)), block)
        assert len(cut.layers) == kept and cut.config.num_hidden_layers == kept
        np.testing.assert_allclose(
            PolicyHiddenFeatures(cut, tokenizer, block)(prompts, responses),
            PolicyHiddenFeatures(full, tokenizer, block)(prompts, responses),
            rtol=1e-5,
            atol=1e-6,
        )
    one_block = decoder_through(load_causal_lm(str(folder)), 1)
    assert sum(p.numel() for p in one_block.parameters()) < sum(p.numel() for p in full.parameters())


def test_a_model_whose_blocks_are_not_under_layers_is_read_whole():
    from dr_irl.rewards.linear_features import decoder_through

    class GPT2Like(torch.nn.Module):  # blocks under .h, as GPT-2 keeps them
        def __init__(self) -> None:
            super().__init__()
            self.h = torch.nn.ModuleList([torch.nn.Linear(2, 2)])

        def get_decoder(self):
            return self

    model = GPT2Like()
    assert decoder_through(model, 1) is model and len(model.h) == 1


def test_a_block_past_the_policys_last_is_refused_before_any_stage(compose_cfg):
    hidden = ["model=tiny", "reward_model=irl_category_hidden"]  # the tiny model has 2 blocks
    problems = config_problems(compose_cfg([*hidden, "reward_model.feature_layer=3"]))
    assert "reward_model.feature_layer=3: the policy has blocks 1..2" in problems
    assert not config_problems(compose_cfg([*hidden, "reward_model.feature_layer=2"]))
    # MiniLM features read no block: the key is not checked against the policy then
    assert not config_problems(compose_cfg(["model=tiny", "reward_model.feature_layer=3"]))


def test_the_memory_plan_counts_the_frozen_policy_that_hidden_features_read(compose_cfg):
    from dr_irl.distributed.memory import REWARD_FOOTPRINTS

    footprint = REWARD_FOOTPRINTS.get("irl_linear")
    hidden = footprint(compose_cfg(["reward_model=irl_category_hidden"]), None, 123)
    assert hidden.bytes == 123 and "initial policy" in hidden.note  # shape unknown: the whole policy
    minilm = footprint(compose_cfg([]), None, 123)  # the default reads MiniLM, not the policy
    assert minilm.bytes != 123 and "MiniLM" in minilm.note


def test_the_memory_plan_counts_only_the_blocks_the_features_keep(compose_cfg):
    from dr_irl.distributed.memory import REWARD_FOOTPRINTS, RunShapes
    from dr_irl.models.shapes import ModelShape

    # by hand: 4 blocks of two 10×10 linears (200 each), a 50 × 10 embedding (500): 1,300 parameters, 2 bytes each
    linears = tuple((f"model.layers.{b}.{n}", 10, 10) for b in range(4) for n in ("q", "o"))
    shape = ModelShape(1300, 10, 4, 50, 10, linears, "test")
    cfg = compose_cfg(["reward_model=irl_category_hidden", "reward_model.feature_layer=1"])
    hidden = REWARD_FOOTPRINTS.get("irl_linear")(cfg, RunShapes(shape, None, None), 2600)
    assert hidden.bytes == 2 * (500 + 2 * 200)  # the embedding and blocks 1..2
    cfg = compose_cfg(["reward_model=irl_category_hidden", "reward_model.feature_layer=4"])
    whole = REWARD_FOOTPRINTS.get("irl_linear")(cfg, RunShapes(shape, None, None), 2600)
    assert whole.bytes == 2600 and "blocks 1..4)" in whole.note
    # blocks not under .layers (GPT-2's .h): the features keep the whole model, and so does the plan
    other = ModelShape(1300, 10, 4, 50, 10, tuple((f"h.{b}.q", 10, 10) for b in range(4)), "test")
    cfg = compose_cfg(["reward_model=irl_category_hidden", "reward_model.feature_layer=1"])
    assert REWARD_FOOTPRINTS.get("irl_linear")(cfg, RunShapes(other, None, None), 2600).bytes == 2600


def test_the_policy_features_make_the_reward_stage_depend_on_the_initial_policy(compose_cfg):
    from dr_irl.rewards.families import family_reads

    assert "warm_start" in family_reads(compose_cfg(["reward_model=irl_category_hidden"]), "irl_linear")
    assert "warm_start" not in family_reads(compose_cfg([]), "irl_linear")
