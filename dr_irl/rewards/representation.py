"""Representation-based reward model (RRM, arXiv 2503.10093): a hybrid linear probe on the policy's hidden states.

For layers l = 1..L, h_l is the hidden state of the (prompt, response) chat at the response's end token ("end") or
its mean over the response tokens ("mean"); t_l = w_lᵀ h_l + b_l, the gate g = σ(V t) with V an L×L matrix without
bias, and the reward r = Σ_l g_l t_l. The probe trains on (safer, less safe) pairs with the margin loss
−log σ(r_c − r_r − 1) while the LLM stays frozen: features are pooled once, then a plain torch loop fits the probe.

Re-ranking: N responses sampled once per prompt, scored by the frozen probe, the best becomes chosen and the worst
rejected (:func:`rerank`); the pairs then train the policy with the confidence DPO of
:mod:`dr_irl.training.rrm_dpo`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from dr_irl.distributed.ranks import barrier, device, is_main_process
from dr_irl.io import atomic_path, atomic_write_json, read_json
from dr_irl.models.likelihood import chat_batches, eval_mode
from dr_irl.pipeline import Context
from dr_irl.rewards.families import register_family
from dr_irl.run_artifacts import init_policy_path, load_policy, reward_pairs

POOLINGS = ("end", "mean")
WEIGHTS_FILE = "probe.safetensors"
CONFIG_FILE = "probe.json"


class HybridProbe(nn.Module):
    """r = Σ_l σ(V t)_l t_l with t_l = w_lᵀ ĥ_l + b_l, one linear head per layer and a bias-free L×L gate.

    ĥ = (h − feature_mean) / feature_std: standardisation buffers (0 and 1 unless :func:`train_probe` sets them
    from the training features, which keeps Adam stable on LLM activations of very different scales); they are
    part of the state dict, so a saved probe scores raw hidden states.

    The gate starts at zero (g = ½ everywhere, r = ½ Σ t): a uniform mixture of the layers until it learns.
    """

    def __init__(self, num_layers: int, hidden_size: int) -> None:
        super().__init__()
        self.num_layers, self.hidden_size = int(num_layers), int(hidden_size)
        bound = 1.0 / math.sqrt(hidden_size)  # nn.Linear's default initialisation, one row per layer
        self.weight = nn.Parameter(torch.empty(num_layers, hidden_size).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(num_layers).uniform_(-bound, bound))
        self.gate = nn.Linear(num_layers, num_layers, bias=False)
        nn.init.zeros_(self.gate.weight)
        self.register_buffer("feature_mean", torch.zeros(num_layers, hidden_size))
        self.register_buffer("feature_std", torch.ones(num_layers, hidden_size))

    def forward(self, hidden_states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """hidden_states [B, L, H] -> (reward [B], per-layer scores t [B, L], gate g [B, L])."""
        if hidden_states.shape[1:] != (self.num_layers, self.hidden_size):
            raise ValueError(
                f"expected hidden states [B, {self.num_layers}, {self.hidden_size}], got {list(hidden_states.shape)}"
            )
        x = (hidden_states.to(self.weight.dtype) - self.feature_mean) / self.feature_std
        t = torch.einsum("blh,lh->bl", x, self.weight) + self.bias
        g = torch.sigmoid(self.gate(t))
        return (g * t).sum(dim=1), t, g

    @torch.no_grad()
    def set_normalization(self, features: torch.Tensor) -> None:
        """Standardise with the per-layer, per-dimension mean and std of ``features`` [N, L, H]."""
        features = features.to(self.weight.dtype)
        self.feature_mean.copy_(features.mean(dim=0))
        std = features.std(dim=0) if len(features) > 1 else torch.ones_like(self.feature_std)
        self.feature_std.copy_(std.clamp_min(1e-6))

    def save(self, folder: str | Path) -> Path:
        """Write ``probe.safetensors`` and ``probe.json`` (the shape) to ``folder``, each atomically."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        with atomic_path(folder / WEIGHTS_FILE) as tmp:
            save_file(state, str(tmp))
        atomic_write_json(
            folder / CONFIG_FILE,
            {"num_layers": self.num_layers, "hidden_size": self.hidden_size, "format": 1},
        )
        return folder

    @classmethod
    def load(cls, folder: str | Path, device: str | torch.device = "cpu") -> HybridProbe:
        from safetensors.torch import load_file

        folder = Path(folder)
        shape = read_json(folder / CONFIG_FILE)
        probe = cls(shape["num_layers"], shape["hidden_size"])
        probe.load_state_dict(load_file(str(folder / WEIGHTS_FILE)))
        return probe.to(device).eval()


def margin_loss(r_c: torch.Tensor, r_r: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """mean(−log σ(r_c − r_r − margin))."""
    return -F.logsigmoid(r_c - r_r - margin).mean()


@torch.inference_mode()
def pooled_hidden_states(
    model,
    tokenizer,
    prompts: Sequence[str],
    responses: Sequence[str],
    pooling: str = "end",
    layers: Sequence[int] | None = None,
    batch_size: int = 8,
    max_length: int = 256,
) -> torch.Tensor:
    """Hidden states of the frozen causal LM on the chat-formatted (prompt, response) pairs, [N, L, H] float32 (CPU).

    ``layers``: indices into the model's ``hidden_states`` tuple (1 = first block's output, L or −1 = the last; 0,
    the embeddings, is not allowed); None = all blocks 1..L. ``pooling``: "end" = the last non-pad token of the
    chat, "mean" = the mean over the response's tokens (from the end of the generation prompt on). A chat longer
    than ``max_length`` keeps its last ``max_length`` tokens, so the response's end is always seen.
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling={pooling!r}: expected one of {POOLINGS}")
    out = []
    with eval_mode(model) as device:
        for input_ids, attention, span in chat_batches(tokenizer, prompts, responses, batch_size, max_length):
            outputs = model(
                input_ids=input_ids.to(device),
                attention_mask=attention.to(device),
                output_hidden_states=True,
                use_cache=False,
            )
            states = outputs.hidden_states
            if layers is not None and any(not (1 <= i < len(states) or -len(states) < i < 0) for i in layers):
                raise ValueError(
                    f"layers={list(layers)}: expected 1..{len(states) - 1} or negative (0 = embeddings)"
                )
            picked = [states[i] for i in layers] if layers is not None else list(states[1:])
            hidden = torch.stack(picked, dim=1).float()  # [B, L, T, H]
            if pooling == "end":
                last = attention.sum(dim=1) - 1
                pooled = hidden[torch.arange(len(input_ids)), :, last.to(hidden.device)]
            else:
                weights = span.to(hidden.device, hidden.dtype)
                pooled = torch.einsum("blth,bt->blh", hidden, weights) / weights.sum(dim=1)[:, None, None]
            out.append(pooled.cpu())
    if not out:
        raise ValueError("no (prompt, response) pairs to encode")
    return torch.cat(out)


def probe_rewards(probe: HybridProbe, features: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """The frozen probe's rewards r [N] for pooled features [N, L, H]."""
    probe.eval()
    device = probe.weight.device
    with torch.inference_mode():
        return torch.cat(
            [
                probe(features[i : i + batch_size].to(device))[0].cpu()
                for i in range(0, len(features), batch_size)
            ]
        )


def train_probe(
    features_chosen: torch.Tensor,
    features_rejected: torch.Tensor,
    epochs: int = 20,
    lr: float = 1e-3,
    batch_size: int = 32,
    seed: int = 0,
    margin: float = 1.0,
    weight_decay: float = 0.0,
    normalize: bool = True,
    init: HybridProbe | None = None,
) -> tuple[HybridProbe, dict]:
    """Fit a :class:`HybridProbe` on pooled features of (chosen, rejected) pairs, [N, L, H] each, with Adam.

    ``normalize``: standardise with the mean/std of all training features (chosen and rejected). ``init``: continue
    from that probe's weights and standardisation (the online update; ``normalize`` is then ignored). Returns the
    probe (eval mode, CPU) and stats: the final margin loss and pairwise accuracy (r_c > r_r) on the training pairs.
    """
    if features_chosen.shape != features_rejected.shape or features_chosen.dim() != 3:
        raise ValueError(
            f"chosen {list(features_chosen.shape)} and rejected {list(features_rejected.shape)}: expected [N, L, H]"
        )
    n, num_layers, hidden = features_chosen.shape
    if n == 0:
        raise ValueError("no pairs to train the probe on")
    chosen, rejected = features_chosen.float(), features_rejected.float()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        probe = HybridProbe(num_layers, hidden)
    if init is not None:
        probe.load_state_dict({k: v.detach().cpu() for k, v in init.state_dict().items()})
    elif normalize:
        probe.set_normalization(torch.cat([chosen, rejected]))
    optimizer = torch.optim.Adam(probe.parameters(), lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    probe.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        for begin in range(0, n, batch_size):
            idx = order[begin : begin + batch_size]
            loss = margin_loss(probe(chosen[idx])[0], probe(rejected[idx])[0], margin)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    probe.eval()
    r_c, r_r = probe_rewards(probe, chosen), probe_rewards(probe, rejected)
    stats = {
        "loss": margin_loss(r_c, r_r, margin).item(),
        "accuracy": (r_c > r_r).float().mean().item(),
        "pairs": n,
        "epochs": epochs,
    }
    return probe, stats


def rerank(candidates: list[list[str]], scores: torch.Tensor) -> list[tuple[int, int] | None]:
    """(best, worst) candidate indices per prompt; ``scores`` flattened prompt-major, like ``best_of``.

    Ties: the first of the highest scores is best, the last of the lowest worst. A prompt without a preference is
    dropped, as None at its place (the list stays aligned with ``candidates``): fewer than two candidates, all
    scores equal, or best and worst the same text.
    """
    sizes = [len(c) for c in candidates]
    if scores.numel() != sum(sizes):
        raise ValueError(f"{scores.numel()} scores for {sum(sizes)} candidates")
    out: list[tuple[int, int] | None] = []
    for texts, row in zip(candidates, scores.detach().float().cpu().split(sizes), strict=True):
        if len(texts) < 2:
            out.append(None)
            continue
        best = int(row.argmax())
        worst = len(row) - 1 - int(row.flip(0).argmin())
        keep = best != worst and row[best] > row[worst] and texts[best] != texts[worst]
        out.append((best, worst) if keep else None)
    return out


class ProbeScorer:
    """r(x, y) of a trained probe on the hidden states of the frozen LM it was trained on: a reward model like
    the others (``score(prompts, responses, categories)``), for Best-of-N, GRPO or the evaluation."""

    def __init__(self, probe: HybridProbe, model, tokenizer, pooling: str = "end") -> None:
        self.probe, self.model, self.tokenizer, self.pooling = probe, model, tokenizer, pooling

    def score(
        self,
        prompts: Sequence[str],
        responses: Sequence[str],
        categories: Sequence[str],
        harmful: Sequence[bool] | None = None,
    ) -> torch.Tensor:
        if not prompts:
            return torch.zeros(0)
        features = pooled_hidden_states(
            self.model, self.tokenizer, list(prompts), list(responses), self.pooling
        )
        return probe_rewards(self.probe, features)


def probe_scorer(ctx: Context, folder: Path):
    """The probe of ``folder`` on the initial policy's hidden states."""
    model, tokenizer = load_policy(ctx, init_policy_path(ctx), dtype=ctx.cfg.model.dtype)  # as trained
    probe = HybridProbe.load(folder / "probe", device=device(ctx.cfg.hardware.use_cpu))
    return ProbeScorer(probe, model, tokenizer, ctx.cfg.reward_model.pooling)


def _reads_initial_policy(cfg) -> tuple[str, ...]:
    """The probe reads the initial policy's hidden states: the warm-started one, when enabled."""
    return ("warm_start",)


@register_family("representation", scorer=probe_scorer, reads=_reads_initial_policy)
def train_representation(ctx: Context, out: Path) -> dict:
    """RRM's hybrid probe on the (frozen) initial policy's hidden states, margin-1 pairwise loss."""
    if not is_main_process():  # one probe, trained once (rank 0), read by every rank
        barrier()
        return {}
    rm = ctx.cfg.reward_model
    pairs = reward_pairs(ctx)
    model, tokenizer = load_policy(ctx, init_policy_path(ctx), dtype=ctx.cfg.model.dtype)
    prompts = [p.prompt for p in pairs]
    chosen = pooled_hidden_states(model, tokenizer, prompts, [p.chosen for p in pairs], pooling=rm.pooling)
    rejected = pooled_hidden_states(
        model, tokenizer, prompts, [p.rejected for p in pairs], pooling=rm.pooling
    )
    probe, stats = train_probe(
        chosen, rejected, epochs=rm.probe_epochs, lr=rm.probe_learning_rate, seed=ctx.cfg.seed
    )
    probe.save(out / "probe")
    print(f"representation probe: {stats}")
    barrier()
    return stats
