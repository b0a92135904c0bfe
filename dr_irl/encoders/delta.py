"""δ = 1 − W for (response, demonstration) pairs: sub-sentences, batched embeddings, cached demonstrations."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import torch

from dr_irl.encoders.text import TextEncoder
from dr_irl.scaling.hardness import sentence_set_similarity, split_subsentences


class HardnessScorer:
    """Computes δ_i = 1 − mean_k max_l cos(Φ(S_i^k), Φ(S̃_i^l)).

    Demonstration embeddings are computed once per distinct demonstration and cached; the sub-sentences
    of all responses of a batch are embedded in one batched call.
    """

    def __init__(
        self,
        encoder: TextEncoder,
        max_subsentences: int = 16,
        splitter: Callable[[str], list[str]] | None = None,
    ) -> None:
        self.encoder = encoder
        self.splitter = splitter or partial(split_subsentences, max_pieces=max_subsentences)
        self._demo_cache: dict[str, torch.Tensor] = {}

    def _embed_pieces(self, texts: Sequence[str]) -> list[torch.Tensor]:
        pieces = [self.splitter(t) for t in texts]
        flat = [p for ps in pieces for p in ps]
        embeddings = self.encoder.encode(flat) if flat else torch.zeros(0, 1)
        out, start = [], 0
        for ps in pieces:
            out.append(embeddings[start : start + len(ps)])
            start += len(ps)
        return out

    def demonstration_embeddings(self, demonstrations: Sequence[str]) -> list[torch.Tensor]:
        new = sorted({d for d in demonstrations if d not in self._demo_cache})
        if new:
            self._demo_cache.update(zip(new, self._embed_pieces(new), strict=True))
        return [self._demo_cache[d] for d in demonstrations]

    def delta(self, responses: Sequence[str], demonstrations: Sequence[str]) -> torch.Tensor:
        response_emb = self._embed_pieces(responses)
        demo_emb = self.demonstration_embeddings(demonstrations)
        similarity = torch.stack(
            [sentence_set_similarity(r, d) for r, d in zip(response_emb, demo_emb, strict=True)]
        )
        return 1.0 - similarity
