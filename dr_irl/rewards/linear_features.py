"""φ of the linear IRL reward (``reward_model.features``): what a linear reward can see of an answer.

- ``minilm`` (the default): the frozen all-MiniLM-L6-v2 embedding of the response alone (the α^D encoder).
- ``policy_hidden``: the frozen initial policy's own hidden state at block ``reward_model.feature_layer``,
  averaged over the response's tokens and read with the prompt in context (the chat template, as
  :func:`dr_irl.rewards.representation.pooled_hidden_states` reads it). The policy's representation of what it
  writes, conditioned on what it was asked — the backbone the RRM probe reads, with the paper's IRL objective
  instead of a probe. Its dimensions differ in scale by orders of magnitude, so the fit standardises the
  feature differences (θ is returned in raw units).

Only the blocks up to the one read are kept (:func:`decoder_through`): at block 16 of SmolLM2's 30 and without
the output head, a φ costs about 45% of a full forward.

A featurizer is ``featurize(prompts, responses) -> float32 array [N, D]`` with ``key(prompt, response)``, the
string its φ is cached under (the response alone when φ does not read the prompt), and ``standardize``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from dr_irl.pipeline import Context
from dr_irl.registry import Registry

LINEAR_FEATURES: Registry[Callable[[Context], object]] = Registry("reward_model.features")


class SentenceFeatures:
    """φ(y): a sentence encoder's embedding of the response (the prompt is not read)."""

    standardize = False

    def __init__(self, encoder) -> None:
        self.encoder = encoder

    def key(self, prompt: str, response: str) -> str:
        return response

    def __call__(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        return self.encoder.encode(list(responses)).float().cpu().numpy()


class PolicyHiddenFeatures:
    """φ(x, y): a frozen causal LM's (or its decoder's) hidden state at one block, mean over the response's
    tokens."""

    standardize = True

    def __init__(self, model, tokenizer, layer: int, batch_size: int = 16, max_length: int = 160) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.layer, self.batch_size, self.max_length = int(layer), int(batch_size), int(max_length)

    def key(self, prompt: str, response: str) -> str:
        return f"{prompt}\x1f{response}"

    def __call__(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        from dr_irl.rewards.representation import pooled_hidden_states

        states = pooled_hidden_states(
            self.model,
            self.tokenizer,
            list(prompts),
            list(responses),
            pooling="mean",
            layers=[self.layer],
            batch_size=self.batch_size,
            max_length=self.max_length,
        )
        return states[:, 0, :].numpy().astype(np.float32)


def decoder_through(model, block: int):
    """The decoder of causal LM ``model`` cut, in place, after the blocks ``hidden_states[block]`` needs, without
    the output head. One block past ``block`` stays: a decoder applies its final norm to the last hidden state it
    returns, so block ``block``'s raw output is only returned as such when another block follows it."""
    import torch

    decoder = model.get_decoder()
    if not isinstance(getattr(decoder, "layers", None), torch.nn.ModuleList):
        return model  # blocks kept elsewhere (GPT-2's .h, …): the whole model, the same φ, only slower
    blocks = list(decoder.layers)
    keep = min(int(block) + 1, len(blocks))
    decoder.layers = torch.nn.ModuleList(blocks[:keep])
    decoder.config.num_hidden_layers = keep
    return decoder


@LINEAR_FEATURES.register("minilm")
def minilm_features(ctx: Context) -> SentenceFeatures:
    from dr_irl.run_artifacts import text_encoder

    return SentenceFeatures(text_encoder(ctx))


@LINEAR_FEATURES.register("policy_hidden")
def policy_hidden_features(ctx: Context) -> PolicyHiddenFeatures:
    from dr_irl.run_artifacts import load_policy, reward_reference_path

    rm = ctx.cfg.reward_model
    model, tokenizer = load_policy(ctx, reward_reference_path(ctx), dtype=ctx.cfg.model.dtype)  # as trained
    layers = model.config.num_hidden_layers
    if not 1 <= rm.feature_layer <= layers:
        from dr_irl.errors import ConfigError

        raise ConfigError(f"reward_model.feature_layer={rm.feature_layer}: the policy has blocks 1..{layers}")
    decoder = decoder_through(model, rm.feature_layer)
    return PolicyHiddenFeatures(decoder, tokenizer, rm.feature_layer, max_length=rm.max_length)


def linear_features(ctx: Context):
    """The run's featurizer of ``reward_model.features`` (built once per run)."""
    return ctx.memo("linear_features", lambda: LINEAR_FEATURES.get(ctx.cfg.reward_model.features)(ctx))
