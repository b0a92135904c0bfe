"""Data-level hardness α^D: how far a response is from the category's safe demonstration.

s_k = max_l cos(Φ(S^k), Φ(S̃^l)),  W = mean_k s_k,  δ = 1 − W,  α^D = σ(δ) / σ(δ̄).
"""

from __future__ import annotations

import re

import torch

_SPLIT = re.compile(r"(?<=[.!?;:])\s+|\n+")


def split_subsentences(text: str, max_pieces: int = 16) -> list[str]:
    """Deterministic sub-sentence splitter: on sentence punctuation and line breaks.

    Always returns at least one piece (the stripped text, or ``""`` for empty input); at most
    ``max_pieces`` (the tail is merged into the last piece so no text is lost).
    """
    pieces = [p.strip() for p in _SPLIT.split(text) if p and p.strip()]
    if not pieces:
        return [text.strip()]
    if len(pieces) > max_pieces:
        pieces = pieces[: max_pieces - 1] + [" ".join(pieces[max_pieces - 1 :])]
    return pieces


def sentence_set_similarity(response_emb: torch.Tensor, demo_emb: torch.Tensor) -> torch.Tensor:
    """W = mean_k max_l cos(r_k, d_l) for one response (K×D) and one demonstration (L×D)."""
    r = torch.nn.functional.normalize(response_emb.float(), dim=-1)
    d = torch.nn.functional.normalize(demo_emb.float(), dim=-1)
    return (r @ d.T).max(dim=1).values.mean()


def alpha_data(
    delta: torch.Tensor, delta_bar: torch.Tensor, temperature: float | None = None
) -> torch.Tensor:
    """α^D = σ(δ) / σ(δ̄), element-wise (``delta_bar`` broadcast to ``delta``): the paper's factor.

    With a ``temperature`` T (an option beyond the paper, off by default): α^D = 2·σ((δ − δ̄)/T), which is 1
    at δ = δ̄ like the paper's factor but spans (0, 2) instead of the narrow band σ(δ)/σ(δ̄) gives when δ
    stays within a few tenths of δ̄ (δ ∈ [0, 2] makes σ(δ) ∈ [0.5, 0.88]).
    """
    if temperature is None:
        return torch.sigmoid(delta) / torch.sigmoid(delta_bar)
    if temperature <= 0:
        raise ValueError(f"scaler.temperature_data={temperature}: must be > 0")
    return 2.0 * torch.sigmoid((delta - delta_bar) / temperature)
